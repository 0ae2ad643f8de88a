"""Conformance: writes (upsert, idempotency, ontology checks, constraints, concurrency, delete).

Every test runs on both stores through the `store` fixture.
"""

from __future__ import annotations

import threading

import pytest

from graph.store import EdgeRecord, NodeRecord, NodeRef

pytestmark = pytest.mark.usefixtures("backend")


def dump(store) -> tuple[list, list]:
    """Every node and edge with all properties, sorted, for before/after comparisons."""
    nodes = store.read_query("MATCH (n) RETURN labels(n)[0] AS l, properties(n) AS p")
    edges = store.read_query("MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p")
    key = repr
    return sorted((key(sorted(r["p"].items())), r["l"]) for r in nodes), sorted(key(sorted(r["p"].items())) + r["a"] + r["t"] + r["b"] for r in edges)


def small_world() -> tuple[list[NodeRecord], list[EdgeRecord]]:
    nodes = [
        NodeRecord("Account", "acme", {"name": "Acme Medical", "alias_names": ["ACME"], "domain": "acme.example", "annual_revenue": 12.5}),
        NodeRecord("Account", "beta", {"name": "Beta Hospital", "country": "CN"}),
        NodeRecord("Contact", "li", {"full_name": "Li Lei", "email": "li@acme.example", "job_title": "CFO"}),
        NodeRecord("Device", "dev1", {"serial": "SN-001", "model": "X100", "install_date": "2019-05-01", "operating_hours": 1200.5}),
        NodeRecord("Event", "ev1", {"event_type": "web_view", "occurred_at": "2026-11-02T10:00:00+08:00", "url": "https://x.example/terms"}),
    ]
    edges = [
        EdgeRecord(
            "WORKS_AT", NodeRef("Contact", "li"), NodeRef("Account", "acme"), source_id="doc-1", extractor="test", confidence=0.9, valid_from="2020-01-01"
        ),
        EdgeRecord("HAS_ROLE", NodeRef("Contact", "li"), NodeRef("Account", "acme"), props={"role": "budget_holder"}, source_id="doc-1"),
        EdgeRecord("OWNS", NodeRef("Account", "acme"), NodeRef("Device", "dev1"), source_id="erp"),
        EdgeRecord("PERFORMED_BY", NodeRef("Event", "ev1"), NodeRef("Contact", "li")),
    ]
    return nodes, edges


def test_upsert_and_get_round_trip_typed_values(store):
    nodes, edges = small_world()
    result = store.upsert(nodes, edges)
    assert result.rejected == []
    assert (result.nodes_written, result.edges_written) == (5, 4)
    acme = store.get(NodeRef("Account", "acme"))
    assert acme is not None
    assert acme.props["name"] == "Acme Medical"
    assert acme.props["alias_names"] == ["ACME"]
    assert acme.props["annual_revenue"] == pytest.approx(12.5)
    dev = store.get(NodeRef("Device", "dev1"))
    assert dev.props["install_date"] == "2019-05-01"
    event = store.get(NodeRef("Event", "ev1"))
    assert event.props["occurred_at"] == "2026-11-02T02:00:00.000000Z"  # normalised to UTC
    assert store.get(NodeRef("Account", "nobody")) is None
    assert [n.id for n in store.find("Contact", "email", "li@acme.example")] == ["li"]


def test_reupserting_a_batch_changes_nothing(store):
    nodes, edges = small_world()
    store.upsert(nodes, edges)
    before = dump(store)
    again = store.upsert(nodes, edges)
    assert again.rejected == [] and again.edges_closed == 0
    assert dump(store) == before
    stats = store.stats()
    assert stats.total_nodes == 5 and stats.total_edges == 4


def test_list_properties_are_unioned(store):
    store.upsert([NodeRecord("Account", "a", {"alias_names": ["A1", "A2"]})])
    store.upsert([NodeRecord("Account", "a", {"alias_names": ["A2", "A3"], "name": "A"})])
    node = store.get(NodeRef("Account", "a"))
    assert node.props["alias_names"] == ["A1", "A2", "A3"]
    assert node.props["name"] == "A"


def test_a_capped_list_keeps_its_most_recent_values(store):
    """`maximum_cardinality` on a multivalued slot (Intent.score_history: 200): the oldest values go."""
    store.upsert([NodeRecord("Intent", "i", {"score_history": [f"2026-01-01T00:{m:02d}:{s:02d}Z=0.5" for m in range(4) for s in range(60)][:205]})])
    kept = store.get(NodeRef("Intent", "i")).props["score_history"]
    assert len(kept) == 200 and kept[0] == "2026-01-01T00:00:05Z=0.5" and kept[-1] == "2026-01-01T00:03:24Z=0.5"
    store.upsert([NodeRecord("Intent", "i", {"score_history": ["2026-02-01T00:00:00Z=0.9"]})])
    kept = store.get(NodeRef("Intent", "i")).props["score_history"]
    assert len(kept) == 200 and kept[0] == "2026-01-01T00:00:06Z=0.5" and kept[-1] == "2026-02-01T00:00:00Z=0.9"
    store.upsert([NodeRecord("Account", "many", {"alias_names": [f"n{i}" for i in range(300)]})])  # no cap: all stay
    assert len(store.get(NodeRef("Account", "many")).props["alias_names"]) == 300


def test_defaults_are_set_only_when_a_node_is_created(store):
    first = store.upsert([NodeRecord("Account", "a", props={"alias_names": ["ACME Inc."]}, defaults={"name": "ACME Inc."})])
    assert first.rejected == []
    store.upsert([NodeRecord("Account", "a", props={"alias_names": ["Acme"]}, defaults={"name": "Acme"})])
    node = store.get(NodeRef("Account", "a"))
    assert node.props["name"] == "ACME Inc." and node.props["alias_names"] == ["ACME Inc.", "Acme"]
    bad = store.upsert([NodeRecord("Account", "b", defaults={"alias_names": ["x"]}), NodeRecord("Account", "c", defaults={"nmae": "x"})])
    assert {r.item for r in bad.rejected} == {"Account:b", "Account:c"}
    chunk = store.upsert([NodeRecord("Chunk", "k", defaults={"text": "维保服务"})])
    assert chunk.rejected == [] and [h.node.id for h in store.fulltext_search("Chunk", "维保")] == ["k"]


def test_duplicates_within_one_batch_are_merged(store):
    result = store.upsert(
        [
            NodeRecord("Account", "a", {"name": "First", "alias_names": ["x"]}),
            NodeRecord("Account", "a", {"industry": "health", "alias_names": ["y"]}),
        ]
    )
    assert result.rejected == []
    node = store.get(NodeRef("Account", "a"))
    assert node.props["name"] == "First" and node.props["industry"] == "health"
    assert sorted(node.props["alias_names"]) == ["x", "y"]
    assert store.stats().nodes == {"Account": 1}


def test_writes_outside_the_ontology_are_refused_and_the_rest_lands(store):
    result = store.upsert(
        [
            NodeRecord("Account", "ok", {"name": "Fine"}),
            NodeRecord("Customer", "c1", {"name": "no such type"}),
            NodeRecord("Account", "bad-prop", {"nmae": "typo"}),
            NodeRecord("Account", "bad-type", {"annual_revenue": "a lot"}),
            NodeRecord("Device", "bad-enum", {"device_status": "exploded"}),
            NodeRecord("Account", "", {"name": "empty id"}),
            NodeRecord("Chunk", "short-vector", {"embedding": [0.1, 0.2]}),
        ],
        [
            EdgeRecord("WORKS_AT", NodeRef("Account", "ok"), NodeRef("Account", "ok")),
            EdgeRecord("LIKES", NodeRef("Account", "ok"), NodeRef("Account", "ok")),
            EdgeRecord("HAS_ROLE", NodeRef("Contact", "x"), NodeRef("Account", "ok")),
            EdgeRecord("HAS_ROLE", NodeRef("Contact", "x"), NodeRef("Account", "ok"), props={"role": "king"}),
            EdgeRecord("OWNS", NodeRef("Account", "ok"), NodeRef("Device", "missing")),
            EdgeRecord("WORKS_AT", NodeRef("Contact", "x"), NodeRef("Account", "ok"), props={"recorded_at": "2020-01-01"}),
        ],
    )
    reasons = {r.item: r.reason for r in result.rejected}
    assert "unknown node type 'Customer'" in reasons["Customer:c1"]
    assert "unknown property 'nmae' for Account" in reasons["Account:bad-prop"]
    assert "'annual_revenue'" in reasons["Account:bad-type"] and "number" in reasons["Account:bad-type"]
    assert "'exploded' is not one of" in reasons["Device:bad-enum"]
    assert "id" in reasons["Account:"]
    assert "384 dimensions" in reasons["Chunk:short-vector"]
    assert "cannot start at a Account" in reasons["(Account:ok)-[:WORKS_AT]->(Account:ok)"]
    assert "unknown edge type 'LIKES'" in reasons["(Account:ok)-[:LIKES]->(Account:ok)"]
    edge_reasons = [r.reason for r in result.rejected if r.item == "(Contact:x)-[:HAS_ROLE]->(Account:ok)"]
    assert any("identity property 'role'" in r for r in edge_reasons)
    assert any("'king' is not one of" in r for r in edge_reasons)
    assert "end node does not exist" in reasons["(Account:ok)-[:OWNS]->(Device:missing)"]
    assert "set through the record's own field" in reasons["(Contact:x)-[:WORKS_AT]->(Account:ok)"]
    assert result.nodes_written == 1
    assert store.stats().nodes == {"Account": 1}
    assert store.stats().edges == {}


def test_unique_constraint_clash_refuses_only_the_clashing_node(store):
    store.upsert([NodeRecord("Contact", "c1", {"email": "same@x.example"})])
    result = store.upsert(
        [
            NodeRecord("Contact", "c2", {"email": "same@x.example"}),
            NodeRecord("Contact", "c3", {"email": "other@x.example"}),
        ]
    )
    assert [r.item for r in result.rejected] == ["Contact:c2"]
    assert "unique" in result.rejected[0].reason
    assert store.get(NodeRef("Contact", "c3")) is not None
    assert store.get(NodeRef("Contact", "c2")) is None


def test_edges_carry_provenance_and_union_their_sources(store):
    nodes, edges = small_world()
    store.upsert(nodes, edges)
    store.upsert(
        [], [EdgeRecord("HAS_ROLE", NodeRef("Contact", "li"), NodeRef("Account", "acme"), props={"role": "budget_holder"}, source_id="call-7", confidence=0.7)]
    )
    sub = store.neighbourhood(NodeRef("Contact", "li"), edge_types=["HAS_ROLE", "WORKS_AT"])
    by_type = {e.type: e for e in sub.edges}
    works = by_type["WORKS_AT"].props
    assert works["source_id"] == "doc-1" and works["extractor"] == "test" and works["confidence"] == pytest.approx(0.9)
    assert works["valid_from"] == "2020-01-01T00:00:00.000000Z" and "valid_to" not in works
    assert works["recorded_at"].endswith("Z")
    role = by_type["HAS_ROLE"].props
    assert role["supported_by"] == ["doc-1", "call-7"]
    assert role["source_id"] == "doc-1"  # the first source stays the origin
    assert role["confidence"] == pytest.approx(0.7)
    assert "ek" not in role and not any(k.endswith("__ft") for k in role)


def test_edges_with_different_identity_are_distinct(store):
    store.upsert([NodeRecord("Contact", "c"), NodeRecord("Account", "a")])
    store.upsert(
        [],
        [
            EdgeRecord("HAS_ROLE", NodeRef("Contact", "c"), NodeRef("Account", "a"), props={"role": "budget_holder"}),
            EdgeRecord("HAS_ROLE", NodeRef("Contact", "c"), NodeRef("Account", "a"), props={"role": "decision_maker"}),
            EdgeRecord("HAS_ROLE", NodeRef("Contact", "c"), NodeRef("Account", "a"), props={"role": "decision_maker"}),
        ],
    )
    assert store.stats().edges == {"HAS_ROLE": 2}


def test_delete_cascades_along_ontology_rules(store):
    store.upsert(
        [
            NodeRecord("Document", "doc", {"title": "Tender"}),
            NodeRecord("Chunk", "doc#0", {"text": "first"}),
            NodeRecord("Chunk", "doc#1", {"text": "second"}),
            NodeRecord("Account", "buyer", {"name": "Buyer"}),
        ],
        [
            EdgeRecord("HAS_CHUNK", NodeRef("Document", "doc"), NodeRef("Chunk", "doc#0")),
            EdgeRecord("HAS_CHUNK", NodeRef("Document", "doc"), NodeRef("Chunk", "doc#1")),
            EdgeRecord("MENTIONS", NodeRef("Chunk", "doc#0"), NodeRef("Account", "buyer"), props={"char_start": 0}),
            EdgeRecord("ABOUT", NodeRef("Document", "doc"), NodeRef("Account", "buyer")),
        ],
    )
    result = store.delete(NodeRef("Document", "doc"))
    assert sorted(str(r) for r in result.nodes_deleted) == ["Chunk:doc#0", "Chunk:doc#1", "Document:doc"]
    assert result.edges_deleted == 4
    assert store.stats().nodes == {"Account": 1}
    assert store.stats().edges == {}
    nothing = store.delete(NodeRef("Account", "ghost"))
    assert nothing.nodes_deleted == [] and nothing.edges_deleted == 0


def test_two_concurrent_writers_lose_no_update(store, store_factory):
    store.upsert([NodeRecord("Account", "shared", {"name": "Shared"})])
    writers = [store_factory(), store_factory()]
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            st = writers[worker]
            for i in range(40):
                st.upsert(
                    [
                        NodeRecord("Account", "shared", {"alias_names": [f"w{worker}-{i}"]}),
                        NodeRecord("Account", f"own-{worker}-{i}", {"name": "x"}),
                        NodeRecord("Account", f"both-{i}", {"alias_names": [f"w{worker}"]}),
                    ]
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    aliases = store.get(NodeRef("Account", "shared")).props["alias_names"]
    assert sorted(aliases) == sorted(f"w{w}-{i}" for w in (0, 1) for i in range(40))
    for i in range(40):
        assert sorted(store.get(NodeRef("Account", f"both-{i}")).props["alias_names"]) == ["w0", "w1"]
    assert store.stats().nodes == {"Account": 1 + 80 + 40}


def test_scan_nodes_can_return_only_some_properties(store):
    store.upsert([NodeRecord("Account", f"a{i}", {"name": f"A{i}", "domain": f"a{i}.example"}) for i in range(3)])
    assert [n.props for n in store.scan_nodes("Account", props=())] == [{"id": "a0"}, {"id": "a1"}, {"id": "a2"}]
    assert [n.props for n in store.scan_nodes("Account", after="a0", props=["name"])] == [{"id": "a1", "name": "A1"}, {"id": "a2", "name": "A2"}]
    assert store.scan_nodes("Account", limit=1)[0].props["domain"] == "a0.example"
    with pytest.raises(Exception, match="unknown property 'nope' for Account"):
        store.scan_nodes("Account", props=["nope"])
