"""Intent triggers (issue 7.2): a scenario listening for an intent type runs for the subjects that
intent fires for, when the engine acts on it; the sandbox replays it at the intent's detection;
definitions naming unknown intents or intents about another subject type are refused (both stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph.store import NodeRef
from ontology.concepts import default_features
from ontology.errors import SchemaInvalid
from ontology.scenarios import parse_scenario_text
from ontology.settings import Settings
from reasoning.demo_world import load_demo_world
from reasoning.runtime import ActionLog, build_engine
from reasoning.scenario_sandbox import sandbox
from reasoning.scenario_versions import ScenarioRegistry, find_scenario

pytestmark = pytest.mark.usefixtures("backend")

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ON_INTENT = """id: refund_call_on_intent
subject: Contact
trigger: {intents: [refund_risk]}
when: unconsumed_lessons >= 10
actions:
  - {kind: task, role: finance, title: "Refund call for ${subject_name} (${unconsumed_lessons} lessons left)"}
"""


def test_a_scenario_runs_when_its_intent_fires_and_replays_at_the_detection(store, tmp_path: Path) -> None:
    load_demo_world(store)
    registry = ScenarioRegistry(store)
    registry.deploy("refund_call_on_intent", registry.save(ON_INTENT, "ana", "call when the refund intent fires").number, "ana")
    log = ActionLog()
    build_engine(store, Settings(data_dir=tmp_path), clock=lambda: NOW, log=log).refresh()
    (hit,) = log.scenarios["refund_call_on_intent"]
    assert hit.subject == NodeRef("Contact", "student-liu-yang") and hit.actions[0]["status"] == "done"
    task = store.get(NodeRef("Task", hit.actions[0]["task"]))
    assert task.props["title"] == "Refund call for 刘洋 (18.0 lessons left)" and task.props["scenario_id"] == "refund_call_on_intent"
    # only the intent it listens for: the other intents that fired (about accounts and devices) ran nothing
    assert set(log.scenarios) == {"refund_call_on_intent"}
    # the sandbox replays it at the moment the intent was detected, and not before
    scenario = find_scenario(store, "refund_call_on_intent")
    run = sandbox(store, scenario, default_features(), NOW - timedelta(days=30), NOW + timedelta(hours=1))
    assert [(str(h.hit.subject), h.event) for h in run.hits] == [("Contact:student-liu-yang", "Intent:intent-refund_risk-student-liu-yang")]
    assert sandbox(store, scenario, default_features(), NOW - timedelta(days=30), NOW - timedelta(days=1)).hits == []


def test_intent_triggers_are_checked_on_save() -> None:
    with pytest.raises(SchemaInvalid) as invalid:
        parse_scenario_text("x.yaml", ON_INTENT.replace("[refund_risk]", "[refund_riks, replacement_anxiety]"))
    text = str(invalid.value)
    assert "trigger.intents.0: unknown intent type 'refund_riks'" in text
    assert "trigger.intents.1: intent 'replacement_anxiety' is about a Device, this scenario about a Contact" in text
    with pytest.raises(SchemaInvalid, match="a trigger lists events and/or intents, not schedule"):
        parse_scenario_text("x.yaml", ON_INTENT.replace("{intents: [refund_risk]}", "{schedule: daily}"))
