"""Graph expansion in GraphQL `search` (HYBRID mode), on both stores, with a deterministic word embedder.

The graph: three chunks of one document about "zebrafish calibration" mention the account
Aquarium Labs (whose own text matches nothing), one of them the contact Dr Fin; an unrelated
chunk mentions Lonely Corp. Search asks `run_search` directly (to see the per-list ranks) and
over HTTP through the GraphQL router (the `Gql` test app of `test_graphql`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.context import Principal, RequestContext
from api.graphql import search as search_module
from api.graphql.context import GraphQLContext
from api.graphql.search import EXPANSION_SOURCE, Fused, SearchMode, expansion_ranking, fuse, rank_in, run_search
from graph.cypher_store import CypherGraphStore
from graph.reads import Reads
from graph.store import EdgeRecord, Hit, Node, NodeRecord, NodeRef
from ingest.embed import EmbedderUnavailable
from tests.api.test_graphql import CountingStore, Gql
from tests.conftest import backend_settings

QUERY = "zebrafish calibration"
HUB = NodeRef("Account", "aquarium-labs")
LONELY = NodeRef("Account", "lonely-corp")
DR_FIN = NodeRef("Contact", "dr-fin")
DOC = NodeRef("Document", "zf-doc")
ZF_CHUNKS = {
    "zf-doc#0": "Zebrafish calibration protocol for the new scanner",
    "zf-doc#1": "Weekly calibration of the zebrafish tanks",
    "zf-doc#2": "Zebrafish calibration results and sign-off",
}
OTHER_CHUNK = ("misc-doc#0", "Quarterly invoice reminder for the finance team")


class WordEmbedder:
    """A deterministic bag-of-words embedder: each word adds 1 to a dimension chosen by its CRC32."""

    name = "test-words"
    dim = 384

    def embed(self, texts: Sequence[str], kind: str = "passage") -> np.ndarray:
        """L2-normalised (len(texts), 384) vectors; `kind` makes no difference."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, zlib.crc32(word.encode()) % self.dim] += 1.0
            norm = float(np.linalg.norm(out[i]))
            if norm:
                out[i] /= norm
        return out


class NoEmbedder:
    """An embedder that cannot be loaded."""

    name = "none"
    dim = 384

    def embed(self, texts: Sequence[str], kind: str = "passage") -> np.ndarray:
        raise EmbedderUnavailable("no model in this test")


def _mention(chunk: NodeRef, target: NodeRef, valid_to: str | None = None) -> EdgeRecord:
    return EdgeRecord("MENTIONS", chunk, target, {"char_start": 0}, valid_from="2019-01-01T00:00:00Z" if valid_to else None, valid_to=valid_to)


def _chunk(chunk_id: str, text: str, embedder: WordEmbedder) -> NodeRecord:
    return NodeRecord("Chunk", chunk_id, {"text": text, "embedding": embedder.embed([text])[0].tolist()})


@pytest.fixture
def linked(store: CypherGraphStore) -> CypherGraphStore:
    """The store holding the zebrafish graph of the module docstring."""
    emb = WordEmbedder()
    chunks = [_chunk(cid, text, emb) for cid, text in ZF_CHUNKS.items()]
    nodes = [
        *chunks,
        _chunk(*OTHER_CHUNK, emb),
        NodeRecord(HUB.label, HUB.id, {"name": "Aquarium Labs"}),
        NodeRecord(LONELY.label, LONELY.id, {"name": "Lonely Corp"}),
        NodeRecord(DR_FIN.label, DR_FIN.id, {"full_name": "Dr Fin"}),
        NodeRecord(DOC.label, DOC.id, {"title": "Lab notes"}),
        NodeRecord("Document", "misc-doc", {"title": "Finance notes"}),
    ]
    edges = [_mention(NodeRef("Chunk", c.id), HUB) for c in chunks]
    edges += [EdgeRecord("HAS_CHUNK", DOC, NodeRef("Chunk", c.id)) for c in chunks]
    edges += [
        _mention(NodeRef("Chunk", "zf-doc#0"), DR_FIN),
        _mention(NodeRef("Chunk", OTHER_CHUNK[0]), LONELY),
        EdgeRecord("HAS_CHUNK", NodeRef("Document", "misc-doc"), NodeRef("Chunk", OTHER_CHUNK[0])),
    ]
    result = store.upsert(nodes, edges)
    assert not result.rejected, result.rejected
    return store


def _context(store: Any, embedder: Any = None) -> GraphQLContext:
    settings = backend_settings("embedded", Path("/tmp/khub-graphql-tests"))
    principal = Principal("key-test", "search-tester", "sales_tool")
    return GraphQLContext(RequestContext(principal, "service", store, settings, "req-test", extras={"embedder": embedder or WordEmbedder()}))


def _by_ref(fused: list[Fused]) -> dict[NodeRef, Fused]:
    return {f.node.ref: f for f in fused}


# ---------------------------------------------------------------------- the ranking function
def _seed(label: str, node_id: str, score: float) -> Fused:
    return Fused(Node(label, node_id, {"id": node_id}), score)


def test_expansion_ranking_sums_the_scores_of_the_seeds_a_node_is_linked_to() -> None:
    s1, s2, s3 = _seed("Chunk", "c1", 0.03), _seed("Chunk", "c2", 0.02), _seed("Chunk", "c3", 0.01)
    account, doc, contact, region = (Node("Account", "a", {}), Node("Document", "d", {}), Node("Contact", "p", {}), Node("Region", "r", {}))
    neighbours = {
        s1.node.ref: [contact, s1.node, s2.node],  # a link to itself does not count; a seed linked to a seed gets its support
        s2.node.ref: [account, doc],
        s3.node.ref: [account, doc, region],
        NodeRef("Chunk", "not-a-seed"): [region],  # only the seeds' links count
    }
    hits = expansion_ranking([s1, s2, s3], neighbours, limit=10)
    ranked = [(h.node.label, h.node.id) for h in hits]
    # account and document: 0.02 + 0.01 from two seeds beats the contact's 0.03 from one (sum, then count);
    # they tie on everything but type; c2 and the contact tie on 0.03 from one seed c1; the region has 0.01
    assert ranked == [("Account", "a"), ("Document", "d"), ("Chunk", "c2"), ("Contact", "p"), ("Region", "r")]
    assert [h.score for h in hits] == pytest.approx([0.03, 0.03, 0.03, 0.03, 0.01])
    assert ("Chunk", "c1") not in ranked
    # ties on score and count go to the best-placed seed
    tie = expansion_ranking([s1, _seed("Chunk", "c4", 0.03)], {NodeRef("Chunk", "c4"): [Node("Account", "a", {})], s1.node.ref: [Node("Account", "z", {})]}, 5)
    assert [h.node.id for h in tie] == ["z", "a"]
    assert [h.node.id for h in expansion_ranking([s1, s2, s3], neighbours, limit=2)] == ["a", "d"]
    assert expansion_ranking([s1, s2, s3], neighbours, limit=0) == [] and expansion_ranking([], neighbours, 5) == []


def test_fusion_puts_a_direct_hit_before_an_expanded_node_of_equal_score() -> None:
    chunk, account = Node("Chunk", "z#0", {}), Node("Account", "a", {})
    fused = fuse({"fulltext:Chunk": [Hit(chunk, 3.0)], EXPANSION_SOURCE: [Hit(account, 0.5)]})
    assert [f.node.ref for f in fused] == [chunk.ref, account.ref] and fused[0].score == fused[1].score == pytest.approx(1 / 61)


def test_rank_in_knows_the_graph_source() -> None:
    ranks = {"fulltext:Chunk": 3, "vector:Chunk": 2, "vector:Clause": 1, EXPANSION_SOURCE: 4}
    assert (rank_in(ranks, "fulltext"), rank_in(ranks, "vector"), rank_in(ranks, "graph")) == (3, 1, 4)
    assert rank_in({"fulltext:Chunk": 1}, "graph") is None


# ---------------------------------------------------------------------- on both stores
def test_a_node_linked_to_several_hits_joins_hybrid_results(linked: CypherGraphStore) -> None:
    fused, warnings = run_search(_context(linked), QUERY, None, SearchMode.HYBRID, 10)
    assert warnings == []
    found = _by_ref(fused)
    hub = found[HUB]
    assert rank_in(hub.ranks, "graph") == 1 and rank_in(hub.ranks, "fulltext") is None and rank_in(hub.ranks, "vector") is None
    assert hub.score == pytest.approx(1 / 61)
    # the document holding the three chunks is reached from the same seeds and ties but for its type
    assert rank_in(found[DOC].ranks, "graph") == 2
    # a node linked to one hit ranks below those linked to three; direct hits stay on top
    assert rank_in(found[DR_FIN].ranks, "graph") > 2
    chunks = [f for f in fused if f.node.label == "Chunk" and f.node.id in ZF_CHUNKS]
    assert len(chunks) == 3 and all(rank_in(c.ranks, "fulltext") and rank_in(c.ranks, "vector") for c in chunks)
    assert fused[:3] == chunks
    if LONELY in found:  # reached only from the unrelated chunk (a weak vector neighbour): below the hub
        assert found[LONELY].score < hub.score
    assert [f.score for f in fused] == sorted((f.score for f in fused), reverse=True)
    # without expansion, HYBRID is the fusion of the text lists alone
    plain, _ = run_search(_context(linked), QUERY, None, SearchMode.HYBRID, 10, expand=False)
    assert HUB not in _by_ref(plain) and all(rank_in(f.ranks, "graph") is None for f in plain)


def test_fulltext_and_vector_stay_pure(linked: CypherGraphStore) -> None:
    for mode in (SearchMode.FULLTEXT, SearchMode.VECTOR):
        fused, _ = run_search(_context(linked), QUERY, None, mode, 10)
        assert fused and HUB not in _by_ref(fused) and DOC not in _by_ref(fused), mode
        assert all(rank_in(f.ranks, "graph") is None for f in fused), mode


def test_graphql_search_over_http(linked: CypherGraphStore) -> None:
    gql = Gql(linked, extras={"embedder": WordEmbedder()})
    query = "query($text: String!, $mode: SearchMode!, $expand: Boolean! = true) { search(text: $text, mode: $mode, expand: $expand) { warnings hits { score fulltextRank vectorRank graphRank node { ref } } } }"  # noqa: E501
    hybrid = gql.data(query, {"mode": "HYBRID", "text": QUERY})["search"]["hits"]
    refs = [h["node"]["ref"] for h in hybrid]
    assert "Account:aquarium-labs" in refs and "Document:zf-doc" in refs
    hub = hybrid[refs.index("Account:aquarium-labs")]
    assert hub["fulltextRank"] is None and hub["vectorRank"] is None and hub["score"] == pytest.approx(1 / 61, abs=1e-6)
    assert hub["graphRank"] == 1
    unexpanded = gql.data(query, {"mode": "HYBRID", "text": QUERY, "expand": False})["search"]["hits"]
    assert "Account:aquarium-labs" not in [h["node"]["ref"] for h in unexpanded] and all(h["graphRank"] is None for h in unexpanded)
    fulltext = gql.data(query, {"mode": "FULLTEXT", "text": QUERY})["search"]["hits"]
    assert "Account:aquarium-labs" not in [h["node"]["ref"] for h in fulltext]
    assert {h["node"]["ref"].split(":")[0] for h in fulltext} == {"Chunk"}


def test_types_filter_holds_for_expanded_nodes(linked: CypherGraphStore) -> None:
    fused, _ = run_search(_context(linked), QUERY, ["Chunk", "Contact"], SearchMode.HYBRID, 10)
    assert {f.node.label for f in fused} == {"Chunk", "Contact"}
    assert rank_in(_by_ref(fused)[DR_FIN].ranks, "graph") == 1
    only_chunks, _ = run_search(_context(linked), QUERY, ["Chunk"], SearchMode.HYBRID, 10)
    assert {f.node.label for f in only_chunks} == {"Chunk"} and all(rank_in(f.ranks, "graph") is None for f in only_chunks)
    # an unindexed type named in `types` is reached through the graph only
    with_docs, _ = run_search(_context(linked), QUERY, ["Chunk", "Document"], SearchMode.HYBRID, 10)
    assert {f.node.label for f in with_docs} == {"Chunk", "Document"} and rank_in(_by_ref(with_docs)[DOC].ranks, "graph") == 1


def test_expansion_without_an_embedder(linked: CypherGraphStore) -> None:
    fused, warnings = run_search(_context(linked, NoEmbedder()), QUERY, None, SearchMode.HYBRID, 10)
    assert len(warnings) == 1 and warnings[0].startswith("vector search skipped")
    assert rank_in(_by_ref(fused)[HUB].ranks, "graph") == 1


def test_neighbours_read_caps_each_node_and_filters_types(store: CypherGraphStore) -> None:
    chunk = NodeRef("Chunk", "busy#0")
    accounts = [NodeRef("Account", f"acct-{i:02d}") for i in range(6)]
    nodes = [NodeRecord(chunk.label, chunk.id, {"text": "busy"}), *(NodeRecord(a.label, a.id, {"name": a.id}) for a in accounts)]
    nodes += [NodeRecord("Contact", "someone", {"full_name": "Someone"}), NodeRecord("Account", "acct-ended", {"name": "Ended"})]
    edges = [_mention(chunk, a) for a in accounts] + [_mention(chunk, NodeRef("Contact", "someone"))]
    edges.append(_mention(chunk, NodeRef("Account", "acct-ended"), valid_to="2020-01-01T00:00:00Z"))
    assert not store.upsert(nodes, edges).rejected
    reads = Reads(store, "service")
    capped = reads.neighbours([chunk, accounts[0], NodeRef("Chunk", "missing#0")], None, per_node=3)
    assert [n.ref for n in capped[chunk]] == accounts[:3]  # by type then id
    everything = reads.neighbours([chunk], None, per_node=20)
    assert [n.ref for n in everything[chunk]] == [*accounts, NodeRef("Contact", "someone")]  # the ended edge is not followed
    assert [n.ref for n in capped[accounts[0]]] == [chunk] and NodeRef("Chunk", "missing#0") not in capped
    contacts = reads.neighbours([chunk], ["Contact"], per_node=3)
    assert [n.ref for n in contacts[chunk]] == [NodeRef("Contact", "someone")]
    assert "embedding" not in capped[accounts[0]][0].props
    assert reads.neighbours([], None, 3) == {}


def _many(count: int) -> tuple[list[NodeRecord], list[EdgeRecord]]:
    """`count` matching chunks, each mentioning three of ten accounts and one of a hundred contacts."""
    emb = WordEmbedder()
    nodes = [NodeRecord("Account", f"acct-{i}", {"name": f"Account {i}"}) for i in range(10)]
    nodes += [NodeRecord("Contact", f"person-{i}", {"full_name": f"Person {i}"}) for i in range(100)]
    edges = []
    for i in range(count):
        chunk = _chunk(f"many#{i}", f"zebrafish calibration note {i}", emb)
        nodes.append(chunk)
        edges += [_mention(NodeRef("Chunk", chunk.id), NodeRef("Account", f"acct-{(i + j) % 10}")) for j in range(3)]
        edges.append(_mention(NodeRef("Chunk", chunk.id), NodeRef("Contact", f"person-{i % 100}")))
    return nodes, edges


def test_expansion_costs_one_store_call_whatever_the_result_size(store: CypherGraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes, edges = _many(60)
    assert not store.upsert(nodes, edges).rejected
    ontology = store.ontology
    fulltext_types = sum(1 for t in ontology.node_types.values() if any(p.fulltext for p in t.properties.values()))
    vector_types = sum(1 for t in ontology.node_types.values() if t.vector_properties)
    counting = CountingStore(store)
    gql = Gql(counting, extras={"embedder": WordEmbedder()})
    query = 'query($first: Int!) { search(text: "zebrafish calibration", first: $first) { hits { node { ref } } } }'
    calls, sizes = {}, {}
    for first in (5, 40, 100):
        counting.calls.clear()
        hits = gql.data(query, {"first": first})["search"]["hits"]
        calls[first], sizes[first] = dict(counting.calls), len(hits)
        assert calls[first] == {"fulltext_search": fulltext_types, "vector_search": vector_types, "read_query": 1}, calls[first]
    assert sizes[5] == 5 and sizes[100] > sizes[40] >= 40
    expanded = [h for h in gql.data(query, {"first": 100})["search"]["hits"] if h["node"]["ref"].startswith(("Account:", "Contact:"))]
    assert expanded, "the accounts and people the chunks mention are reached"
    # the seeds and their neighbours are capped: the read returns at most seeds x per-seed nodes
    seen: list[int] = []
    real = Reads.neighbours

    def spy(self: Reads, refs: Sequence[NodeRef], far_labels: Sequence[str] | None = None, per_node: int = 20) -> dict[NodeRef, list[Node]]:
        out = real(self, refs, far_labels, per_node)
        seen.append(len(refs))
        assert per_node == search_module.EXPANSION_PER_SEED and all(len(v) <= per_node for v in out.values())
        return out

    monkeypatch.setattr(Reads, "neighbours", spy)
    run_search(_context(store), QUERY, None, SearchMode.HYBRID, 100)
    assert seen == [search_module.EXPANSION_SEEDS]
