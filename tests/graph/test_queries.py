"""Conformance: neighbourhood, paths, vector and full-text search, read-only passthrough, stats."""

from __future__ import annotations

import math
import random

import pytest

from graph.store import EdgeRecord, NodeRecord, NodeRef
from ontology.errors import OntologyViolation, QueryRefused, QueryTimeout, UnknownType

pytestmark = pytest.mark.usefixtures("backend")


def chain_world(store) -> None:
    """contact c1 -WORKS_AT-> acme -OWNS-> dev1 -INSTANCE_OF-> x100 <-USES_PRODUCT- beta; c2 -HAS_ROLE-> beta."""
    store.upsert(
        [
            NodeRecord("Contact", "c1", {"full_name": "Ann"}),
            NodeRecord("Contact", "c2", {"full_name": "Bo"}),
            NodeRecord("Account", "acme", {"name": "Acme"}),
            NodeRecord("Account", "beta", {"name": "Beta"}),
            NodeRecord("Device", "dev1", {"serial": "S1"}),
            NodeRecord("Product", "x100", {"name": "X100"}),
            NodeRecord("Region", "cn-sh", {"name": "Shanghai"}),
        ],
        [
            EdgeRecord("WORKS_AT", NodeRef("Contact", "c1"), NodeRef("Account", "acme")),
            EdgeRecord("OWNS", NodeRef("Account", "acme"), NodeRef("Device", "dev1")),
            EdgeRecord("INSTANCE_OF", NodeRef("Device", "dev1"), NodeRef("Product", "x100")),
            EdgeRecord("USES_PRODUCT", NodeRef("Account", "beta"), NodeRef("Product", "x100")),
            EdgeRecord("HAS_ROLE", NodeRef("Contact", "c2"), NodeRef("Account", "beta"), props={"role": "decision_maker"}),
            EdgeRecord("LOCATED_IN", NodeRef("Account", "acme"), NodeRef("Region", "cn-sh")),
        ],
    )


def ids(sub) -> set[str]:
    return {n.id for n in sub.nodes}


def test_neighbourhood_hops_and_filters(store):
    chain_world(store)
    start = NodeRef("Account", "acme")
    assert ids(store.neighbourhood(start, hops=1)) == {"acme", "c1", "dev1", "cn-sh"}
    assert ids(store.neighbourhood(start, hops=2)) == {"acme", "c1", "dev1", "cn-sh", "x100"}
    assert ids(store.neighbourhood(start, hops=3)) == {"acme", "c1", "dev1", "cn-sh", "x100", "beta"}
    assert ids(store.neighbourhood(start, hops=2, labels=["Product"])) == {"acme", "x100"}
    assert ids(store.neighbourhood(start, hops=1, edge_types=["OWNS"])) == {"acme", "dev1"}
    limited = store.neighbourhood(start, hops=3, limit=2)
    assert len(limited.nodes) == 3 and "acme" in ids(limited)
    sub = store.neighbourhood(start, hops=1)
    assert {(e.type, e.src.id, e.dst.id) for e in sub.edges} == {
        ("WORKS_AT", "c1", "acme"),
        ("OWNS", "acme", "dev1"),
        ("LOCATED_IN", "acme", "cn-sh"),
    }
    assert store.neighbourhood(NodeRef("Account", "missing")).nodes == []
    with pytest.raises(UnknownType):
        store.neighbourhood(start, edge_types=["NOPE"])
    with pytest.raises(OntologyViolation):
        store.neighbourhood(start, hops=9)


def test_many_nodes_and_their_edges_in_one_read(store):
    chain_world(store)
    acme, beta, c1 = NodeRef("Account", "acme"), NodeRef("Account", "beta"), NodeRef("Contact", "c1")
    found = store.get_many([acme, beta, c1, NodeRef("Account", "missing"), acme])
    assert set(found) == {acme, beta, c1} and found[c1].props["full_name"] == "Ann"
    assert store.get_many([acme, beta], ["name"])[beta].props == {"id": "beta", "name": "Beta"}
    assert store.get_many([]) == {}
    with pytest.raises(OntologyViolation):
        store.get_many([acme], ["colour"])
    store.upsert(edges=[EdgeRecord("LOCATED_IN", beta, NodeRef("Region", "cn-sh"), valid_from="2020-01-01T00:00:00Z", valid_to="2021-01-01T00:00:00Z")])
    leaving = store.edges_from([acme, beta, c1], "LOCATED_IN")
    assert {(e.src.id, e.dst.id) for e in leaving} == {("acme", "cn-sh"), ("beta", "cn-sh")}
    assert {e.src.id for e in store.edges_from([acme, beta], "LOCATED_IN", as_of="2022-01-01T00:00:00Z")} == {"acme"}  # beta's has ended
    assert {e.src.id for e in store.edges_from([acme, beta], "LOCATED_IN", as_of="2020-06-01T00:00:00Z")} == {"acme", "beta"}
    assert store.edges_from([c1], "LOCATED_IN") == [] and store.edges_from([], "OWNS") == []
    with pytest.raises(UnknownType):
        store.edges_from([acme], "NOPE")


def test_shortest_path_either_direction_with_limits(store):
    chain_world(store)
    path = store.shortest_path(NodeRef("Contact", "c1"), NodeRef("Contact", "c2"), max_length=6)
    assert path is not None
    assert [n.id for n in path.nodes] == ["c1", "acme", "dev1", "x100", "beta", "c2"]
    assert [(e.type, e.src.id, e.dst.id) for e in path.edges] == [
        ("WORKS_AT", "c1", "acme"),
        ("OWNS", "acme", "dev1"),
        ("INSTANCE_OF", "dev1", "x100"),
        ("USES_PRODUCT", "beta", "x100"),
        ("HAS_ROLE", "c2", "beta"),
    ]
    assert store.shortest_path(NodeRef("Contact", "c1"), NodeRef("Contact", "c2"), max_length=4) is None
    assert store.shortest_path(NodeRef("Contact", "c1"), NodeRef("Contact", "c2"), edge_types=["WORKS_AT", "OWNS"]) is None
    same = store.shortest_path(NodeRef("Contact", "c1"), NodeRef("Contact", "c1"))
    assert same is not None and same.length == 0


def test_simple_paths_shortest_first(store):
    chain_world(store)
    store.upsert([], [EdgeRecord("USES_PRODUCT", NodeRef("Account", "acme"), NodeRef("Product", "x100"))])
    paths = store.paths(NodeRef("Account", "acme"), NodeRef("Product", "x100"), max_length=3)
    assert [p.length for p in paths] == [1, 2]
    assert [n.id for n in paths[1].nodes] == ["acme", "dev1", "x100"]
    assert len(store.paths(NodeRef("Account", "acme"), NodeRef("Product", "x100"), max_length=3, limit=1)) == 1


def unit(rng: random.Random, dim: int = 384) -> list[float]:
    v = [rng.gauss(0, 1) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def test_vector_search_exact_rerank_filter_and_recall(store):
    rng = random.Random(7)
    vectors = {f"k{i}": unit(rng) for i in range(300)}
    store.upsert([NodeRecord("Chunk", k, {"embedding": v, "language": "zh" if i % 3 == 0 else "en"}) for i, (k, v) in enumerate(vectors.items())])
    hits = store.vector_search("Chunk", vectors["k42"], k=5)
    assert hits[0].node.id == "k42" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert "embedding" not in hits[0].node.props
    recalls = []
    for _ in range(20):
        query = unit(rng)
        exact = sorted(vectors, key=lambda k: -sum(a * b for a, b in zip(vectors[k], query, strict=True)))[:10]
        got = [h.node.id for h in store.vector_search("Chunk", query, k=10)]
        recalls.append(len(set(exact) & set(got)) / 10)
        scores = [h.score for h in store.vector_search("Chunk", query, k=10)]
        assert scores == sorted(scores, reverse=True)
    assert sum(recalls) / len(recalls) >= 0.98
    zh = store.vector_search("Chunk", vectors["k3"], k=10, filters={"language": "zh"})
    assert zh[0].node.id == "k3" and len(zh) == 10
    assert all(h.node.props["language"] == "zh" for h in zh)
    with pytest.raises(OntologyViolation):
        store.vector_search("Chunk", [0.1, 0.2], k=3)
    with pytest.raises(OntologyViolation):
        store.vector_search("Chunk", vectors["k1"], filters={"colour": "red"})


def test_fulltext_search_in_chinese_and_english(store):
    store.upsert(
        [
            NodeRecord("Chunk", "zh1", {"text": "本项目为医疗设备维保服务采购，招标文件已发布，预算金额为120万元。", "language": "zh"}),
            NodeRecord("Chunk", "zh2", {"text": "投标人须提交技术参数偏离表。", "language": "zh"}),
            NodeRecord("Chunk", "en1", {"text": "The maintenance contract renews in March; budget approved.", "language": "en"}),
            NodeRecord("Chunk", "en2", {"text": "Extended warranty offer for ageing devices.", "language": "en"}),
        ]
    )

    def found(query: str, **kw) -> set[str]:
        return {h.node.id for h in store.fulltext_search("Chunk", query, **kw)}

    assert found("维保") == {"zh1"}
    assert found("招标文件") == {"zh1"}
    assert found("招标") == {"zh1"}
    assert found("预算") == {"zh1"}
    assert found("偏离") == {"zh2"}
    assert found("maintenance contract") == {"en1"}
    assert found("MAINTENANCE") == {"en1"}
    assert found("warranty devices") == {"en2"}
    assert found("maintenance warranty") == set()  # every term must match
    assert found("budget") == {"en1"}
    assert found("维保", filters={"language": "en"}) == set()
    assert found("   ") == set()
    hit = store.fulltext_search("Chunk", "维保")[0]
    assert not any(k.endswith("__ft") for k in hit.node.props)
    with pytest.raises(OntologyViolation):
        store.fulltext_search("Account", "acme")


def test_read_only_passthrough_refuses_writes(store):
    chain_world(store)
    rows = store.read_query("MATCH (a:Account) WHERE a.name = $name RETURN a.id AS id", {"name": "Acme"})
    assert rows == [{"id": "acme"}]
    before = store.stats()
    for query in (
        "CREATE (n:Account {id: 'evil'})",
        "MATCH (a:Account {id: 'acme'}) SET a.name = 'pwned'",
        "MATCH (a:Account {id: 'acme'}) DETACH DELETE a",
        "MERGE (n:Account {id: 'evil'}) RETURN n",
        "MATCH (a:Account) REMOVE a.name",
        "LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line",
        "CALL dbms.listConfig() YIELD name RETURN name",
    ):
        with pytest.raises(QueryRefused):
            store.read_query(query)
    after = store.stats()
    assert (after.nodes, after.edges) == (before.nodes, before.edges)
    assert store.get(NodeRef("Account", "acme")).props["name"] == "Acme"
    with pytest.raises(QueryRefused):
        store.read_query("")
    with pytest.raises(QueryRefused):
        store.read_query("THIS IS NOT CYPHER")


def test_read_only_passthrough_times_out(store):
    with pytest.raises(QueryTimeout):
        store.read_query("UNWIND range(1, 100000000) AS x WITH x WHERE x % 7 = 123 RETURN count(x) AS c", timeout=0.3)


def test_stats_count_per_type_and_ontology_version(store):
    chain_world(store)
    stats = store.stats()
    assert stats.nodes == {"Account": 2, "Contact": 2, "Device": 1, "Product": 1, "Region": 1}
    assert stats.edges == {"HAS_ROLE": 1, "INSTANCE_OF": 1, "LOCATED_IN": 1, "OWNS": 1, "USES_PRODUCT": 1, "WORKS_AT": 1}
    store.record_ontology_version("1.0.0", "test")
    assert store.stats().ontology_version == "1.0.0"
    assert "KhubMeta" not in store.stats().nodes


def test_several_patterns_in_one_round_trip_find_what_each_finds_alone(store) -> None:
    """`match_patterns` (UNION ALL of the compiled patterns, parameters named apart) equals one
    `match_pattern` per pattern: every shipped feature of the demo world, windowed or not, for given
    subjects and for all of them."""
    from datetime import timedelta

    from ontology.concepts import default_features
    from reasoning.demo_world import demo_as_of, load_demo_world

    load_demo_world(store)
    now = demo_as_of()
    features = [f for f in default_features().values() if f.subject == "Contact"]
    parts = [(f.pattern, now - timedelta(days=f.window_days) if f.window_days else None) for f in features]

    def key(matches):
        return sorted((m.subject, str(m.evidence), m.at, m.caption, sorted(m.props.items())) for m in matches)

    for subjects in (["student-liu-yang", "visitor-emma-lind", "nobody"], None):
        together = store.match_patterns(parts, now, subjects)
        alone = [store.match_pattern(pattern, now, since, subjects) for pattern, since in parts]
        assert [key(t) for t in together] == [key(a) for a in alone]
    assert sum(len(t) for t in together) > 5 and store.match_patterns([], now, None) == []
