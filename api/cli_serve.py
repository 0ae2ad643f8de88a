"""`khub serve` and `khub apikey create|revoke|list`: commands added to the main CLI by `register(app)`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.context import ROLES
from ontology.errors import KhubError
from ontology.settings import Settings

if TYPE_CHECKING:
    from api.security import ApiKeyStore

console = Console()
err = Console(stderr=True)


def _keys() -> ApiKeyStore:
    # imported here: api.security brings FastAPI, which every other `khub` command can do without
    from api.security import ApiKeyStore

    return ApiKeyStore.for_data_dir(Settings().data_dir)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    no_embed: Annotated[bool, typer.Option("--no-embed", help="Ingest uploaded documents without embeddings (faster; no vector search on them).")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes (one core each); rate limits and job threads are per process.")] = 1,
) -> None:
    """Serve REST (/v1), GraphQL (/graphql), /health, /ready, /metrics and /docs over HTTP."""
    import uvicorn

    from api.app import create_app
    from api.config import ServerConfig

    settings = Settings()
    keys = _keys()
    try:
        if not [k for k in keys.list() if k.revoked is None]:
            err.print("[yellow]no API key yet:[/] every request except /health, /ready and /metrics needs one (khub apikey create --name NAME --role ROLE)")
    except KhubError as exc:
        raise _fail(str(exc)) from exc
    options = {"host": host, "port": port, "log_level": log_level, "proxy_headers": False, "server_header": False}
    if workers > 1:
        import os

        from api.app import NO_EMBED_ENV

        os.environ[NO_EMBED_ENV] = "1" if no_embed else "0"  # the worker processes inherit it
        uvicorn.run("api.app:app_from_environment", factory=True, workers=workers, **options)  # type: ignore[arg-type]
        return
    config = ServerConfig.from_settings(settings, **({"embed_documents": False} if no_embed else {}))
    uvicorn.run(create_app(settings, config=config), **options)  # type: ignore[arg-type]


def apikey_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key (e.g. 'crm-sync').")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}, or subject (with --subject).")],
    subject: Annotated[str | None, typer.Option("--subject", help="For --role subject: the person's own token, for Contact:ID (or Account:ID).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an API key; the key is printed once (only its hash is stored). A subject token lets a
    person see their own data (GraphQL myData) and decide their consents, nothing else."""
    try:
        key_id, plaintext = _keys().create(name, role, subject)
    except KhubError as exc:
        raise _fail(str(exc), 2) from exc
    if as_json:
        typer.echo(json.dumps({"id": key_id, "name": name.strip(), "role": role, "key": plaintext, **({"subject": subject} if subject else {})}))
        return
    console.print(f"created API key [bold]{key_id}[/] ({role}) for {name.strip()}")
    console.print("key (shown once, store it now):")
    typer.echo(plaintext)


def apikey_revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after khub_).")]) -> None:
    """Revoke an API key: requests with it are refused (403) from the next request on."""
    try:
        record = _keys().revoke(key_id)
    except KhubError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"revoked API key {record.id} ({record.role}, {record.name}) at {record.revoked}")


def apikey_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List API keys (id, name, role, created, revoked); never the keys themselves."""
    try:
        records = _keys().list()
    except KhubError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps([r.public() for r in records], ensure_ascii=False))
        return
    table = Table(title=f"{len(records)} API key(s)")
    for column in ("id", "name", "role", "created", "revoked"):
        table.add_column(column)
    for r in records:
        table.add_row(r.id, r.name, r.role, r.created, r.revoked or "")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `serve` and the `apikey` group (create, revoke, list) to a Typer app (the main `khub` CLI)."""
    app.command("serve")(serve)
    apikey_app = typer.Typer(help="Create, revoke and list API keys (hashed at rest).", no_args_is_help=True)
    apikey_app.command("create")(apikey_create)
    apikey_app.command("revoke")(apikey_revoke)
    apikey_app.command("list")(apikey_list)
    app.add_typer(apikey_app, name="apikey")
