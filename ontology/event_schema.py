"""The per-type event schemas of `ontology/events.yaml`, checked against the ontology."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ontology.errors import SchemaInvalid, SchemaIssue
from ontology.model import Ontology, default_ontology

EVENT_SCHEMA_FILE = Path(__file__).resolve().parent / "events.yaml"
REFERENCE_LABELS = {
    "contact": "Contact",
    "account": "Account",
    "device": "Device",
    "product": "Product",
    "document": "Document",
    "policy": "Policy",
    "opportunity": "Opportunity",
}


@dataclass(frozen=True)
class EventType:
    """How events of one type map to the graph."""

    name: str
    required: tuple[str, ...]
    fields: dict[str, str]  # event field -> Event property
    aggregate: bool
    by: tuple[str, ...] = ()  # reference kinds that performed events of this type (PERFORMED_BY)
    about: tuple[str, ...] = ()  # reference kinds events of this type are about (CONCERNS)

    def edge_type(self, kind: str) -> str | None:
        """PERFORMED_BY or CONCERNS for a reference kind (`by` wins when a kind is in both)."""
        return "PERFORMED_BY" if kind in self.by else "CONCERNS" if kind in self.about else None


@dataclass(frozen=True)
class TelemetryConfig:
    """How telemetry readings become device features."""

    load_window_days: int
    operating_hours_metrics: frozenset[str]
    load_metrics: frozenset[str]
    maintenance_metrics: frozenset[str]
    maintenance_interval_days: int


@dataclass(frozen=True)
class EventSchema:
    """All event types, the references every event may carry, and the telemetry settings."""

    types: dict[str, EventType]
    by: tuple[str, ...]
    about: tuple[str, ...]
    telemetry: TelemetryConfig


def load_event_schema(path: Path = EVENT_SCHEMA_FILE, ontology: Ontology | None = None) -> EventSchema:
    """Load and check the event schemas; `SchemaInvalid` names every problem."""
    ontology = ontology or default_ontology()
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    common = data.get("common", {}) or {}
    event_props = ontology.node_type("Event").properties
    known_types = set(ontology.enums.get("EventType", ()))
    issues: list[SchemaIssue] = []
    types: dict[str, EventType] = {}
    for name, spec in (data.get("event_types") or {}).items():
        spec = spec or {}
        if name not in known_types:
            issues.append(SchemaIssue(str(path), 0, f"event_types.{name}", f"not an EventType of the ontology ({', '.join(sorted(known_types))})"))
        fields = {**(common.get("fields") or {}), **(spec.get("fields") or {})}
        for field_name, prop in fields.items():
            if prop not in event_props:
                issues.append(SchemaIssue(str(path), 0, f"event_types.{name}.fields.{field_name}", f"Event has no property {prop!r}"))
        by = tuple(spec.get("by", common.get("by", [])) or [])
        about = tuple(spec.get("about", common.get("about", [])) or [])
        for ref in (*by, *about):
            if ref not in REFERENCE_LABELS:
                issues.append(SchemaIssue(str(path), 0, f"event_types.{name}", f"unknown reference kind {ref!r} (known: {', '.join(REFERENCE_LABELS)})"))
        types[name] = EventType(name, tuple(spec.get("required", []) or []), fields, bool(spec.get("aggregate", False)), by, about)
    for missing in sorted(known_types - set(types)):
        issues.append(SchemaIssue(str(path), 0, f"event_types.{missing}", "the ontology's EventType has no schema here"))
    for ref in (*common.get("by", []), *common.get("about", [])):
        if ref not in REFERENCE_LABELS:
            issues.append(SchemaIssue(str(path), 0, f"common.{ref}", f"unknown reference kind (known: {', '.join(REFERENCE_LABELS)})"))
    if issues:
        raise SchemaInvalid(issues)
    t = data.get("telemetry", {}) or {}
    telemetry = TelemetryConfig(
        load_window_days=int(t.get("load_window_days", 90)),
        operating_hours_metrics=frozenset(t.get("operating_hours_metrics", [])),
        load_metrics=frozenset(t.get("load_metrics", [])),
        maintenance_metrics=frozenset(t.get("maintenance_metrics", [])),
        maintenance_interval_days=int(t.get("maintenance_interval_days", 180)),
    )
    return EventSchema(types, tuple(common.get("by", [])), tuple(common.get("about", [])), telemetry)


@lru_cache(maxsize=1)
def default_event_schema() -> EventSchema:
    """The shipped event schemas, loaded once."""
    return load_event_schema()
