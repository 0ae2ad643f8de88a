"""The API under load: an "account 360" GraphQL query against a bare FastAPI JSON endpoint.

    python -m bench.api [--accounts 6420] [--clients 32] [--requests 2000] [--json FILE]
    python -m bench.api --quick                  # 300 accounts (~4.7k nodes), 400 requests: a smoke run
    python -m bench.api --data-dir /tmp/khub-api # build the world there once, reuse it afterwards

In one run:

1. the world: `reasoning.demo_world.generator.generate_world` (the world of `khub intents
   evaluate --world`: about 15.6 nodes per account, so 6,420 accounts make about 100k nodes) is
   loaded into the store and the intent catalogue refreshed at the world's `as_of` (Intent nodes
   with SUPPORTED_BY evidence, as `khub intents refresh`). With `--data-dir` the world is built
   there once and reused by later runs with the same accounts and seed;
2. the server: the real app (`api.app.create_app`) on that store under uvicorn (uvloop and
   httptools when installed, as `khub serve`), in a process of its own on a local port, with one
   more route mounted by this module: `GET /bench/account360/{id}`, the bare endpoint. It has the
   same authentication dependency (key, purpose) and makes the same store calls as the GraphQL
   resolvers (`graph.reads.Reads`: the same specs, the same three batched waves, the same worker
   threads), then builds the same JSON by hand, with the same privacy rules. Rate limiting is off
   (`ServerConfig(rate_per_second=0)`): 32 clients on one key would be throttled at 20/s;
3. one `sales_tool` API key (its first request pays the scrypt, in the warm-up);
4. a check: for a sample of accounts (those with the most contacts, devices and intents, and
   random ones) the GraphQL `data` and the bare endpoint's JSON must be equal;
5. the load: `--clients` concurrent clients (one `httpx.AsyncClient` each, keep-alive, no think
   time: a closed loop) send `--requests` requests to each endpoint over random accounts, in
   ABBA blocks (GraphQL, bare, bare, GraphQL) so that a change of the machine's load hits both
   alike. Warm-up requests (`--warmup` per endpoint) come first and are not measured. Latency is
   from sending the request to reading the whole answer, on the client.

Targets (issue 5, item 7): GraphQL p99 ≤ 100 ms on the embedded store; GraphQL overhead ≤ 1.5×
(p50 and p99 latency GraphQL / bare, and requests/s bare / GraphQL). Performance is measured,
not asserted: a missed target prints MISS and the exit code stays 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse

from api.context import PURPOSE_HEADER, Principal, RequestContext
from api.graphql.auth import can_see
from api.graphql.types import CONTACTS_AT_ACCOUNT, EVIDENCE, ROLE_CAP, ROLES_AT_ACCOUNT, intent_type_of
from api.security import request_context
from graph.patterns import CAPTION_PROPERTIES
from graph.reads import EdgeHit, EdgeSpec, Reads, SortKey
from graph.store import GraphStore, Node
from ontology.model import NODE_KEY, Ontology, PrivacyCategory
from ontology.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 100.0
TARGET_OVERHEAD = 1.5
NODES_PER_ACCOUNT = 15.58  # the generated world, measured at 1k and 10k accounts (docs/quality.md)
WORLD_MARKER = "bench-api-world.json"
PURPOSE = "service"  # a service desk's 360: the service contract covers the people's data; intents serving service
BARE_PATH = "/bench/account360"

#: The account 360 of docs/api-graphql.md (account, people with their decision roles, devices, top intents with evidence).
ACCOUNT_360 = """query Account360($id: ID!) {
  account(id: $id) {
    name industry region { name }
    contacts(first: 20) {
      totalCount
      edges { jobTitle roles { role confidence } node { fullName email phone } }
    }
    devices(first: 20) { totalCount nodes { serial model installDate deviceStatus product { name } } }
    intents(first: 5) {
      totalCount
      nodes {
        id intentType score status explanation
        evidence(first: 5) { edges { contribution weight signals node { type caption } } }
      }
    }
  }
}"""

# the edge specs of the query's fields, as api/graphql/types.py declares them
REGION = EdgeSpec("Account", "LOCATED_IN", "out", "Region")
DEVICES = EdgeSpec("Account", "OWNS", "out", "Device")
INTENTS = EdgeSpec("Account", "OF", "in", "Intent", sort=SortKey("confidence_score", desc=True))
PRODUCT = EdgeSpec("Device", "INSTANCE_OF", "out", "Product")
CONTACTS_PAGE, DEVICES_PAGE, INTENTS_PAGE, EVIDENCE_PAGE = 20, 20, 5, 5


# ---------------------------------------------------------------------------- the bare endpoint
class _Visible:
    """The privacy rules of the GraphQL fields (api/graphql/types.py), for one caller."""

    def __init__(self, ontology: Ontology, principal: Principal):
        self.ontology = ontology
        self.principal = principal

    def node(self, node: Node, slot: str) -> Any:
        """A slot of a node, None when absent or hidden from the caller's role."""
        if slot != NODE_KEY:
            node_type = self.ontology.node_types.get(node.label)
            spec = node_type.properties.get(slot) if node_type else None
            if not can_see(self.principal, spec.privacy if spec else PrivacyCategory.SENSITIVE):
                return None
        return node.props.get(slot)

    def edge(self, type_: str, props: dict[str, Any], name: str) -> Any:
        """An edge property, None when absent or hidden."""
        edge_type = self.ontology.edge_types.get(type_)
        spec = edge_type.properties.get(name) if edge_type else None
        return props.get(name) if can_see(self.principal, spec.privacy if spec else PrivacyCategory.SENSITIVE) else None

    def caption(self, node: Node) -> str:
        """The first visible name-like property, else the id."""
        for prop in CAPTION_PROPERTIES:
            value = node.props.get(prop)
            if value and self.node(node, prop) is not None:
                return str(value)
        return node.id


async def account_360(reads: Reads, principal: Principal, account_id: str) -> dict[str, Any] | None:
    """The account 360 without GraphQL: the same `Reads` calls as the resolvers and their
    DataLoaders, in the same three waves (the account; its region and its three lists with their
    sizes; the contacts' roles, the devices' products and the intents' evidence), each call in a
    worker thread as `GraphQLContext.run` does, and the same JSON as the GraphQL `data.account`."""

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    found = await call(reads.nodes_by_ids, "Account", [account_id])
    account = found.get(account_id)
    if account is None:
        return None
    ids = [account_id]
    region, contacts, devices, intents = await asyncio.gather(
        call(reads.edges, REGION, ids, None, 2),
        call(reads.edge_pages, CONTACTS_AT_ACCOUNT, ids, None, CONTACTS_PAGE + 1),
        call(reads.edge_pages, DEVICES, ids, None, DEVICES_PAGE + 1),
        call(reads.edge_pages, INTENTS, ids, None, INTENTS_PAGE + 1),
    )
    empty: tuple[list[EdgeHit], int] = ([], 0)
    (contact_hits, contact_count), (device_hits, device_count), (intent_hits, intent_count) = (
        found.get(account_id, empty) for found in (contacts, devices, intents)
    )
    contact_hits, device_hits, intent_hits = contact_hits[:CONTACTS_PAGE], device_hits[:DEVICES_PAGE], intent_hits[:INTENTS_PAGE]
    waves: list[Any] = []
    if contact_hits:
        waves.append(call(reads.edges, ROLES_AT_ACCOUNT, ids, None, ROLE_CAP))
    if device_hits:
        waves.append(call(reads.edges, PRODUCT, [h.node.id for h in device_hits], None, 2))
    if intent_hits:
        waves.append(call(reads.edges, EVIDENCE, [h.node.id for h in intent_hits], None, EVIDENCE_PAGE + 1))
    results = list(await asyncio.gather(*waves))
    roles = results.pop(0).get(account_id, []) if contact_hits else []
    products = results.pop(0) if device_hits else {}
    evidence = results.pop(0) if intent_hits else {}

    see = _Visible(reads.ontology, principal)
    region_hits = region.get(account_id, [])
    roles_of: dict[str, list[dict[str, Any]]] = {}
    for hit in roles:
        roles_of.setdefault(hit.node.id, []).append({"role": hit.edge.props.get("role"), "confidence": hit.edge.props.get("confidence")})
    contact_edges = []
    for hit in contact_hits:
        contact = hit.node
        contact_edges.append(
            {
                "jobTitle": hit.edge.props.get("job_title") or see.node(contact, "job_title"),
                "roles": sorted(roles_of.get(contact.id, []), key=lambda r: r["role"] or ""),
                "node": {"fullName": see.node(contact, "full_name"), "email": see.node(contact, "email"), "phone": see.node(contact, "phone")},
            }
        )
    device_nodes = []
    for hit in device_hits:
        device = hit.node
        product = products.get(device.id, [])
        device_nodes.append(
            {
                "serial": see.node(device, "serial"),
                "model": see.node(device, "model"),
                "installDate": see.node(device, "install_date"),
                "deviceStatus": see.node(device, "device_status"),
                "product": {"name": see.node(product[0].node, "name")} if product else None,
            }
        )
    intent_nodes = []
    for hit in intent_hits:
        intent = hit.node
        explanation = see.node(intent, "explanation")
        edges = []
        for ev in evidence.get(intent.id, [])[:EVIDENCE_PAGE]:
            type_, props = ev.edge.type, ev.edge.props
            signals = [s for s in str(see.edge(type_, props, "signal") or "").split(",") if s]
            edges.append(
                {
                    "contribution": see.edge(type_, props, "contribution"),
                    "weight": see.edge(type_, props, "weight"),
                    "signals": signals,
                    "node": {"type": ev.node.label, "caption": see.caption(ev.node)},
                }
            )
        intent_nodes.append(
            {
                "id": intent.id,
                "intentType": intent_type_of(intent.id),
                "score": see.node(intent, "confidence_score"),
                "status": see.node(intent, "intent_status"),
                "explanation": str(explanation).splitlines() if explanation else [],
                "evidence": {"edges": edges},
            }
        )
    return {
        "name": see.node(account, "name"),
        "industry": see.node(account, "industry"),
        "region": {"name": see.node(region_hits[0].node, "name")} if region_hits else None,
        "contacts": {"totalCount": contact_count, "edges": contact_edges},
        "devices": {"totalCount": device_count, "nodes": device_nodes},
        "intents": {"totalCount": intent_count, "nodes": intent_nodes},
    }


def bare_router() -> APIRouter:
    """`GET /bench/account360/{account_id}`: the account 360 as plain JSON (`{"data": {"account": ...}}`,
    the shape of the GraphQL answer), behind the same key and purpose dependency as /graphql."""
    router = APIRouter()

    @router.get(BARE_PATH + "/{account_id}", include_in_schema=False)
    async def bare_account_360(account_id: str, rc: RequestContext = Depends(request_context)) -> JSONResponse:
        timeout = float(getattr(rc.settings, "graphql_read_timeout_seconds", 10.0))
        reads = Reads(rc.store, rc.purpose, timeout=timeout)
        return JSONResponse({"data": {"account": await account_360(reads, rc.principal, account_id)}})

    return router


def mount_bare(app: FastAPI) -> FastAPI:
    """The app with the bare endpoint mounted (on the same store, keys and middleware)."""
    app.include_router(bare_router())
    return app


# ---------------------------------------------------------------------------- the world
def _settings(args: argparse.Namespace, data_dir: Path) -> Settings:
    if args.store == "neo4j":
        return Settings(store="neo4j", neo4j_uri=args.neo4j_uri, data_dir=data_dir)
    return Settings(store="embedded", data_dir=data_dir)


def build_world(store: GraphStore, accounts: int, seed: int, as_of: datetime) -> dict[str, Any]:
    """Generate the world, load it into `store` (emptied first) and refresh every intent at `as_of`; timings and counts."""
    from reasoning.demo_world.generator import generate_world
    from reasoning.evaluate import default_engine, load_world

    out: dict[str, Any] = {"accounts": accounts, "seed": seed, "as_of": as_of.isoformat()}
    started = time.perf_counter()
    world = generate_world(accounts, seed, as_of)
    out["generate_seconds"] = round(time.perf_counter() - started, 1)
    out["world_nodes"], out["world_edges"] = len(world.nodes), len(world.edges)
    print(f"world: {accounts:,} accounts, {len(world.nodes):,} nodes, {len(world.edges):,} edges ({out['generate_seconds']} s to generate)", flush=True)
    store.clear()
    store.sync_schema()
    started = time.perf_counter()
    written = load_world(store, world)
    out["load_seconds"] = round(time.perf_counter() - started, 1)
    out["rejected"] = len(written.rejected)
    print(f"load: {out['load_seconds']} s, {out['rejected']} rejected", flush=True)
    del world
    started = time.perf_counter()
    report = default_engine(store, as_of).refresh()
    out["refresh_seconds"] = round(time.perf_counter() - started, 1)
    print(f"intent refresh: {out['refresh_seconds']} s, {report.scored:,} scored, {len(report.fired):,} over threshold", flush=True)
    return out


def world_stats(store: GraphStore) -> dict[str, Any]:
    """What the store holds: nodes and edges by type, and how accounts spread over the 360's lists."""
    stats = store.stats()
    rows = store.read_query(
        "MATCH (a:Account) "
        "OPTIONAL MATCH (a)<-[w:WORKS_AT]-(:Contact) WHERE w.valid_to IS NULL WITH a, count(w) AS contacts "
        "OPTIONAL MATCH (a)-[o:OWNS]->(:Device) WHERE o.valid_to IS NULL WITH a, contacts, count(o) AS devices "
        "OPTIONAL MATCH (a)<-[f:OF]-(:Intent) WHERE f.valid_to IS NULL "
        "RETURN a.id AS id, contacts, devices, count(f) AS intents",
        {},
        120.0,
    )
    accounts = sorted((str(r["id"]), int(r["contacts"]), int(r["devices"]), int(r["intents"])) for r in rows)
    return {
        "nodes": sum(stats.nodes.values()),
        "edges": sum(stats.edges.values()),
        "node_counts": stats.nodes,
        "accounts": accounts,
    }


def prepare(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """Build the world in `data_dir`'s store, or reuse the one a previous run built there."""
    from graph.factory import open_store
    from reasoning.evaluate import DEFAULT_AS_OF

    as_of = datetime.fromisoformat(DEFAULT_AS_OF)
    marker = data_dir / WORLD_MARKER
    wanted = {"accounts": args.accounts, "seed": args.seed, "as_of": as_of.isoformat(), "store": args.store}
    store = open_store(_settings(args, data_dir))
    try:
        previous = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None
        if previous and {k: previous.get(k) for k in wanted} == wanted and not args.rebuild:
            print(f"reusing the world in {data_dir} ({previous['accounts']:,} accounts, built {previous['built']})", flush=True)
            built = previous
        else:
            built = {**wanted, **build_world(store, args.accounts, args.seed, as_of), "built": datetime.now(UTC).isoformat(timespec="seconds")}
            marker.write_text(json.dumps(built, indent=1), encoding="utf-8")
        started = time.perf_counter()
        stats = world_stats(store)
        print(f"store: {stats['nodes']:,} nodes, {stats['edges']:,} edges ({time.perf_counter() - started:.1f} s to count)", flush=True)
    finally:
        store.close()
    return {"world": built, "stats": stats}


# ---------------------------------------------------------------------------- the server process
def serve(args: argparse.Namespace) -> None:
    """The server process: the app on the store of `--data-dir`, with the bare endpoint, under uvicorn."""
    import uvicorn

    from api.app import create_app
    from api.config import ServerConfig
    from graph.factory import open_store

    if args.workers > 1:  # uvicorn's worker processes each build the app (worker_app) from the environment
        os.environ[WORKER_ENV] = json.dumps({"store": args.store, "neo4j_uri": args.neo4j_uri, "data_dir": str(args.data_dir)})
        options = {"host": "127.0.0.1", "port": args.port, "log_level": "warning", "access_log": False, "server_header": False, "proxy_headers": False}
        uvicorn.run("bench.api:worker_app", factory=True, workers=args.workers, **options)  # type: ignore[arg-type]
        return
    settings = _settings(args, args.data_dir)
    store = open_store(settings)
    app = mount_bare(create_app(settings, store, ServerConfig(rate_per_second=0, embed_documents=False)))
    profiler = cProfile.Profile() if args.profile else None
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, server_header=False, proxy_headers=False)
    server = uvicorn.Server(config)
    try:
        if profiler is not None:
            profiler.enable()
        server.run()
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        store.close()


WORKER_ENV = "KHUB_BENCH_API_SERVER"


def worker_app() -> FastAPI:
    """The app of one server worker process (`--workers N`): the configured store opened at startup, with the bare endpoint."""
    from api.app import create_app
    from api.config import ServerConfig

    given = json.loads(os.environ[WORKER_ENV])
    args = argparse.Namespace(store=given["store"], neo4j_uri=given["neo4j_uri"])
    settings = _settings(args, Path(given["data_dir"]))
    return mount_bare(create_app(settings, config=ServerConfig(rate_per_second=0, embed_documents=False)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_process(args: argparse.Namespace, data_dir: Path, log_path: Path) -> Any:
    """Start the server in a process of its own; yield (base URL, pid) once /ready answers; stop it after."""
    port = args.port or _free_port()
    command = [sys.executable, "-m", "bench.api", "--serve", "--data-dir", str(data_dir), "--port", str(port), "--store", args.store]
    if args.store == "neo4j":
        command += ["--neo4j-uri", args.neo4j_uri]
    if args.profile:
        command += ["--profile", str(args.profile)]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}: see {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not get ready in 120 s: see {log_path}")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly (and a profile is written)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def store_server_pid(args: argparse.Namespace, data_dir: Path) -> int | None:
    """The embedded store's redis-server process (None for Neo4j, or when it cannot be told)."""
    if args.store != "embedded":
        return None
    try:
        return int((data_dir / "graph" / "falkordb.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _stat_fields(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process and its live children (uvicorn's workers) (Linux /proc)."""
    try:
        fields = _stat_fields(pid)
        total = int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return float("nan")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                child = _stat_fields(entry.name)
                if int(child[1]) == pid:  # field 4 of stat: the parent's pid
                    total += int(child[11]) + int(child[12])
    return total / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- the clients
def graphql_request(account_id: str) -> dict[str, Any]:
    """The arguments of `httpx.AsyncClient.request` for the GraphQL account 360 of one account."""
    return {"method": "POST", "url": "/graphql", "json": {"query": ACCOUNT_360, "variables": {"id": account_id}, "operationName": "Account360"}}


def bare_request(account_id: str) -> dict[str, Any]:
    """The arguments of `httpx.AsyncClient.request` for the bare account 360 of one account."""
    return {"method": "GET", "url": f"{BARE_PATH}/{account_id}"}


REQUESTS = {"graphql": graphql_request, "bare": bare_request}


def headers_for(key: str) -> dict[str, str]:
    """An authenticated request's headers with the declared purpose."""
    return {"Authorization": f"Bearer {key}", PURPOSE_HEADER: PURPOSE}


async def compare_answers(client: httpx.AsyncClient, account_ids: Sequence[str]) -> dict[str, Any]:
    """Ask both endpoints for each account; the GraphQL `data` must equal the bare JSON. Also sizes."""
    mismatches: list[str] = []
    sizes: dict[str, list[int]] = {"graphql": [], "bare": []}
    shape = {"contacts": 0, "roles": 0, "devices": 0, "intents": 0, "evidence": 0}
    for account_id in account_ids:
        answers = {}
        for name, make in REQUESTS.items():
            response = await client.request(**make(account_id))
            sizes[name].append(len(response.content))
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                mismatches.append(f"{account_id}: {name} answered {response.status_code} {str(body)[:200]}")
            answers[name] = body.get("data")
        if answers["graphql"] != answers["bare"]:
            mismatches.append(f"{account_id}: the answers differ: graphql {str(answers['graphql'])[:300]} / bare {str(answers['bare'])[:300]}")
        account = (answers["graphql"] or {}).get("account") or {}
        shape["contacts"] += len(account.get("contacts", {}).get("edges", []))
        shape["roles"] += sum(len(e["roles"]) for e in account.get("contacts", {}).get("edges", []))
        shape["devices"] += len(account.get("devices", {}).get("nodes", []))
        shape["intents"] += len(account.get("intents", {}).get("nodes", []))
        shape["evidence"] += sum(len(i["evidence"]["edges"]) for i in account.get("intents", {}).get("nodes", []))
    return {
        "accounts": len(account_ids),
        "mismatches": mismatches,
        "bytes_mean": {k: round(statistics.fmean(v)) if v else 0 for k, v in sizes.items()},
        "per_account": {k: round(v / max(1, len(account_ids)), 2) for k, v in shape.items()},
    }


async def run_block(clients: Sequence[httpx.AsyncClient], name: str, account_ids: Sequence[str]) -> dict[str, Any]:
    """Send one request per account id, `len(clients)` at a time (each client takes the next id when
    its answer is in); latencies in ms, failures, wall time."""
    make = REQUESTS[name]
    queue = list(reversed(account_ids))
    latencies: list[float] = []
    failures: list[str] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            account_id = queue.pop()
            t0 = time.perf_counter()
            try:
                response = await client.request(**make(account_id))
                content = response.content
            except httpx.HTTPError as exc:
                failures.append(f"{account_id}: {type(exc).__name__}: {exc}")
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200 or b'"errors"' in content:
                failures.append(f"{account_id}: {response.status_code} {content[:200]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    return {"name": name, "latencies": latencies, "failures": failures, "seconds": time.perf_counter() - started}


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(blocks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Percentiles over every block of one endpoint, and requests/s over their summed wall time."""
    latencies = [x for b in blocks for x in b["latencies"]]
    seconds = sum(b["seconds"] for b in blocks)
    return {
        "requests": len(latencies),
        "failures": sum(len(b["failures"]) for b in blocks),
        "p50": round(_pct(latencies, 0.50), 1),
        "p90": round(_pct(latencies, 0.90), 1),
        "p99": round(_pct(latencies, 0.99), 1),
        "max": round(max(latencies), 1) if latencies else float("nan"),
        "mean": round(statistics.fmean(latencies), 1) if latencies else float("nan"),
        "rps": round(len(latencies) / seconds, 1) if seconds else float("nan"),
        "seconds": round(seconds, 2),
    }


async def drive(base: str, key: str, args: argparse.Namespace, accounts: Sequence[str], check_ids: Sequence[str], pids: dict[str, int]) -> dict[str, Any]:
    """Check the answers, warm up, then the ABBA blocks; figures per endpoint. `pids`: the
    processes whose CPU time is measured per block (the API server, the store's server)."""
    out: dict[str, Any] = {}
    headers = headers_for(key)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as one:
        first = await one.request(**graphql_request(accounts[0]))  # the key's one scrypt, alone
        if first.status_code != 200:
            raise RuntimeError(f"the first request failed: {first.status_code} {first.text[:300]}")
        started = time.perf_counter()
        out["check"] = await compare_answers(one, check_ids)
        out["check"]["seconds"] = round(time.perf_counter() - started, 1)
    rng = random.Random(args.seed + 1)
    clients = [httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) for _ in range(args.clients)]
    try:
        for name in REQUESTS:
            await run_block(clients, name, [rng.choice(accounts) for _ in range(args.warmup)])
        order = {"abba": ["graphql", "bare", "bare", "graphql"], "graphql-first": ["graphql", "bare"], "bare-first": ["bare", "graphql"]}[args.order]
        per_block = {name: max(1, args.requests // order.count(name)) for name in REQUESTS}
        blocks: list[dict[str, Any]] = []
        out["load_average"] = {"start": os.getloadavg()}
        for name in order:
            ids = [rng.choice(accounts) for _ in range(per_block[name])]
            before = {who: _cpu_seconds(pid) for who, pid in pids.items()}
            client0 = time.process_time()
            block = await run_block(clients, name, ids)
            block["cpu"] = {who: _cpu_seconds(pid) - before[who] for who, pid in pids.items()}
            block["cpu"]["client"] = time.process_time() - client0
            blocks.append(block)
            s = summary([block])
            cpu = ", ".join(f"{who} {seconds:.1f}" for who, seconds in block["cpu"].items())
            print(
                f"  block {name:<8} {s['requests']:>6} requests in {s['seconds']:>6} s: p50 {s['p50']} ms, p99 {s['p99']} ms, {s['rps']} req/s; "
                f"CPU s: {cpu}; failures {s['failures']}",
                flush=True,
            )
        out["load_average"]["end"] = os.getloadavg()
        for name in REQUESTS:
            mine = [b for b in blocks if b["name"] == name]
            out[name] = summary(mine)
            done = max(1, out[name]["requests"])
            out[name]["cpu_ms_per_request"] = {who: round(1000 * sum(b["cpu"][who] for b in mine) / done, 2) for who in mine[0]["cpu"]}
            out[name]["failure_samples"] = [f for b in mine for f in b["failures"]][:5]
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return out


def check_sample(stats: dict[str, Any], n: int, seed: int) -> list[str]:
    """Accounts to compare both answers on: the largest lists of each kind, and random ones."""
    accounts = stats["accounts"]
    chosen: list[str] = []
    for column in (1, 2, 3):
        chosen += [a[0] for a in sorted(accounts, key=lambda a: (-a[column], a[0]))[:3]]
    with_intents = [a[0] for a in accounts if a[3] > 0]
    rng = random.Random(seed)
    chosen += rng.sample(with_intents, min(len(with_intents), n // 3))
    chosen += rng.sample([a[0] for a in accounts], min(len(accounts), n))
    chosen.append("no-such-account")
    return list(dict.fromkeys(chosen))[: n + 10]


# ---------------------------------------------------------------------------- the run
def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build or reuse the world, start the server, check and measure; the figures."""
    from api.security import ApiKeyStore

    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="khub-api-", dir="/tmp")) if temporary else args.data_dir  # short: unix socket path limit
    data_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "data_dir": str(data_dir)}
    try:
        out.update(prepare(args, data_dir))
        accounts = [a[0] for a in out["stats"]["accounts"]]
        _, key = ApiKeyStore.for_data_dir(data_dir).create(f"bench-api-{os.getpid()}", "sales_tool")
        with server_process(args, data_dir, data_dir / "bench-api-server.log") as (base, pid):
            print(f"server: {base} (pid {pid}); {args.clients} clients, {args.requests} requests per endpoint after {args.warmup} warm-up each", flush=True)
            check_ids = check_sample(out["stats"], args.check, args.seed)
            pids = {"server": pid}
            store_pid = store_server_pid(args, data_dir)
            if store_pid is not None:
                pids["store"] = store_pid
            out.update(asyncio.run(drive(base, key, args, accounts, check_ids, pids)))
        if args.profile:
            text = io.StringIO()
            stats = pstats.Stats(str(args.profile), stream=text)
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(50)
            out["profile_text"] = text.getvalue()
    finally:
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    out["client_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def figures(out: dict[str, Any]) -> dict[str, Any]:
    """Ratios GraphQL / bare and the verdicts."""
    g, b = out["graphql"], out["bare"]
    ratios = {
        "p50": round(g["p50"] / b["p50"], 2),
        "p99": round(g["p99"] / b["p99"], 2),
        "rps": round(g["rps"] / b["rps"], 2),
        "server_cpu": round(g["cpu_ms_per_request"]["server"] / b["cpu_ms_per_request"]["server"], 2) if b["cpu_ms_per_request"]["server"] else float("nan"),
    }
    overhead = max(ratios["p50"], ratios["p99"], 1 / ratios["rps"])
    return {
        "ratios": ratios,
        "overhead": round(overhead, 2),
        "p99_verdict": "MET" if g["p99"] <= TARGET_P99_MS else "MISS",
        "overhead_verdict": "MET" if overhead <= TARGET_OVERHEAD else "MISS",
        "check_verdict": "OK" if not out["check"]["mismatches"] else "MISMATCH",
    }


def print_report(out: dict[str, Any], fig: dict[str, Any]) -> None:
    """The figures, in the style of the other benchmarks."""
    stats, check = out["stats"], out["check"]
    print(f"\n== account 360 over HTTP, {out['config']['store']} store ==")
    print(f"graph: {stats['nodes']:,} nodes, {stats['edges']:,} edges; {len(stats['accounts']):,} accounts")
    per = check["per_account"]
    print(
        f"answers checked on {check['accounts']} accounts: {fig['check_verdict']}"
        + (f" ({len(check['mismatches'])} mismatches, e.g. {check['mismatches'][0]})" if check["mismatches"] else "")
    )
    print(
        f"  per checked account: {per['contacts']} contacts, {per['roles']} roles, {per['devices']} devices, {per['intents']} intents, "
        f"{per['evidence']} evidence; answer size GraphQL {check['bytes_mean']['graphql']:,} B, bare {check['bytes_mean']['bare']:,} B"
    )
    who = list(out["graphql"]["cpu_ms_per_request"])
    cpu_heads = "".join(f"{w + ' CPU':>13}" for w in who)
    print(f"\n{'':10}{'requests':>9}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'mean':>9}{'req/s':>9}{cpu_heads}{'fail':>6}   (ms; CPU ms per request)")
    for name in REQUESTS:
        s = out[name]
        cpu = "".join(f"{s['cpu_ms_per_request'][w]:>13}" for w in who)
        print(f"{name:10}{s['requests']:>9}{s['p50']:>9}{s['p90']:>9}{s['p99']:>9}{s['max']:>9}{s['mean']:>9}{s['rps']:>9}{cpu}{s['failures']:>6}")
        for sample in s["failure_samples"]:
            print(f"    failure: {sample}")
    r = fig["ratios"]
    print(f"ratio GraphQL / bare: p50 {r['p50']}×, p99 {r['p99']}×, req/s {r['rps']}× (bare / GraphQL {1 / r['rps']:.2f}×)")
    print(f"  API server CPU per request GraphQL / bare: {r['server_cpu']}×")
    start, end = (tuple(round(x, 2) for x in out["load_average"][k]) for k in ("start", "end"))
    print(f"load average (1, 5, 15 min) at the start of the measured blocks {start}, at the end {end}")
    print(f"target: {fig['p99_verdict']}  GraphQL p99 {out['graphql']['p99']} ms (≤ {TARGET_P99_MS:.0f} ms)")
    what = "the largest of the p50 and p99 ratios and bare / GraphQL req/s"
    print(f"target: {fig['overhead_verdict']}  GraphQL overhead {fig['overhead']}× (≤ {TARGET_OVERHEAD}×: {what})")
    if out.get("profile_text"):
        print("\nprofile of the server process (its event loop thread; store calls run in worker threads):\n" + out["profile_text"])


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=6420, help="accounts of the generated world (about 15.6 nodes each; default: ~100k nodes)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 300 accounts, 400 requests, 50 warm-up")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests per endpoint first")
    parser.add_argument("--check", type=int, default=60, help="about how many accounts to compare both answers on")
    parser.add_argument("--order", choices=("abba", "graphql-first", "bare-first"), default="abba")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", choices=("embedded", "neo4j"), default="embedded")
    parser.add_argument("--neo4j-uri", default=os.environ.get("NEO4J_URI"), help="with --store neo4j (its graph is emptied and rebuilt)")
    parser.add_argument("--data-dir", type=Path, help="build the world here and keep it; a later run with the same accounts and seed reuses it")
    parser.add_argument("--rebuild", action="store_true", help="build the world even when --data-dir has it")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (uvicorn workers, as khub serve --workers)")
    parser.add_argument("--profile", type=Path, help="cProfile the server process into this file (slows it: figures not comparable)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.requests, args.warmup = 300, 400, 50
    if args.store == "neo4j" and not args.neo4j_uri:
        parser.error("--store neo4j needs --neo4j-uri (or NEO4J_URI)")
    if args.profile:
        args.profile = args.profile.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures (or, with --serve, be its server)."""
    args = parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    print(f"khub API benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}: {vars(args)}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}; load average {os.getloadavg()}", flush=True)
    out = run(args)
    fig = figures(out)
    print_report(out, fig)
    if args.json:
        out["stats"].pop("accounts", None)
        args.json.write_text(json.dumps({**out, "figures": fig}, indent=2, default=str), encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
