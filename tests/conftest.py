"""Shared fixtures: a `store` fixture parametrised over both backends.

- embedded: a FalkorDB server started by khub in a temporary data directory;
- neo4j: the server at `NEO4J_URI` (`.ci/run` and `make neo4j-up` start one). Without it the
  Neo4j half is skipped, unless `KHUB_REQUIRE_NEO4J=1`, when it fails instead.

At the end the run prints how many store tests ran on each backend.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graph.cypher_store import CypherGraphStore
from graph.factory import open_store
from ontology.model import default_ontology
from ontology.settings import Settings

BACKENDS = ("embedded", "neo4j")
_outcomes: dict[str, Counter[str]] = {b: Counter() for b in BACKENDS}


def neo4j_uri() -> str | None:
    """The Neo4j URI the tests use, if any."""
    return os.environ.get("NEO4J_URI") or os.environ.get("KHUB_NEO4J_URI")


def neo4j_required() -> bool:
    """True when a missing Neo4j must fail the run instead of skipping."""
    return os.environ.get("KHUB_REQUIRE_NEO4J", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def embedded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory for the session's embedded server (short path: unix socket limit)."""
    return tmp_path_factory.mktemp("khub")


def backend_settings(backend: str, data_dir: Path) -> Settings:
    """Settings for a backend, or a skip/fail when Neo4j is not available."""
    if backend == "neo4j":
        uri = neo4j_uri()
        if not uri:
            if neo4j_required():
                pytest.fail("KHUB_REQUIRE_NEO4J=1 but NEO4J_URI is not set")
            pytest.skip("no Neo4j: set NEO4J_URI (make neo4j-up) to run the Neo4j half")
        return Settings(store="neo4j", neo4j_uri=uri, require_neo4j=neo4j_required())
    return Settings(store="embedded", data_dir=data_dir)


@pytest.fixture(scope="session")
def _session_stores(embedded_data_dir: Path) -> Iterator[dict[str, CypherGraphStore]]:
    stores: dict[str, CypherGraphStore] = {}
    yield stores
    for store in stores.values():
        store.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name of the current parametrisation."""
    return request.param


@pytest.fixture
def store_factory(backend: str, embedded_data_dir: Path) -> Iterator[Callable[[], CypherGraphStore]]:
    """Opens extra connections to the current backend (closed after the test)."""
    opened: list[CypherGraphStore] = []

    def make() -> CypherGraphStore:
        st = open_store(backend_settings(backend, embedded_data_dir), default_ontology())
        opened.append(st)
        return st

    yield make
    for st in opened:
        st.close()


@pytest.fixture
def store(backend: str, embedded_data_dir: Path, _session_stores: dict[str, CypherGraphStore]) -> CypherGraphStore:
    """An empty graph with the default ontology's schema, on the current backend."""
    if backend not in _session_stores:
        settings = backend_settings(backend, embedded_data_dir)
        st = open_store(settings, default_ontology())
        _session_stores[backend] = st  # registered first: closed at the end even if sync fails
        st.sync_schema()
    st = _session_stores[backend]
    st.use_ontology(default_ontology())  # a test may have applied another one
    st.clear()
    return st


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count store tests per backend and outcome."""
    params = getattr(report, "_khub_backend", None)
    counted = report.when == "call" or (report.when == "setup" and report.outcome != "passed")
    if counted and params:
        _outcomes[params][report.outcome] += 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Remember which backend a test ran on."""
    outcome = yield
    report = outcome.get_result()
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "backend" in callspec.params:
        report._khub_backend = callspec.params["backend"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many store tests ran on each backend."""
    terminalreporter.section("khub store tests per backend")
    for backend in BACKENDS:
        counts = _outcomes[backend]
        detail = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"
        terminalreporter.write_line(f"{backend}: {detail}")
