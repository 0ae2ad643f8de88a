"""Neo4j 5 through the official `neo4j` driver: pooled, retried, server-side timeouts."""

from __future__ import annotations

from typing import Any

import neo4j
from neo4j import GraphDatabase, Query, RoutingControl
from neo4j.exceptions import ClientError, Neo4jError, ServiceUnavailable

from graph.cypher_store import CypherGraphStore
from graph.dialect.neo4j import Neo4jDialect
from ontology.errors import ConstraintViolation, QueryRefused, QueryTimeout, StoreUnavailable
from ontology.model import Ontology

_TIMEOUT_CODES = ("TransactionTimedOut", "Transaction.Terminated")


def _plain(value: Any) -> Any:
    if isinstance(value, neo4j.graph.Node):
        return {"_labels": sorted(value.labels), **dict(value)}
    if isinstance(value, neo4j.graph.Relationship):
        return {"_type": value.type, **dict(value)}
    if isinstance(value, neo4j.graph.Path):
        return [_plain(n) for n in value.nodes]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value


def _records(result: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in record.items()} for record in result]


class Neo4jConnection:
    """Runs Cypher on a Neo4j server; writes and reads go through managed transactions."""

    def __init__(self, uri: str, user: str | None, password: str | None, database: str | None = None, pool_size: int = 50):
        auth = (user, password) if user and password else None
        self.uri = uri
        self.database = database
        try:
            self.driver = GraphDatabase.driver(uri, auth=auth, max_connection_pool_size=pool_size, connection_timeout=10.0, notifications_min_severity="OFF")
            self.driver.verify_connectivity()
        except (ServiceUnavailable, OSError, ValueError) as exc:
            raise StoreUnavailable(f"cannot reach Neo4j at {uri}: {exc}") from exc

    def _session(self) -> neo4j.Session:
        return self.driver.session(database=self.database) if self.database else self.driver.session()

    def run_write(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        try:
            with self._session() as session:
                return session.execute_write(lambda tx: _records(tx.run(query, params or {})))
        except ClientError as exc:
            if "ConstraintValidationFailed" in (exc.code or ""):
                raise ConstraintViolation(exc.message or str(exc)) from exc
            raise

    def run_read(self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> list[dict[str, Any]]:
        """A read in one round trip (`execute_query`: retried on transient errors, READ routing,
        server-side timeout)."""
        try:
            result = self.driver.execute_query(Query(query, timeout=timeout), params or {}, routing_=RoutingControl.READ, database_=self.database)
            return _records(result.records)
        except ClientError as exc:
            if any(code in (exc.code or "") for code in _TIMEOUT_CODES):
                raise QueryTimeout(f"query stopped after {timeout} s") from exc
            raise

    def run_user_read(self, query: str, params: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        try:
            with self._session() as session:
                summary = session.run("EXPLAIN " + query, params).consume()
        except Neo4jError as exc:
            raise QueryRefused(f"query does not compile: {exc.message}") from exc
        if summary.query_type != "r":
            raise QueryRefused(f"only read queries are allowed here (this one is of type {summary.query_type!r})")
        try:
            return self.run_read(query, params, timeout)
        except ClientError as exc:
            raise QueryRefused(f"query refused: {exc.message}") from exc

    def run_command(self, *args: Any) -> Any:
        raise NotImplementedError("Neo4j takes every schema command as Cypher")

    def close(self) -> None:
        self.driver.close()


def open_neo4j_store(ontology: Ontology, uri: str, user: str | None = None, password: str | None = None, database: str | None = None) -> CypherGraphStore:
    """A `GraphStore` on the Neo4j server at `uri`."""
    return CypherGraphStore(Neo4jConnection(uri, user, password, database), Neo4jDialect(), ontology, backend="neo4j")
