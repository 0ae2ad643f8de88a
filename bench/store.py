"""Benchmark khub's `GraphStore` against the raw database clients, on FalkorDB and Neo4j.

    python -m bench.store --store embedded|neo4j|both [--quick] [--neo4j-uri URI] [--json out.json]

Per store, in one run:

1. upsert a synthetic customer graph (default 100k nodes, 300k edges, batches of 10k records
   per `upsert` call) through khub, and the same rows through the raw client with a plain
   `UNWIND ... MERGE ... SET += props`, each into a fresh graph with khub's schema; nodes/s,
   edges/s (many-to-many and functional edge types apart) and the ratio khub/raw;
2. 2-hop `neighbourhood` queries from random start nodes against one hand-written raw
   Cypher query returning the same nodes and edges: p50/p99 latency;
3. vector top-10 search over random 384-d unit vectors, without and with a property filter:
   p50/p99 latency and recall@10 against an exact search done in Python;
4. peak memory of this process and of the database server.

Performance is measured, not asserted: a missed target prints MISS and the exit code stays 0.
The benchmark deletes everything in the graph it is given: point `--neo4j-uri` at a Neo4j no
one else uses (e.g. `graph/neo4j_server/neo4j-server.sh start /tmp/khub-bench-neo4j`).
"""

from __future__ import annotations

import argparse
import array
import contextlib
import cProfile
import hashlib
import io
import json
import math
import operator
import os
import platform
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from graph.cypher_store import WRITE_CHUNK, CypherGraphStore
from graph.factory import open_store
from graph.store import EdgeRecord, NodeRecord, NodeRef, WriteResult
from ontology.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DIM = 384
K = 10
FILTER_LANGUAGE = "zh"
ZH_FRACTION = 0.3
WARMUP_QUERIES = 20
FETCH_SWEEP = (10, 50, 100, 200, 400)
SWEEP_QUERIES = 50
GENERATOR_VERSION = 1  # bump when the data generator changes (invalidates the ground-truth cache)

LABEL_MIX = (("Account", 0.10), ("Contact", 0.25), ("Product", 0.02), ("Device", 0.13), ("Chunk", 0.50))
ID_PREFIX = {"Account": "acc", "Contact": "con", "Product": "prd", "Device": "dev", "Chunk": "chk"}
M2M_MIX = (("MENTIONS", 0.50), ("USES_PRODUCT", 0.15), ("HAS_ROLE", 0.15))
FUNCTIONAL_MIX = (("WORKS_AT", 0.10), ("OWNS", 0.10))
MENTION_TARGETS = (("Account", 0.4), ("Contact", 0.3), ("Product", 0.1), ("Device", 0.2))
ROLES = ("decision_maker", "budget_holder", "technical_evaluator", "user", "influencer", "procurement", "legal", "gatekeeper")
INDUSTRIES = ("hospital", "manufacturing", "retail", "logistics", "energy", "education", "finance", "government")
WORDS = (
    "tender", "budget", "device", "maintenance", "contract", "renewal", "hospital", "scanner", "replacement", "warranty", "service", "price",
    "quote", "installation", "upgrade", "training", "subsidy", "regulation", "delivery", "invoice", "discount", "competitor", "support", "visit",
)  # fmt: skip
ZH_WORDS = ("招标", "文件", "设备", "维护", "预算", "采购", "合同", "客户", "服务", "价格", "项目", "医院", "更换", "补贴")
DEVICE_STATUS = ("ordered", "installed", "active", "maintenance", "retired")
BASE_DATE = datetime(2018, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------- configuration
@dataclass
class Config:
    """Sizes of one benchmark run."""

    nodes: int = 100_000
    edges: int = 300_000
    queries: int = 1_000
    vector_queries: int = 200
    vectors: int = 100_000
    recall_queries: int = 200
    batch: int = 10_000
    vector_batch: int = 2_000
    seed: int = 7
    order: str = "raw-first"
    phase_budget: float = 90.0
    vector_kind: str = "clustered"


QUICK = {"nodes": 10_000, "edges": 30_000, "queries": 100, "vector_queries": 100, "vectors": 10_000, "recall_queries": 100}


# ---------------------------------------------------------------------------- data
@dataclass
class Dataset:
    """The graph to write and the start nodes of the neighbourhood queries."""

    nodes: list[NodeRecord]
    m2m_edges: list[EdgeRecord]
    functional_edges: list[EdgeRecord]
    starts: list[NodeRef]


@dataclass
class VectorSet:
    """Stored vectors (float32 values held as doubles), their languages, query vectors and exact answers."""

    vectors: list[array.array]
    languages: list[str]
    queries: list[array.array]
    truth: list[list[int]] = field(default_factory=list)
    truth_filtered: list[list[int]] = field(default_factory=list)
    kind: str = "random"

    @staticmethod
    def node_id(index: int) -> str:
        """The id of stored vector `index`."""
        return f"vec-{index:07d}"


def _split(total: int, mix: Sequence[tuple[str, float]]) -> dict[str, int]:
    counts = {name: int(total * share) for name, share in mix}
    counts[mix[0][0]] += total - sum(counts.values())
    return counts


def _iso(days: float) -> str:
    return (BASE_DATE + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _weighted(rng: random.Random, mix: Sequence[tuple[str, float]]) -> str:
    return rng.choices([m[0] for m in mix], weights=[m[1] for m in mix])[0]


def _node_props(rng: random.Random, label: str, i: int) -> dict[str, Any]:
    if label == "Account":
        return {"name": f"Account {i}", "industry": rng.choice(INDUSTRIES), "country": rng.choice(("CN", "DE", "US", "FR")), "size_band": rng.choice("SML")}
    if label == "Contact":
        return {
            "full_name": f"Contact {i}",
            "email": f"contact{i}@example{i % 97}.com",
            "job_title": rng.choice(("buyer", "engineer", "director", "nurse", "cfo")),
            "language": rng.choice(("en", "zh")),
            "city": rng.choice(("Shanghai", "Berlin", "Austin", "Lyon")),
        }
    if label == "Product":
        category = rng.choice(("scanner", "pump", "monitor"))
        return {"name": f"Product {i}", "sku": f"SKU-{i:06d}", "category": category, "vendor": "acme", "is_competitor": rng.random() < 0.3}
    if label == "Device":
        return {
            "serial": f"SN{i:08d}",
            "model": f"M-{rng.randrange(50)}",
            "device_status": rng.choice(DEVICE_STATUS),
            "operating_hours": round(rng.uniform(0, 50_000), 1),
            "install_date": _iso(rng.randrange(2000))[:10],
        }
    if rng.random() < ZH_FRACTION:
        return {"text": "".join(rng.choices(ZH_WORDS, k=12)), "position": i % 40, "language": "zh"}
    return {"text": " ".join(rng.choices(WORDS, k=16)), "position": i % 40, "language": "en"}


def _provenance(rng: random.Random) -> dict[str, Any]:
    return {"source_id": f"doc-{rng.randrange(50_000):05d}", "extractor": "bench", "confidence": round(rng.uniform(0.5, 1.0), 3)}


def generate_graph(cfg: Config) -> Dataset:
    """A deterministic synthetic customer graph of `cfg.nodes` nodes and `cfg.edges` edges."""
    rng = random.Random(cfg.seed)
    ids: dict[str, list[str]] = {}
    nodes: list[NodeRecord] = []
    for label, count in _split(cfg.nodes, LABEL_MIX[::-1]).items():
        ids[label] = [f"{ID_PREFIX[label]}-{i:07d}" for i in range(count)]
        nodes += [NodeRecord(label, node_id, _node_props(rng, label, i)) for i, node_id in enumerate(ids[label])]
    rng.shuffle(nodes)
    counts = _split(cfg.edges, M2M_MIX + FUNCTIONAL_MIX)
    seen: set[tuple[Any, ...]] = set()

    def unique(key: tuple[Any, ...]) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    m2m: list[EdgeRecord] = []
    while len(m2m) < counts["MENTIONS"]:
        chunk, target = rng.choice(ids["Chunk"]), _weighted(rng, MENTION_TARGETS)
        dst, start = rng.choice(ids[target]), rng.randrange(4000)
        if unique(("MENTIONS", chunk, dst, start)):
            props = {"char_start": start, "char_end": start + 12, "mention_text": dst}
            m2m.append(EdgeRecord("MENTIONS", NodeRef("Chunk", chunk), NodeRef(target, dst), props, valid_from=_iso(rng.randrange(2500)), **_provenance(rng)))
    for type_, src_label, dst_label in (("USES_PRODUCT", "Account", "Product"), ("HAS_ROLE", "Contact", "Account")):
        made = 0
        while made < counts[type_]:
            src, dst = rng.choice(ids[src_label]), rng.choice(ids[dst_label])
            props = {"role": rng.choice(ROLES)} if type_ == "HAS_ROLE" else {}
            if unique((type_, src, dst, props.get("role"))):
                m2m.append(EdgeRecord(type_, NodeRef(src_label, src), NodeRef(dst_label, dst), props, valid_from=_iso(rng.randrange(2500)), **_provenance(rng)))
                made += 1
    functional: list[EdgeRecord] = []
    # WORKS_AT is many_to_one (a contact has one employer), OWNS one_to_many (a device has one
    # owner): every subject (object) gets one edge, then some get later ones, which close the older.
    for type_, one_label, many_label in (("WORKS_AT", "Contact", "Account"), ("OWNS", "Device", "Account")):
        last: dict[str, float] = {}
        made = 0
        while made < counts[type_]:
            one = ids[one_label][made] if made < len(ids[one_label]) else rng.choice(ids[one_label])
            many = rng.choice(ids[many_label])
            if not unique((type_, one, many)):
                continue
            when = last.get(one, rng.uniform(0, 1500) - 700) + rng.uniform(30, 700)
            last[one] = when
            ends = (NodeRef(one_label, one), NodeRef(many_label, many))
            src, dst = ends if type_ == "WORKS_AT" else ends[::-1]
            props = {"job_title": rng.choice(("buyer", "engineer", "director"))} if type_ == "WORKS_AT" else {}
            functional.append(EdgeRecord(type_, src, dst, props, valid_from=_iso(max(when, 0)), **_provenance(rng)))
            made += 1
    rng.shuffle(m2m)
    rng.shuffle(functional)
    starts = [nodes[rng.randrange(len(nodes))].ref for _ in range(cfg.queries + WARMUP_QUERIES)]
    return Dataset(nodes, m2m, functional, starts)


def _unit_vector(rng: random.Random) -> array.array:
    """A random unit vector (int16 coordinates, normalised) whose components are float32 values,
    so both stores hold exactly these numbers; kept as doubles, which Python multiplies faster."""
    raw = array.array("h", rng.randbytes(2 * DIM))
    inv = 1.0 / math.sqrt(sum(map(operator.mul, raw, raw)))
    return array.array("d", array.array("f", [x * inv for x in raw]))


def _clustered(cfg: Config) -> tuple[list[array.array], list[array.array]]:
    """Vectors shaped like sentence embeddings: 200 topic centroids plus noise; each query is a
    stored vector plus noise (a paraphrase). Values are float32, as both stores keep them."""
    import numpy as np

    rng = np.random.default_rng(cfg.seed + 1)
    centroids = rng.standard_normal((200, DIM))
    stored = centroids[rng.integers(0, 200, cfg.vectors)] + 0.6 * rng.standard_normal((cfg.vectors, DIM))
    queries = stored[rng.integers(0, cfg.vectors, cfg.vector_queries)] + 0.3 * rng.standard_normal((cfg.vector_queries, DIM))

    def unit_rows(m: Any) -> list[array.array]:
        m = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
        return [array.array("d", row.tolist()) for row in m]

    return unit_rows(stored), unit_rows(queries)


def generate_vectors(cfg: Config) -> VectorSet:
    """`cfg.vectors` stored vectors (30% tagged zh) and `cfg.vector_queries` query vectors:
    clustered like real embeddings (default) or uniform random (the hardest case for HNSW)."""
    rng = random.Random(cfg.seed + 1)
    if cfg.vector_kind == "clustered":
        vectors, queries = _clustered(cfg)
    else:
        vectors = [_unit_vector(rng) for _ in range(cfg.vectors)]
        queries = [_unit_vector(rng) for _ in range(cfg.vector_queries)]
    languages = ["zh" if rng.random() < ZH_FRACTION else "en" for _ in range(cfg.vectors)]
    return VectorSet(vectors, languages, queries, kind=cfg.vector_kind)


# ---------------------------------------------------------------------------- exact search
def compute_ground_truth(vs: VectorSet, count: int, cache_dir: Path, seed: int, processes: int = 2) -> None:
    """Fill `vs.truth` and `vs.truth_filtered` for the first `count` queries by exact search
    (numpy), cached on disk."""
    count = min(count, len(vs.queries))
    key = hashlib.sha256(json.dumps([GENERATOR_VERSION, seed, len(vs.vectors), count, DIM, K, vs.kind]).encode()).hexdigest()[:16]
    cache = cache_dir / f"truth-{key}.json"
    if cache.exists():
        data = json.loads(cache.read_text())
        vs.truth, vs.truth_filtered = data["truth"], data["filtered"]
        print(f"exact top-{K} of {count} queries: from cache {cache}")
        return
    import numpy as np

    started = time.perf_counter()
    stored = np.asarray(vs.vectors, dtype=np.float64)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    filtered = np.asarray([i for i, lang in enumerate(vs.languages) if lang == FILTER_LANGUAGE])
    vs.truth, vs.truth_filtered = [], []
    for query in vs.queries[:count]:
        scores = stored @ np.asarray(query, dtype=np.float64)
        vs.truth.append([int(i) for i in np.argsort(-scores)[:K]])
        vs.truth_filtered.append([int(filtered[i]) for i in np.argsort(-scores[filtered])[:K]])
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"truth": vs.truth, "filtered": vs.truth_filtered}))
    print(f"exact top-{K} of {count} queries over {len(vs.vectors)} vectors: {time.perf_counter() - started:.1f} s (cached in {cache})")


# ---------------------------------------------------------------------------- raw clients
class RawBackend(Protocol):
    """The raw database client of one store, beside khub's store on the same graph."""

    name: str
    title: str
    nearest_first: str  # ORDER BY direction of the index's score

    def write(self, query: str, params: dict[str, Any]) -> None:
        """Run a write query in its own transaction."""
        ...

    def read(self, query: str, params: dict[str, Any]) -> list[Any]:
        """Run a read query and materialise its rows."""
        ...

    def reset(self) -> None:
        """Leave an empty graph with khub's schema (indexes and constraints)."""
        ...

    def vector_query(self, fetch: int, filtered: bool) -> str:
        """Top-K ids by the store's vector index (over-fetching `fetch` when filtered)."""
        ...

    def server_memory(self) -> dict[str, Any]:
        """The server's memory figures."""
        ...

    def close(self) -> None:
        """Release what the backend opened."""
        ...


def _proc_status(pid: int | None) -> dict[str, Any]:
    """VmHWM (peak RSS) and VmRSS of process `pid`, in MiB, from /proc."""
    out: dict[str, Any] = {"pid": pid, "peak_rss_mib": None, "rss_mib": None}
    if pid is None:
        return out
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["peak_rss_mib"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("VmRSS:"):
                out["rss_mib"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


class FalkorRaw:
    """The raw `falkordb` client (`Graph.query`) on khub's embedded FalkorDB."""

    name = "embedded"
    title = "embedded (FalkorDB)"
    nearest_first = "ASC"  # queryNodes yields a cosine distance

    def __init__(self, st: CypherGraphStore):
        self.st = st
        self.graph = st.conn.graph  # type: ignore[attr-defined]

    def write(self, query: str, params: dict[str, Any]) -> None:
        self.graph.query(query, params)

    def read(self, query: str, params: dict[str, Any]) -> list[Any]:
        return self.graph.ro_query(query, params).result_set

    def reset(self) -> None:
        try:
            self.graph.delete()
        except Exception as exc:  # no graph yet
            if "empty key" not in str(exc).lower() and "invalid graph" not in str(exc).lower():
                raise
        self.st.sync_schema()

    def vector_query(self, fetch: int, filtered: bool) -> str:
        # queryNodes yields a cosine distance: smaller is nearer
        head = f"CALL db.idx.vector.queryNodes('Chunk', 'embedding', {fetch}, vecf32($vector)) YIELD node, score"
        if filtered:
            return f"{head} WHERE node.language = $language RETURN node.id AS id, score ORDER BY score LIMIT {K}"
        return f"{head} RETURN node.id AS id, score"

    def server_memory(self) -> dict[str, Any]:
        info = self.st.conn.db.connection.info("memory")  # type: ignore[attr-defined]
        server = self.st.conn.server  # type: ignore[attr-defined]
        pid = None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            pid = int(server.pid_file.read_text().strip())
        return {
            "used_memory_peak": info.get("used_memory_peak_human"),
            "used_memory": info.get("used_memory_human"),
            "used_memory_peak_mib": round(int(info.get("used_memory_peak", 0)) / 2**20, 1),
            **_proc_status(pid),
        }

    def close(self) -> None:
        pass


def neo4j_pid(uri: str, pid_file: str | None) -> int | None:
    """The pid of the JVM serving `uri`: from `pid_file`, `$KHUB_NEO4J_STATE/pid` or the dev
    server's pid file, accepted only if that process's command line names the URI's port."""
    port = uri.rsplit(":", 1)[-1].strip("/")
    candidates = [pid_file] if pid_file else []
    if os.environ.get("KHUB_NEO4J_STATE"):
        candidates.append(os.path.join(os.environ["KHUB_NEO4J_STATE"], "pid"))
    candidates.append(str(REPO / ".khub" / "neo4j-server" / "pid"))
    for candidate in candidates:
        try:
            pid = int(Path(candidate).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if port.encode() in cmdline:
            return pid
    return None


class Neo4jRaw:
    """The raw `neo4j` driver (`session.execute_write`) on the Neo4j khub talks to."""

    name = "neo4j"
    title = "Neo4j 5"
    nearest_first = "DESC"  # queryNodes yields a similarity

    def __init__(self, st: CypherGraphStore, uri: str, pid_file: str | None):
        self.st = st
        self.driver = st.conn.driver  # type: ignore[attr-defined]
        self.session = self.driver.session()
        self.pid = neo4j_pid(uri, pid_file)

    def write(self, query: str, params: dict[str, Any]) -> None:
        self.session.execute_write(lambda tx: tx.run(query, params).consume())

    def read(self, query: str, params: dict[str, Any]) -> list[Any]:
        return self.session.execute_read(lambda tx: list(tx.run(query, params)))

    def reset(self) -> None:
        self.st.clear()
        self.st.sync_schema()

    def vector_query(self, fetch: int, filtered: bool) -> str:
        # queryNodes yields a similarity: larger is nearer
        head = f"CALL db.index.vector.queryNodes('khub_vec_chunk_embedding', {fetch}, $vector) YIELD node, score"
        if filtered:
            return f"{head} WHERE node.language = $language RETURN node.id AS id, score ORDER BY score DESC LIMIT {K}"
        return f"{head} RETURN node.id AS id, score"

    def server_memory(self) -> dict[str, Any]:
        return _proc_status(self.pid)

    def close(self) -> None:
        self.session.close()


def raw_neighbourhood_query(label: str) -> str:
    """One hand-written query for what `neighbourhood(ref, hops=2)` returns: the 100 nearest
    nodes within 2 hops (either direction) and every edge among them and the start node."""
    return "\n".join(
        (
            f"MATCH (s:`{label}` {{id: $id}})",
            "MATCH p = (s)-[*1..2]-(m) WHERE m <> s",
            "WITH s, m, min(length(p)) AS d ORDER BY d, m.id LIMIT 100",
            "WITH s, collect(m) AS ms",
            "WITH [s] + ms AS ns",
            "UNWIND ns AS a",
            "OPTIONAL MATCH (a)-[r]->(b) WHERE b IN ns",
            "RETURN labels(a)[0] AS label, properties(a) AS props, collect(CASE WHEN r IS NULL THEN NULL ELSE [type(r), b.id, properties(r)] END) AS out",
        )
    )


# ---------------------------------------------------------------------------- measurements
def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile `q` (0-100) of `values`."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class WriteFigures:
    """Counts and wall-clock seconds of one write run (nodes, then m2m edges, then functional)."""

    nodes: int = 0
    node_s: float = 0.0
    m2m: int = 0
    m2m_s: float = 0.0
    functional: int = 0
    functional_s: float = 0.0
    client_cpu_s: float = 0.0
    closed: int = 0
    rejected: int = 0

    @property
    def edges(self) -> int:
        """All edges written."""
        return self.m2m + self.functional

    @property
    def edge_s(self) -> float:
        """Seconds spent on all edges."""
        return self.m2m_s + self.functional_s

    def rates(self) -> dict[str, float]:
        """Records per second."""
        return {
            "nodes_per_s": self.nodes / self.node_s if self.node_s else 0.0,
            "edges_per_s": self.edges / self.edge_s if self.edge_s else 0.0,
            "m2m_edges_per_s": self.m2m / self.m2m_s if self.m2m_s else 0.0,
            "functional_edges_per_s": self.functional / self.functional_s if self.functional_s else 0.0,
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything, rates included."""
        return {**asdict(self), "edges": self.edges, "edge_s": self.edge_s, **self.rates()}


def _timed(figures: WriteFigures, attr: str, run: Callable[[], int]) -> None:
    started = time.perf_counter()
    count = run()
    setattr(figures, attr, count)
    setattr(figures, attr + "_s" if attr != "nodes" else "node_s", time.perf_counter() - started)


def khub_write(st: CypherGraphStore, data: Dataset, batch: int, profile: cProfile.Profile | None = None, quiet: bool = False) -> WriteFigures:
    """Write the dataset through `CypherGraphStore.upsert`, `batch` records per call."""
    figures = WriteFigures()
    total = WriteResult()

    def upsert_all(kind: str, records: Sequence[Any]) -> int:
        written = 0
        for chunk in _batches(records, batch):
            result = st.upsert(nodes=chunk) if kind == "nodes" else st.upsert(edges=chunk)
            total.merge(result)
            written += result.nodes_written + result.edges_written
        return written

    cpu = time.process_time()
    if profile:
        profile.enable()
    _timed(figures, "nodes", lambda: upsert_all("nodes", data.nodes))
    _timed(figures, "m2m", lambda: upsert_all("edges", data.m2m_edges))
    _timed(figures, "functional", lambda: upsert_all("edges", data.functional_edges))
    if profile:
        profile.disable()
    figures.client_cpu_s = time.process_time() - cpu
    figures.closed, figures.rejected = total.edges_closed, len(total.rejected)
    if total.rejected and not quiet:
        print(f"  warning: khub rejected {len(total.rejected)} records, e.g. {total.rejected[0]}")
    return figures


def raw_node_query(label: str) -> str:
    """The plain node upsert."""
    return f"UNWIND $rows AS r MERGE (n:`{label}` {{id: r.id}}) SET n += r.props"


def raw_edge_query(type_: str, src_label: str, dst_label: str) -> str:
    """The plain edge upsert."""
    return (
        f"UNWIND $rows AS r MATCH (a:`{src_label}` {{id: r.s}}) MATCH (b:`{dst_label}` {{id: r.d}}) MERGE (a)-[e:`{type_}` {{ek: r.ek}}]->(b) SET e += r.props"
    )


def raw_write(raw: RawBackend, data: Dataset, batch: int) -> WriteFigures:
    """Write the same records with the raw client: per batch, one UNWIND per label (edge type and
    end labels), in chunks of khub's WRITE_CHUNK rows; edge rows carry the provenance as props."""
    figures = WriteFigures()

    def nodes() -> int:
        for chunk in _batches(data.nodes, batch):
            groups: dict[str, list[dict[str, Any]]] = {}
            for rec in chunk:
                groups.setdefault(rec.label, []).append({"id": rec.id, "props": rec.props})
            for label, rows in groups.items():
                for part in _batches(rows, WRITE_CHUNK):
                    raw.write(raw_node_query(label), {"rows": part})
        return len(data.nodes)

    def edges(records: Sequence[EdgeRecord]) -> int:
        for chunk in _batches(records, batch):
            groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            for rec in chunk:
                props = {**rec.props, "source_id": rec.source_id, "extractor": rec.extractor, "confidence": rec.confidence, "valid_from": rec.valid_from}
                identity = rec.props.get("char_start", rec.props.get("role", ""))
                row = {"s": rec.src.id, "d": rec.dst.id, "ek": f"{rec.type}|{rec.src.id}|{rec.dst.id}|{identity}", "props": props}
                groups.setdefault((rec.type, rec.src.label, rec.dst.label), []).append(row)
            for (type_, sl, dl), rows in groups.items():
                for part in _batches(rows, WRITE_CHUNK):
                    raw.write(raw_edge_query(type_, sl, dl), {"rows": part})
        return len(records)

    cpu = time.process_time()
    _timed(figures, "nodes", nodes)
    _timed(figures, "m2m", lambda: edges(data.m2m_edges))
    _timed(figures, "functional", lambda: edges(data.functional_edges))
    figures.client_cpu_s = time.process_time() - cpu
    return figures


def graph_counts(st: CypherGraphStore) -> dict[str, int]:
    """Nodes and edges in the graph (the meta node excluded)."""
    stats = st.stats()
    return {"nodes": stats.total_nodes, "edges": stats.total_edges}


def neighbourhood_bench(st: CypherGraphStore, raw: RawBackend, starts: list[NodeRef], queries: int, budget_s: float) -> dict[str, Any]:
    """2-hop neighbourhoods through khub and through one raw query, interleaved per start node;
    stops early (and says so) when the phase has run `budget_s` seconds."""
    raw_queries = {label: raw_neighbourhood_query(label) for label in ID_PREFIX}
    for ref in starts[:WARMUP_QUERIES]:
        st.neighbourhood(ref, hops=2)
        raw.read(raw_queries[ref.label], {"id": ref.id})
    khub_ms: list[float] = []
    raw_ms: list[float] = []
    sizes: list[tuple[int, int]] = []
    raw_sizes: list[int] = []
    deadline = time.perf_counter() + budget_s
    for i, ref in enumerate(starts[WARMUP_QUERIES : WARMUP_QUERIES + queries]):
        if time.perf_counter() > deadline:
            print(f"  neighbourhood: stopped after {i} of {queries} queries (phase budget {budget_s:.0f} s)")
            break
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            started = time.perf_counter()
            if side == 0:
                sub = st.neighbourhood(ref, hops=2)
                khub_ms.append((time.perf_counter() - started) * 1000)
                sizes.append((len(sub.nodes), len(sub.edges)))
            else:
                rows = raw.read(raw_queries[ref.label], {"id": ref.id})
                raw_ms.append((time.perf_counter() - started) * 1000)
                raw_sizes.append(len(rows))
    return {
        "queries": len(khub_ms),
        "queries_planned": queries,
        "khub_p50_ms": percentile(khub_ms, 50),
        "khub_p99_ms": percentile(khub_ms, 99),
        "khub_mean_ms": sum(khub_ms) / len(khub_ms),
        "raw_p50_ms": percentile(raw_ms, 50),
        "raw_p99_ms": percentile(raw_ms, 99),
        "raw_mean_ms": sum(raw_ms) / len(raw_ms),
        "mean_nodes": sum(s[0] for s in sizes) / len(sizes),
        "max_nodes": max(s[0] for s in sizes),
        "mean_edges": sum(s[1] for s in sizes) / len(sizes),
        "max_edges": max(s[1] for s in sizes),
        "raw_mean_nodes": sum(raw_sizes) / len(raw_sizes),
    }


def vector_write(st: CypherGraphStore, vs: VectorSet, batch: int) -> dict[str, Any]:
    """Upsert the stored vectors as Chunk nodes (id, language, position, embedding)."""
    started = time.perf_counter()
    written = 0
    for start in range(0, len(vs.vectors), batch):
        records = [
            NodeRecord("Chunk", vs.node_id(i), {"language": vs.languages[i], "position": i % 40, "embedding": list(vs.vectors[i])})
            for i in range(start, min(start + batch, len(vs.vectors)))
        ]
        written += st.upsert(nodes=records).nodes_written
    seconds = time.perf_counter() - started
    return {"vectors": written, "seconds": seconds, "vectors_per_s": written / seconds if seconds else 0.0}


def _recall(found: list[list[str]], truth: list[list[int]]) -> float | None:
    """Mean recall@K of the answers that have an exact answer to compare with."""
    pairs = list(zip(found, truth, strict=False))
    if not pairs:
        return None
    return sum(len(set(f) & {VectorSet.node_id(i) for i in t}) for f, t in pairs) / (K * len(pairs))


def vector_bench(st: CypherGraphStore, raw: RawBackend, vs: VectorSet, budget_s: float) -> dict[str, Any]:
    """Top-K vector queries, plain and filtered on language, through khub and the raw index call
    (each phase stops early at `budget_s` seconds), then the raw index's recall by candidate count."""
    out: dict[str, Any] = {}
    for filtered in (False, True):
        filters = {"language": FILTER_LANGUAGE} if filtered else None
        raw_query = raw.vector_query(max(K * 5, 50) if filtered else K, filtered)
        params_extra = {"language": FILTER_LANGUAGE} if filtered else {}
        for q in vs.queries[:5]:  # warm-up
            st.vector_search("Chunk", list(q), k=K, filters=filters)
            raw.read(raw_query, {"vector": list(q), **params_extra})
        khub_ms: list[float] = []
        raw_ms: list[float] = []
        khub_ids: list[list[str]] = []
        raw_ids: list[list[str]] = []
        deadline = time.perf_counter() + budget_s
        for i, q in enumerate(vs.queries):
            if time.perf_counter() > deadline:
                print(f"  vector{' filtered' if filtered else ''}: stopped after {i} of {len(vs.queries)} queries (phase budget {budget_s:.0f} s)")
                break
            vector = list(q)
            for side in (0, 1) if i % 2 == 0 else (1, 0):
                started = time.perf_counter()
                if side == 0:
                    hits = st.vector_search("Chunk", vector, k=K, filters=filters)
                    khub_ms.append((time.perf_counter() - started) * 1000)
                    khub_ids.append([h.node.id for h in hits])
                else:
                    rows = raw.read(raw_query, {"vector": vector, **params_extra})
                    raw_ms.append((time.perf_counter() - started) * 1000)
                    raw_ids.append([r[0] for r in rows])
        truth = vs.truth_filtered if filtered else vs.truth
        out["filtered" if filtered else "plain"] = {
            "queries": len(khub_ms),
            "khub_p50_ms": percentile(khub_ms, 50),
            "khub_p99_ms": percentile(khub_ms, 99),
            "raw_p50_ms": percentile(raw_ms, 50),
            "raw_p99_ms": percentile(raw_ms, 99),
            "khub_recall": _recall(khub_ids, truth),
            "raw_recall": _recall(raw_ids, truth),
            "recall_queries": min(len(truth), len(khub_ids)),
            "khub_short_results": sum(1 for ids in khub_ids if len(ids) < K),
        }
    # how recall grows with the number of candidates asked of the index (khub asks max(5k, 50))
    sweep: dict[str, float | None] = {}
    for fetch in FETCH_SWEEP:
        query = raw.vector_query(fetch, False).replace(
            " RETURN node.id AS id, score", f" RETURN node.id AS id, score ORDER BY score {raw.nearest_first} LIMIT {K}"
        )
        found = [[r[0] for r in raw.read(query, {"vector": list(q)})] for q in vs.queries[:SWEEP_QUERIES]]
        sweep[str(fetch)] = _recall(found, vs.truth[:SWEEP_QUERIES])
    out["raw_recall_by_fetch"] = sweep
    return out


def peak_rss_mib() -> float:
    """This process's peak resident set size, MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------------------- one store
def run_store(kind: str, cfg: Config, data: Dataset, vs: VectorSet, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement on one store; returns its figures."""
    result: dict[str, Any] = {"store": kind, "started": datetime.now(UTC).isoformat(timespec="seconds"), "loadavg_before": os.getloadavg()}
    if kind == "embedded":
        data_dir = args.data_dir or tempfile.mkdtemp(prefix="khub-bench-", dir="/tmp")
        st = open_store(Settings(store="embedded", data_dir=Path(data_dir), graph_name="bench"))
        raw: RawBackend = FalkorRaw(st)
    else:
        data_dir = None
        st = open_store(Settings(store="neo4j", neo4j_uri=args.neo4j_uri))
        raw = Neo4jRaw(st, args.neo4j_uri, args.neo4j_pid_file)
    print(f"\n== {raw.title} ==")
    try:
        raw.reset()
        # warm-up: a slice of the data through both paths (plans cached, JIT warmed), then a fresh graph
        warm = Dataset(*(part[: len(part) // 20] for part in (data.nodes, data.m2m_edges, data.functional_edges)), starts=[])
        raw_write(raw, warm, cfg.batch)
        raw.reset()
        khub_write(st, warm, cfg.batch, quiet=True)  # edges whose ends are not in the slice are refused
        raw.reset()
        profile = cProfile.Profile() if args.profile else None
        runs: dict[str, WriteFigures] = {}
        for side in ("raw", "khub") if cfg.order == "raw-first" else ("khub", "raw"):
            print(f"  {side} write: {len(data.nodes)} nodes, {len(data.m2m_edges) + len(data.functional_edges)} edges ...", flush=True)
            runs[side] = raw_write(raw, data, cfg.batch) if side == "raw" else khub_write(st, data, cfg.batch, profile)
            result[f"{side}_graph"] = graph_counts(st)
            if side != ("khub" if cfg.order == "raw-first" else "raw"):
                raw.reset()
        result["khub_write"], result["raw_write"] = runs["khub"].as_dict(), runs["raw"].as_dict()
        if profile:
            _dump_profile(profile, Path(args.profile) / f"{kind}-khub-write.prof")
        print(f"  neighbourhood: {cfg.queries} 2-hop queries ...", flush=True)
        result["neighbourhood"] = neighbourhood_bench(st, raw, data.starts, cfg.queries, cfg.phase_budget)
        print(f"  vectors: upsert {len(vs.vectors)} x {DIM}-d, then {len(vs.queries)} top-{K} queries ...", flush=True)
        result["vector_write"] = vector_write(st, vs, cfg.vector_batch)
        result["vector"] = vector_bench(st, raw, vs, cfg.phase_budget)
        result["final_graph"] = graph_counts(st)
        result["memory"] = {"bench_process_peak_rss_mib": peak_rss_mib(), "server": raw.server_memory()}
        result["loadavg_after"] = os.getloadavg()
        result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    finally:
        raw.close()
        st.close()
        if data_dir and not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    result["targets"] = verdicts(kind, result)
    print_report(raw.title, result)
    return result


def _dump_profile(profile: cProfile.Profile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile.dump_stats(str(path))
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
    print(f"  profile of the khub write phase (by own time) -> {path}\n" + text.getvalue())


# ---------------------------------------------------------------------------- verdicts and report
def verdicts(kind: str, r: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and PASS/MISS."""
    kw, rw = r["khub_write"], r["raw_write"]
    node_ratio = kw["nodes_per_s"] / rw["nodes_per_s"] if rw["nodes_per_s"] else 0.0
    edge_ratio = kw["edges_per_s"] / rw["edges_per_s"] if rw["edges_per_s"] else 0.0
    checks: list[tuple[str, float | None, str, float]] = []
    if kind == "embedded":
        checks += [
            ("node upsert nodes/s", kw["nodes_per_s"], ">=", 40_000),
            ("edge upsert edges/s", kw["edges_per_s"], ">=", 40_000),
            ("node upsert khub/raw", node_ratio, ">=", 0.7),
            ("edge upsert khub/raw", edge_ratio, ">=", 0.7),
        ]
    else:
        checks += [("node upsert khub/raw", node_ratio, ">=", 0.8), ("edge upsert khub/raw", edge_ratio, ">=", 0.8)]
    nb, vp, vf = r["neighbourhood"], r["vector"]["plain"], r["vector"]["filtered"]
    checks += [
        ("2-hop neighbourhood p99 ms", nb["khub_p99_ms"], "<=", 5.0),
        ("vector top-10 p99 ms", vp["khub_p99_ms"], "<=", 10.0),
        ("vector recall@10", vp["khub_recall"], ">=", 0.98),
        ("filtered vector top-10 p99 ms", vf["khub_p99_ms"], "<=", 10.0),
        ("filtered vector recall@10", vf["khub_recall"], ">=", 0.98),
    ]
    out = []
    for name, value, op, target in checks:
        ok = value is not None and (value >= target if op == ">=" else value <= target)
        out.append({"target": name, "value": value, "op": op, "threshold": target, "verdict": "PASS" if ok else "MISS"})
    return out


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_report(title: str, r: dict[str, Any]) -> None:
    """One table of figures, baselines and ratios, then the targets with verdicts."""
    kw, rw, nb = r["khub_write"], r["raw_write"], r["neighbourhood"]
    vp, vf, vw, mem = r["vector"]["plain"], r["vector"]["filtered"], r["vector_write"], r["memory"]

    def pair(name: str, a: float | None, b: float | None, digits: int = 0, with_ratio: bool = True) -> tuple[str, str, str, str]:
        ratio = f"{a / b:.2f}" if with_ratio and a is not None and b else ""
        return name, _fmt(a, digits), _fmt(b, digits), ratio

    def write(key: str) -> tuple[float, float]:
        return kw[key], rw[key]

    def lat(source: dict[str, Any], key: str) -> tuple[float, float]:
        return source[f"khub_{key}"], source[f"raw_{key}"]

    rows = [
        pair("nodes/s (upsert)", *write("nodes_per_s")),
        pair("edges/s (upsert, all)", *write("edges_per_s")),
        pair("  many-to-many edges/s", *write("m2m_edges_per_s")),
        pair("  functional edges/s", *write("functional_edges_per_s")),
        ("write wall s / client CPU s", *(f"{w['node_s'] + w['edge_s']:.1f} / {w['client_cpu_s']:.1f}" for w in (kw, rw)), ""),
        pair("2-hop neighbourhood p50 ms", *lat(nb, "p50_ms"), 2),
        pair("2-hop neighbourhood p99 ms", *lat(nb, "p99_ms"), 2),
        pair("vector top-10 p50 ms", *lat(vp, "p50_ms"), 2),
        pair("vector top-10 p99 ms", *lat(vp, "p99_ms"), 2),
        pair("vector recall@10", *lat(vp, "recall"), 3, False),
        pair("filtered vector p50 ms", *lat(vf, "p50_ms"), 2),
        pair("filtered vector p99 ms", *lat(vf, "p99_ms"), 2),
        pair("filtered vector recall@10", *lat(vf, "recall"), 3, False),
        pair("vector upsert vectors/s", vw["vectors_per_s"], None),
    ]
    width = max(len(row[0]) for row in rows) + 2
    graph, load = r["khub_graph"], (r["loadavg_before"][0], r["loadavg_after"][0])
    print(f"\n{title}: khub wrote {graph['nodes']:,} nodes / {graph['edges']:,} edges ({kw['closed']:,} functional edges closed); "
          f"load average before {load[0]:.2f}, after {load[1]:.2f}")  # fmt: skip
    print(f"{'':{width}}{'khub':>16}{'raw client':>16}{'khub/raw':>10}")
    for name, a, b, c in rows:
        print(f"{name:{width}}{a:>16}{b if b != 'n/a' else '':>16}{c:>10}")
    server = mem["server"]
    extra = f", used_memory_peak {server['used_memory_peak']}" if "used_memory_peak" in server else ""
    print(f"memory: bench process peak RSS {_fmt(mem['bench_process_peak_rss_mib'], 1)} MiB; server (pid {server.get('pid') or 'n/a'}) "
          f"peak RSS {_fmt(server.get('peak_rss_mib'), 1)} MiB, RSS {_fmt(server.get('rss_mib'), 1)} MiB{extra}")  # fmt: skip
    print(
        f"raw index recall@{K} by candidates fetched (first {SWEEP_QUERIES} queries): "
        + ", ".join(f"{k}: {_fmt(v, 3)}" for k, v in r["vector"]["raw_recall_by_fetch"].items())
    )
    print(f"queries run: {nb['queries']} of {nb['queries_planned']} neighbourhoods, {vp['queries']} plain and {vf['queries']} filtered vector searches")
    print(f"2-hop results: {nb['mean_nodes']:.1f} nodes / {nb['mean_edges']:.1f} edges on average (max {nb['max_nodes']} / {nb['max_edges']}); "
          f"recall over {vp['recall_queries']} queries; {vf['khub_short_results']} filtered khub queries returned < {K}")  # fmt: skip
    print("targets:")
    for t in r["targets"]:
        digits = 3 if "recall" in t["target"] or "khub/raw" in t["target"] else (2 if "ms" in t["target"] else 0)
        print(f"  {t['verdict']:<5} {t['target']:<32} {_fmt(t['value'], digits):>12}  (target {t['op']} {t['threshold']:,})")


# ---------------------------------------------------------------------------- main
def machine_info() -> dict[str, Any]:
    """CPU, memory and code version of this run."""
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git_head": git("rev-parse", "--short", "HEAD"),
        "graph_dirty": bool(git("status", "--porcelain", "graph")),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    defaults = Config()
    p = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--store", choices=("embedded", "neo4j", "both"), default="both")
    p.add_argument("--quick", action="store_true", help="smoke sizes: 10k nodes, 30k edges, 100 queries, 10k vectors")
    p.add_argument("--nodes", type=int, default=defaults.nodes)
    p.add_argument("--edges", type=int, default=defaults.edges)
    p.add_argument("--queries", type=int, default=defaults.queries, help="2-hop neighbourhood queries")
    p.add_argument("--vector-queries", type=int, default=defaults.vector_queries)
    p.add_argument("--vectors", type=int, default=defaults.vectors, help=f"stored {DIM}-d vectors")
    p.add_argument("--recall-queries", type=int, default=defaults.recall_queries, help="vector queries whose recall is checked by exact search")
    p.add_argument("--batch", type=int, default=defaults.batch, help="records per upsert call")
    p.add_argument("--vector-batch", type=int, default=defaults.vector_batch, help="vector records per upsert call")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--phase-budget", type=float, default=defaults.phase_budget, help="seconds after which a query phase stops early")
    p.add_argument("--order", choices=("raw-first", "khub-first"), default=defaults.order, help="which write path runs first")
    p.add_argument(
        "--vector-kind",
        choices=("clustered", "random"),
        default=defaults.vector_kind,
        help="clustered like sentence embeddings (default) or uniform random (the hardest case for an HNSW index)",
    )
    p.add_argument("--neo4j-uri", default=os.environ.get("NEO4J_URI"), help="Bolt URI (default: $NEO4J_URI); its graph is deleted")
    p.add_argument("--neo4j-pid-file", help="pid file of the Neo4j JVM, for its memory (default: $KHUB_NEO4J_STATE/pid or .khub/neo4j-server/pid)")
    p.add_argument("--data-dir", help="embedded store directory (default: a fresh temporary one, removed afterwards)")
    p.add_argument("--cache-dir", default="/tmp/khub-bench-cache", help="where exact-search answers are cached")
    p.add_argument("--profile", metavar="DIR", help="cProfile the khub write phase into DIR (slows it down)")
    p.add_argument("--json", help="write every figure to this file")
    args = p.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == getattr(defaults, name):
                setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; always 0 unless it could not run at all."""
    args = parse_args(argv)
    cfg = Config(
        nodes=args.nodes, edges=args.edges, queries=args.queries, vector_queries=args.vector_queries, vectors=args.vectors,
        recall_queries=args.recall_queries, batch=args.batch, vector_batch=args.vector_batch, seed=args.seed, order=args.order, phase_budget=args.phase_budget,
        vector_kind=args.vector_kind,
    )  # fmt: skip
    stores = ["embedded", "neo4j"] if args.store == "both" else [args.store]
    if "neo4j" in stores and not args.neo4j_uri:
        print("Neo4j: skipped (no URI: pass --neo4j-uri or set NEO4J_URI; e.g. graph/neo4j_server/neo4j-server.sh start /tmp/khub-bench-neo4j)")
        stores.remove("neo4j")
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "config": asdict(cfg), "machine": machine_info(), "stores": {}}
    print(f"khub store benchmark {report['date']}: {cfg}")
    print(f"machine: {report['machine']}; load average {os.getloadavg()}")
    if stores:
        started = time.perf_counter()
        data = generate_graph(cfg)
        vs = generate_vectors(cfg)
        print(
            f"generated {len(data.nodes)} nodes, {len(data.m2m_edges)} m2m + {len(data.functional_edges)} functional edges, "
            f"{len(vs.vectors)} vectors in {time.perf_counter() - started:.1f} s"
        )
        compute_ground_truth(vs, cfg.recall_queries, Path(args.cache_dir), cfg.seed)
        for kind in stores:
            report["stores"][kind] = run_store(kind, cfg, data, vs, args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
