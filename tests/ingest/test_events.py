"""Event import on both stores: idempotent, late and out-of-order, bad lines reported by file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.store import NodeRecord, NodeRef
from ingest.deadletter import DeadLetter
from ingest.events import EventImporter, key_node_id
from ingest.telemetry import TelemetryAggregator
from ontology.event_schema import default_event_schema

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def importer(store, tmp_path: Path) -> EventImporter:
    schema = default_event_schema()
    return EventImporter(store, schema, TelemetryAggregator(tmp_path / "telemetry.sqlite", schema.telemetry), DeadLetter(tmp_path / "dead.jsonl"))


def write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    return path


def test_events_land_with_links_and_bad_lines_are_named(store, importer, tmp_path):
    store.upsert([NodeRecord("Contact", "li", {"email": "li@acme.example"}), NodeRecord("Device", "d1")])
    path = write_jsonl(
        tmp_path / "events.jsonl",
        [
            {"id": "e1", "type": "web_view", "ts": "2026-11-20T09:12:00+08:00", "contact": "li", "device": "d1", "url": "https://x.example/terms"},
            '{"id": "e2", "type": "web_view", ',
            {"id": "e3", "type": "teleport", "ts": "2026-11-20T10:00:00Z"},
            {"id": "e4", "type": "survey", "ts": "2026-11-21T10:00:00Z", "contact": "li"},
            {"id": "e5", "type": "ticket", "ts": "2026-11-22T10:00:00Z", "account": "acme", "subject": "探头图像噪点", "colour": "red"},
            {"id": "e6", "type": "email", "ts": "not a time", "contact": "li"},
            {"id": "e7", "type": "email", "ts": "2026-11-23T08:00:00Z", "contact_email": "LI@acme.example", "subject": "Renewal"},
            {"id": "e8", "type": "call", "ts": "2026-11-23T09:00:00Z", "contact_email": "new.person@beta.example", "duration_seconds": "300"},
        ],
    )
    report = importer.import_files([path])
    errors = {r.item.rsplit(":", 1)[1]: r.reason for r in report.rejected}
    assert set(errors) == {"2", "3", "4", "5", "6"}
    assert "malformed JSON" in errors["2"]
    assert "unknown event type 'teleport'" in errors["3"]
    assert "survey needs score" in errors["4"]
    assert "unknown field 'colour'" in errors["5"]
    assert "ts:" in errors["6"]
    assert all(r.item.startswith(str(path)) for r in report.rejected)
    assert report.events_written == 3
    e1 = store.neighbourhood(NodeRef("Event", "e1"))
    assert {(e.type, e.dst.id) for e in e1.edges} == {("PERFORMED_BY", "li"), ("CONCERNS", "d1")}  # a web view is about the device
    assert store.get(NodeRef("Event", "e1")).props["occurred_at"] == "2026-11-20T01:12:00.000000Z"
    assert {e.dst.id for e in store.neighbourhood(NodeRef("Event", "e7")).edges} == {"li"}  # matched by email, any case
    stranger = key_node_id("Contact", "email", "new.person@beta.example")
    assert store.get(NodeRef("Contact", stranger)).props["email"] == "new.person@beta.example"
    assert set(importer.deadletter.pending()) == {f"{path}:{n}" for n in (2, 3, 4, 5, 6)}
    before = store.stats()
    again = importer.import_files([path])
    assert again.events_written == 3
    after = store.stats()
    assert (after.nodes, after.edges) == (before.nodes, before.edges)


def test_telemetry_becomes_device_features_in_any_order(store, importer, tmp_path):
    store.upsert([NodeRecord("Device", "ex1", {"serial": "EX-1"})])
    readings = [
        {"id": "t1", "type": "telemetry", "ts": "2026-06-01T08:00:00Z", "device": "ex1", "metric": "operating_hours", "value": 1000},
        {"id": "t2", "type": "telemetry", "ts": "2026-09-01T08:00:00Z", "device": "ex1", "metric": "operating_hours", "value": 1900},
        {"id": "t3", "type": "telemetry", "ts": "2026-08-15T08:00:00Z", "device": "ex1", "metric": "load", "value": 80},
        {"id": "t4", "type": "telemetry", "ts": "2026-08-20T08:00:00Z", "device": "ex1", "metric": "load", "value": 90},
        {"id": "t5", "type": "telemetry", "ts": "2026-01-10T08:00:00Z", "device": "ex1", "metric": "filter_change", "value": 1},
        {"id": "t6", "type": "telemetry", "ts": "2026-01-01T08:00:00Z", "device": "ex1", "metric": "load", "value": 10},
    ]
    late_first = [readings[1], readings[3], readings[0]]
    report = importer.import_files([write_jsonl(tmp_path / "a.jsonl", late_first)])
    assert report.telemetry_new == 3 and report.events_written == 0
    importer.import_files([write_jsonl(tmp_path / "b.jsonl", readings)])  # overlaps: t1, t2, t4 again
    device = store.get(NodeRef("Device", "ex1")).props
    assert device["operating_hours"] == 1900.0
    assert device["load_intensity"] == pytest.approx(0.85)  # the January reading is outside the 90-day window
    assert device["last_service_date"] == "2026-01-10"
    assert device["maintenance_overdue_days"] == (234 - 180)  # 2026-01-10 .. 2026-09-01
    assert store.stats().nodes.get("Event") is None  # no node per reading
    again = importer.import_files([write_jsonl(tmp_path / "c.jsonl", readings)])
    assert again.telemetry_new == 0 and again.telemetry_seen == 6
