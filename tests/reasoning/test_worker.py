"""The intent worker on both stores: new writes in the outbox re-score just what they touch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph.store import EdgeRecord, NodeRecord, NodeRef
from ingest.deadletter import DeadLetter
from ingest.outbox import Outbox
from ingest.pipeline import IngestPipeline
from reasoning.demo_world import load_demo_world
from reasoning.intents import IntentEngine
from reasoning.worker import IntentWorker

pytestmark = pytest.mark.usefixtures("backend")

NOW = datetime(2026, 12, 1, tzinfo=UTC)
YOUNG = NodeRef("Device", "dev-us900-0377")


def test_the_worker_fires_the_intent_a_new_batch_of_events_implies(store, tmp_path: Path):
    load_demo_world(store)
    engine = IntentEngine(store, clock=lambda: NOW)
    engine.refresh()
    outbox = Outbox(tmp_path / "outbox.jsonl")
    worker = IntentWorker(engine, outbox, tmp_path / "outbox.offset")
    assert worker.run_once() is None  # nothing waiting

    nodes, edges = [], []
    for i, (kind, url) in enumerate([("web_view", "https://x.example/us900/warranty")] * 3 + [("ticket", None)]):
        event = NodeRef("Event", f"young-{i}")
        nodes.append(NodeRecord("Event", event.id, {"event_type": kind, "occurred_at": f"2026-11-2{i}T10:00:00Z", "url": url}))
        edges.append(EdgeRecord("CONCERNS", event, YOUNG))
    assert not store.upsert(nodes, edges).rejected
    outbox.append([NodeRef(n.label, n.id) for n in nodes] + [YOUNG], "events-batch-1")

    report = worker.run_once()
    assert report is not None and report.new == ["intent-replacement_anxiety-dev-us900-0377"]
    assert worker.stats.nodes == 5 and worker.run_once() is None  # the offset moved on
    # a restarted worker resumes after the saved offset: nothing to redo
    assert IntentWorker(engine, outbox, tmp_path / "outbox.offset").run_once() is None


def test_ingest_writes_the_outbox_and_torn_lines_are_skipped(store, tmp_path: Path):
    outbox = Outbox(tmp_path / "outbox.jsonl")
    note = tmp_path / "note.txt"
    note.write_text("Peter Brown, CTO of Beta Hospital GmbH, asked for a quote.", encoding="utf-8")
    IngestPipeline(store, None, DeadLetter(tmp_path / "dead.jsonl"), outbox=outbox).ingest([note])
    with outbox.path.open("ab") as f:
        f.write(b'{"at": "x", "refs": ["Account:half')  # a crash mid-line
    changes, offset = outbox.read()
    (change,) = changes
    labels = {ref.label for ref in change.refs}
    assert {"Document", "Chunk", "Contact", "Account"} <= labels and change.source.startswith("doc-")
    outbox.append([NodeRef("Account", "a")], "s")  # the next record ends the torn line and stays whole
    later, _ = outbox.read(offset)
    assert [c.refs for c in later] == [(NodeRef("Account", "a"),)]


def test_imported_events_reach_the_worker_through_the_outbox(store, tmp_path: Path):
    from ingest.events import EventImporter
    from ingest.telemetry import TelemetryAggregator
    from ontology.event_schema import default_event_schema

    load_demo_world(store)
    engine = IntentEngine(store, clock=lambda: NOW)
    engine.refresh()
    outbox = Outbox(tmp_path / "outbox.jsonl")
    schema = default_event_schema()
    importer = EventImporter(
        store, schema, TelemetryAggregator(tmp_path / "telemetry.sqlite", schema.telemetry), DeadLetter(tmp_path / "dead.jsonl"), outbox=outbox
    )
    events = [
        {"id": f"imp-{i}", "type": "web_view", "ts": f"2026-11-2{i}T10:00:00Z", "url": "https://x.example/us900/warranty", "device": YOUNG.id} for i in range(3)
    ]
    events.append({"id": "imp-t", "type": "ticket", "ts": "2026-11-25T10:00:00Z", "device": YOUNG.id})
    events.append({"id": "bad", "type": "no_such_type", "ts": "2026-11-25T10:00:00Z"})
    report = importer.import_records((f"mem:{i + 1}", e) for i, e in enumerate(events))
    assert report.events_written == 4 and len(report.rejected) == 1

    (change,) = outbox.read()[0]
    assert set(change.refs) == {*(NodeRef("Event", f"imp-{i}") for i in range(3)), NodeRef("Event", "imp-t"), YOUNG}
    result = IntentWorker(engine, outbox, tmp_path / "outbox.offset").run_once()
    assert result is not None and result.new == ["intent-replacement_anxiety-dev-us900-0377"]


def test_the_worker_runs_the_scenarios_a_new_event_triggers(store, tmp_path: Path):
    """A bad survey arrives for a student who stopped using the app: the worker runs refund_warning for him, and only him."""
    from ontology.concepts import default_features
    from reasoning.demo_world import demo_as_of
    from reasoning.scenario_dispatch import on_touched

    load_demo_world(store)
    student = NodeRef("Contact", "student-liu-yang")
    fired: dict[str, list] = {}

    def scenarios(touched):
        fired.update(on_touched(store, touched, default_features(), demo_as_of()))
        return sum(len(h) for h in fired.values())

    outbox = Outbox(tmp_path / "outbox.jsonl")
    worker = IntentWorker(IntentEngine(store, clock=lambda: NOW), outbox, tmp_path / "outbox.offset", scenarios=scenarios)
    survey = NodeRecord("Event", "ev-survey-liu-2", {"event_type": "survey", "occurred_at": "2026-11-30T12:00:00Z", "score_value": 1.0})
    assert not store.upsert([survey], [EdgeRecord("PERFORMED_BY", NodeRef("Event", survey.id), student)]).rejected
    outbox.append([NodeRef("Event", survey.id), student], "survey-batch")
    worker.run_once()
    assert list(fired) == ["refund_warning"] and [h.subject for h in fired["refund_warning"]] == [student]
    assert worker.stats.scenario_hits == 1 and len(store.find("Task", "scenario_id", "refund_warning", limit=10)) == 3
    # a web visit triggers no scenario
    fired.clear()
    visit = NodeRecord("Event", "ev-web-liu", {"event_type": "web_view", "occurred_at": "2026-11-30T12:00:00Z"})
    store.upsert([visit], [EdgeRecord("PERFORMED_BY", NodeRef("Event", visit.id), student)])
    outbox.append([NodeRef("Event", visit.id)], "visit-batch")
    worker.run_once()
    assert fired == {} and worker.stats.scenario_hits == 1


def test_the_worker_runs_what_time_triggers_once_per_period(store, tmp_path: Path):
    """The periodic hook (scenario_triggers.tick in `khub worker`) runs at the first poll, then not before its period."""
    calls: list[int] = []

    def periodic() -> int:
        calls.append(1)
        return 2

    worker = IntentWorker(
        IntentEngine(store, clock=lambda: NOW), Outbox(tmp_path / "outbox.jsonl"), tmp_path / "o.offset", periodic=periodic, periodic_seconds=3600
    )
    assert worker.run_periodic() is True and worker.run_periodic() is False  # within the hour: not again
    assert worker.run_periodic(force=True) is True
    assert len(calls) == 2 and worker.stats.ticks == 2 and worker.stats.scenario_hits == 4
    assert IntentWorker(IntentEngine(store, clock=lambda: NOW), Outbox(tmp_path / "outbox.jsonl"), tmp_path / "o.offset").run_periodic() is False
