"""Scenario triggers that are not events: schedules and concept membership.

**Schedules** (`trigger: {every: 1d}`): a scenario runs for every subject of its type once per
period. `due(store, scenarios, now)` names the scheduled scenarios whose period has passed since
they last ran (a `ScenarioSchedule` node keeps when; a scenario that never ran is due).

**Concept membership** (`trigger: {enters: [high_potential_customer]}` or `leaves:`): khub keeps,
per subject and watched concept, whether the subject was in it when last evaluated (an
`IN_CONCEPT` edge with `in_concept` and `changed_at`). `track_membership` evaluates the concepts
for some subjects (or all), reports who entered and who left, and records the new state. The
first evaluation of a concept only records the baseline: a scenario deployed today does not
fire for every subject already in the concept. Membership changes when events arrive (the
worker evaluates the performers of new events: `reasoning.scenario_dispatch.on_touched`) and
when time passes (windows slide: `tick` evaluates every subject).

`tick(store, features, now, runner)` does both for every active scenario: what `khub worker`
runs periodically and `khub scenario tick` once (for cron).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef
from ontology.concepts import ConceptDef, FeatureDef, default_concepts, default_features, load_concepts
from ontology.scenarios import ScenarioDef, concept_trigger
from reasoning.actions import ActionRunner
from reasoning.concepts import members, parse_moment, subject_ids
from reasoning.scenarios import ScenarioHit, behaviour_withheld

SCHEDULE_LABEL = "ScenarioSchedule"
CONCEPT_LABEL = "Concept"
IN_CONCEPT = "IN_CONCEPT"
EXTRACTOR = "khub.scenario_triggers/1"


def due(store: GraphStore, scenarios: Iterable[ScenarioDef], now: datetime) -> list[ScenarioDef]:
    """The scheduled scenarios whose period has passed since they last ran (or that never ran)."""
    scheduled = [s for s in scenarios if s.every_seconds]
    if not scheduled:
        return []
    last = store.get_many([NodeRef(SCHEDULE_LABEL, s.id) for s in scheduled], ["last_run_at"])
    out = []
    for scenario in scheduled:
        node = last.get(NodeRef(SCHEDULE_LABEL, scenario.id))
        ran = parse_moment(str(node.props.get("last_run_at"))) if node is not None and node.props.get("last_run_at") else None
        if ran is None or now - ran >= timedelta(seconds=scenario.every_seconds or 0):
            out.append(scenario)
    return out


def record_run(store: GraphStore, scenario_id: str, now: datetime) -> None:
    """Remember that a scheduled scenario ran at `now`."""
    store.upsert([NodeRecord(SCHEDULE_LABEL, scenario_id, {"scenario_id": scenario_id, "last_run_at": now.isoformat(timespec="seconds")})])


def permitted(store: GraphStore, label: str, ids: Sequence[str], purposes: Iterable[str], now: datetime) -> list[str]:
    """The subjects among `ids` whose behavioural data at least one of `purposes` may use (their
    consent or the purpose's legal basis, `graph.consent`): the only ones whose concept
    membership khub may evaluate and keep for those purposes."""
    refs = [NodeRef(label, i) for i in ids]
    allowed: set[str] = set()
    for name in sorted(set(purposes)):
        withheld = behaviour_withheld(store, name, refs, now)
        allowed |= {ref.id for ref in refs if ref not in withheld}
    return [i for i in ids if i in allowed]


def track_membership(
    store: GraphStore,
    concepts: Sequence[ConceptDef],
    features: Mapping[str, FeatureDef],
    now: datetime,
    subjects: Mapping[str, Sequence[str]] | None = None,
    purposes: Mapping[str, Iterable[str]] | None = None,
) -> list[tuple[str, NodeRef]]:
    """Evaluate `concepts` for `subjects` (ids per subject type; None: every subject) and record
    the membership; the changes as (trigger key, subject): `concept:enter:<id>` or
    `concept:leave:<id>`. A concept evaluated for the first time records its baseline and
    reports no change (see the module doc). With `purposes` (concept id -> the purposes of the
    scenarios watching it), only subjects one of them may use are evaluated (`permitted`): a
    person who refused has no membership computed or kept for it."""
    changes: list[tuple[str, NodeRef]] = []
    tracked = store.get_many([NodeRef(CONCEPT_LABEL, c.id) for c in concepts], ["name"])
    for concept in concepts:
        ids = list(subjects.get(concept.subject, [])) if subjects is not None else subject_ids(store, concept.subject)
        if ids and purposes is not None:
            ids = permitted(store, concept.subject, ids, purposes.get(concept.id, ()), now)
        if not ids:
            continue
        concept_ref = NodeRef(CONCEPT_LABEL, concept.id)
        now_in = set(members(store, concept, features, now, ids))
        refs = [NodeRef(concept.subject, i) for i in ids]
        was_in = {e.src.id for e in store.edges_from(refs, IN_CONCEPT) if e.dst == concept_ref and e.props.get("in_concept") is True}
        entered = sorted(now_in - was_in)
        left = sorted((was_in - now_in) & set(ids))
        first_time = concept_ref not in tracked
        edges = [_membership(concept.subject, s, concept_ref, True, now) for s in entered]
        edges += [_membership(concept.subject, s, concept_ref, False, now) for s in left]
        nodes = [NodeRecord(CONCEPT_LABEL, concept.id, {"name": concept.id, "description": concept.description_en})] if first_time else []
        if nodes or edges:
            store.upsert(nodes, edges)
        if first_time:
            continue
        changes += [(concept_trigger(concept.id, "enter"), NodeRef(concept.subject, s)) for s in entered]
        changes += [(concept_trigger(concept.id, "leave"), NodeRef(concept.subject, s)) for s in left]
    return changes


def _membership(label: str, subject_id: str, concept: NodeRef, inside: bool, now: datetime) -> EdgeRecord:
    stamp = now.isoformat(timespec="seconds")
    return EdgeRecord(
        IN_CONCEPT,
        NodeRef(label, subject_id),
        concept,
        {"in_concept": inside, "changed_at": stamp},
        source_id=f"concept:{concept.id}",
        extractor=EXTRACTOR,
        valid_from=now,
    )


def concepts_by_id(ids: Iterable[str], features: Mapping[str, FeatureDef]) -> list[ConceptDef]:
    """The shipped concepts named by `ids` (those a scenario watches), with `features` (default: the shipped ones, loaded once)."""
    wanted = set(ids)
    if not wanted:
        return []
    catalogue = default_concepts() if features is default_features() else {c.id: c for c in load_concepts(features=features)}
    return [c for cid, c in sorted(catalogue.items()) if cid in wanted]


def tick(store: GraphStore, features: Mapping[str, FeatureDef], now: datetime, runner: ActionRunner | None = None) -> dict[str, list[ScenarioHit]]:
    """Run what time alone triggers (see the module doc): the scheduled scenarios that are due, for
    every subject; then the concept-membership changes of every subject, through the scenarios
    listening for them. Scenario id -> hits."""
    from reasoning.scenario_dispatch import on_events, run_safely
    from reasoning.scenario_index import ScenarioIndex

    index = ScenarioIndex.of(store)
    fired: dict[str, list[ScenarioHit]] = {}
    for scenario in due(store, index.scheduled, now):
        hits = run_safely(store, scenario.id, features, now, None, scenario, runner)
        record_run(store, scenario.id, now)  # a failure is in the dead-letter record (every subject: `*`); the schedule goes on
        if hits:
            fired[scenario.id] = hits
    watched = concepts_by_id(index.watched, features)
    if watched:
        changes = track_membership(store, watched, features, now, None, index.watch_purposes)
        for scenario_id, hits in on_events(store, changes, features, now, runner).items():
            fired.setdefault(scenario_id, []).extend(hits)
    return fired
