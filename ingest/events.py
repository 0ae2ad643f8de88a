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
import math
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.consent import SUBJECT_LABELS
from graph.redact import mask
from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef, Rejected
from graph.values import ValueRejected, normalise_datetime
from ingest.deadletter import DeadLetter
from ingest.outbox import Outbox
from ingest.suppression import SuppressionList, identifier_kind
from ingest.telemetry import Reading, TelemetryAggregator
from ontology.event_schema import REFERENCE_LABELS, EventSchema

BATCH = 20_000
EXTRACTOR = "khub.events/1"
#: Event keys that identify a referenced node by a unique property instead of its id.
KEY_REFERENCES = {"contact_email": ("Contact", "email"), "account_domain": ("Account", "domain"), "device_serial": ("Device", "serial")}
_RESERVED = {"id", "type", "ts"}
#: Event properties that hold numbers (event fields arrive as text from CSV).
_NUMBERS = frozenset({"value", "duration_seconds", "score_value"})


@dataclass
class EventImportReport:
    """What an import did."""

    read: int = 0
    events_written: int = 0
    telemetry_new: int = 0
    telemetry_seen: int = 0
    devices_updated: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    suppressed: int = 0
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
            "suppressed_erased_subjects": self.suppressed,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.read / self.seconds, 1) if self.seconds else None,
            "errors": [{"item": r.item, "reason": r.reason} for r in self.rejected[:100]],
        }


class EventError(ValueError):
    """An event that cannot be imported; the message says why."""


class ErasedSubject(EventError):
    """An event only erased subjects performed: not imported (counted as suppressed, not an error)."""


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


def _each(value: Any) -> list[Any]:
    """A reference field's values: nothing, one value, or every item of a list (empty ones dropped)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None and v != ""]
    return [value]


def _ref_id(label: str, value: Any) -> str:
    if type(value) is str and value.strip():
        return value
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
        raise EventError(f"a {label} reference must be an id, got {value!r}")
    return str(value)


def key_node_id(label: str, prop: str, value: str) -> str:
    """The id of a node created from a key seen in an event (e.g. an unknown email)."""
    return f"{label.lower()}-{prop}-{hashlib.sha1(value.strip().lower().encode()).hexdigest()[:12]}"


class EventImporter:
    """Imports events into a store; keeps telemetry aggregates.

    Events go to the store `batch_size` at a time (one `upsert` per batch, after which the
    devices whose telemetry changed get their features rewritten).
    """

    def __init__(
        self,
        store: GraphStore,
        schema: EventSchema,
        telemetry: TelemetryAggregator,
        deadletter: DeadLetter,
        batch_size: int = BATCH,
        outbox: Outbox | None = None,
    ):
        """outbox: where each written batch records the nodes it touched, for `khub worker`."""
        self.store = store
        self.outbox = outbox
        self.schema = schema
        self.telemetry = telemetry
        self.deadletter = deadletter
        self.batch_size = batch_size
        self._key_cache: dict[tuple[str, str, str], str] = {}
        self._ensured: set[tuple[str, str]] = set()  # nodes this importer already made sure exist
        # what every event repeats, decided once per type: its reference kinds with their label
        # and edge (PERFORMED_BY for `by`, CONCERNS for `about`), and the keys that are not Event fields
        self._references = {
            name: tuple((kind, REFERENCE_LABELS[kind], etype.edge_type(kind)) for kind in dict.fromkeys((*etype.by, *etype.about)))
            for name, etype in schema.types.items()
        }
        self._not_fields = frozenset((*_RESERVED, *REFERENCE_LABELS, *KEY_REFERENCES))
        self.suppression = SuppressionList(store)

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

    def _convert(
        self, record: dict[str, Any], stubs: dict[tuple[str, str], NodeRecord], keyed: list[tuple[NodeRef, str, str, str, str]]
    ) -> tuple[NodeRecord | None, list[EdgeRecord], Reading | None]:
        """One event's node, its edges to nodes given by id, or its telemetry reading. References
        by key (e.g. `contact_email`) go to `keyed`, resolved against the store when written."""
        get = record.get
        missing = [k for k in ("id", "type", "ts") if get(k) in (None, "")]
        if missing:
            raise EventError(f"missing {', '.join(missing)}")
        etype = self.schema.types.get(str(record["type"]))
        if etype is None:
            raise EventError(f"unknown event type {record['type']!r} (known: {', '.join(sorted(self.schema.types))})")
        absent = [k for k in etype.required if get(k) in (None, "")]
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
            if not math.isfinite(value):
                raise EventError(f"telemetry value must be a finite number, got {record.get('value')!r}")
            return None, [], Reading(event_id, _ref_id("device", record["device"]), str(record["metric"]), value, ts)
        props: dict[str, Any] = {"event_type": etype.name, "occurred_at": ts}
        fields = etype.fields
        not_fields = self._not_fields
        for key, value in record.items():
            if key in not_fields or value is None or value == "":
                continue
            prop = fields.get(key)
            if prop is None:
                raise EventError(
                    f"unknown field {key!r} for {etype.name} (known: {', '.join(sorted(etype.fields))}, references: {', '.join(REFERENCE_LABELS)})"
                )
            if prop in _NUMBERS:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise EventError(f"{key} must be a number, got {value!r}") from None
            props[prop] = value
        suppression = self.suppression if len(self.suppression) else None
        if suppression is not None:  # erased people stay erased: their e-mail addresses are masked in the event's text
            for name, value in props.items():
                spans = suppression.text_spans(value) if isinstance(value, str) else []
                if spans:
                    props[name] = mask(value, spans)
        node = NodeRecord("Event", event_id, props)
        me = NodeRef("Event", event_id)
        source = f"event:{event_id}"
        edges: list[EdgeRecord] = []
        ensured = self._ensured
        performers = erased = 0
        for kind, label, edge_type in self._references[etype.name]:
            for ref in _each(get(kind)):  # one id, or a list (an e-mail's sender, recipients and cc)
                target = NodeRef(label, _ref_id(kind, ref))
                if suppression is not None and label in SUBJECT_LABELS and suppression.node(target):
                    erased += edge_type == "PERFORMED_BY"
                    continue
                performers += edge_type == "PERFORMED_BY"
                key = (label, target.id)
                if key not in ensured and key not in stubs:
                    stubs[key] = NodeRecord(label, target.id)
                edges.append(EdgeRecord(edge_type, me, target, source_id=source, extractor=EXTRACTOR))
        for key, (label, prop) in KEY_REFERENCES.items():
            for value in _each(get(key)):
                edge_type = etype.edge_type(key.split("_", 1)[0]) or "PERFORMED_BY"
                if suppression is not None and suppression.contains(identifier_kind(label, prop), value):
                    erased += edge_type == "PERFORMED_BY"
                    continue
                performers += edge_type == "PERFORMED_BY"
                keyed.append((me, label, prop, str(value), edge_type))
        if erased and not performers:
            raise ErasedSubject(f"event {event_id}: performed by an erased subject only")
        return node, edges, None

    def import_records(self, records: Iterable[tuple[str, dict[str, Any] | EventError]]) -> EventImportReport:
        """Import (`item`, event) pairs in batches; errors are reported and dead-lettered.

        Two stages overlap: this thread reads and checks batch N+1 while one writer thread
        writes batch N. The writer is the only one to use the store and the telemetry file,
        and it takes the batches in order, so the result is the same as one batch after another.
        """
        report = EventImportReport()
        started = time.perf_counter()
        self.suppression.refresh()  # an erasure in another process counts from the next import on
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="khub-events") as writer:
            pending: Future[None] | None = None
            for batch in _batches(records, self.batch_size):
                report.read += len(batch)
                converted = self._convert_batch(batch)
                if pending is not None:
                    pending.result()  # the previous batch is written (or its error raised here)
                pending = writer.submit(self._write_batch, converted, report)
            if pending is not None:
                pending.result()
        report.seconds = time.perf_counter() - started
        return report

    def import_files(self, paths: Iterable[Path]) -> EventImportReport:
        """Import every event of JSONL/CSV files (read as a stream, a batch at a time)."""

        def pairs() -> Iterator[tuple[str, dict[str, Any] | EventError]]:
            for path in paths:
                if not path.is_file():
                    yield str(path), EventError("no such file")
                    continue
                yield from read_event_file(path)

        return self.import_records(pairs())

    def _convert_batch(self, batch: list[tuple[str, dict[str, Any] | EventError]]) -> _Converted:
        """Check and convert a batch; no store access (that is the writer's)."""
        out = _Converted()
        convert = self._convert
        stubs, keyed, errors = out.stubs, out.keyed, out.errors
        for item, record in batch:
            try:
                if isinstance(record, EventError):
                    raise record
                node, node_edges, reading = convert(record, stubs, keyed)
            except ErasedSubject:
                out.suppressed += 1
                continue
            except EventError as exc:
                errors.append((item, str(exc)))
                continue
            if reading is not None:
                out.readings.append(reading)
            if node is not None:
                out.nodes.append(node)
                out.edges.extend(node_edges)
                out.items[node.id] = item
        return out

    def _write_batch(self, batch: _Converted, report: EventImportReport) -> None:
        """Write one converted batch: events, their links, stub nodes, then telemetry features."""
        for item, reason in batch.errors:
            self._reject(report, item, reason)
        report.suppressed += batch.suppressed
        stubs, edges = batch.stubs, batch.edges
        for me, label, prop, value, edge_type in batch.keyed:
            target = self._resolve_key(label, prop, value, stubs)
            edges.append(EdgeRecord(edge_type, me, target, source_id=f"event:{me.id}", extractor=EXTRACTOR))
        fresh = [n for key, n in stubs.items() if key not in self._ensured]
        result = self.store.upsert([*fresh, *batch.nodes], edges)
        refused = {r.item for r in result.rejected}
        self._ensured.update(key for key in stubs if f"{key[0]}:{key[1]}" not in refused)
        report.events_written += len(batch.nodes) - sum(1 for r in result.rejected if r.item.startswith("Event:"))
        for rejected in result.rejected:
            event_id = rejected.item.split(":", 1)[1] if rejected.item.startswith("Event:") else None
            self._reject(report, batch.items.get(event_id or "", rejected.item), rejected.reason)
        devices: list[NodeRef] = []
        if batch.readings:
            new, touched = self.telemetry.add(batch.readings)
            report.telemetry_new += new
            report.telemetry_seen += len(batch.readings) - new
            updates = [NodeRecord("Device", d, self.telemetry.features(d)) for d in sorted(touched)]
            if updates:
                self.store.upsert(updates)
                report.devices_updated += len(updates)
                devices = [NodeRef("Device", d.id) for d in updates]
        if self.outbox is not None:  # the intent worker re-scores what these events can change
            written = [NodeRef("Event", n.id) for n in batch.nodes if f"Event:{n.id}" not in refused]
            ends = [e.dst for e in edges if f"Event:{e.src.id}" not in refused]
            self.outbox.append([*written, *ends, *devices], "events")

    def _reject(self, report: EventImportReport, item: str, reason: str) -> None:
        report.rejected.append(Rejected(item, reason))
        self.deadletter.record_failure(item, "event", reason)


@dataclass
class _Converted:
    """A converted batch on its way to the writer."""

    nodes: list[NodeRecord] = field(default_factory=list)
    edges: list[EdgeRecord] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    stubs: dict[tuple[str, str], NodeRecord] = field(default_factory=dict)
    keyed: list[tuple[NodeRef, str, str, str, str]] = field(default_factory=list)  # (event, label, key property, value, edge type)
    items: dict[str, str] = field(default_factory=dict)  # event id -> file:line
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file:line, reason)
    suppressed: int = 0  # events of erased subjects, dropped


def _batches(pairs: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
