"""FalkorDB, the embedded default: the `falkordb` client on the launcher's unix socket."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis
from falkordb import FalkorDB
from falkordb.edge import Edge as FalkorEdge
from falkordb.node import Node as FalkorNode
from falkordb.path import Path as FalkorPath

from graph.cypher_store import CypherGraphStore
from graph.dialect.falkordb import FalkorDBDialect
from graph.falkordb_server import EmbeddedFalkorDB
from ontology.errors import ConstraintViolation, QueryRefused, QueryTimeout, StoreUnavailable
from ontology.model import Ontology

RETRIES = 3


def _plain(value: Any) -> Any:
    if isinstance(value, FalkorNode):
        return {"_labels": list(value.labels or []), **{k: _plain(v) for k, v in (value.properties or {}).items()}}
    if isinstance(value, FalkorEdge):
        return {"_type": value.relation, **{k: _plain(v) for k, v in (value.properties or {}).items()}}
    if isinstance(value, FalkorPath):
        return [_plain(n) for n in value.nodes()]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _rows(result: Any) -> list[dict[str, Any]]:
    names = [h[1] for h in (result.header or [])]
    return [{name: _plain(v) for name, v in zip(names, row, strict=False)} for row in result.result_set]


def _is_timeout(exc: Exception) -> bool:
    return "timed out" in str(exc).lower() or "timeout" in str(exc).lower()


class FalkorDBConnection:
    """Runs Cypher on one FalkorDB graph."""

    def __init__(self, graph: str, socket_path: str | None = None, host: str | None = None, port: int = 6379, server: EmbeddedFalkorDB | None = None):
        self.graph_name = graph
        self.server = server
        try:
            self.db = FalkorDB(unix_socket_path=socket_path) if socket_path else FalkorDB(host=host or "localhost", port=port)
            self.db.connection.ping()
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach FalkorDB at {socket_path or f'{host}:{port}'}: {exc}") from exc
        self.graph = self.db.select_graph(graph)

    def _run(self, method: Any, query: str, params: dict[str, Any] | None, timeout: float | None) -> list[dict[str, Any]]:
        timeout_ms = int(timeout * 1000) if timeout else None
        for attempt in range(RETRIES):
            try:
                return _rows(method(query, params or {}, timeout=timeout_ms))
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if attempt == RETRIES - 1:
                    raise StoreUnavailable(f"FalkorDB connection failed: {exc}") from exc
                time.sleep(0.1 * (attempt + 1))
            except redis.ResponseError as exc:
                if "constraint violation" in str(exc):
                    raise ConstraintViolation(str(exc)) from exc
                if timeout and _is_timeout(exc):
                    raise QueryTimeout(f"query stopped after {timeout} s") from exc
                raise
        raise AssertionError("unreachable")

    def run_write(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._run(self.graph.query, query, params, None)

    def run_read(self, query: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> list[dict[str, Any]]:
        try:
            return self._run(self.graph.ro_query, query, params, timeout)
        except redis.ResponseError as exc:
            if "empty key" in str(exc):  # the graph has never been written: nothing to read
                return []
            raise

    def run_user_read(self, query: str, params: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        try:
            return self.run_read(query, params, timeout)
        except redis.ResponseError as exc:
            message = str(exc)
            if "read-only" in message or "RO_QUERY" in message:
                raise QueryRefused("only read queries are allowed here") from exc
            raise QueryRefused(f"query refused: {message}") from exc

    def run_command(self, *args: Any) -> Any:
        return self.db.connection.execute_command(*args)

    def close(self) -> None:
        try:
            self.db.connection.close()
        finally:
            if self.server is not None:
                self.server.release()


def open_embedded_store(ontology: Ontology, data_dir: Path | str, graph: str = "khub") -> CypherGraphStore:
    """A `GraphStore` on the embedded FalkorDB of `data_dir` (started if needed)."""
    server = EmbeddedFalkorDB(Path(data_dir) / "graph")
    socket_path = server.acquire()
    try:
        conn = FalkorDBConnection(graph, socket_path=socket_path, server=server)
    except Exception:
        server.release()
        raise
    return CypherGraphStore(conn, FalkorDBDialect(graph), ontology, backend="falkordb")
