"""Scenarios evaluated on the graph, as a dry run: who would trigger, with which decision and actions.

`dry_run(store, scenario, features, now)` reads the scenario's features for its subjects
(`reasoning.concepts`), keeps those whose condition holds, runs the decision table with GoRules
ZEN's unary tests (`reasoning.decision_table`, the same cells as the JDM graph of
`ontology.scenarios.decision_model`) and renders each action's title and message with the
outputs, the features and the subject's name. Nothing is written and no action runs: this is
what `khub scenario test` shows, and what a sandbox compares between versions.

`run(store, scenario, features, now)` does the same and then carries out the task actions: a Task
node per subject and action (`TASK_FOR` the subject, open, due in the action's days), with a
deterministic id, so running again updates the task's text but never reopens a done one nor moves
its due date. Each action serves a purpose (its own, else the scenario's, by default
service): for a subject whose behavioural data that purpose may not use (`graph.consent`), the
action does not run and says why. Webhook actions go through the `ActionRunner` given to `run`
(signed, retried, dead-lettered and audited like an intent's; payload event `scenario.fired`,
docs/actions.md), at most once per subject within the scenario's `cooldown_hours`; without a
runner (a library caller) they are listed as skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from graph.consent import subject_decisions, withholds
from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef
from ontology.concepts import ConceptDef, FeatureDef, expression_names
from ontology.intents import ActionSpec
from ontology.model import PrivacyCategory
from ontology.purposes import Purpose, default_purposes
from ontology.scenarios import ScenarioDef
from reasoning.actions import PAYLOAD_VERSION, ActionRunner, render_template
from reasoning.concepts import feature_values, satisfies, subject_ids
from reasoning.decision_table import CompiledTable

BEHAVIOURAL = PrivacyCategory.BEHAVIOURAL.value
#: The `event` field of a scenario webhook's body.
SCENARIO_PAYLOAD_EVENT = "scenario.fired"
NAME_PROPERTIES = ("name", "full_name", "title", "serial")


@dataclass
class ScenarioHit:
    """One subject a scenario would trigger for: its features, the decision's outputs, the actions."""

    subject: NodeRef
    name: str
    features: dict[str, float | None]
    outputs: dict[str, Any]
    actions: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """As plain data (`--json`, GraphQL)."""
        return {"subject": str(self.subject), "name": self.name, "features": self.features, "outputs": self.outputs, "actions": self.actions}


def compile_decision(scenario: ScenarioDef) -> CompiledTable | None:
    """The scenario's decision table, compiled once (None without a table; `reasoning.decision_table`)."""
    return CompiledTable.of(scenario.decision, scenario.id) if scenario.decision is not None else None


def decide(scenario: ScenarioDef, values: Mapping[str, float | None], decision: CompiledTable | None = None) -> dict[str, Any]:
    """The decision table's outputs for one subject's features (empty without a table; `collect` gives
    `rows`); `decision`: the table from `compile_decision`, when evaluating many subjects."""
    decision = decision or compile_decision(scenario)
    return decision.decide(values) if decision is not None else {}


def _variables(scenario: ScenarioDef, hit: ScenarioHit, role: str, due_at: str) -> dict[str, Any]:
    values: dict[str, Any] = {k: ("" if v is None else (round(v, 2) if isinstance(v, float) else v)) for k, v in hit.features.items()}
    values.update({k: v for k, v in hit.outputs.items() if k != "rows"})
    values.update(
        {
            "scenario_id": scenario.id,
            "subject_label": hit.subject.label,
            "subject_id": hit.subject.id,
            "subject_name": hit.name,
            "role": role,
            "due_at": due_at,
            "due_date": due_at[:10],
        }
    )
    return values


def dry_run(
    store: GraphStore, scenario: ScenarioDef, features: Mapping[str, FeatureDef], now: datetime, subjects: Sequence[str] | None = None
) -> list[ScenarioHit]:
    """Who the scenario would trigger for now (among `subjects`, else every subject of its type), and what would happen; nothing runs."""
    import zen

    ids = list(subjects) if subjects is not None else subject_ids(store, scenario.subject)
    values = feature_values(store, [features[n] for n in scenario.features], now, ids)
    condition = ConceptDef(scenario.id, scenario.subject, scenario.when, tuple(expression_names(scenario.when)))
    compiled = zen.compile_expression(scenario.when)
    chosen = [s for s in ids if satisfies(condition, values.get(s, {}), compiled)]
    nodes = store.get_many([NodeRef(scenario.subject, s) for s in chosen])
    decision = compile_decision(scenario)
    hits = []
    for subject_id in sorted(chosen):
        ref = NodeRef(scenario.subject, subject_id)
        node = nodes.get(ref)
        name = next((str(node.props[p]) for p in NAME_PROPERTIES if node is not None and node.props.get(p)), subject_id)
        hit = ScenarioHit(ref, name, values.get(subject_id, {}), decide(scenario, values.get(subject_id, {}), decision))
        for action in scenario.actions:
            due_at = (now + timedelta(days=action.due_in_days)).isoformat(timespec="seconds")
            variables = _variables(scenario, hit, action.role or "", due_at)
            where = f"scenario {scenario.id} {action.kind}({action.role or action.url})"
            hit.actions.append(
                {
                    "kind": action.kind,
                    "role": action.role,
                    "title": render_template(action.title, variables, f"{where}.title") if action.title else "",
                    "message": render_template(action.message, variables, f"{where}.message") if action.message else "",
                    "purpose": action_purpose(scenario, action),
                }
            )
        hits.append(hit)
    return hits


def action_purpose(scenario: ScenarioDef, spec: ActionSpec) -> str:
    """The purpose a scenario action serves: its own, else the scenario's."""
    return spec.purpose or scenario.purpose


def behaviour_withheld(store: GraphStore, purpose: str, subjects: Sequence[NodeRef], now: datetime) -> dict[NodeRef, str]:
    """Subject -> why, for the subjects whose behavioural data `purpose` may not use (no consent,
    no legal basis: `graph.consent`); one consent read per subject type."""
    spec = default_purposes().purposes.get(purpose) or Purpose(purpose, "", "")
    decided = subject_decisions(store, spec, subjects, now.isoformat(timespec="seconds"), lambda _label: {BEHAVIOURAL})
    return {subject: decision.reasons.get(BEHAVIOURAL, "no consent") for subject, decision in decided.items() if withholds(subject, decision, BEHAVIOURAL)}


def _withheld(store: GraphStore, scenario: ScenarioDef, subjects: Sequence[NodeRef], now: datetime) -> dict[tuple[str, NodeRef], str]:
    """(purpose, subject) -> why, for the subjects whose behaviour (what put them in the scenario)
    an action's purpose may not use: that action does not run for them."""
    out: dict[tuple[str, NodeRef], str] = {}
    for purpose in sorted({action_purpose(scenario, a) for a in scenario.actions}):
        out.update({(purpose, subject): why for subject, why in behaviour_withheld(store, purpose, subjects, now).items()})
    return out


def scenario_task_id(scenario: ScenarioDef, subject: NodeRef, index: int) -> str:
    """The deterministic id of the Task the `index`-th action of a scenario creates for a subject."""
    return "task-" + hashlib.sha256(f"scenario:{scenario.id}\x1f{subject}\x1f{index}".encode()).hexdigest()[:24]


def scenario_webhook_payload(
    scenario: ScenarioDef, hit: ScenarioHit, action: Mapping[str, Any], key: str, delivery_id: str, created_at: str, experiment: tuple[str, str] | None
) -> dict[str, Any]:
    """The JSON object a scenario's webhook receives (docs/actions.md): which scenario version
    fired, for whom, with the decision's outputs, the features it read and the rendered texts."""
    return {
        "event": SCENARIO_PAYLOAD_EVENT,
        "version": PAYLOAD_VERSION,
        "delivery_id": delivery_id,
        "created_at": created_at,
        "action": key,
        "scenario": {
            "id": scenario.id,
            "version": scenario.version,
            "purpose": action["purpose"],
            "experiment": {"id": experiment[0], "arm": experiment[1]} if experiment else None,
        },
        "subject": {"label": hit.subject.label, "id": hit.subject.id, "name": hit.name},
        "outputs": {k: v for k, v in hit.outputs.items()},
        "features": dict(hit.features),
        "title": action["title"],
        "message": action["message"],
    }


def _send_webhook(
    runner: ActionRunner,
    scenario: ScenarioDef,
    hit: ScenarioHit,
    spec: ActionSpec,
    index: int,
    action: dict[str, Any],
    now: datetime,
    experiment: tuple[str, str] | None,
) -> None:
    where = f"scenario {scenario.id} actions[{index}]"
    key = f"webhook:{index}"
    result = runner.send_webhook(
        spec,
        lambda delivery_id: scenario_webhook_payload(scenario, hit, action, key, delivery_id, now.isoformat(timespec="seconds"), experiment),
        hit.subject,
        action["purpose"],
        {"scenario": scenario.id, "scenario_version": str(scenario.version)},
        f"scenario:{scenario.id}\x1f{hit.subject}\x1f{key}",
        scenario.cooldown_hours * 3600,
        where,
    )
    action["status"] = result.status if result.ok else f"{result.status}: {result.detail}"
    if result.delivery_id:
        action["delivery_id"] = result.delivery_id


def _exposures(store: GraphStore, hits: Sequence[ScenarioHit], experiment: tuple[str, str], now: datetime) -> list[EdgeRecord]:
    """The `IN_EXPERIMENT` edges of the subjects triggered under an experiment for the first time
    (an action of theirs ran or was tried: not all withheld), so its report counts them whatever the actions."""
    exposed = [h.subject for h in hits if any(not str(a.get("status", "")).startswith("withheld") for a in h.actions)]
    target = NodeRef("Experiment", experiment[0])
    already = {e.src for e in store.edges_from(exposed, "IN_EXPERIMENT") if e.dst == target} if exposed else set()
    props = {"experiment_arm": experiment[1], "triggered_at": now.isoformat(timespec="seconds")}
    return [
        EdgeRecord("IN_EXPERIMENT", subject, target, dict(props), source_id=f"experiment:{experiment[0]}", extractor="khub.scenarios/1", valid_from=now)
        for subject in exposed
        if subject not in already
    ]


def run(
    store: GraphStore,
    scenario: ScenarioDef,
    features: Mapping[str, FeatureDef],
    now: datetime,
    subjects: Sequence[str] | None = None,
    experiment: tuple[str, str] | None = None,
    runner: ActionRunner | None = None,
) -> list[ScenarioHit]:
    """`dry_run`, then carry out the actions (see the module doc); each action of a hit gets
    `status` (and `task` or `delivery_id`). A task records the scenario version that created it and, under an A/B
    `experiment` (id, arm), the experiment and arm (set when the task is created, never moved).
    `runner` sends the webhook actions (`reasoning.runtime.build_action_runner`)."""
    hits = dry_run(store, scenario, features, now, subjects)
    created = {"task_status": "open", "created_at": now.isoformat(timespec="seconds"), "scenario_version": scenario.version}
    if experiment is not None:
        created.update({"experiment_id": experiment[0], "experiment_arm": experiment[1]})
    nodes: list[NodeRecord] = []
    edges: list[EdgeRecord] = []
    withheld = _withheld(store, scenario, [h.subject for h in hits], now)
    for hit in hits:
        for index, (spec, action) in enumerate(zip(scenario.actions, hit.actions, strict=True)):
            purpose = action["purpose"]
            if (why := withheld.get((purpose, hit.subject))) is not None:
                action["status"] = f"withheld: the purpose {purpose} may not use this subject's behavioural data ({why})"
                continue
            if spec.kind == "webhook":
                if runner is None:
                    action["status"] = "skipped: no action runner given (khub's CLI, worker and API send webhooks)"
                else:
                    _send_webhook(runner, scenario, hit, spec, index, action, now, experiment)
                continue
            task = NodeRef("Task", scenario_task_id(scenario, hit.subject, index))
            due_at = (now + timedelta(days=spec.due_in_days)).isoformat(timespec="seconds")
            props = {
                "title": action["title"],
                "description": action["message"],
                "action_type": f"scenario:{scenario.id}",
                "assignee_role": spec.role or "",
                "scenario_id": scenario.id,
            }
            nodes.append(NodeRecord("Task", task.id, props, defaults={**created, "due_at": due_at}))
            edges.append(EdgeRecord("TASK_FOR", task, hit.subject, source_id=f"scenario:{scenario.id}", extractor="khub.scenarios/1", valid_from=now))
            action.update({"status": "done", "task": task.id})
    if experiment is not None:
        edges += _exposures(store, hits, experiment, now)
    if nodes or edges:
        written = store.upsert(nodes, edges)
        refused = {r.item for r in written.rejected}
        for hit in hits:
            for action in hit.actions:
                if action.get("task") and f"Task:{action['task']}" in refused:
                    action["status"] = "failed: the store refused the task"
    return hits
