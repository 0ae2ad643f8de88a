"""Mentions resolved against the graph: fuzzy merges keep aliases and provenance, and unmerge undoes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.store import NodeRef
from ingest.deadletter import DeadLetter
from ingest.embed import SentenceTransformerEmbedder
from ingest.entities import entity_id, merge_marker
from ingest.pipeline import IngestPipeline
from ingest.unmerge import merges_of, unmerge
from ontology.errors import BadInput

pytestmark = pytest.mark.usefixtures("backend")

FIRST = "Peter Brown, CTO of Acme Medical Systems, asked for a quote."
SECOND = "Jane Doe, Chief Financial Officer of ACME Medical System, approved the budget."


@pytest.fixture
def pipeline(store, tmp_path: Path) -> IngestPipeline:
    return IngestPipeline(store, None, DeadLetter(tmp_path / "dead.jsonl"))


def accounts(store) -> dict[str, dict]:
    rows = store.read_query("MATCH (a:Account) RETURN a.id AS id, a.name AS name, a.alias_names AS aliases, a.distinct_from AS distinct")
    return {r["id"]: r for r in rows}


def employer(store, person: str) -> str:
    (row,) = store.read_query("MATCH (:Contact {full_name: $p})-[:WORKS_AT]->(a:Account) RETURN a.id AS id", {"p": person})
    return row["id"]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_differently_spelt_name_joins_the_stored_node_and_can_be_split_off(store, pipeline, tmp_path):
    pipeline.ingest([write(tmp_path, "a.txt", FIRST)])
    (acme,) = accounts(store)
    pipeline.ingest([write(tmp_path, "b.txt", SECOND)])
    # one node, both names kept; the merge is recorded on the edges of the second mention
    assert list(accounts(store)) == [acme]
    assert set(accounts(store)[acme]["aliases"]) == {"Acme Medical Systems", "ACME Medical System"}
    assert employer(store, "Jane Doe") == acme
    own_id = entity_id("Account", "ACME Medical System")
    merges = merges_of(store, NodeRef("Account", acme))
    assert list(merges) == [own_id] and merges[own_id].names == ["ACME Medical System"] and merges[own_id].edges >= 2
    edge = store.merged_edges(NodeRef("Account", acme))[0]
    assert merge_marker(own_id, acme) in edge.props["merged_from"]
    # a new version of the second document and a third run change nothing: no duplicates
    write(tmp_path, "b.txt", SECOND + " Delivery in March.")
    pipeline.ingest([tmp_path / "b.txt"])
    assert list(accounts(store)) == [acme]

    report = unmerge(store, NodeRef("Account", acme), "ACME Medical System")
    assert report.split_off == NodeRef("Account", own_id) and report.edges_moved >= 2
    after = accounts(store)
    assert set(after) == {acme, own_id}
    assert after[acme]["aliases"] == ["Acme Medical Systems"] and after[acme]["distinct"] == [own_id]
    assert after[own_id]["name"] == "ACME Medical System" and after[own_id]["distinct"] == [acme]
    assert employer(store, "Jane Doe") == own_id and employer(store, "Peter Brown") == acme
    assert merges_of(store, NodeRef("Account", acme)) == {}
    moved = store.read_query("MATCH (:Chunk)-[m:MENTIONS]->(:Account {id: $id}) RETURN m.merged_from AS mf, m.supported_by AS sup", {"id": own_id})
    assert moved and all(r["mf"] == [] and r["sup"] for r in moved)  # provenance travelled with the edges
    # resolution remembers the split: the same names land on their own nodes from now on
    pipeline.ingest([write(tmp_path, "c.txt", "Acme Medical System Inc. and Acme Medical Systems met on Monday.")])
    assert set(accounts(store)) == {acme, own_id}
    with pytest.raises(BadInput, match="has no merge from 'Nobody'"):
        unmerge(store, NodeRef("Account", acme), "Nobody")


def test_unrelated_names_stay_apart(store, pipeline, tmp_path):
    pipeline.ingest([write(tmp_path, "a.txt", "Mary Jones, CTO of Siemens Healthineers, called. Mary Johnson, CFO of Siemens Healthcare GmbH, wrote.")])
    names = {r["n"] for r in store.read_query("MATCH (c:Contact) RETURN c.full_name AS n")}
    assert names == {"Mary Jones", "Mary Johnson"}
    assert sorted(a["name"] for a in accounts(store).values()) == ["Siemens Healthcare GmbH", "Siemens Healthineers"]
    assert not store.read_query("MATCH ()-[e]->() WHERE size(coalesce(e.merged_from, [])) > 0 RETURN e LIMIT 1")


def test_new_entities_get_an_embedding_of_name_and_context(store, tmp_path):
    pipeline = IngestPipeline(store, SentenceTransformerEmbedder(), DeadLetter(tmp_path / "dead.jsonl"))
    pipeline.ingest([write(tmp_path, "a.txt", FIRST + " Globex Logistics ships the chillers.")])
    ref = NodeRef("Account", entity_id("Account", "Acme Medical Systems"))
    vector = store.get(ref).props["embedding"]
    assert len(vector) == 384
    hits = store.vector_search("Account", pipeline.embedder.embed(["a medical systems company asking for a quote"], "query")[0].tolist(), k=2)
    assert hits[0].node.id == ref.id
