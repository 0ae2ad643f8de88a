"""The active scenarios, compiled once and indexed by the event types that trigger them.

When an event arrives, only the scenarios listening for its type and its performer's subject type
matter (an intent firing is keyed `intent:<type>`: `ontology.scenarios.intent_trigger`).
`ScenarioIndex(scenarios)` compiles each one's condition (a ZEN expression) and decision table
(`reasoning.decision_table`) once and files it under its trigger types. `evaluate(event_type,
label, values)` runs the candidates against one subject's feature values: the conditions that
hold, then their tables; `needed(event_type, label)` names the features to read first, the union
over the candidates, so one read per feature serves them all (`evaluate_event` does both).

`ScenarioIndex.of(store)` rebuilds the index only when the registry changed (a fingerprint of the
versions' ids and statuses, and of the shipped files, read again at most every few seconds;
a change made in this process is seen at once), so a long-running worker pays the parsing once, not
per event.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.store import GraphStore, NodeRef
from ontology.concepts import FeatureDef, expression_names
from ontology.scenarios import SCENARIO_DIR, ScenarioDef
from reasoning.concepts import feature_values
from reasoning.decision_table import CompiledTable
from reasoning.scenario_versions import active_scenarios, registry_generation


@dataclass(frozen=True)
class CompiledScenario:
    """A scenario with its condition and decision table compiled."""

    scenario: ScenarioDef
    names: frozenset[str]
    condition: Any
    table: CompiledTable | None


@dataclass(frozen=True)
class _Cached:
    fingerprint: tuple[Any, ...]
    index: ScenarioIndex
    generation: tuple[int, str | None]
    checked: float


_CACHE: dict[int, _Cached] = {}


@dataclass(frozen=True)
class Triggered:
    """A scenario whose condition holds for the subject, with its decision's outputs."""

    scenario: ScenarioDef
    outputs: dict[str, Any]


class ScenarioIndex:
    """Compiled scenarios by (trigger event type, subject type)."""

    def __init__(self, scenarios: Iterable[ScenarioDef]) -> None:
        import zen

        self.by_trigger: dict[tuple[str, str], list[CompiledScenario]] = {}
        self._batches: dict[tuple[str, str], list[tuple[frozenset[str], list[int], Any]]] = {}
        self.size = 0
        #: The scenarios with a schedule, and the concepts some scenario watches for entries or exits.
        self.scheduled: list[ScenarioDef] = []
        self.watched: list[str] = []
        #: concept id -> the purposes of the scenarios watching it (theirs and their actions')
        self.watch_purposes: dict[str, set[str]] = {}
        for scenario in scenarios:
            if scenario.every_seconds:
                self.scheduled.append(scenario)
            for concept_id in (*scenario.trigger_enters, *scenario.trigger_leaves):
                purposes = {scenario.purpose, *(a.purpose for a in scenario.actions if a.purpose)}
                self.watch_purposes.setdefault(concept_id, set()).update(purposes)
            self.watched = sorted(self.watch_purposes)
            compiled = CompiledScenario(
                scenario,
                frozenset(expression_names(scenario.when)),
                zen.compile_expression(scenario.when),
                CompiledTable.of(scenario.decision, scenario.id) if scenario.decision is not None else None,
            )
            self.size += 1
            for event_type in scenario.trigger_keys:
                self.by_trigger.setdefault((event_type, scenario.subject), []).append(compiled)

    @classmethod
    def of(cls, store: GraphStore, max_age: float = 5.0) -> ScenarioIndex:
        """The index of the scenarios that run in `store`. Rebuilt when they changed: at once after
        a change made in this process, within `max_age` seconds after one made in another (the
        registry's fingerprint is read again at most that often)."""
        cached = _CACHE.get(id(store))
        first = store.scan_nodes("ScenarioVersion", limit=1, props=())  # a cleared store has no first version: one cheap read
        generation = (registry_generation(), first[0].id if first else None)
        if cached is not None and cached.generation == generation and time.monotonic() - cached.checked < max_age:
            return cached.index
        fingerprint = _fingerprint(store)
        if cached is None or cached.fingerprint != fingerprint:
            cached = _Cached(fingerprint, cls(active_scenarios(store)), generation, time.monotonic())
        else:
            cached = _Cached(fingerprint, cached.index, generation, time.monotonic())
        _CACHE[id(store)] = cached
        return cached.index

    def candidates(self, event_type: str, label: str) -> list[CompiledScenario]:
        """The scenarios an event of `event_type` performed by a `label` triggers a look at."""
        return self.by_trigger.get((event_type, label), [])

    def needed(self, event_type: str, label: str) -> list[str]:
        """The features the candidates need (conditions and table inputs), each once."""
        return list(dict.fromkeys(name for c in self.candidates(event_type, label) for name in c.scenario.features))

    def _groups(self, key: tuple[str, str]) -> list[tuple[frozenset[str], list[int], Any]]:
        """The candidates of `key` grouped by the features their conditions need, each group's
        conditions compiled as one ZEN expression (a list of booleans): one call per group."""
        if key not in self._batches:
            import zen

            by_names: dict[frozenset[str], list[int]] = {}
            for position, compiled in enumerate(self.by_trigger.get(key, [])):
                by_names.setdefault(compiled.names, []).append(position)
            groups = []
            for names, positions in by_names.items():
                text = "[" + ", ".join(f"({self.by_trigger[key][p].scenario.when})" for p in positions) + "]"
                groups.append((names, positions, zen.compile_expression(text)))
            self._batches[key] = groups
        return self._batches[key]

    def evaluate(self, event_type: str, label: str, values: Mapping[str, Any]) -> list[Triggered]:
        """The candidates whose condition holds for these feature values, with their decisions. A
        condition needing a value that is none does not hold. Conditions needing the same features
        are evaluated in one ZEN call (one by one when that call fails, e.g. on a text where a
        number was expected); table cells shared by several scenarios are tested once."""
        candidates = self.candidates(event_type, label)
        present = frozenset(k for k, v in values.items() if v is not None)
        holds = [False] * len(candidates)
        for names, positions, batch in self._groups((event_type, label)):
            if not names <= present:
                continue
            bound = {name: values[name] for name in names}
            try:
                answers = batch.evaluate(bound)
            except Exception:  # one condition cannot compare its values: ask each on its own
                answers = [_holds(candidates[p].condition, bound) for p in positions]
            for position, answer in zip(positions, answers, strict=True):
                holds[position] = answer is True
        cells: dict[tuple[str, str], bool] = {}
        return [Triggered(c.scenario, c.table.decide(values, cells) if c.table else {}) for c, hit in zip(candidates, holds, strict=True) if hit]


def _holds(condition: Any, bound: Mapping[str, Any]) -> bool:
    try:
        return condition.evaluate(bound) is True
    except Exception:  # a value of another type than the expression expects: it does not hold
        return False


def evaluate_event(
    store: GraphStore, index: ScenarioIndex, features: Mapping[str, FeatureDef], event_type: str, subject: NodeRef, now: datetime
) -> list[Triggered]:
    """The scenarios one event triggers for its performer: one read per feature the candidates need, then the index."""
    names = index.needed(event_type, subject.label)
    if not names:
        return []
    values = feature_values(store, [features[n] for n in names], now, [subject.id]).get(subject.id, {})
    return index.evaluate(event_type, subject.label, values)


def _fingerprint(store: GraphStore) -> tuple[Any, ...]:
    """The registry's state: each version's id and status (a saved version's text never changes:
    a change is a new version), and the shipped files' names and times."""
    versions: list[tuple[str, str]] = []
    after: str | None = None
    while True:
        page = store.scan_nodes("ScenarioVersion", after=after, limit=5000, props=("version_status",))
        versions += [(n.id, str(n.props.get("version_status"))) for n in page]
        if len(page) < 5000:
            break
        after = page[-1].id
    files = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in SCENARIO_DIR.glob("*.yaml")))
    return tuple(versions), files
