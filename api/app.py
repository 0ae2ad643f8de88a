"""The FastAPI application: `create_app(settings, store)`.

Routes: `GET /health` (liveness, no auth), `GET /ready` (the store answers), `GET /metrics`
(Prometheus text; open by default, since it holds only route templates, statuses and latencies,
never customer data or key ids; `ServerConfig.metrics_require_admin` puts it behind an admin
key), `/docs` (Swagger UI from local assets: no CDN on a closed network) and `/openapi.json`,
REST under `/v1` (`api.rest`) and GraphQL at `/graphql` (`api.graphql`, when present).

Every response carries `X-Request-Id` (the caller's when it sent a sane one, else a new one);
every error is JSON with a stable code (`api.errors`); bodies over the limit are refused with
413 before a handler reads them.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from api.config import ServerConfig
from api.context import PURPOSE_HEADER
from api.errors import (
    FORBIDDEN,
    INTERNAL,
    NOT_FOUND,
    UNAVAILABLE,
    ApiError,
    ASGIApp,
    BodyLimitMiddleware,
    Message,
    Receive,
    Scope,
    Send,
    error_response,
    error_responses,
    install_error_handlers,
    request_id_of,
    send_error,
)
from api.jobs import JobRegistry
from api.runtime import ConsentCollector, ServerState, run_blocking
from api.security import API_KEY_HEADER, ApiKeyStore, TokenBucket, authenticated
from graph.store import GraphStore
from ontology.purposes import default_purposes, load_purposes
from ontology.settings import Settings

log = logging.getLogger("khub.api")

STATIC_DIR = Path(__file__).resolve().parent / "static"
SWAGGER_DIR = STATIC_DIR / "swagger-ui"
_SWAGGER_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
UNMATCHED = "<unmatched>"


class ReadyOut(BaseModel):
    """The store answers: which backend, which ontology version it has applied."""

    status: str
    store: str
    ontology_version: str | None


class ObserveMiddleware:
    """Request ids, Prometheus metrics by route template, and the last guard against unhandled errors."""

    def __init__(self, app: ASGIApp, state: ServerState):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", ())).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        metrics = self.state.metrics
        status = 500
        started_response = False

        async def observing_send(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        started = time.perf_counter()
        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observing_send)
        except Exception:
            log.exception("request %s %s %s failed", rid, scope.get("method"), scope.get("path"))
            if not started_response:
                await send_error(observing_send, INTERNAL, f"internal error; quote request id {rid} to the operator", rid, 500)
        finally:
            metrics.in_flight.dec()
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope.get("method", "-")
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.latency.labels(method, route).observe(time.perf_counter() - started)


@contextmanager
def _data_dir_lock(data_dir: Path, name: str) -> Iterator[None]:
    """An exclusive lock between the processes of one data directory (an flock on `.<name>.lock`)."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / f".{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_initialised(store: Any) -> None:
    """Create constraints/indexes from the ontology and record its version on a new store (as `khub init`)."""
    store.sync_schema()
    if store.applied_ontology_version() is None:
        store.record_ontology_version(store.ontology.version, "init")
        store.save_applied_schema(store.ontology.source.read_text(encoding="utf-8"))


def _document_security(schema: dict[str, Any], purposes: tuple[str, ...]) -> None:
    """Declare the key schemes and the purpose header on every operation marked `x-khub-auth`."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(
        {
            "bearer": {"type": "http", "scheme": "bearer", "description": "an API key: `Authorization: Bearer khub_<id>_<secret>`"},
            "apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER, "description": "the same API key in its own header"},
        }
    )
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or not operation.pop("x-khub-auth", False):
                continue
            operation["security"] = [{"bearer": []}, {"apiKey": []}]
            operation.setdefault("parameters", []).append(
                {
                    "name": PURPOSE_HEADER,
                    "in": "header",
                    "required": True,
                    "description": "the purpose of this request (ontology/purposes.yaml)",
                    "schema": {"type": "string", "enum": list(purposes)},
                }
            )


#: Set by `khub serve --no-embed` for the worker processes it starts (they build the app with `app_from_environment`).
NO_EMBED_ENV = "KHUB_SERVE_NO_EMBED"


def app_from_environment() -> FastAPI:
    """The app of one `khub serve --workers N` process (uvicorn's factory): settings from the
    environment and `khub.toml`, the configured store opened at startup."""
    import os

    settings = Settings()
    overrides = {"embed_documents": False} if os.environ.get(NO_EMBED_ENV) == "1" else {}
    return create_app(settings, config=ServerConfig.from_settings(settings, **overrides))


def create_app(settings: Settings | None = None, store: GraphStore | None = None, config: ServerConfig | None = None) -> FastAPI:
    """The khub HTTP application.

    settings: default `Settings()` (environment, `khub.toml`); store: an open store to use (the
    caller closes it), else the configured one is opened at startup and closed at shutdown;
    config: the server's limits, default `ServerConfig.from_settings(settings)`.
    """
    settings = settings or Settings()
    config = config or ServerConfig.from_settings(settings)
    purposes = load_purposes(config.purposes_path) if config.purposes_path else default_purposes()
    state = ServerState(
        settings=settings,
        config=config,
        store=store,  # type: ignore[arg-type]  # opened at startup when None
        keys=ApiKeyStore.for_data_dir(settings.data_dir),
        purposes=purposes,
        jobs=JobRegistry(settings.data_dir / "jobs"),
        limiter=TokenBucket(config.rate_per_second, config.rate_burst),
        auth_limiter=TokenBucket(config.auth_attempts_per_second, config.auth_attempt_burst),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.store is None:
            from graph.factory import open_store

            def open_and_init() -> GraphStore:
                # `khub serve --workers N` starts N of these at once: one at a time opens (and, on a
                # new data directory, starts and initialises) the store, or two would create the same index
                with _data_dir_lock(settings.data_dir, "store-init"):
                    opened = open_store(settings)
                    try:
                        _ensure_initialised(opened)
                    except BaseException:
                        opened.close()
                        raise
                    return opened

            state.store = await anyio.to_thread.run_sync(open_and_init)
            state.owns_store = True
        try:
            yield
        finally:
            # queued jobs are cancelled (read back later as interrupted); a running one gets a grace period
            state.job_runner.shutdown(wait=False, cancel_futures=True)
            running = [f for f in list(state.job_futures) if not f.done()]
            if running:
                await anyio.to_thread.run_sync(lambda: concurrent.futures.wait(running, timeout=config.shutdown_grace_seconds))
            if state.owns_store:
                state.store.close()
                state.store = None  # type: ignore[assignment]

    state.metrics.registry.register(ConsentCollector(state))  # type: ignore[arg-type]
    app = FastAPI(
        title="khub",
        version="0.1.0",
        summary="The graph-native customer knowledge hub: REST ingestion, health and metrics (GraphQL at /graphql).",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.khub = state
    install_error_handlers(app)

    json_limit, upload_limit = config.json_limit_bytes(), config.upload_limit_bytes(settings)
    upload_paths = config.upload_paths

    def limit_for(path: str) -> int:
        return upload_limit if path.startswith(upload_paths) else json_limit

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(ObserveMiddleware, state=state)

    # ------------------------------------------------------------------ operations
    @app.get("/health", tags=["operations"], summary="Liveness: the process answers (no auth)")
    async def health() -> dict[str, str]:
        """Always 200 while the process runs."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], summary="Readiness: the graph store answers (no auth)", response_model=ReadyOut, responses=error_responses(503))
    async def ready(request: Request) -> Response:
        """200 with the store's backend and ontology version when the store answers in time; 503 `UNAVAILABLE` otherwise."""
        current = state.store
        rid = request_id_of(request)
        if current is None:
            return error_response(UNAVAILABLE, "the graph store is not open yet", rid, 503)
        try:
            version = await run_blocking(current.applied_ontology_version, timeout=config.ready_timeout_seconds, what="the store check")
        except Exception as exc:
            log.warning("readiness check failed: %s: %s", type(exc).__name__, exc)
            return error_response(UNAVAILABLE, "the graph store does not answer", rid, 503)
        body = ReadyOut(status="ready", store=str(getattr(current, "backend", type(current).__name__)), ontology_version=version)
        return JSONResponse(body.model_dump())

    async def metrics_guard(connection: HTTPConnection) -> None:
        if not config.metrics_require_admin:
            return
        principal = await authenticated(connection)
        if principal.role != "admin":
            raise ApiError(FORBIDDEN, "metrics need an admin key", 403)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics: requests by route and status, latency histogram",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"}, **error_responses(401, 403)},
    )
    async def metrics(_: None = Depends(metrics_guard)) -> Response:
        """The Prometheus text exposition of this process's metrics."""
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ docs (local assets)
    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="khub API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str, request: Request) -> Response:
        if name not in _SWAGGER_FILES or not (SWAGGER_DIR / name).is_file():
            return error_response(NOT_FOUND, f"no asset {name[:64]!r}", request_id_of(request), 404)
        return FileResponse(SWAGGER_DIR / name, headers={"Cache-Control": "public, max-age=86400"})

    # ------------------------------------------------------------------ REST and GraphQL
    from api.rest import router as rest_router

    app.include_router(rest_router, tags=["ingest"])

    # GraphQL: `api.graphql.graphql_router(context_dependency)` returns a router (Strawberry's
    # GraphQLRouter, path "") whose context comes from `request_context`; mounted at /graphql.
    # Until that module exists the app serves REST only.
    if importlib.util.find_spec("api.graphql") is not None:
        from api import graphql as graphql_module
        from api.security import request_context

        factory = getattr(graphql_module, "graphql_router", None)
        if factory is not None:
            app.include_router(factory(request_context), prefix="/graphql", include_in_schema=False)  # GraphQL documents itself

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            _document_security(schema, purposes.names)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
