"""`CypherGraphStore`: the one implementation of `GraphStore`, over any Cypher connection.

A backend supplies a `Connection` (how to run a query) and a `Dialect` (how its Cypher
differs); all behaviour lives here, so both stores behave the same.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from ontology.intents import PathPattern

from graph import cypher
from graph.batch import PreparedBatch, edge_key, prepare_edges, prepare_nodes
from graph.dialect import Dialect
from graph.patterns import SUMMARY_COLUMNS, Summary, compile_pattern, compile_patterns, compile_touched, pattern_query_params
from graph.store import (
    DeleteResult,
    Edge,
    EdgeRecord,
    Hit,
    Node,
    NodeRecord,
    NodeRef,
    Path,
    PatternMatch,
    Rejected,
    ReleaseResult,
    Stats,
    Subgraph,
    WriteResult,
)
from graph.text_index import query_tokens, shadow_name
from graph.values import ValueRejected, normalise_datetime, normalise_value, now_iso
from ontology.errors import ConstraintViolation, OntologyViolation, QueryRefused
from ontology.model import NODE_KEY, Ontology

WRITE_CHUNK = 5000
#: Read-only yet unsafe for callers: reading files or URLs on the server, admin procedures.
_FORBIDDEN_IN_PASSTHROUGH = re.compile(r"\bLOAD\s+CSV\b|\bCALL\s+((dbms|apoc|gds)\.|db\.create|db\.idx\.[a-z]+\.(create|drop))", re.IGNORECASE)
MAX_HOPS = 4
MAX_PATH_LENGTH = 8
DEFAULT_READ_TIMEOUT = 30.0


class Connection(Protocol):
    """How a backend runs Cypher. Rows come back as dicts of plain values."""

    def run_write(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a write in its own transaction, retrying transient failures."""
        ...

    def run_read(self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> list[dict[str, Any]]:
        """Run a read, stopped by the server after `timeout` seconds."""
        ...

    def run_user_read(self, query: str, params: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        """Run a caller's query in read-only mode; raise `QueryRefused` for writes."""
        ...

    def run_command(self, *args: Any) -> Any:
        """A store command that is not Cypher (FalkorDB's GRAPH.CONSTRAINT)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def _visible(props: dict[str, Any], keep_vectors: bool, vector_names: frozenset[str]) -> dict[str, Any]:
    out = {}
    for key, value in props.items():
        if value is None:  # a property left out by `cypher.light` (graph properties are never null)
            continue
        if key in cypher.HIDDEN_PROPERTIES or key.endswith(cypher.HIDDEN_PROPERTY_SUFFIXES):
            continue
        if not keep_vectors and key in vector_names:
            continue
        if hasattr(value, "tolist"):
            value = value.tolist()
        out[key] = value
    return out


class CypherGraphStore:
    """`GraphStore` on a Cypher database: Neo4j or FalkorDB, told apart only by the dialect."""

    def __init__(self, conn: Connection, dialect: Dialect, ontology: Ontology, backend: str):
        self.conn = conn
        self.dialect = dialect
        self.backend = backend
        self.use_ontology(ontology)

    def use_ontology(self, ontology: Ontology) -> None:
        """Validate writes against `ontology` from now on (after `khub ontology apply` or a steward's apply)."""
        self.ontology = ontology
        self._vector_names = frozenset(p.name for _, p in ontology.vector_properties())
        # properties not worth shipping back in lists of nodes (search hits, neighbourhoods, paths)
        self._heavy = sorted(self._vector_names | {shadow_name(p.name) for _, p in ontology.fulltext_properties()})

    # ------------------------------------------------------------------ helpers
    def _node(self, label: str, props: dict[str, Any], keep_vectors: bool = False) -> Node:
        visible = _visible(dict(props), keep_vectors, self._vector_names)
        return Node(label=label, id=str(visible.get(NODE_KEY)), props=visible)

    def _edge(self, type_: str, sl: str, sid: str, dl: str, did: str, props: dict[str, Any]) -> Edge:
        return Edge(type=type_, src=NodeRef(sl, sid), dst=NodeRef(dl, did), props=_visible(dict(props), True, frozenset()))

    def _as_of(self, as_of: Any) -> str | None:
        if as_of is None:
            return None
        try:
            return normalise_datetime(as_of)
        except ValueRejected as exc:
            raise OntologyViolation(f"as_of: {exc}") from None

    def _check_label(self, label: str) -> None:
        self.ontology.node_type(label)

    def _check_edge_types(self, edge_types: Sequence[str] | None) -> list[str] | None:
        if edge_types is None:
            return None
        for name in edge_types:
            self.ontology.edge_type(name)
        return list(edge_types)

    # ------------------------------------------------------------------ schema
    def sync_schema(self) -> list[str]:
        """Create the constraints and indexes the ontology implies; return what was created."""
        return self.dialect.sync_schema(self.conn, self.ontology, cypher.META_LABEL)

    def drop_unique(self, label: str, prop: str) -> bool:
        """Drop a unique constraint the ontology no longer declares (values and lookups stay)."""
        return self.dialect.drop_unique(self.conn, label, prop)

    def applied_ontology_version(self) -> str | None:
        """The ontology version last recorded in this graph."""
        rows = self.conn.run_read(cypher.GET_META)
        return rows[0]["version"] if rows else None

    def ontology_history(self) -> list[str]:
        """Every recorded ontology application, oldest first."""
        rows = self.conn.run_read(cypher.GET_META)
        return list(rows[0]["history"] or []) if rows else []

    def record_ontology_version(self, version: str, note: str = "") -> None:
        """Record that ontology `version` is applied, with a history entry."""
        self.conn.run_write(cypher.SET_META, {"version": version, "entry": f"{now_iso()} {version} {note}".strip()})

    def save_applied_schema(self, text: str) -> None:
        """Keep the text of the applied ontology in the graph, for later diffs."""
        self.conn.run_write(cypher.SET_SCHEMA_TEXT, {"text": text})

    def applied_schema(self) -> str | None:
        """The text of the ontology applied to this graph, if recorded."""
        rows = self.conn.run_read(cypher.GET_SCHEMA_TEXT)
        return rows[0]["text"] if rows else None

    # ------------------------------------------------------------------ writes
    def upsert(self, nodes: Iterable[NodeRecord] = (), edges: Iterable[EdgeRecord] = ()) -> WriteResult:
        """Write nodes, then edges, idempotently; refused items come back with reasons."""
        batch = PreparedBatch()
        prepare_nodes(self.ontology, nodes, batch)
        prepare_edges(self.ontology, edges, batch)
        result = WriteResult(rejected=list(batch.rejected), warnings=list(batch.warnings))
        for shape, rows in batch.nodes.items():
            props = self.ontology.node_types[shape.label].properties
            keep = {name: props[name].max_items for name in shape.lists if name in props and props[name].max_items}
            query = cypher.upsert_nodes(self.dialect, shape, keep)
            for start in range(0, len(rows), WRITE_CHUNK):
                chunk = rows[start : start + WRITE_CHUNK]
                try:
                    self.conn.run_write(query, {"rows": chunk})
                    result.nodes_written += len(chunk)
                except ConstraintViolation:
                    self._write_rows_one_by_one(query, shape.label, chunk, result)
        now = now_iso()
        for shape, rows in batch.edges.items():
            query = cypher.upsert_edges(self.dialect, shape)
            edge_type = self.ontology.edge_types[shape.type]
            for start in range(0, len(rows), WRITE_CHUNK):
                chunk = rows[start : start + WRITE_CHUNK]
                rows_back = self.conn.run_write(query, {"rows": chunk, "now": now})
                written = set(rows_back[0]["written"]) if rows_back else set()
                result.edges_written += len(written)
                result.edge_keys.extend(r["ek"] for r in chunk if r["i"] in written)
                for row in chunk:
                    if row["i"] not in written:
                        rec = batch.edge_records[row["i"]]
                        result.rejected.append(Rejected(rec.describe(), "an end node does not exist; upsert it first"))
                done = [r for r in chunk if r["i"] in written]
                for side, functional in (("subject", edge_type.functional_subject), ("object", edge_type.functional_object)):
                    if functional and done:
                        for query_close in cypher.close_superseded(shape, side):
                            closed = self.conn.run_write(query_close, {"rows": done, "now": now})
                            result.edges_closed += sum(r["closed"] for r in closed)
        return result

    def _write_rows_one_by_one(self, query: str, label: str, rows: list[dict[str, Any]], result: WriteResult) -> None:
        """After a constraint clash in a chunk: write row by row, refusing only the clashing ones."""
        for row in rows:
            try:
                self.conn.run_write(query, {"rows": [row]})
                result.nodes_written += 1
            except ConstraintViolation as exc:
                result.rejected.append(Rejected(f"{label}:{row['id']}", f"unique constraint: {exc}"))

    def delete(self, ref: NodeRef) -> DeleteResult:
        """Delete a node, its edges, and what the ontology cascades from it."""
        self._check_label(ref.label)
        targets: list[NodeRef] = []
        queue = [ref]
        seen = {ref}
        while queue:
            current = queue.pop()
            targets.append(current)
            for edge_type in self.ontology.cascade_edges_from(current.label):
                for row in self.conn.run_read(cypher.cascade_targets(current.label, edge_type.name), {"id": current.id}):
                    child = NodeRef(row["label"], row["id"])
                    if child not in seen:
                        seen.add(child)
                        queue.append(child)
        result = DeleteResult()
        by_label: dict[str, list[str]] = {}
        for target in targets:
            by_label.setdefault(target.label, []).append(target.id)
        for label, ids in by_label.items():
            rows = self.conn.run_write(cypher.delete_nodes(label), {"ids": ids})
            if rows:
                result.edges_deleted += rows[0]["edges"]
                result.nodes_deleted += [NodeRef(label, key) for key in sorted(rows[0]["ids"])]
        return result

    def release_source(self, source_id: str, keep_edges: Collection[str] = (), keep_nodes: Collection[NodeRef] = (), forget: bool = False) -> ReleaseResult:
        """Withdraw a source's support; close (or, forgetting, delete) what nothing else supports."""
        result = ReleaseResult()
        params: dict[str, Any] = {"src": source_id, "now": now_iso()}
        if forget:
            result.edges_deleted = self.conn.run_write(cypher.DELETE_SOLE_EDGES, params)[0]["deleted"]
            result.edges_released = self.conn.run_write(cypher.STRIP_EDGES, params)[0]["released"] + result.edges_deleted
        else:
            row = self.conn.run_write(cypher.RELEASE_EDGES, {**params, "keep": sorted(set(keep_edges))})[0]
            result.edges_released, result.edges_closed = row["released"], row["closed"] or 0
        keep = sorted({f"{ref.label}:{ref.id}" for ref in keep_nodes}) if not forget else []
        result.nodes_released = self.conn.run_write(cypher.RELEASE_NODES, {**params, "keep": keep})[0]["released"]
        result.nodes_deleted = [NodeRef(r["label"], r["key"]) for r in self.conn.run_write(cypher.DELETE_ORPHANS)]
        return result

    def scan_nodes(self, label: str, after: str | None = None, limit: int = 5000, props: Sequence[str] | None = None) -> list[Node]:
        """One page of a label's nodes in id order (keyset paging); only `props` (and the key) when given."""
        self._check_label(label)
        node_type = self.ontology.node_type(label)
        for prop in props or ():
            if prop != NODE_KEY and prop not in node_type.properties:
                raise OntologyViolation(f"unknown property {prop!r} for {label}")
        rows = self.conn.run_read(cypher.scan_nodes(label, self._heavy, props), {"after": after, "limit": int(limit)}, DEFAULT_READ_TIMEOUT)
        return [self._node(label, r["props"]) for r in rows]

    def merged_edges(self, ref: NodeRef, marker: str | None = None) -> list[Edge]:
        """Edges resolution merged into a node."""
        self._check_label(ref.label)
        out = []
        for row in self.conn.run_read(cypher.edges_merged_from(ref.label), {"id": ref.id, "marker": marker}, DEFAULT_READ_TIMEOUT):
            other = (row["other_label"], row["other_id"])
            src, dst = ((ref.label, ref.id), other) if row["outgoing"] else (other, (ref.label, ref.id))
            out.append(self._edge(row["type"], *src, *dst, row["props"]))
        return out

    def move_merged_edges(self, src: NodeRef, dst: NodeRef, marker: str) -> int:
        """Re-home the edges resolution merged from `marker` onto `dst` (new edge keys, same facts)."""
        if src.label != dst.label:
            raise OntologyViolation(f"cannot move edges from a {src.label} to a {dst.label}")
        self._check_label(src.label)
        groups: dict[tuple[str, bool, str], list[dict[str, Any]]] = {}
        for row in self.conn.run_read(cypher.edges_merged_from(src.label), {"id": src.id, "marker": marker}, DEFAULT_READ_TIMEOUT):
            edge = self.ontology.edge_type(row["type"])
            props = {k: v for k, v in row["props"].items() if k not in cypher.HIDDEN_PROPERTIES}
            props["merged_from"] = [m for m in props.get("merged_from") or [] if m != marker]
            other = NodeRef(row["other_label"], row["other_id"])
            new_src, new_dst = (dst, other) if row["outgoing"] else (other, dst)
            new_ek = edge_key(edge, EdgeRecord(edge.name, new_src, new_dst), [props.get(name) for name in edge.identity])
            groups.setdefault((row["type"], row["outgoing"], other.label), []).append(
                {"other": other.id, "ek": row["props"]["ek"], "new_ek": new_ek, "props": props}
            )
        moved = 0
        for (type_, outgoing, other_label), rows in groups.items():
            result = self.conn.run_write(cypher.move_edges(type_, src.label, other_label, outgoing), {"src": src.id, "dst": dst.id, "rows": rows})
            moved += result[0]["moved"] if result else 0
        return moved

    def remove_properties(self, ref: NodeRef, names: Sequence[str]) -> bool:
        """Remove properties of a node (with their full-text copies); False when there is no such node."""
        self._check_label(ref.label)
        node_type = self.ontology.node_types[ref.label]
        unknown = [n for n in names if n not in node_type.properties or n == NODE_KEY]
        if unknown:
            raise OntologyViolation(f"{ref.label} has no removable property {', '.join(map(repr, unknown))}")
        if not names:
            return self.get(ref) is not None
        columns = sorted({*names, *(shadow_name(n) for n in names if node_type.properties[n].fulltext)})
        rows = self.conn.run_write(cypher.remove_properties(ref.label, columns), {"id": ref.id})
        return bool(rows and rows[0]["found"])

    def secret(self, name: str) -> str:
        """A random secret kept in the store, made on first use (the same for every process and host using this store)."""
        rows = self.conn.run_write(cypher.GET_OR_SET_SECRET, {"key": f"secret:{name}", "value": secrets.token_hex(32)})
        return str(rows[0]["value"])

    def remove_list_values(self, ref: NodeRef, prop: str, values: Sequence[Any]) -> int:
        """Take values out of a node's list property."""
        self._check_label(ref.label)
        node_type = self.ontology.node_types[ref.label]
        if prop not in node_type.properties or not node_type.properties[prop].multivalued:
            raise OntologyViolation(f"{ref.label}.{prop} is not a list property")
        rows = self.conn.run_write(cypher.remove_list_values(ref.label, prop), {"id": ref.id, "values": list(values)})
        return rows[0]["left"] if rows else 0

    def match_pattern(self, pattern: PathPattern, now: datetime, since: datetime | None = None, subjects: Sequence[str] | None = None) -> list[PatternMatch]:
        """Evidence of a declarative pattern (compiled by `graph.patterns`)."""
        query, params = compile_pattern(pattern, self.ontology, now, since, subjects is not None)
        rows = self.conn.run_read(query, {**params, **pattern_query_params(subjects)}, DEFAULT_READ_TIMEOUT)
        return [PatternMatch(r["subject"], NodeRef(r["label"], r["evidence"]), r["at"], str(r["caption"]), dict(r["props"] or {})) for r in rows]

    def match_patterns(
        self, parts: Sequence[tuple[PathPattern, datetime | None]], now: datetime, subjects: Sequence[str] | None = None
    ) -> list[list[PatternMatch]]:
        """What each pattern (with its `since`) finds, in one query (`graph.patterns.compile_patterns`)."""
        out: list[list[PatternMatch]] = [[] for _ in parts]
        if not parts:
            return out
        query, params = compile_patterns(parts, self.ontology, now, subjects is not None)
        for r in self.conn.run_read(query, {**params, **pattern_query_params(subjects)}, DEFAULT_READ_TIMEOUT):
            out[int(r["part"])].append(PatternMatch(r["subject"], NodeRef(r["label"], r["evidence"]), r["at"], str(r["caption"]), dict(r["props"] or {})))
        return out

    def pattern_summaries(
        self, parts: Sequence[tuple[PathPattern, datetime | None, str | None]], now: datetime, subjects: Sequence[str] | None = None
    ) -> list[dict[str, dict[str, Any]]]:
        """Per pattern, subject id -> its summary row, in one query (`graph.patterns.compile_patterns` with summaries)."""
        out: list[dict[str, dict[str, Any]]] = [{} for _ in parts]
        if not parts:
            return out
        summaries = [Summary(prop) for _, _, prop in parts]
        query, params = compile_patterns([(p, since) for p, since, _ in parts], self.ontology, now, subjects is not None, summaries)
        for r in self.conn.run_read(query, {**params, **pattern_query_params(subjects)}, DEFAULT_READ_TIMEOUT):
            out[int(r["part"])][str(r["subject"])] = {k: r[k] for k in SUMMARY_COLUMNS if k != "subject"}
        return out

    def subjects_touched(self, pattern: PathPattern, label: str, ids: Sequence[str], positions: Collection[int] | None = None) -> list[str]:
        """Subjects whose pattern goes through the touched nodes (see `graph.patterns.compile_touched`),
        at any position of their label on the path or only at `positions`."""
        at = [0] if pattern.subject == label else []
        at += [i for i, step in enumerate(pattern.steps, start=1) if step.node == label]
        positions = [i for i in at if positions is None or i in positions]
        found: set[str] = set()
        for position in positions:
            rows = self.conn.run_read(compile_touched(pattern, position), {"ids": list(ids)}, DEFAULT_READ_TIMEOUT)
            found.update(r["subject"] for r in rows)
        return sorted(found)

    def clear(self) -> None:
        """Delete every node and edge in batches (the schema stays)."""
        while self.conn.run_write(cypher.DELETE_SOME)[0]["deleted"]:
            pass

    # ------------------------------------------------------------------ reads
    def get(self, ref: NodeRef) -> Node | None:
        """The node `ref` points at (vectors included), or None."""
        self._check_label(ref.label)
        rows = self.conn.run_read(cypher.get_node(ref.label), {"id": ref.id}, DEFAULT_READ_TIMEOUT)
        return self._node(ref.label, rows[0]["props"], keep_vectors=True) if rows else None

    def get_many(self, refs: Iterable[NodeRef], props: Sequence[str] | None = None) -> dict[NodeRef, Node]:
        """The nodes of `refs` that exist (one query per label): only the properties `props` (and
        the key) when given, otherwise all but vectors and full-text copies."""
        by_label: dict[str, dict[str, None]] = {}
        for ref in refs:
            by_label.setdefault(ref.label, {})[ref.id] = None
        out: dict[NodeRef, Node] = {}
        for label, ids in by_label.items():
            node_type = self.ontology.node_type(label)
            for prop in props or ():
                if prop != NODE_KEY and prop not in node_type.properties:
                    raise OntologyViolation(f"unknown property {prop!r} for {label}")
            rows = self.conn.run_read(cypher.nodes_by_keys(label, props, self._heavy), {"ids": list(ids)}, DEFAULT_READ_TIMEOUT)
            for row in rows:
                node = self._node(label, row["props"])
                out[node.ref] = node
        return out

    def edges_from(self, refs: Iterable[NodeRef], edge_type: str, as_of: Any = None) -> list[Edge]:
        """The edges of `edge_type` leaving the nodes of `refs` (those holding at `as_of` when
        given), one query per label: what one node's 1-hop neighbourhood gives, for many nodes."""
        self.ontology.edge_type(edge_type)
        at = self._as_of(as_of)
        by_label: dict[str, dict[str, None]] = {}
        for ref in refs:
            by_label.setdefault(ref.label, {})[ref.id] = None
        edges: list[Edge] = []
        for label, ids in by_label.items():
            self._check_label(label)
            rows = self.conn.run_read(cypher.edges_leaving(label, edge_type, at is not None), {"ids": list(ids), "as_of": at}, DEFAULT_READ_TIMEOUT)
            edges += [self._edge(edge_type, label, r["sid"], r["dl"], r["did"], r["props"]) for r in rows]
        return edges

    def find(self, label: str, prop: str, value: Any, limit: int = 10) -> list[Node]:
        """Nodes of `label` whose property `prop` equals `value`."""
        node_type = self.ontology.node_type(label)
        if prop not in node_type.properties:
            raise OntologyViolation(f"unknown property {prop!r} for {label}")
        try:
            value = normalise_value(node_type.properties[prop], value)
        except ValueRejected as exc:
            raise OntologyViolation(f"{label}.{prop}: {exc}") from None
        rows = self.conn.run_read(cypher.find_nodes(label, prop, self._heavy), {"value": value, "limit": limit}, DEFAULT_READ_TIMEOUT)
        return [self._node(label, r["props"]) for r in rows]

    def neighbourhood(
        self,
        ref: NodeRef,
        hops: int = 1,
        labels: Sequence[str] | None = None,
        edge_types: Sequence[str] | None = None,
        as_of: Any = None,
        limit: int = 100,
    ) -> Subgraph:
        """The nearest `limit` nodes within `hops` of `ref` (either direction), the start node,
        and the edges among them; filters on node labels, edge types and valid time."""
        self._check_label(ref.label)
        if not 1 <= hops <= MAX_HOPS:
            raise OntologyViolation(f"hops must be between 1 and {MAX_HOPS}, got {hops}")
        for label in labels or []:
            self._check_label(label)
        types = self._check_edge_types(edge_types)
        at = self._as_of(as_of)
        params: dict[str, Any] = {"id": ref.id, "limit": int(limit), "labels": list(labels or []), "edge_types": types, "as_of": at}
        rows = self.conn.run_read(
            cypher.neighbour_nodes(self.dialect, ref.label, hops, types, bool(labels), at is not None, self._heavy), params, DEFAULT_READ_TIMEOUT
        )
        if rows:
            start_node = self._node(ref.label, rows[0]["start_props"])
        else:  # no neighbours: the start node alone, if it exists
            start = self.get(ref)
            if start is None:
                return Subgraph()
            start_node = self._node(start.label, start.props)
        nodes = [start_node] + [self._node(r["label"], r["props"]) for r in rows]
        handles = ([rows[0]["start"]] if rows else []) + [r["handle"] for r in rows]
        edges: list[Edge] = []
        if handles:
            edge_rows = self.conn.run_read(
                cypher.edges_among(self.dialect, types, at is not None),
                {"handles": handles, "edge_types": types, "as_of": at},
                DEFAULT_READ_TIMEOUT,
            )
            edges = [self._edge(r["type"], r["sl"], r["sid"], r["dl"], r["did"], r["props"]) for r in edge_rows]
        return Subgraph(nodes=nodes, edges=edges)

    def _handle(self, ref: NodeRef) -> Any:
        rows = self.conn.run_read(cypher.node_handle_by_key(self.dialect, ref.label), {"id": ref.id}, DEFAULT_READ_TIMEOUT)
        return rows[0]["handle"] if rows else None

    def shortest_path(
        self,
        a: NodeRef,
        b: NodeRef,
        max_length: int = 4,
        edge_types: Sequence[str] | None = None,
        as_of: Any = None,
    ) -> Path | None:
        """A shortest path (either direction per edge) found by a bidirectional breadth-first
        search, one query per step, so both stores give the same answer."""
        self._check_label(a.label)
        self._check_label(b.label)
        if not 1 <= max_length <= MAX_PATH_LENGTH:
            raise OntologyViolation(f"max_length must be between 1 and {MAX_PATH_LENGTH}, got {max_length}")
        types = self._check_edge_types(edge_types)
        at = self._as_of(as_of)
        ha, hb = self._handle(a), self._handle(b)
        if ha is None or hb is None:
            return None
        if ha == hb:
            node = self.get(a)
            return Path(nodes=[self._node(a.label, node.props)] if node else [], edges=[])
        query = cypher.expand_frontier(self.dialect, types, at is not None)
        # parent[side][handle] = (previous handle, edge row) on the way back to that side's root
        parents: list[dict[Any, Any]] = [{ha: None}, {hb: None}]
        frontiers: list[list[Any]] = [[ha], [hb]]
        depth = [0, 0]
        meet = None
        while meet is None and frontiers[0] and frontiers[1] and depth[0] + depth[1] < max_length:
            side = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
            rows = self.conn.run_read(query, {"frontier": frontiers[side], "edge_types": types, "as_of": at}, DEFAULT_READ_TIMEOUT)
            depth[side] += 1
            next_frontier = []
            for row in sorted(rows, key=lambda r: (str(r["from"]), str(r["to"]), r["type"], str(r["props"].get("ek")))):
                to = row["to"]
                if to in parents[side]:
                    continue
                parents[side][to] = (row["from"], row)
                next_frontier.append(to)
                if to in parents[1 - side] and meet is None:
                    meet = to
            frontiers[side] = next_frontier
        if meet is None:
            return None
        return self._assemble_path(meet, parents)

    def _assemble_path(self, meet: Any, parents: list[dict[Any, Any]]) -> Path:
        left: list[tuple[Any, dict[str, Any] | None]] = []
        h = meet
        while parents[0][h] is not None:
            prev, row = parents[0][h]
            left.append((prev, row))
            h = prev
        chain = [h for h, _ in reversed(left)] + [meet]
        edge_rows = [row for _, row in reversed(left)]
        h = meet
        while parents[1][h] is not None:
            prev, row = parents[1][h]
            chain.append(prev)
            edge_rows.append(row)
            h = prev
        rows = self.conn.run_read(cypher.nodes_by_handles(self.dialect, self._heavy), {"handles": chain}, DEFAULT_READ_TIMEOUT)
        by_handle = {r["handle"]: self._node(r["label"], r["props"]) for r in rows}
        nodes = [by_handle[h] for h in chain]
        edges = []
        for i, row in enumerate(edge_rows):
            first, second = nodes[i], nodes[i + 1]
            forward = row["start"] == chain[i]
            src, dst = (first, second) if forward else (second, first)
            edges.append(self._edge(row["type"], src.label, src.id, dst.label, dst.id, row["props"]))
        return Path(nodes=nodes, edges=edges)

    def paths(
        self,
        a: NodeRef,
        b: NodeRef,
        max_length: int = 3,
        edge_types: Sequence[str] | None = None,
        as_of: Any = None,
        limit: int = 10,
    ) -> list[Path]:
        """Simple paths (no node twice) between `a` and `b`, shortest first."""
        self._check_label(a.label)
        self._check_label(b.label)
        if not 1 <= max_length <= MAX_HOPS:
            raise OntologyViolation(f"max_length must be between 1 and {MAX_HOPS}, got {max_length}")
        types = self._check_edge_types(edge_types)
        at = self._as_of(as_of)
        rows = self.conn.run_read(
            cypher.simple_paths(a.label, b.label, max_length, types, at is not None, self._heavy),
            {"a": a.id, "b": b.id, "edge_types": types, "as_of": at, "scan": int(limit) * 20},
            DEFAULT_READ_TIMEOUT,
        )
        out: list[Path] = []
        for row in rows:
            nodes = [self._node(label, props) for label, props in row["nodes"]]
            if len({n.ref for n in nodes}) != len(nodes):
                continue
            edges = [self._edge(t, sl, sid, dl, did, props) for t, sl, sid, dl, did, props in row["rels"]]
            out.append(Path(nodes=nodes, edges=edges))
            if len(out) >= limit:
                break
        return out

    def _search_filters(self, label: str, filters: dict[str, Any] | None, params: dict[str, Any]) -> str:
        node_type = self.ontology.node_type(label)
        clean: dict[str, Any] = {}
        for name, value in (filters or {}).items():
            prop = node_type.properties.get(name)
            if prop is None:
                raise OntologyViolation(f"unknown filter property {name!r} for {label}")
            try:
                if isinstance(value, (list, tuple)) and not prop.multivalued:
                    clean[name] = [normalise_value(prop, v) for v in value]
                else:
                    clean[name] = normalise_value(prop, value)
            except ValueRejected as exc:
                raise OntologyViolation(f"filter {label}.{name}: {exc}") from None
        return cypher.property_filter("node", clean, params)

    def _vector_property(self, label: str, prop: str | None) -> str:
        node_type = self.ontology.node_type(label)
        vectors = node_type.vector_properties
        if prop is None:
            if not vectors:
                raise OntologyViolation(f"{label} has no embedding property")
            return vectors[0].name
        if prop not in {p.name for p in vectors}:
            raise OntologyViolation(f"{label}.{prop} is not an embedding property")
        return prop

    def vector_search(
        self,
        label: str,
        vector: Sequence[float],
        k: int = 10,
        prop: str | None = None,
        filters: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """The `k` nodes most similar (exact cosine) to `vector`: approximate candidates from
        the index (over-fetched), re-ranked exactly; an exact scan when filters leave too few."""
        name = self._vector_property(label, prop)
        spec = self.ontology.node_types[label].properties[name]
        try:
            vec = normalise_value(spec, vector)
        except ValueRejected as exc:
            raise OntologyViolation(f"query vector: {exc}") from None
        # over-fetch: the index's search breadth grows with it (Neo4j) and exact re-ranking repairs the order
        params: dict[str, Any] = {"vector": vec, "k": int(k), "fetch": max(int(k) * 10, 100)}
        cond = self._search_filters(label, filters, params)
        rows = self.conn.run_read(cypher.vector_search(self.dialect, label, name, cond, self._heavy), params, DEFAULT_READ_TIMEOUT)
        if len(rows) < k and cond:
            rows = self.conn.run_read(cypher.vector_scan(self.dialect, label, name, cond, self._heavy), params, DEFAULT_READ_TIMEOUT)
        return [Hit(self._node(r["label"], r["props"]), float(r["score"])) for r in rows]

    def fulltext_search(self, label: str, query: str, k: int = 10, prop: str | None = None, filters: dict[str, Any] | None = None) -> list[Hit]:
        """Nodes of `label` whose full-text property has every term of `query` (EN or ZH)."""
        node_type = self.ontology.node_type(label)
        texts = [p.name for p in node_type.properties.values() if p.fulltext]
        if not texts:
            raise OntologyViolation(f"{label} has no full-text property")
        name = prop or texts[0]
        if name not in texts:
            raise OntologyViolation(f"{label}.{name} is not full-text indexed")
        tokens = query_tokens(query)
        if not tokens:
            return []
        params: dict[str, Any] = {"query": self.dialect.fulltext_query(tokens, shadow_name(name)), "k": int(k)}
        cond = self._search_filters(label, filters, params)
        rows = self.conn.run_read(cypher.fulltext_search(self.dialect, label, shadow_name(name), cond, self._heavy), params, DEFAULT_READ_TIMEOUT)
        return [Hit(self._node(r["label"], r["props"]), float(r["score"])) for r in rows]

    def read_query(self, cypher_text: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Run a caller's read-only Cypher with parameters; writes are refused."""
        if not cypher_text or not cypher_text.strip():
            raise QueryRefused("empty query")
        forbidden = _FORBIDDEN_IN_PASSTHROUGH.search(cypher_text)
        if forbidden:
            raise QueryRefused(f"{forbidden.group(0)!r} is not allowed in a passthrough query")
        return self.conn.run_user_read(cypher_text, dict(params or {}), float(timeout))

    def stats(self) -> Stats:
        """Counts per node and edge type and the applied ontology version."""
        nodes = {r["label"]: r["count"] for r in self.conn.run_read(cypher.COUNT_NODES, None, DEFAULT_READ_TIMEOUT) if r["label"] != cypher.META_LABEL}
        edges = {r["type"]: r["count"] for r in self.conn.run_read(cypher.COUNT_EDGES, None, DEFAULT_READ_TIMEOUT)}
        return Stats(
            nodes=dict(sorted(nodes.items())),
            edges=dict(sorted(edges.items())),
            ontology_version=self.applied_ontology_version(),
            backend=self.backend,
        )

    def close(self) -> None:
        """Release the connection."""
        self.conn.close()
