"""Open the configured store: the embedded FalkorDB by default, or a Neo4j server."""

from __future__ import annotations

from graph.cypher_store import CypherGraphStore
from ontology.model import Ontology, default_ontology, load_ontology
from ontology.settings import Settings


def load_configured_ontology(settings: Settings) -> Ontology:
    """The ontology named by the settings, or the shipped one."""
    return load_ontology(settings.ontology_path) if settings.ontology_path else default_ontology()


def open_store(settings: Settings | None = None, ontology: Ontology | None = None) -> CypherGraphStore:
    """A connected `GraphStore` for `settings` (default: from the environment / khub.toml)."""
    settings = settings or Settings()
    ontology = ontology or load_configured_ontology(settings)
    if settings.store == "neo4j":
        from graph.neo4j_store import open_neo4j_store

        return open_neo4j_store(ontology, settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, settings.neo4j_database)
    from graph.falkordb_store import open_embedded_store

    return open_embedded_store(ontology, settings.data_dir, settings.graph_name)
