"""Open the configured store: the embedded FalkorDB by default, or a Neo4j server."""

from __future__ import annotations

from graph.cypher_store import CypherGraphStore
from ontology.model import DEFAULT_SCHEMA, Ontology, default_ontology, load_ontology
from ontology.settings import Settings


def load_configured_ontology(settings: Settings) -> Ontology:
    """The ontology named by the settings, else the one last applied in the data directory's
    workspace (`ontology.workspace`), else the shipped one."""
    from ontology.workspace import configured_schema_path

    path = configured_schema_path(settings)
    return default_ontology() if path == DEFAULT_SCHEMA else load_ontology(path)


def open_store(settings: Settings | None = None, ontology: Ontology | None = None) -> CypherGraphStore:
    """A connected `GraphStore` for `settings` (default: from the environment / khub.toml)."""
    settings = settings or Settings()
    ontology = ontology or load_configured_ontology(settings)
    if settings.store == "neo4j":
        from graph.neo4j_store import open_neo4j_store

        return open_neo4j_store(ontology, settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, settings.neo4j_database)
    from graph.falkordb_store import open_embedded_store

    return open_embedded_store(ontology, settings.data_dir, settings.graph_name)
