"""A changed document closes the facts only its old version supported; `forget` removes a source."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.deadletter import DeadLetter
from ingest.forget import forget, source_id_of
from ingest.pipeline import IngestPipeline, document_id

pytestmark = pytest.mark.usefixtures("backend")

A_V1 = (
    "John Smith, Chief Financial Officer of Acme Corp, approved the budget. Mary Jones reports to John Smith. "
    "Peter Brown, CTO of Beta Hospital GmbH, joined."
)
A_V2 = "John Smith, Chief Financial Officer of Acme Corp, approved the budget."
B = "John Smith, Chief Financial Officer of Acme Corp, signed the order with Gamma Ltd."


@pytest.fixture
def pipeline(store, tmp_path: Path) -> IngestPipeline:
    return IngestPipeline(store, None, DeadLetter(tmp_path / "dead.jsonl"))


def facts(store) -> dict[tuple[str, str, str], dict]:
    """Relation edges between entities (not chunk mentions) by (subject name, type, object name)."""
    rows = store.read_query(
        "MATCH (a)-[e]->(b) WHERE NOT a:Chunk AND NOT a:Document "
        "RETURN coalesce(a.full_name, a.name) AS a, type(e) AS t, coalesce(b.full_name, b.name) AS b, e.valid_to AS valid_to, e.supported_by AS sup"
    )
    return {(r["a"], r["t"], r["b"]): r for r in rows}


def graph_shape(store) -> tuple[set, set]:
    nodes = {(r["l"], r["id"]) for r in store.read_query("MATCH (n) WHERE NOT n:KhubMeta RETURN labels(n)[0] AS l, n.id AS id")}
    edges = {tuple(r.values()) for r in store.read_query("MATCH (a)-[e]->(b) RETURN a.id AS a, type(e) AS t, b.id AS b, e.char_start AS c")}
    return nodes, edges


def test_a_changed_document_closes_what_only_its_old_version_said(store, pipeline, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(A_V1, encoding="utf-8")
    b.write_text(B, encoding="utf-8")
    pipeline.ingest([a, b])
    before = facts(store)
    assert before[("Mary Jones", "REPORTS_TO", "John Smith")]["valid_to"] is None
    assert before[("Peter Brown", "WORKS_AT", "Beta Hospital GmbH")]["valid_to"] is None

    a.write_text(A_V2, encoding="utf-8")
    assert [f.status for f in pipeline.ingest([a]).files] == ["updated"]
    after = facts(store)
    doc_a = document_id(str(a.resolve()))
    for stale in [("Mary Jones", "REPORTS_TO", "John Smith"), ("Peter Brown", "WORKS_AT", "Beta Hospital GmbH")]:
        assert after[stale]["valid_to"] is not None and after[stale]["sup"] == [], stale
    still = after[("John Smith", "WORKS_AT", "Acme Corp")]
    assert still["valid_to"] is None and doc_a in still["sup"]
    # re-running the new version changes nothing more
    assert [f.status for f in pipeline.ingest([a]).files] == ["unchanged"] and facts(store) == after


def test_forget_leaves_the_graph_as_if_the_source_had_never_been_ingested(store, pipeline, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(A_V1, encoding="utf-8")
    b.write_text(B, encoding="utf-8")
    pipeline.ingest([b])
    only_b = graph_shape(store)
    pipeline.ingest([a])
    assert graph_shape(store) != only_b

    report = forget(store, str(a))
    assert report.document_deleted and report.source_id == document_id(str(a.resolve()))
    deleted = {ref.label for ref in report.nodes_deleted}
    assert {"Document", "Chunk", "Contact", "Account"} <= deleted  # Mary, Peter, Beta went; John and Acme stay
    assert report.edges_kept >= 2  # WORKS_AT and HAS_ROLE of John at Acme: b.txt says so too
    assert graph_shape(store) == only_b
    john = facts(store)[("John Smith", "WORKS_AT", "Acme Corp")]
    assert john["sup"] == [document_id(str(b.resolve()))] and john["valid_to"] is None
    # forgetting again finds nothing; a file removed from disk is still found by its path
    again = forget(store, str(a))
    assert not again.document_deleted and not again.nodes_deleted and again.edges_deleted == 0
    b.unlink()
    assert source_id_of(str(b)) == document_id(str(b.resolve()))
    assert forget(store, str(b)).document_deleted


def test_source_ids_pass_through():
    assert source_id_of("event:e-17") == "event:e-17"
    assert source_id_of("doc-0123456789abcdef") == "doc-0123456789abcdef"
    assert source_id_of("https://example.com/t.pdf") == document_id("https://example.com/t.pdf")


def test_two_files_with_the_same_bytes_are_two_documents_and_stay_unchanged(store, pipeline, tmp_path):
    first, second = tmp_path / "mail-1" / "offer.txt", tmp_path / "mail-2" / "offer.txt"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(B, encoding="utf-8")
    assert [f.status for f in pipeline.ingest([first, second]).files] == ["added", "added"]
    assert [f.status for f in pipeline.ingest([first, second]).files] == ["unchanged", "unchanged"]
    # forgetting one copy keeps everything the other copy says
    before = facts(store)
    forget(store, str(first))
    assert facts(store).keys() == before.keys()
