"""Events (JSONL or CSV files, or Python dicts) → Event nodes, their links, device features.

Each event needs `id`, `type` (an EventType of the ontology) and `ts`; the rest follows the
type's schema in `ontology/events.yaml`. Import is idempotent by event id (the Event node's
key), so re-importing a file, or importing late and out-of-order events, changes nothing that
was already right. A malformed line or an invalid event is reported with `file:line` and
recorded in the dead-letter file; the rest of the file still lands. Telemetry readings are not
stored one by one: they update device features (see `ingest.telemetry`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef, Rejected
from graph.values import ValueRejected, normalise_datetime
from ingest.deadletter import DeadLetter
from ingest.telemetry import Reading, TelemetryAggregator
from ontology.event_schema import REFERENCE_LABELS, EventSchema

BATCH = 5000
#: Event keys that identify a referenced node by a unique property instead of its id.
KEY_REFERENCES = {"contact_email": ("Contact", "email"), "account_domain": ("Account", "domain"), "device_serial": ("Device", "serial")}
_RESERVED = {"id", "type", "ts"}


@dataclass
class EventImportReport:
    """What an import did."""

    read: int = 0
    events_written: int = 0
    telemetry_new: int = 0
    telemetry_seen: int = 0
    devices_updated: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Totals for `--json`."""
        return {
            "read": self.read,
            "events_written": self.events_written,
            "telemetry_new": self.telemetry_new,
            "telemetry_already_seen": self.telemetry_seen,
            "devices_updated": self.devices_updated,
            "rejected": len(self.rejected),
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.read / self.seconds, 1) if self.seconds else None,
            "errors": [{"item": r.item, "reason": r.reason} for r in self.rejected[:100]],
        }


class EventError(ValueError):
    """An event that cannot be imported; the message says why."""


def read_event_file(path: Path) -> Iterator[tuple[str, dict[str, Any] | EventError]]:
    """(`file:line`, event or error) for each line of a JSONL file or row of a CSV file."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield f"{path}:{number}", {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            item = f"{path}:{number}"
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield item, EventError("not UTF-8")
                continue
            except json.JSONDecodeError as exc:
                yield item, EventError(f"malformed JSON: {exc.msg} at column {exc.colno}")
                continue
            yield item, record if isinstance(record, dict) else EventError("an event must be a JSON object")


def _ref_id(label: str, value: Any) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
        raise EventError(f"a {label} reference must be an id, got {value!r}")
    return str(value)


def key_node_id(label: str, prop: str, value: str) -> str:
    """The id of a node created from a key seen in an event (e.g. an unknown email)."""
    return f"{label.lower()}-{prop}-{hashlib.sha1(value.strip().lower().encode()).hexdigest()[:12]}"


class EventImporter:
    """Imports events into a store; keeps telemetry aggregates."""

    def __init__(self, store: GraphStore, schema: EventSchema, telemetry: TelemetryAggregator, deadletter: DeadLetter):
        self.store = store
        self.schema = schema
        self.telemetry = telemetry
        self.deadletter = deadletter
        self._key_cache: dict[tuple[str, str, str], str] = {}
        self._ensured: set[tuple[str, str]] = set()  # nodes this importer already made sure exist

    def _resolve_key(self, label: str, prop: str, value: str, stubs: dict[tuple[str, str], NodeRecord]) -> NodeRef:
        cache_key = (label, prop, value.strip().lower())
        node_id = self._key_cache.get(cache_key)
        if node_id is None:
            found = self.store.find(label, prop, value.strip().lower() if prop in ("email", "domain") else value.strip(), limit=1)
            node_id = found[0].id if found else key_node_id(label, prop, value)
            if not found:
                stubs[(label, node_id)] = NodeRecord(label, node_id, defaults={prop: value.strip().lower() if prop in ("email", "domain") else value.strip()})
            self._key_cache[cache_key] = node_id
        return NodeRef(label, node_id)

    def _convert(self, record: dict[str, Any], stubs: dict[tuple[str, str], NodeRecord]) -> tuple[NodeRecord | None, list[EdgeRecord], Reading | None]:
        missing = [k for k in ("id", "type", "ts") if record.get(k) in (None, "")]
        if missing:
            raise EventError(f"missing {', '.join(missing)}")
        etype = self.schema.types.get(str(record["type"]))
        if etype is None:
            raise EventError(f"unknown event type {record['type']!r} (known: {', '.join(sorted(self.schema.types))})")
        absent = [k for k in etype.required if record.get(k) in (None, "")]
        if absent:
            raise EventError(f"{etype.name} needs {', '.join(absent)}")
        try:
            ts = normalise_datetime(record["ts"])
        except ValueRejected as exc:
            raise EventError(f"ts: {exc}") from None
        event_id = _ref_id("event", record["id"])
        if etype.aggregate:
            try:
                value = float(record["value"])
            except (TypeError, ValueError):
                raise EventError(f"telemetry value must be a number, got {record.get('value')!r}") from None
            return None, [], Reading(event_id, _ref_id("device", record["device"]), str(record["metric"]), value, ts)
        props: dict[str, Any] = {"event_type": etype.name, "occurred_at": ts}
        for key, value in record.items():
            if key in _RESERVED or key in REFERENCE_LABELS or key in KEY_REFERENCES or value in (None, ""):
                continue
            prop = etype.fields.get(key)
            if prop is None:
                raise EventError(
                    f"unknown field {key!r} for {etype.name} (known: {', '.join(sorted(etype.fields))}, references: {', '.join(REFERENCE_LABELS)})"
                )
            props[prop] = float(value) if prop in ("value", "duration_seconds", "score_value") else value
        node = NodeRecord("Event", event_id, props)
        me = NodeRef("Event", event_id)
        edges: list[EdgeRecord] = []
        for kind in (*self.schema.by, *self.schema.about):
            if record.get(kind) in (None, ""):
                continue
            label = REFERENCE_LABELS[kind]
            target = NodeRef(label, _ref_id(kind, record[kind]))
            stubs.setdefault((label, target.id), NodeRecord(label, target.id))
            edges.append(
                EdgeRecord("PERFORMED_BY" if kind in self.schema.by else "CONCERNS", me, target, source_id=f"event:{event_id}", extractor="khub.events/1")
            )
        for key, (label, prop) in KEY_REFERENCES.items():
            if record.get(key):
                target = self._resolve_key(label, prop, str(record[key]), stubs)
                edges.append(EdgeRecord("PERFORMED_BY", me, target, source_id=f"event:{event_id}", extractor="khub.events/1"))
        return node, edges, None

    def import_records(self, records: Iterable[tuple[str, dict[str, Any] | EventError]]) -> EventImportReport:
        """Import (`item`, event) pairs in batches; errors are reported and dead-lettered."""
        report = EventImportReport()
        started = time.perf_counter()
        batch: list[tuple[str, dict[str, Any] | EventError]] = []
        for pair in records:
            batch.append(pair)
            if len(batch) >= BATCH:
                self._import_batch(batch, report)
                batch = []
        if batch:
            self._import_batch(batch, report)
        report.seconds = time.perf_counter() - started
        return report

    def import_files(self, paths: Iterable[Path]) -> EventImportReport:
        """Import every event of JSONL/CSV files."""

        def pairs() -> Iterator[tuple[str, dict[str, Any] | EventError]]:
            for path in paths:
                if not path.is_file():
                    yield str(path), EventError("no such file")
                    continue
                yield from read_event_file(path)

        return self.import_records(pairs())

    def _import_batch(self, batch: list[tuple[str, dict[str, Any] | EventError]], report: EventImportReport) -> None:
        nodes: list[NodeRecord] = []
        edges: list[EdgeRecord] = []
        readings: list[Reading] = []
        stubs: dict[tuple[str, str], NodeRecord] = {}
        items: dict[str, str] = {}
        for item, record in batch:
            report.read += 1
            try:
                if isinstance(record, EventError):
                    raise record
                node, node_edges, reading = self._convert(record, stubs)
            except EventError as exc:
                self._reject(report, item, str(exc))
                continue
            if reading is not None:
                readings.append(reading)
            if node is not None:
                nodes.append(node)
                edges.extend(node_edges)
                items[node.id] = item
        fresh = [n for key, n in stubs.items() if key not in self._ensured]
        result = self.store.upsert([*fresh, *nodes], edges)
        self._ensured.update(key for key in stubs if not any(r.item == f"{key[0]}:{key[1]}" for r in result.rejected))
        report.events_written += len(nodes) - sum(1 for r in result.rejected if r.item.startswith("Event:"))
        for rejected in result.rejected:
            event_id = rejected.item.split(":", 1)[1] if rejected.item.startswith("Event:") else None
            self._reject(report, items.get(event_id or "", rejected.item), rejected.reason)
        if readings:
            new, touched = self.telemetry.add(readings)
            report.telemetry_new += new
            report.telemetry_seen += len(readings) - new
            updates = [NodeRecord("Device", d, self.telemetry.features(d)) for d in sorted(touched)]
            if updates:
                self.store.upsert(updates)
                report.devices_updated += len(updates)

    def _reject(self, report: EventImportReport, item: str, reason: str) -> None:
        report.rejected.append(Rejected(item, reason))
        self.deadletter.record_failure(item, "event", reason)
