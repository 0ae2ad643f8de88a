"""Where Neo4j's and FalkorDB's Cypher differ. Everything else in `graph/` is shared Cypher.

A `Dialect` turns the few store-specific shapes (vectors, full-text, node handles, locking,
schema DDL) into Cypher text for its store. Identifiers it receives are ontology names, which
the ontology validator restricts to `[A-Za-z0-9_]`; values always travel as parameters.
"""

from __future__ import annotations

from typing import Any, Protocol

from ontology.model import Ontology


class SchemaRunner(Protocol):
    """What schema sync needs from a connection."""

    def run_write(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def run_read(self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> list[dict[str, Any]]: ...

    def run_command(self, *args: Any) -> Any: ...


class Dialect(Protocol):
    """The store-specific pieces of Cypher."""

    name: str

    def node_handle(self, var: str) -> str:
        """An expression giving an opaque handle of node `var`, valid for this graph."""
        ...

    def node_by_handle(self, var: str, param: str) -> str:
        """A WHERE condition: node `var` has the handle in parameter `param`."""
        ...

    def vector_value(self, expr: str) -> str:
        """Wrap a list-of-floats expression so the store keeps it as an indexed vector."""
        ...

    def cosine(self, stored: str, param: str) -> str:
        """Exact cosine similarity in [-1, 1] between a stored vector and a list parameter."""
        ...

    def vector_candidates(self, label: str, prop: str, k_param: str, vec_param: str) -> str:
        """A CALL clause yielding `node` for the approximate nearest neighbours."""
        ...

    def fulltext_candidates(self, label: str, shadow_prop: str, query_param: str) -> str:
        """A CALL clause yielding `node, score` for nodes whose token copy matches."""
        ...

    def fulltext_query(self, tokens: list[str], shadow_prop: str) -> str:
        """The query string meaning "every one of these tokens, in this property"."""
        ...

    def lock(self, var: str) -> str:
        """A clause that write-locks `var` before a read-modify-write (empty if not needed)."""
        ...

    def unlock(self, var: str) -> str:
        """The clause that undoes `lock` (empty if not needed)."""
        ...

    def sync_schema(self, conn: SchemaRunner, ontology: Ontology, meta_label: str) -> list[str]:
        """Create missing constraints and indexes; return a line for each one created."""
        ...

    def drop_unique(self, conn: SchemaRunner, label: str, prop: str) -> bool:
        """Drop the unique constraint on `label.prop` (its lookup index stays); False if there was none."""
        ...


LOCK_PROPERTY = "_khub_lock"

#: HNSW parameters of every vector index: links per node, candidate list while building, and
#: (FalkorDB) while searching. Measured on 20k×384 clustered vectors: recall@10 0.98 with these,
#: 0.72 with FalkorDB's defaults (M 16, efConstruction 200, efRuntime 10); see docs/benchmarks.md.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 400
HNSW_EF_RUNTIME = 400


def quote(identifier: str) -> str:
    """A backtick-quoted Cypher identifier (label, type or property name)."""
    if not identifier.replace("_", "").isalnum():
        raise ValueError(f"not a safe identifier: {identifier!r}")
    return f"`{identifier}`"


def index_name(*parts: str) -> str:
    """A deterministic index or constraint name."""
    return "khub_" + "_".join(p.lower() for p in parts)
