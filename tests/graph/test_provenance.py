"""Withdrawing a source on both stores: released, closed, deleted, kept."""

from __future__ import annotations

import pytest

from graph.store import EdgeRecord, NodeRecord, NodeRef

pytestmark = pytest.mark.usefixtures("backend")

ACME, BETA = NodeRef("Account", "acme"), NodeRef("Account", "beta")
BOB, ANN = NodeRef("Contact", "bob"), NodeRef("Contact", "ann")


def edge_state(store, type_: str, src: NodeRef, dst: NodeRef) -> dict:
    rows = store.read_query(
        f"MATCH (a {{id: $a}})-[e:{type_}]->(b {{id: $b}}) RETURN e.supported_by AS sup, e.valid_to AS valid_to, e.closed_at AS closed_at",
        {"a": src.id, "b": dst.id},
    )
    assert len(rows) <= 1
    return rows[0] if rows else {}


def node_ids(store) -> set[str]:
    return {r["id"] for r in store.read_query("MATCH (n) WHERE n.id IS NOT NULL AND NOT n:KhubMeta RETURN n.id AS id")}


def write_two_sources(store) -> list[str]:
    nodes = [
        NodeRecord("Account", "acme", {"name": "ACME", "supported_by": ["doc-a", "doc-b"]}),
        NodeRecord("Account", "beta", {"name": "Beta", "supported_by": ["doc-a"]}),
        NodeRecord("Contact", "bob", {"full_name": "Bob", "supported_by": ["doc-a"]}),
        NodeRecord("Contact", "ann", {"full_name": "Ann", "supported_by": ["doc-a"]}),
        NodeRecord("Contact", "steward-made", {"full_name": "Kept"}),  # no provenance list: never a candidate
    ]
    edges = [
        EdgeRecord("WORKS_AT", BOB, ACME, {"job_title": "CTO"}, source_id="doc-a"),
        EdgeRecord("WORKS_AT", BOB, ACME, {"job_title": "CTO"}, source_id="doc-b"),
        EdgeRecord("REPORTS_TO", ANN, BOB, source_id="doc-a"),
        EdgeRecord("COMPETES_WITH", ACME, BETA, source_id="doc-a"),
    ]
    result = store.upsert(nodes, edges)
    assert not result.rejected and result.edges_written == 4
    assert len(set(result.edge_keys)) == 3  # the two WORKS_AT records are one edge
    return result.edge_keys


def test_release_closes_what_only_the_source_supported_and_keeps_reasserted_facts(store):
    write_two_sources(store)
    # the new version of doc-a asserts REPORTS_TO again (its key is kept) and still mentions Ann and Bob
    again = store.upsert(edges=[EdgeRecord("REPORTS_TO", ANN, BOB, source_id="doc-a")])
    reports_to_key = again.edge_keys[0]
    released = store.release_source("doc-a", keep_edges=[reports_to_key], keep_nodes=[ANN, BOB])
    assert released.edges_released == 2 and released.edges_closed == 1
    works_at = edge_state(store, "WORKS_AT", BOB, ACME)
    assert works_at["sup"] == ["doc-b"] and works_at["valid_to"] is None  # doc-b still supports it
    competes = edge_state(store, "COMPETES_WITH", ACME, BETA)
    assert competes["sup"] == [] and competes["valid_to"] is not None and competes["closed_at"] == competes["valid_to"]
    assert edge_state(store, "REPORTS_TO", ANN, BOB)["sup"] == ["doc-a"]
    # Beta lost its only support but a (closed) edge still holds it: history stays
    assert store.get(BETA).props["supported_by"] == [] and released.nodes_deleted == []
    assert store.get(ANN).props["supported_by"] == ["doc-a"]
    # releasing again changes nothing
    assert store.release_source("doc-a", keep_edges=[reports_to_key], keep_nodes=[ANN, BOB]).edges_closed == 0


def test_forget_deletes_what_only_the_source_supported(store):
    write_two_sources(store)
    released = store.release_source("doc-a", forget=True)
    assert released.edges_deleted == 2 and released.edges_released == 3
    assert edge_state(store, "WORKS_AT", BOB, ACME)["sup"] == ["doc-b"]
    assert edge_state(store, "REPORTS_TO", ANN, BOB) == {} and edge_state(store, "COMPETES_WITH", ACME, BETA) == {}
    # Ann and Beta had no other source and no edge left; Bob keeps his WORKS_AT (doc-b), so he stays
    assert sorted(released.nodes_deleted, key=str) == sorted([ANN, BETA], key=str)
    assert node_ids(store) == {"acme", "bob", "steward-made"}
    assert store.get(ACME).props["supported_by"] == ["doc-b"]
    # forgetting an unknown source is a no-op
    after = store.stats()
    assert store.release_source("doc-nobody", forget=True).edges_released == 0 and store.stats() == after
