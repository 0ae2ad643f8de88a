"""The document pipeline on both stores: lands, skips, replaces, dead-letters, survives kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph.store import NodeRef
from ingest.deadletter import DeadLetter
from ingest.pipeline import IngestPipeline, document_id
from tests.conftest import neo4j_uri

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def pipeline(store, tmp_path: Path) -> IngestPipeline:
    return IngestPipeline(store, None, DeadLetter(tmp_path / "dead.jsonl"))


def snapshot(store) -> tuple:
    nodes = store.read_query("MATCH (n) RETURN labels(n)[0] AS l, n.id AS id ORDER BY l, id")
    edges = store.read_query("MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, r.char_start AS c ORDER BY a, t, b, c")
    return [(r["l"], r["id"]) for r in nodes if r["l"] != "KhubMeta"], [tuple(r.values()) for r in edges]


def test_a_batch_lands_and_bad_files_are_dead_lettered(store, pipeline, sample_dir, bad_dir, tmp_path):
    report = pipeline.ingest([sample_dir, bad_dir])
    by_name = {Path(f.source).name: f for f in report.files}
    good = {p.name for p in sample_dir.iterdir() if p.is_file()}
    assert {n for n, f in by_name.items() if f.status == "added"} == good
    bad = {n: f.error for n, f in by_name.items() if f.status == "failed"}
    assert set(bad) == {p.name for p in bad_dir.iterdir()}
    assert "over the limit" in bad["huge.txt"] and "encrypted" in bad["encrypted.pdf"]
    assert all(str(bad_dir / name) in error for name, error in bad.items())
    assert set(pipeline.deadletter.pending()) == {str((bad_dir / n).resolve()) for n in bad}
    assert store.stats().nodes["Document"] == len(good)
    doc = store.get(NodeRef("Document", document_id(str((sample_dir / "mail.eml").resolve()))))
    assert doc.props["title"] == "超声设备维保 renewal" and doc.props["document_date"] == "2026-11-24"
    assert len(doc.props["content_hash"]) == 64
    # extraction reached the graph: the Chinese hospital and the English people, linked from chunks
    accounts = {r["name"] for r in store.read_query("MATCH (:Chunk)-[:MENTIONS]->(a:Account) RETURN DISTINCT a.name AS name")}
    assert "上海交通大学医学院附属仁济医院" in accounts
    people = {r["n"] for r in store.read_query("MATCH (c:Contact)-[:WORKS_AT]->(:Account) RETURN c.full_name AS n")}
    assert "John Smith" in people
    hits = store.fulltext_search("Chunk", "维保服务")
    assert hits and all("维保服务" in h.node.props["text"] for h in hits)


def test_rerun_changes_nothing_and_a_changed_file_replaces_its_chunks(store, pipeline, sample_dir, tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(sample_dir, folder)
    pipeline.ingest([folder])
    before = snapshot(store)
    again = pipeline.ingest([folder])
    assert {f.status for f in again.files} == {"unchanged"}
    assert snapshot(store) == before
    notes = folder / "notes.md"
    notes.write_text("# Meeting notes\n\nMary Jones reports to John Smith. 预算已批准。\n", encoding="utf-8")
    result = pipeline.ingest([notes])
    assert [f.status for f in result.files] == ["updated"]
    doc_id = document_id(str(notes.resolve()))
    chunks = store.read_query("MATCH (:Document {id: $d})-[:HAS_CHUNK]->(c:Chunk) RETURN c.text AS t", {"d": doc_id})
    assert len(chunks) == 1 and "Mary Jones" in chunks[0]["t"]
    assert not store.read_query("MATCH (c:Chunk) WHERE c.text CONTAINS 'follow up on the maintenance' RETURN c.id")


def test_retry_failed_after_the_file_is_fixed(store, tmp_path):
    from typer.testing import CliRunner

    from api.cli import app

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "later.txt").write_bytes(b"")
    env = {
        "KHUB_STORE": store.backend if store.backend != "falkordb" else "embedded",
        "KHUB_DATA_DIR": str(store_data_dir(store, tmp_path)),
        "KHUB_NEO4J_URI": neo4j_uri() or "",
    }
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", str(folder), "--no-embed", "--json"], env=env)
    assert first.exit_code == 3 and '"failed": 1' in first.output
    (folder / "later.txt").write_text("Acme Medical Inc. renewed its maintenance contract.", encoding="utf-8")
    retry = runner.invoke(app, ["ingest", "--retry-failed", "--no-embed", "--json"], env=env)
    assert retry.exit_code == 0, retry.output
    assert '"added": 1' in retry.output
    nothing = runner.invoke(app, ["ingest", "--retry-failed", "--no-embed"], env=env)
    assert nothing.exit_code == 2 and "nothing to ingest" in nothing.output


def store_data_dir(store, tmp_path: Path) -> Path:
    """The embedded store's data dir (shared with the session), or a scratch dir for Neo4j."""
    server = getattr(store.conn, "server", None)
    return server.dir.parent if server is not None else tmp_path / "data"


def make_corpus(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    people = ["John Smith", "Mary Jones", "Wei Zhang", "Anna Berg", "Omar Haddad"]
    for i in range(count):
        person = people[i % len(people)]
        (folder / f"doc{i:03d}.txt").write_text(
            f"Meeting {i}. {person}, Chief Financial Officer of Acme Medical Inc., discussed the budget of ${i + 1} million "
            f"with Beta Hospital GmbH on March {i % 28 + 1}, 2026.\n\n仁济医院设备科科长李明参加了会议。",
            encoding="utf-8",
        )


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api.cli", *args], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_kill_9_during_ingest_then_rerun_loses_and_duplicates_nothing(store, tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 40)
    env = {
        "KHUB_STORE": "embedded" if store.backend == "falkordb" else "neo4j",
        "KHUB_DATA_DIR": str(store_data_dir(store, tmp_path)),
        "KHUB_NEO4J_URI": neo4j_uri() or "",
    }
    args = ["ingest", str(corpus), "--no-embed", "--json"]
    clean = run_cli(args, env)
    assert clean.wait(timeout=300) == 0, clean.stderr.read().decode()[-2000:]
    expected = snapshot(store)
    assert sum(1 for label, _ in expected[0] if label == "Document") == 40
    store.clear()
    interrupted = run_cli(args, env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        count = store.read_query("MATCH (d:Document) RETURN count(d) AS c")[0]["c"]
        if count >= 8 or interrupted.poll() is not None:
            break
        time.sleep(0.05)
    assert interrupted.poll() is None, "the run finished before it could be killed; make the corpus larger"
    os.kill(interrupted.pid, signal.SIGKILL)
    interrupted.wait()
    partial = store.read_query("MATCH (d:Document) RETURN count(d) AS c")[0]["c"]
    assert 8 <= partial < 40
    rerun = run_cli(args, env)
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read().decode()[-2000:]
    assert snapshot(store) == expected


def test_a_contract_becomes_parties_clause_and_date(store, pipeline, tmp_path):
    contract = tmp_path / "co-branding.txt"
    contract.write_text(
        "CO-BRANDING AGREEMENT\n\nThis Agreement, dated as of January 30, 2000, is made and entered into by and between Amazon.com Commerce "
        'Services, Inc., a Delaware corporation ("ACSI"), and Audible Inc. a Delaware corporation ("Company").\n\n'
        "12. This Agreement shall be governed by the laws of the State of Washington.",
        encoding="utf-8",
    )
    pipeline.ingest([contract])
    doc_id = document_id(str(contract.resolve()))
    doc = store.get(NodeRef("Document", doc_id)).props
    assert (doc["doc_type"], doc["document_date"]) == ("contract", "2000-01-30")
    parties = store.read_query("MATCH (:Document {id: $d})-[:ABOUT]->(a:Account) RETURN a.name AS n ORDER BY n", {"d": doc_id})
    assert [r["n"] for r in parties] == ["Amazon.com Commerce Services, Inc.", "Audible Inc."]
    clause = store.read_query("MATCH (:Document {id: $d})-[:HAS_CLAUSE]->(c:Clause) RETURN c.clause_type AS t, c.text AS x", {"d": doc_id})
    assert clause == [{"t": "governing_law", "x": "Governed by the laws of Washington"}]
