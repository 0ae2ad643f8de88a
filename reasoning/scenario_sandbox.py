"""The scenario sandbox: replay a scenario version over a window of history, and compare two versions.

`sandbox(store, scenario, features, since, until)` finds the events of the scenario's trigger
types that subjects performed in the window, and at each one (in time order) evaluates the
scenario for that subject as the graph stood then: features are read with `now` = the event's
time, so later events do not count and windows end there. Intent triggers replay at the moment
each intent of the trigger types was detected for its subject (its Intent node's `detected_at`:
the last time it crossed its threshold; earlier crossings are not kept). The first moment a
subject would have triggered is its hit, with the decision's outputs and the actions rendered
then; nothing is written and no action runs. A scenario without triggers is evaluated once, at
the window's end. `compare` runs two versions over the same window and reports who triggers under one only,
under both with another decision or other actions, and under both alike.

Cost: one feature read per feature for each trigger event until the subject triggers; `limit`
caps the events replayed (the run says when it was cut).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graph.store import GraphStore
from ontology.concepts import FeatureDef
from ontology.errors import BadInput
from ontology.intents import Condition, PathPattern, Step
from ontology.scenarios import ScenarioDef
from reasoning.concepts import parse_moment
from reasoning.intents import intent_node_id
from reasoning.scenarios import ScenarioHit, dry_run

DEFAULT_LIMIT = 20_000


@dataclass
class SandboxHit:
    """A subject the version would have triggered for: when, on which event, and what it would have done."""

    hit: ScenarioHit
    at: str
    event: str | None

    def summary(self) -> dict[str, Any]:
        """As plain data."""
        return {**self.hit.summary(), "at": self.at, "event": self.event}


@dataclass
class SandboxRun:
    """A version replayed over a window: its hits, how many events it looked at, whether it was cut."""

    scenario: str
    version: int
    since: str
    until: str
    events: int
    hits: list[SandboxHit] = field(default_factory=list)
    truncated: bool = False

    def summary(self) -> dict[str, Any]:
        """As plain data (`--json`, GraphQL)."""
        return {
            "scenario": self.scenario,
            "version": self.version,
            "since": self.since,
            "until": self.until,
            "events": self.events,
            "triggered": len(self.hits),
            "truncated": self.truncated,
            "hits": [h.summary() for h in self.hits],
        }


def trigger_pattern(scenario: ScenarioDef) -> PathPattern:
    """The events that trigger the scenario, as a path from its subject."""
    step = Step("PERFORMED_BY", "in", "Event", where=(Condition("event_type", "in", list(scenario.trigger_events)),))
    return PathPattern(scenario.subject, (step,), time_property="occurred_at", return_props=("event_type",))


def intent_pattern(scenario: ScenarioDef) -> PathPattern:
    """The intents about the scenario's subjects, dated by when they were detected (filtered to its trigger types by id)."""
    step = Step("OF", "in", "Intent")
    return PathPattern(scenario.subject, (step,), time_property="detected_at")


def _moments(store: GraphStore, scenario: ScenarioDef, since: datetime, until: datetime, subjects: Sequence[str] | None) -> list[tuple[datetime, str, str]]:
    """(when, subject id, what) of every trigger in the window: events of its types, intents of its types detected."""
    found: list[tuple[datetime, str, str]] = []
    patterns = ([trigger_pattern(scenario)] if scenario.trigger_events else []) + ([intent_pattern(scenario)] if scenario.trigger_intents else [])
    for pattern in patterns:
        for match in store.match_pattern(pattern, until, since, subjects):
            if match.evidence.label == "Intent" and match.evidence.id not in {intent_node_id(t, match.subject) for t in scenario.trigger_intents}:
                continue
            when = parse_moment(match.at)
            if when is not None and since <= when <= until:
                found.append((when, match.subject, str(match.evidence)))
    return sorted(found)


def sandbox(
    store: GraphStore,
    scenario: ScenarioDef,
    features: Mapping[str, FeatureDef],
    since: datetime,
    until: datetime,
    subjects: Sequence[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> SandboxRun:
    """Replay `scenario` over [since, until] (see the module doc); nothing is written."""
    if since >= until:
        raise BadInput(f"the window's start ({since.isoformat()}) must be before its end ({until.isoformat()})")
    result = SandboxRun(scenario.id, scenario.version, since.isoformat(timespec="seconds"), until.isoformat(timespec="seconds"), 0)
    if not scenario.trigger_keys:
        result.hits = [SandboxHit(h, result.until, None) for h in dry_run(store, scenario, features, until, subjects)]
        return result
    moments = _moments(store, scenario, since, until, subjects)
    triggered: set[str] = set()
    for when, subject, event in moments:
        if subject in triggered:
            continue
        if result.events >= limit:
            result.truncated = True
            break
        result.events += 1
        for hit in dry_run(store, scenario, features, when, [subject]):
            triggered.add(subject)
            result.hits.append(SandboxHit(hit, when.isoformat(timespec="seconds"), event))
    result.hits.sort(key=lambda h: (h.at, str(h.hit.subject)))
    return result


def compare(first: SandboxRun, second: SandboxRun) -> dict[str, Any]:
    """Two sandbox runs side by side, subject by subject (see the module doc)."""
    a = {str(h.hit.subject): h for h in first.hits}
    b = {str(h.hit.subject): h for h in second.hits}
    rows = []
    for subject in sorted(set(a) | set(b)):
        left, right = a.get(subject), b.get(subject)
        if left and right:
            same = left.hit.outputs == right.hit.outputs and left.hit.actions == right.hit.actions
            verdict = "same" if same else "different"
        else:
            verdict = f"only v{first.version}" if left else f"only v{second.version}"
        rows.append({"subject": subject, "verdict": verdict, "a": left.summary() if left else None, "b": right.summary() if right else None})
    counts = {verdict: sum(1 for r in rows if r["verdict"] == verdict) for verdict in dict.fromkeys(r["verdict"] for r in rows)}
    return {
        "scenario": first.scenario,
        "a": {k: v for k, v in first.summary().items() if k != "hits"},
        "b": {k: v for k, v in second.summary().items() if k != "hits"},
        "counts": counts,
        "subjects": rows,
    }
