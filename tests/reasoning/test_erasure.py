"""Erasure (issue 6.3): cascade, masking, tombstone, suppression against re-ingest, request status; both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.audit import AuditLog
from graph.redact import MASK
from graph.store import EdgeRecord, NodeRecord, NodeRef
from ingest.deadletter import DeadLetter
from ingest.entities import entity_id
from ingest.events import EventImporter
from ingest.forget import forget
from ingest.pipeline import IngestPipeline
from ingest.suppression import SuppressionList
from ingest.telemetry import TelemetryAggregator
from ontology.errors import BadInput, NotFound
from ontology.event_schema import default_event_schema
from reasoning.erasure import Eraser
from reasoning.subject_requests import list_requests, request_stats, run_erasure

pytestmark = pytest.mark.usefixtures("backend")

TEXT = (
    "John Smith, Chief Financial Officer of Acme Corp, approved the budget for the new scanners. "
    "Mary Jones reports to John Smith. Write to john.smith@acme-corp.com for the tender documents, "
    "or call 020-7946-0018 (Mary: 020-7946-0999)."
)
EMAIL = "john.smith@acme-corp.com"
JOHN = NodeRef("Contact", entity_id("Contact", "John Smith"))
MARY = NodeRef("Contact", entity_id("Contact", "Mary Jones"))
EVENTS = [
    {"id": "ev-web-1", "type": "web_view", "ts": "2026-11-20T10:00:00Z", "contact": JOHN.id, "url": "https://acme.example/pricing"},
    {"id": "ev-mail-1", "type": "email", "ts": "2026-11-21T10:00:00Z", "contact_email": EMAIL, "subject": "Budget", "body": "Regards, John Smith"},
    {"id": "ev-mail-2", "type": "email", "ts": "2026-11-22T10:00:00Z", "contact": [JOHN.id, MARY.id], "body": f"cc {EMAIL} and Mary"},
    {"id": "ev-web-2", "type": "web_view", "ts": "2026-11-22T11:00:00Z", "contact": MARY.id, "url": "https://acme.example/support"},
]


@pytest.fixture
def world(store, tmp_path: Path) -> dict:
    """A document, events, a consent, intents with evidence and a task around John Smith."""
    doc = tmp_path / "budget.txt"
    doc.write_text(TEXT, encoding="utf-8")
    pipeline = IngestPipeline(store, None, DeadLetter(tmp_path / "dead.jsonl"))
    assert pipeline.ingest([doc]).count("added") == 1
    assert store.get(JOHN) is not None and store.get(MARY) is not None
    store.upsert([NodeRecord("Contact", JOHN.id, {"email": EMAIL, "phone": "+44 20 7946 0018"})])
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n", encoding="utf-8")
    schema = default_event_schema()
    importer = EventImporter(store, schema, TelemetryAggregator(tmp_path / "t.sqlite", schema.telemetry), DeadLetter(tmp_path / "dead.jsonl"))
    assert importer.import_files([events]).events_written == 4
    account = store.find("Account", "name", "Acme Corp", limit=1)[0].ref
    chunk = next(e.src for e in store.neighbourhood(JOHN, hops=1, edge_types=["MENTIONS"]).edges)
    store.upsert(
        [
            NodeRecord("Consent", "consent-john-marketing", {"consent_status": "granted", "legal_basis": "consent"}),
            NodeRecord("Intent", "intent-john", {"confidence_score": 0.8, "explanation": "John Smith visited pricing"}),
            NodeRecord("Intent", "intent-acme", {"confidence_score": 0.7, "explanation": "budget approved"}),
            NodeRecord("Intent", "intent-mary", {"confidence_score": 0.6}),
            NodeRecord("Task", "task-call-john", {"title": "Call John Smith", "task_status": "open"}),
        ],
        [
            EdgeRecord("GAVE_CONSENT", JOHN, NodeRef("Consent", "consent-john-marketing")),
            EdgeRecord("OF", NodeRef("Intent", "intent-john"), JOHN),
            EdgeRecord("SUPPORTED_BY", NodeRef("Intent", "intent-john"), NodeRef("Event", "ev-web-1")),
            EdgeRecord("OF", NodeRef("Intent", "intent-acme"), account),
            EdgeRecord("SUPPORTED_BY", NodeRef("Intent", "intent-acme"), chunk),
            EdgeRecord("OF", NodeRef("Intent", "intent-mary"), MARY),
            EdgeRecord("SUPPORTED_BY", NodeRef("Intent", "intent-mary"), NodeRef("Event", "ev-web-2")),
            EdgeRecord("TRIGGERED", NodeRef("Intent", "intent-john"), NodeRef("Task", "task-call-john")),
            EdgeRecord("TASK_FOR", NodeRef("Task", "task-call-john"), JOHN),
        ],
    )
    return {"doc": doc, "events": events, "importer": importer, "pipeline": pipeline, "account": account, "chunk": chunk}


def traces(store, needles: list[str]) -> list[str]:
    """Every node or edge (outside tombstones, suppressions and requests) whose properties contain a needle, case-insensitive."""
    found = []
    rows = store.read_query("MATCH (n) WHERE NOT n:KhubMeta RETURN labels(n)[0] AS l, n.id AS id, properties(n) AS p")
    rows += store.read_query("MATCH (a)-[e]->(b) RETURN type(e) AS l, a.id + '->' + b.id AS id, properties(e) AS p")
    for row in rows:
        if row["l"] in ("Tombstone", "Suppression", "DataSubjectRequest"):
            continue
        text = (row["id"] + json.dumps(row["p"], default=str, ensure_ascii=False)).lower()
        found += [f"{row['l']} {row['id']}: {needle}" for needle in needles if needle.lower() in text]
    return found


NEEDLES = ["John Smith", EMAIL, JOHN.id, "7946 0018", "7946-0018", "john smith"]


def test_erasure_leaves_no_trace_of_the_subject_but_the_tombstone(store, world, tmp_path):
    assert traces(store, NEEDLES), "the world must hold the subject before the erasure"
    audit = AuditLog(tmp_path / "audit")
    request_id, report = run_erasure(store, JOHN, "steward:test", audit)

    assert traces(store, NEEDLES) == []
    assert store.get(JOHN) is None
    # their own events went; the shared e-mail stays, without them; Mary's things stay
    assert store.get(NodeRef("Event", "ev-web-1")) is None and store.get(NodeRef("Event", "ev-mail-1")) is None
    shared = store.get(NodeRef("Event", "ev-mail-2"))
    assert shared is not None and MASK in shared.props["content"] and "Mary" in shared.props["content"]
    assert [e.dst for e in store.edges_from([shared.ref], "PERFORMED_BY")] == [MARY]
    assert store.get(MARY) is not None and store.get(NodeRef("Intent", "intent-mary")) is not None
    # inferences built on their data went, with the task they triggered
    for gone in ("intent-john", "intent-acme"):
        assert store.get(NodeRef("Intent", gone)) is None
    assert store.get(NodeRef("Task", "task-call-john")) is None
    assert store.get(NodeRef("Consent", "consent-john-marketing")) is None
    assert report.rescore == [str(world["account"])]
    # the passage is masked, its offsets kept, and the full-text index no longer finds them
    chunk = store.get(world["chunk"])
    assert len(chunk.props["text"]) == len(TEXT) and "Mary Jones" in chunk.props["text"] and "Acme Corp" in chunk.props["text"]
    assert "020-7946-0999" in chunk.props["text"]  # his number is masked however written; Mary's stays
    suppressed = SuppressionList(store)
    assert suppressed.contains("phone", "020-7946-0018") and suppressed.contains("phone", "+44 (0)20 7946 0018")  # phones compare by their last nine digits
    assert store.fulltext_search("Chunk", "John Smith") == [] and store.fulltext_search("Chunk", "smith") == []
    assert [h.node.ref for h in store.fulltext_search("Chunk", "Mary Jones")] == [world["chunk"]]
    # the tombstone proves it without the data, and the audit log names only the digest
    tombstone = store.get(NodeRef("Tombstone", report.tombstone))
    assert tombstone.props["subject_digest"] == report.subject_digest == SuppressionList(store).subject_digest(JOHN)
    assert json.loads(tombstone.props["outcome"])["nodes_deleted"]["Event"] == 2
    entry = [json.loads(line) for line in (tmp_path / "audit" / "audit.jsonl").read_text().splitlines()][-1]
    assert entry["action"] == "erase" and entry["subjects"] == [f"digest:{report.subject_digest}"] and entry["details"]["proof"] == report.proof
    assert audit.verify().ok
    # the request is closed, on time, without the plain subject id
    (row,) = [r for r in list_requests(store) if r["id"] == request_id]
    assert row["status"] == "completed" and row["kind"] == "erase" and not row["overdue"] and JOHN.id not in json.dumps(row)
    stats = request_stats(store)
    assert stats.completed >= 1 and stats.open == 0 and stats.median_turnaround_seconds is not None


def test_re_ingesting_the_sources_does_not_bring_the_subject_back(store, world, tmp_path):
    run_erasure(store, JOHN, "steward:test", AuditLog(tmp_path / "audit"))
    forget(store, str(world["doc"]))  # the document goes, then comes back from the same file
    assert world["pipeline"].ingest([world["doc"]]).count("added") == 1
    schema = default_event_schema()
    fresh = EventImporter(store, schema, TelemetryAggregator(tmp_path / "t2.sqlite", schema.telemetry), DeadLetter(tmp_path / "dead2.jsonl"))
    report = fresh.import_files([world["events"]])
    assert report.suppressed == 2 and report.rejected == [] and report.events_written == 2

    assert store.get(JOHN) is None and store.get(MARY) is not None
    assert store.find("Contact", "email", EMAIL, limit=5) == []
    assert traces(store, NEEDLES) == []
    assert [h.node.ref for h in store.fulltext_search("Chunk", "Mary Jones")], "the rest of the document came back"


def test_a_missing_subject_or_a_wrong_type_is_refused_and_recorded(store, world, tmp_path):
    audit = AuditLog(tmp_path / "audit")
    run_erasure(store, JOHN, "steward:test", audit)
    with pytest.raises(NotFound, match="erased before"):
        run_erasure(store, JOHN, "steward:test", audit)
    with pytest.raises(BadInput, match="Contact or an Account"):
        Eraser(store).erase(NodeRef("Product", "p-1"))
    statuses = sorted(r["status"] for r in list_requests(store))
    assert statuses == ["completed", "rejected"]
    assert all(JOHN.id not in json.dumps(r) for r in list_requests(store))
