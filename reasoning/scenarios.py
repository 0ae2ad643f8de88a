"""Scenarios evaluated on the graph, as a dry run: who would trigger, with which decision and actions.

`dry_run(store, scenario, features, now)` reads the scenario's features for its subjects
(`reasoning.concepts`), keeps those whose condition holds, runs the decision table with GoRules
ZEN (`ontology.scenarios.decision_model`) and renders each action's title and message with the
outputs, the features and the subject's name. Nothing is written and no action runs: this is
what `khub scenario test` shows, and what a sandbox compares between versions.

`run(store, scenario, features, now)` does the same and then carries out the task actions: a Task
node per subject and action (`TASK_FOR` the subject, open, due in the action's days), with a
deterministic id, so running again updates the task's text but never reopens a done one nor moves
its due date. Webhook actions of scenarios are not sent yet (they are listed as skipped).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef
from ontology.concepts import ConceptDef, FeatureDef, expression_names, zen_message
from ontology.errors import BadInput
from ontology.scenarios import ScenarioDef, decision_model
from reasoning.actions import render_template
from reasoning.concepts import feature_values, satisfies, subject_ids

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


def compile_decision(scenario: ScenarioDef) -> Any:
    """The scenario's decision table, loaded into GoRules ZEN once (None without a table)."""
    if scenario.decision is None:
        return None
    import zen

    return zen.ZenEngine().create_decision(json.dumps(decision_model(scenario.decision, scenario.id)))


def decide(scenario: ScenarioDef, values: Mapping[str, float | None], decision: Any = None) -> dict[str, Any]:
    """The decision table's outputs for one subject's features (empty without a table; `collect` gives
    `rows`); `decision`: the table from `compile_decision`, when evaluating many subjects."""
    if scenario.decision is None:
        return {}
    decision = decision or compile_decision(scenario)
    try:
        result = decision.evaluate({name: values.get(name) for name in scenario.decision.inputs})["result"]
    except Exception as exc:  # a value the table's tests cannot compare
        raise BadInput(f"scenario {scenario.id}: decision table: {zen_message(exc)}") from None
    return {"rows": result} if isinstance(result, list) else dict(result or {})


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
                    "purpose": action.purpose,
                }
            )
        hits.append(hit)
    return hits


def scenario_task_id(scenario: ScenarioDef, subject: NodeRef, index: int) -> str:
    """The deterministic id of the Task the `index`-th action of a scenario creates for a subject."""
    return "task-" + hashlib.sha256(f"scenario:{scenario.id}\x1f{subject}\x1f{index}".encode()).hexdigest()[:24]


def run(
    store: GraphStore, scenario: ScenarioDef, features: Mapping[str, FeatureDef], now: datetime, subjects: Sequence[str] | None = None
) -> list[ScenarioHit]:
    """`dry_run`, then carry out the task actions (see the module doc); each action of a hit gets `status` and `task`."""
    hits = dry_run(store, scenario, features, now, subjects)
    nodes: list[NodeRecord] = []
    edges: list[EdgeRecord] = []
    for hit in hits:
        for index, (spec, action) in enumerate(zip(scenario.actions, hit.actions, strict=True)):
            if spec.kind != "task":
                action["status"] = "skipped: scenario webhooks are not sent yet"
                continue
            task = NodeRef("Task", scenario_task_id(scenario, hit.subject, index))
            due_at = (now + timedelta(days=spec.due_in_days)).isoformat(timespec="seconds")
            props = {"title": action["title"], "description": action["message"], "action_type": f"scenario:{scenario.id}", "assignee_role": spec.role or ""}
            nodes.append(NodeRecord("Task", task.id, props, defaults={"task_status": "open", "due_at": due_at}))
            edges.append(EdgeRecord("TASK_FOR", task, hit.subject, source_id=f"scenario:{scenario.id}", extractor="khub.scenarios/1", valid_from=now))
            action.update({"status": "done", "task": task.id})
    if nodes:
        written = store.upsert(nodes, edges)
        refused = {r.item for r in written.rejected}
        for hit in hits:
            for action in hit.actions:
                if action.get("task") and f"Task:{action['task']}" in refused:
                    action["status"] = "failed: the store refused the task"
    return hits
