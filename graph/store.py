"""The `GraphStore` interface every other room of khub uses, and the records it speaks.

Two backends implement it with one Cypher layer (`graph.cypher_store.CypherGraphStore`):
Neo4j 5 (production) and an embedded FalkorDB (the default). Domain code never learns which
one it runs on. The interface is synchronous; the API runs it in worker threads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from datetime import datetime

    from ontology.intents import PathPattern
    from ontology.model import Ontology


@dataclass(frozen=True)
class NodeRef:
    """Points at one node: its type (label) and key."""

    label: str
    id: str

    def __str__(self) -> str:
        return f"{self.label}:{self.id}"


@dataclass
class NodeRecord:
    """A node to upsert: its type, key and properties (None values are ignored).

    `defaults` are properties set only when the node is created (e.g. a display name that a
    later, differently spelt mention must not overwrite).
    """

    label: str
    id: str
    props: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> NodeRef:
        """The reference to this node."""
        return NodeRef(self.label, self.id)


@dataclass
class EdgeRecord:
    """An edge to upsert, with its provenance and valid time.

    Two records with the same type, ends and identity properties (from the ontology) are the
    same edge: upserting again updates it instead of adding a second one.
    """

    type: str
    src: NodeRef
    dst: NodeRef
    props: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None
    extractor: str | None = None
    confidence: float | None = None
    valid_from: Any = None
    valid_to: Any = None

    def describe(self) -> str:
        """A short human form, for error messages."""
        return f"({self.src})-[:{self.type}]->({self.dst})"


@dataclass(frozen=True)
class Node:
    """A node read from the store."""

    label: str
    id: str
    props: dict[str, Any]

    @property
    def ref(self) -> NodeRef:
        """The reference to this node."""
        return NodeRef(self.label, self.id)


@dataclass(frozen=True)
class Edge:
    """An edge read from the store, with all its properties (provenance and times included)."""

    type: str
    src: NodeRef
    dst: NodeRef
    props: dict[str, Any]


@dataclass
class Subgraph:
    """Nodes and the edges between them, e.g. a neighbourhood."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


@dataclass
class Path:
    """A path: nodes in order and the edges between consecutive nodes."""

    nodes: list[Node]
    edges: list[Edge]

    @property
    def length(self) -> int:
        """The number of edges."""
        return len(self.edges)


@dataclass(frozen=True)
class Rejected:
    """An item of a batch that was refused, and why."""

    item: str
    reason: str


@dataclass
class WriteResult:
    """What a batch upsert did."""

    nodes_written: int = 0
    edges_written: int = 0
    edges_closed: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The keys of the edges written (see `GraphStore.release_source`).
    edge_keys: list[str] = field(default_factory=list)

    def merge(self, other: WriteResult) -> None:
        """Add the counts and lists of `other` to this result."""
        self.nodes_written += other.nodes_written
        self.edges_written += other.edges_written
        self.edges_closed += other.edges_closed
        self.edge_keys.extend(other.edge_keys)
        self.rejected.extend(other.rejected)
        self.warnings.extend(other.warnings)


@dataclass(frozen=True)
class Hit:
    """A search result: the node and its score (higher is better)."""

    node: Node
    score: float


@dataclass
class DeleteResult:
    """What a delete removed: the nodes (cascades included) and their edges."""

    nodes_deleted: list[NodeRef] = field(default_factory=list)
    edges_deleted: int = 0


@dataclass(frozen=True)
class PatternMatch:
    """One piece of evidence a pattern found for a subject: its node, time and caption."""

    subject: str
    evidence: NodeRef
    at: str | None
    caption: str
    props: dict[str, Any]


@dataclass
class ReleaseResult:
    """What withdrawing a source did to the edges and nodes it supported."""

    edges_released: int = 0
    edges_closed: int = 0
    edges_deleted: int = 0
    nodes_released: int = 0
    nodes_deleted: list[NodeRef] = field(default_factory=list)


@dataclass
class Stats:
    """Counts of the graph, per node and edge type."""

    nodes: dict[str, int]
    edges: dict[str, int]
    ontology_version: str | None
    backend: str

    @property
    def total_nodes(self) -> int:
        """All nodes."""
        return sum(self.nodes.values())

    @property
    def total_edges(self) -> int:
        """All edges."""
        return sum(self.edges.values())


@runtime_checkable
class GraphStore(Protocol):
    """Everything khub asks of a graph database."""

    backend: str
    #: The ontology the store validates writes against.
    ontology: Ontology

    def use_ontology(self, ontology: Ontology) -> None:
        """Validate writes against `ontology` from now on."""
        ...

    def sync_schema(self) -> list[str]:
        """Create the constraints and indexes the ontology implies; return what was created."""
        ...

    def upsert(self, nodes: Iterable[NodeRecord] = (), edges: Iterable[EdgeRecord] = ()) -> WriteResult:
        """Write nodes, then edges, idempotently; refused items come back with reasons."""
        ...

    def get(self, ref: NodeRef) -> Node | None:
        """The node `ref` points at, or None."""
        ...

    def get_many(self, refs: Iterable[NodeRef], props: Sequence[str] | None = None) -> dict[NodeRef, Node]:
        """The nodes of `refs` that exist, by reference (only `props` and the key when given)."""
        ...

    def edges_from(self, refs: Iterable[NodeRef], edge_type: str, as_of: Any = None) -> list[Edge]:
        """The edges of `edge_type` leaving the nodes of `refs` (those holding at `as_of` when given)."""
        ...

    def find(self, label: str, prop: str, value: Any, limit: int = 10) -> list[Node]:
        """Nodes of `label` whose property `prop` equals `value`."""
        ...

    def neighbourhood(
        self,
        ref: NodeRef,
        hops: int = 1,
        labels: Sequence[str] | None = None,
        edge_types: Sequence[str] | None = None,
        as_of: Any = None,
        limit: int = 100,
    ) -> Subgraph:
        """Nodes within `hops` of `ref` (either direction) and the edges that reach them."""
        ...

    def shortest_path(
        self,
        a: NodeRef,
        b: NodeRef,
        max_length: int = 4,
        edge_types: Sequence[str] | None = None,
        as_of: Any = None,
    ) -> Path | None:
        """A shortest path between `a` and `b` of at most `max_length` edges, either direction."""
        ...

    def paths(
        self,
        a: NodeRef,
        b: NodeRef,
        max_length: int = 3,
        edge_types: Sequence[str] | None = None,
        as_of: Any = None,
        limit: int = 10,
    ) -> list[Path]:
        """Simple paths between `a` and `b`, shortest first."""
        ...

    def vector_search(
        self,
        label: str,
        vector: Sequence[float],
        k: int = 10,
        prop: str | None = None,
        filters: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """The `k` nodes of `label` most similar (cosine) to `vector`, matching `filters`."""
        ...

    def fulltext_search(self, label: str, query: str, k: int = 10, prop: str | None = None, filters: dict[str, Any] | None = None) -> list[Hit]:
        """Nodes of `label` whose full-text property contains every term of `query`."""
        ...

    def read_query(self, cypher: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Run a read-only Cypher query; writes are refused, the server stops it at `timeout`."""
        ...

    def delete(self, ref: NodeRef) -> DeleteResult:
        """Delete a node, its edges, and what the ontology cascades from it."""
        ...

    def release_source(self, source_id: str, keep_edges: Collection[str] = (), keep_nodes: Collection[NodeRef] = (), forget: bool = False) -> ReleaseResult:
        """Withdraw `source_id` from the `supported_by` of every edge and node it supports,
        except the edges (keys from `WriteResult.edge_keys`) and nodes it asserted again.
        Edges left without support are closed (valid_to = now), or deleted when `forget`;
        nodes left without support and without edges are deleted."""
        ...

    def scan_nodes(self, label: str, after: str | None = None, limit: int = 5000, props: Sequence[str] | None = None) -> list[Node]:
        """One page of `label`'s nodes in id order, after id `after` (vectors left out); only the
        properties `props` (and the key) when given: `props=()` for ids alone."""
        ...

    def merged_edges(self, ref: NodeRef, marker: str | None = None) -> list[Edge]:
        """The edges of a node that entity resolution merged into it (`merged_from` not empty),
        only those merged from `marker` when given."""
        ...

    def move_merged_edges(self, src: NodeRef, dst: NodeRef, marker: str) -> int:
        """Move every edge of `src` whose `merged_from` holds `marker` to `dst` (same label),
        keeping its type, direction, far end, provenance and times; `marker` leaves the edge's
        `merged_from`. Returns how many moved."""
        ...

    def remove_properties(self, ref: NodeRef, names: Sequence[str]) -> bool:
        """Remove properties of a node (their full-text copies go too); False when there is no such node."""
        ...

    def secret(self, name: str) -> str:
        """A random secret kept in the store under `name`, created on first use (keyed digests of erased subjects)."""
        ...

    def remove_list_values(self, ref: NodeRef, prop: str, values: Sequence[Any]) -> int:
        """Take `values` out of the list property `prop` of a node; returns how many values are left."""
        ...

    def match_pattern(self, pattern: PathPattern, now: datetime, since: datetime | None = None, subjects: Sequence[str] | None = None) -> list[PatternMatch]:
        """The evidence `pattern` finds (for the given subject ids, or for every subject of its
        label), dated between `since` and `now` when the pattern has a time."""
        ...

    def match_patterns(
        self, parts: Sequence[tuple[PathPattern, datetime | None]], now: datetime, subjects: Sequence[str] | None = None
    ) -> list[list[PatternMatch]]:
        """What each of several patterns (each with its `since`) finds, as `match_pattern` would,
        in one round trip; one list per pattern, in order."""
        ...

    def pattern_summaries(
        self, parts: Sequence[tuple[PathPattern, datetime | None, str | None]], now: datetime, subjects: Sequence[str] | None = None
    ) -> list[dict[str, dict[str, Any]]]:
        """For each (pattern, since, numeric property or None), in one round trip: subject id -> what
        `match_patterns` would find, aggregated in the store (`graph.patterns.SUMMARY_COLUMNS`: n,
        the latest time `at`, and over the property: total, values, lo, hi, latest). Only subjects
        with something found appear. What features and concepts read."""
        ...

    def subjects_touched(self, pattern: PathPattern, label: str, ids: Sequence[str], positions: Collection[int] | None = None) -> list[str]:
        """The subject ids whose `pattern` passes through a node of `label` with one of `ids`
        (the nodes a write touched), at any position of the path or only at `positions`: the
        subjects to re-score after that write."""
        ...

    def stats(self) -> Stats:
        """Counts per type and the applied ontology version."""
        ...

    def applied_ontology_version(self) -> str | None:
        """The ontology version last applied to this graph."""
        ...

    def record_ontology_version(self, version: str, note: str = "") -> None:
        """Record that ontology `version` is applied (with a note for the history)."""
        ...

    def save_applied_schema(self, text: str) -> None:
        """Keep the text of the applied ontology in the graph, for later diffs."""
        ...

    def applied_schema(self) -> str | None:
        """The text of the ontology applied to this graph, if recorded."""
        ...

    def clear(self) -> None:
        """Delete every node and edge (the schema stays). For tests and `khub init --reset`."""
        ...

    def close(self) -> None:
        """Release connections (and the embedded server, when no one else uses it)."""
        ...
