"""Conformance: bi-temporal edges. Contradicted facts are closed, never overwritten."""

from __future__ import annotations

import pytest

from graph.store import EdgeRecord, NodeRecord, NodeRef

pytestmark = pytest.mark.usefixtures("backend")

LI = NodeRef("Contact", "li")


def works_at(account: str, since: str, source: str = "hr") -> EdgeRecord:
    return EdgeRecord("WORKS_AT", LI, NodeRef("Account", account), source_id=source, valid_from=since)


@pytest.fixture
def people(store):
    store.upsert([NodeRecord("Contact", "li", {"full_name": "Li Lei"})] + [NodeRecord("Account", a, {"name": a}) for a in ("a0", "a1", "a2")])
    return store


def employers(store, as_of=None) -> list[str]:
    sub = store.neighbourhood(LI, edge_types=["WORKS_AT"], as_of=as_of)
    return sorted(n.id for n in sub.nodes if n.label == "Account")


def works_at_edges(store) -> dict[str, dict]:
    rows = store.read_query("MATCH (:Contact {id: 'li'})-[r:WORKS_AT]->(a) RETURN a.id AS a, properties(r) AS p")
    return {r["a"]: r["p"] for r in rows}


def test_a_newer_fact_closes_the_older_one(people):
    store = people
    store.upsert([], [works_at("a1", "2020-01-01")])
    result = store.upsert([], [works_at("a2", "2023-06-01")])
    assert result.edges_closed == 1
    edges = works_at_edges(store)
    assert edges["a1"]["valid_to"] == "2023-06-01T00:00:00.000000Z"
    assert edges["a1"]["closed_at"].endswith("Z")
    assert "valid_to" not in edges["a2"]
    assert employers(store, as_of="2021-01-01") == ["a1"]
    assert employers(store, as_of="2024-01-01") == ["a2"]
    assert employers(store, as_of="2019-01-01") == []
    assert employers(store) == ["a1", "a2"]  # without as_of, history is visible


def test_a_late_older_fact_is_closed_at_the_newer_start(people):
    store = people
    store.upsert([], [works_at("a1", "2020-01-01")])
    store.upsert([], [works_at("a0", "2015-01-01", source="old-cv")])
    edges = works_at_edges(store)
    assert edges["a0"]["valid_to"] == "2020-01-01T00:00:00.000000Z"
    assert "valid_to" not in edges["a1"]
    assert employers(store, as_of="2016-01-01") == ["a0"]
    assert employers(store, as_of="2021-01-01") == ["a1"]


def test_reasserting_a_closed_fact_does_not_reopen_it(people):
    store = people
    store.upsert([], [works_at("a1", "2020-01-01"), works_at("a2", "2023-01-01")])
    before = works_at_edges(store)
    store.upsert([], [works_at("a1", "2020-01-01")])
    assert works_at_edges(store) == before


def test_an_object_side_functional_edge_closes_the_previous_owner(store):
    store.upsert([NodeRecord("Device", "d"), NodeRecord("Account", "o1"), NodeRecord("Account", "o2")])
    store.upsert([], [EdgeRecord("OWNS", NodeRef("Account", "o1"), NodeRef("Device", "d"), valid_from="2019-01-01")])
    result = store.upsert([], [EdgeRecord("OWNS", NodeRef("Account", "o2"), NodeRef("Device", "d"), valid_from="2024-03-01")])
    assert result.edges_closed == 1
    owners_2020 = store.neighbourhood(NodeRef("Device", "d"), as_of="2020-01-01").nodes
    owners_2025 = store.neighbourhood(NodeRef("Device", "d"), as_of="2025-01-01").nodes
    assert [n.id for n in owners_2020 if n.label == "Account"] == ["o1"]
    assert [n.id for n in owners_2025 if n.label == "Account"] == ["o2"]


def test_many_to_many_edges_are_not_closed(store):
    store.upsert([NodeRecord("Account", "a"), NodeRecord("Product", "p1"), NodeRecord("Product", "p2")])
    store.upsert(
        [], [EdgeRecord("USES_PRODUCT", NodeRef("Account", "a"), NodeRef("Product", p), valid_from=d) for p, d in (("p1", "2020-01-01"), ("p2", "2022-01-01"))]
    )
    sub = store.neighbourhood(NodeRef("Account", "a"), as_of="2023-01-01")
    assert sorted(n.id for n in sub.nodes if n.label == "Product") == ["p1", "p2"]


def test_explicit_valid_to_is_kept_and_checked(store):
    store.upsert([NodeRecord("Account", "a"), NodeRecord("Product", "p")])
    ok = store.upsert([], [EdgeRecord("USES_PRODUCT", NodeRef("Account", "a"), NodeRef("Product", "p"), valid_from="2020-01-01", valid_to="2021-01-01")])
    assert ok.rejected == []
    bad = store.upsert([], [EdgeRecord("USES_PRODUCT", NodeRef("Account", "a"), NodeRef("Product", "p"), valid_from="2022-01-01", valid_to="2021-01-01")])
    assert "before valid_from" in bad.rejected[0].reason
    assert store.neighbourhood(NodeRef("Account", "a"), as_of="2020-06-01").edges
    assert not store.neighbourhood(NodeRef("Account", "a"), as_of="2021-06-01").edges


def test_as_of_applies_to_paths(people):
    store = people
    store.upsert([], [works_at("a1", "2020-01-01"), works_at("a2", "2023-01-01")])
    path_then = store.shortest_path(LI, NodeRef("Account", "a1"), as_of="2021-01-01")
    assert path_then is not None and path_then.length == 1
    assert store.shortest_path(LI, NodeRef("Account", "a1"), as_of="2024-01-01") is None
    assert store.paths(LI, NodeRef("Account", "a2"), as_of="2021-01-01") == []
    assert len(store.paths(LI, NodeRef("Account", "a2"), as_of="2024-01-01")) == 1
