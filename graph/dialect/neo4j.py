"""Neo4j 5 specifics: element ids, native vector and Lucene full-text indexes, named DDL."""

from __future__ import annotations

from graph.dialect import HNSW_EF_CONSTRUCTION, HNSW_M, LOCK_PROPERTY, SchemaRunner, index_name, quote
from graph.text_index import shadow_name
from ontology.model import NODE_KEY, Ontology

_LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/')


class Neo4jDialect:
    """The Cypher of Neo4j 5."""

    name = "neo4j"

    def node_handle(self, var: str) -> str:
        return f"elementId({var})"

    def node_by_handle(self, var: str, param: str) -> str:
        return f"elementId({var}) = {param}"

    def vector_value(self, expr: str) -> str:
        return expr

    def cosine(self, stored: str, param: str) -> str:
        # vector.similarity.cosine returns (1 + cos) / 2
        return f"(2.0 * vector.similarity.cosine({stored}, {param}) - 1.0)"

    def vector_candidates(self, label: str, prop: str, k_param: str, vec_param: str) -> str:
        name = index_name("vec", label, prop)
        return f"CALL db.index.vector.queryNodes('{name}', {k_param}, {vec_param}) YIELD node"

    def fulltext_candidates(self, label: str, shadow_prop: str, query_param: str) -> str:
        name = index_name("ft", label, shadow_prop)
        return f"CALL db.index.fulltext.queryNodes('{name}', {query_param}) YIELD node, score"

    def fulltext_query(self, tokens: list[str], shadow_prop: str) -> str:
        # Each full-text property has its own index, so the field is already chosen.
        escaped = ["".join("\\" + ch if ch in _LUCENE_SPECIAL else ch for ch in t) for t in tokens]
        return " AND ".join(f'"{t}"' for t in escaped)

    def lock(self, var: str) -> str:
        # Neo4j reads committed data; taking the write lock first makes the following
        # read-modify-write (list union) safe against concurrent writers.
        return f"SET {var}.{LOCK_PROPERTY} = true"

    def unlock(self, var: str) -> str:
        return f"REMOVE {var}.{LOCK_PROPERTY}"

    def drop_unique(self, conn: SchemaRunner, label: str, prop: str) -> bool:
        name = index_name(label, prop, "unique")
        if not conn.run_read("SHOW CONSTRAINTS YIELD name WHERE name = $name RETURN name", {"name": name}):
            return False
        conn.run_write(f"DROP CONSTRAINT {name} IF EXISTS")
        # keep lookups fast: the constraint's backing index went with it
        conn.run_write(f"CREATE INDEX {index_name(label, prop)} IF NOT EXISTS FOR (n:{quote(label)}) ON (n.{quote(prop)})")
        return True

    def sync_schema(self, conn: SchemaRunner, ontology: Ontology, meta_label: str) -> list[str]:
        before = {r["name"] for r in conn.run_read("SHOW INDEXES YIELD name RETURN name")}
        before |= {r["name"] for r in conn.run_read("SHOW CONSTRAINTS YIELD name RETURN name")}
        statements: list[tuple[str, str]] = []

        def unique(label: str, prop: str) -> None:
            name = index_name(label, prop, "unique")
            plain = index_name(label, prop)
            if name not in before and plain in before:  # the property was indexed, now it is a key: its index gives way
                statements.append((f"drop {plain}", f"DROP INDEX {plain} IF EXISTS"))
            statements.append((name, f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{quote(label)}) REQUIRE n.{quote(prop)} IS UNIQUE"))

        unique(meta_label, NODE_KEY)
        for node in ontology.node_types.values():
            unique(node.name, NODE_KEY)
            for prop in node.properties.values():
                if prop.unique and prop.name != NODE_KEY:
                    unique(node.name, prop.name)
                elif prop.indexed:
                    name = index_name(node.name, prop.name)
                    statements.append((name, f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{quote(node.name)}) ON (n.{quote(prop.name)})"))
                if prop.is_vector:
                    name = index_name("vec", node.name, prop.name)
                    statements.append(
                        (
                            name,
                            f"CREATE VECTOR INDEX {name} IF NOT EXISTS FOR (n:{quote(node.name)}) ON n.{quote(prop.name)} "
                            f"OPTIONS {{indexConfig: {{`vector.dimensions`: {int(prop.embedding_dim or 0)}, "
                            "`vector.similarity_function`: 'cosine', `vector.quantization.enabled`: false, "
                            f"`vector.hnsw.m`: {HNSW_M}, `vector.hnsw.ef_construction`: {HNSW_EF_CONSTRUCTION}}}}}",
                        )
                    )
                if prop.fulltext:
                    shadow = shadow_name(prop.name)
                    name = index_name("ft", node.name, shadow)
                    statements.append(
                        (
                            name,
                            f"CREATE FULLTEXT INDEX {name} IF NOT EXISTS FOR (n:{quote(node.name)}) ON EACH [n.{quote(shadow)}] "
                            "OPTIONS {indexConfig: {`fulltext.analyzer`: 'whitespace'}}",
                        )
                    )
        for edge in ontology.edge_types.values():
            for prop in ("source_id",):  # no index on `ek`: it led Neo4j to scan it per MERGE row
                name = index_name(edge.name, prop)
                statements.append((name, f"CREATE INDEX {name} IF NOT EXISTS FOR ()-[r:{quote(edge.name)}]-() ON (r.{quote(prop)})"))
        created = []
        for name, statement in statements:
            if name not in before:
                conn.run_write(statement)
                created.append(name)
        if created:
            conn.run_read("CALL db.awaitIndexes(300)")
        return created
