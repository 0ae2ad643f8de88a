"""Which version of a scenario runs for whom: the live one, or an A/B experiment's arms.

`execute(store, scenario_id, features, now, subjects)` runs a scenario for real (its task
actions; `reasoning.scenarios.run`): when an experiment runs on it, each subject gets its arm's
version (`reasoning.scenario_ab.arm`) and its tasks record the experiment and the arm; otherwise
the version that runs (`reasoning.scenario_versions.find_scenario`: the live version, or the
shipped file). `on_events(store, events, features, now)` is the event trigger: for the subjects
who performed events of a scenario's trigger types, it executes that scenario for them only;
`on_touched` finds those (event type, performer) pairs among the nodes a write touched, which is
how `khub worker` runs scenarios as events arrive. `on_intents` is the intent trigger: the
subjects an intent of a scenario's trigger types fired for (the engine's `on_fired`,
`reasoning.runtime.build_engine`).

A scenario that fails for some subjects (a store error, a value its expressions cannot compare)
does not stop the others: `run_safely` logs it and, with an action runner, records each subject in
the dead-letter record (kind `scenario`, item `scenario:<id>:<Type:id>`), which `retry_failed`
(`khub scenario retry`) runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from graph.store import GraphStore, NodeRef
from ontology.concepts import FeatureDef
from ontology.intents import SUBJECT_LABELS
from ontology.scenarios import ScenarioDef, intent_trigger
from reasoning.actions import ActionRunner
from reasoning.concepts import subject_ids
from reasoning.scenario_ab import Experiments, arm
from reasoning.scenario_index import ScenarioIndex, evaluate_event
from reasoning.scenario_versions import ScenarioRegistry, find_scenario
from reasoning.scenarios import ScenarioHit, run


def execute(
    store: GraphStore,
    scenario_id: str,
    features: Mapping[str, FeatureDef],
    now: datetime,
    subjects: Sequence[str] | None = None,
    scenario: ScenarioDef | None = None,
    runner: ActionRunner | None = None,
) -> list[ScenarioHit]:
    """Run the scenario now (see the module doc); the hits of every arm, by subject. `scenario`:
    the version that runs, when the caller already has it; `runner` sends its webhooks."""
    experiment = Experiments(store).running(scenario_id)
    if experiment is None:
        return run(store, scenario or find_scenario(store, scenario_id), features, now, subjects, runner=runner)
    registry = ScenarioRegistry(store)
    versions = {"A": registry.version(scenario_id, experiment.version_a).scenario(), "B": registry.version(scenario_id, experiment.version_b).scenario()}
    label = versions["A"].subject
    ids = list(subjects) if subjects is not None else subject_ids(store, label)
    split: dict[str, list[str]] = {"A": [], "B": []}
    for subject in ids:
        split[arm(experiment.id, NodeRef(label, subject), experiment.share_b)].append(subject)
    hits: list[ScenarioHit] = []
    for side, version in versions.items():
        if split[side]:
            hits += run(store, version, features, now, split[side], experiment=(experiment.id, side), runner=runner)
    return sorted(hits, key=lambda h: str(h.subject))


def on_events(
    store: GraphStore, events: Iterable[tuple[str, NodeRef]], features: Mapping[str, FeatureDef], now: datetime, runner: ActionRunner | None = None
) -> dict[str, list[ScenarioHit]]:
    """The event trigger: `events` are (event type, the subject who performed it). Each subject is
    evaluated against the scenarios listening for that type (`reasoning.scenario_index`: one read
    per feature they need, then their conditions and tables); each scenario whose condition holds
    runs for those subjects (a scenario under an A/B test runs for all of them: its arm may
    decide otherwise than the live version). Scenario id -> hits."""
    index = ScenarioIndex.of(store)
    testing = {e.scenario_id for e in Experiments(store).all_running()}
    todo: dict[str, tuple[ScenarioDef, set[str]]] = {}
    for event_type, subject in dict.fromkeys(events):
        chosen = [t.scenario for t in evaluate_event(store, index, features, event_type, subject, now)]
        chosen += [c.scenario for c in index.candidates(event_type, subject.label) if c.scenario.id in testing]
        for scenario in chosen:
            todo.setdefault(scenario.id, (scenario, set()))[1].add(subject.id)
    fired = {sid: run_safely(store, sid, features, now, sorted(ids), scenario, runner) for sid, (scenario, ids) in sorted(todo.items())}
    return {sid: hits for sid, hits in fired.items() if hits}


def on_touched(
    store: GraphStore, refs: Sequence[NodeRef], features: Mapping[str, FeatureDef], now: datetime, runner: ActionRunner | None = None
) -> dict[str, list[ScenarioHit]]:
    """The triggers of the nodes a batch of writes touched, through `on_events`: their events' types
    and performers, and the concept-membership changes of those performers and of the subjects
    written (`reasoning.scenario_triggers.track_membership`, for the concepts a scenario watches)."""
    from reasoning.scenario_triggers import concepts_by_id, track_membership

    events = [r for r in refs if r.label == "Event"]
    pairs: list[tuple[str, NodeRef]] = []
    if events:
        kinds = {ref: str(node.props.get("event_type", "")) for ref, node in store.get_many(events, props=["event_type"]).items()}
        pairs = [(kinds.get(edge.src, ""), edge.dst) for edge in store.edges_from(events, "PERFORMED_BY")]
    index = ScenarioIndex.of(store)
    watched = concepts_by_id(index.watched, features)
    if watched:
        subjects: dict[str, list[str]] = {}
        for ref in dict.fromkeys([p[1] for p in pairs] + [r for r in refs if r.label in SUBJECT_LABELS]):
            subjects.setdefault(ref.label, []).append(ref.id)
        pairs += track_membership(store, watched, features, now, subjects, index.watch_purposes)
    pairs = [p for p in pairs if p[0]]
    return on_events(store, pairs, features, now, runner) if pairs else {}


def on_intents(
    store: GraphStore, fired: Iterable[tuple[str, NodeRef]], features: Mapping[str, FeatureDef], now: datetime, runner: ActionRunner | None = None
) -> dict[str, list[ScenarioHit]]:
    """The intent trigger: `fired` are (intent type, the subject it fired for), evaluated as `on_events` does events."""
    return on_events(store, [(intent_trigger(kind), subject) for kind, subject in fired], features, now, runner)


#: The dead-letter kind of a scenario that failed for a subject.
DEADLETTER_KIND = "scenario"


def failure_item(scenario_id: str, subject: NodeRef) -> str:
    """The dead-letter item of a scenario that failed for a subject."""
    return f"scenario:{scenario_id}:{subject}"


def run_safely(
    store: GraphStore,
    scenario_id: str,
    features: Mapping[str, FeatureDef],
    now: datetime,
    subjects: Sequence[str] | None,
    scenario: ScenarioDef | None = None,
    runner: ActionRunner | None = None,
) -> list[ScenarioHit]:
    """`execute`, never raising: a failure is logged and, with a runner, each subject goes to the
    dead-letter record (see the module doc)."""
    try:
        return execute(store, scenario_id, features, now, subjects, scenario, runner)
    except Exception as exc:  # one scenario must not stop the others, nor the worker
        label = scenario.subject if scenario is not None else "?"
        logging.getLogger(__name__).warning("scenario %s failed for %s subject(s): %s", scenario_id, len(subjects or []) or "every", exc)
        if runner is not None:
            for subject in subjects if subjects is not None else ["*"]:
                runner.deadletter.record_failure(failure_item(scenario_id, NodeRef(label, subject)), DEADLETTER_KIND, f"scenario {scenario_id}: {exc}")
        return []


def retry_failed(store: GraphStore, features: Mapping[str, FeatureDef], now: datetime, runner: ActionRunner) -> dict[str, list[ScenarioHit]]:
    """Run again, for their subjects, the scenarios the dead-letter record holds (`khub scenario retry`):
    each item is cleared first, and recorded again if the scenario fails again."""
    todo: dict[str, list[str]] = {}
    items: dict[str, list[str]] = {}
    for item, failure in runner.deadletter.pending().items():
        if failure.kind != DEADLETTER_KIND:
            continue
        _, scenario_id, ref = item.split(":", 2)
        todo.setdefault(scenario_id, []).append(ref.split(":", 1)[1] if ":" in ref else ref)
        items.setdefault(scenario_id, []).append(item)
    out: dict[str, list[ScenarioHit]] = {}
    for scenario_id, ids in sorted(todo.items()):
        try:
            scenario = find_scenario(store, scenario_id)
        except Exception as exc:  # retired or unknown now: the failures stay, named
            logging.getLogger(__name__).warning("scenario %s cannot be retried: %s", scenario_id, exc)
            continue
        subjects = None if "*" in ids else sorted(set(ids))
        for item in items[scenario_id]:
            runner.deadletter.record_success(item)
        out[scenario_id] = run_safely(store, scenario_id, features, now, subjects, scenario, runner)
    return out
