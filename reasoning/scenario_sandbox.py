"""The scenario sandbox: replay a scenario version over a window of history, and compare two versions.

`sandbox(store, scenario, features, since, until)` finds the events of the scenario's trigger
types that subjects performed in the window, and at each one (in time order) evaluates the
scenario for that subject as the graph stood then: features are read with `now` = the event's
time, so later events do not count and windows end there. Intent triggers replay at the moment
each intent of the trigger types was detected for its subject (its Intent node's `detected_at`:
the last time it crossed its threshold; earlier crossings are not kept). A schedule replays at
each of its moments from the window's start, for every subject. Concept-membership triggers
replay where the concept, evaluated once a day over the window (the start as the baseline),
gained or lost the subject. The first moment a subject would have triggered is its hit, with
the decision's outputs and the actions rendered then; nothing is written and no action runs. A
scenario without triggers is evaluated once, at the window's end. `compare` runs two versions
over the same window and reports who triggers under one only, under both with another decision
or other actions, and under both alike.

Cost: one feature read per feature for each moment, for the subjects not yet triggered then;
`limit` caps the subject evaluations (the run says when it was cut).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from graph.store import GraphStore
from ontology.concepts import FeatureDef
from ontology.errors import BadInput
from ontology.intents import Condition, PathPattern, Step
from ontology.scenarios import ScenarioDef, concept_trigger
from reasoning.concepts import members, parse_moment, subject_ids
from reasoning.intents import intent_node_id
from reasoning.scenarios import ScenarioHit, dry_run

DEFAULT_LIMIT = 20_000
#: The most moments a schedule or a concept's daily evaluation is replayed at in one window.
MAX_STEPS = 400


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
    if not scenario.trigger_keys and not scenario.every_seconds:
        result.hits = [SandboxHit(h, result.until, None) for h in dry_run(store, scenario, features, until, subjects)]
        return result
    moments = _moments(store, scenario, since, until, subjects)
    moments += _membership_moments(store, scenario, features, since, until, subjects)
    everyone = (list(subjects) if subjects is not None else subject_ids(store, scenario.subject)) if scenario.every_seconds else []
    moments += [(when, None, "schedule") for when in _schedule(scenario, since, until)]
    triggered: set[str] = set()
    by_time: dict[datetime, dict[str, str]] = {}
    for when, subject, what in sorted(moments, key=lambda m: (m[0], m[1] or "")):
        for one in [subject] if subject is not None else everyone:
            by_time.setdefault(when, {}).setdefault(one, what)
    for when, whats in sorted(by_time.items()):
        todo = [s for s in whats if s not in triggered]
        if not todo:
            continue
        if result.events + len(todo) > limit:
            result.truncated = True
            break
        result.events += len(todo)
        for hit in dry_run(store, scenario, features, when, todo):
            triggered.add(hit.subject.id)
            result.hits.append(SandboxHit(hit, when.isoformat(timespec="seconds"), whats[hit.subject.id]))
    result.hits.sort(key=lambda h: (h.at, str(h.hit.subject)))
    return result


def _schedule(scenario: ScenarioDef, since: datetime, until: datetime) -> list[datetime]:
    """The moments a scheduled scenario would have run in the window (from its start, every period; at most MAX_STEPS)."""
    if not scenario.every_seconds:
        return []
    step = timedelta(seconds=scenario.every_seconds)
    count = min(MAX_STEPS, int((until - since) / step) + 1)
    return [since + i * step for i in range(count)]


def _membership_moments(
    store: GraphStore, scenario: ScenarioDef, features: Mapping[str, FeatureDef], since: datetime, until: datetime, subjects: Sequence[str] | None
) -> list[tuple[datetime, str | None, str]]:
    """(when, subject, trigger) of every entry into or exit from a watched concept in the window,
    seen by evaluating the concept once a day (at most MAX_STEPS times, evenly spread), from the
    window's start as the baseline."""
    pairs = [(c, "enter") for c in scenario.trigger_enters] + [(c, "leave") for c in scenario.trigger_leaves]
    if not pairs:
        return []
    from reasoning.scenario_triggers import concepts_by_id

    concepts = {c.id: c for c in concepts_by_id({c for c, _ in pairs}, features)}
    ids = list(subjects) if subjects is not None else subject_ids(store, scenario.subject)
    days = max(1, int((until - since) / timedelta(days=1)))
    steps = [since + (until - since) * i / min(days, MAX_STEPS) for i in range(min(days, MAX_STEPS) + 1)]
    found: list[tuple[datetime, str | None, str]] = []
    for concept_id in sorted({c for c, _ in pairs}):
        concept = concepts[concept_id]
        before = set(members(store, concept, features, steps[0], ids))
        for when in steps[1:]:
            now_in = set(members(store, concept, features, when, ids))
            if (concept_id, "enter") in pairs:
                found += [(when, s, concept_trigger(concept_id, "enter")) for s in sorted(now_in - before)]
            if (concept_id, "leave") in pairs:
                found += [(when, s, concept_trigger(concept_id, "leave")) for s in sorted(before - now_in)]
            before = now_in
    return found


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
