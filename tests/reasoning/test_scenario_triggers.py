"""Triggers besides events (issue 7.2), on both stores: intents (a scenario runs for the subject an
intent of its trigger types fires for), schedules (every subject, once per period) and concept
membership (subjects entering or leaving a concept, as events arrive and as time passes); the
sandbox replays each; definitions naming unknown intents or concepts, intents or concepts about
another subject type, or unreadable schedules are refused."""

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
    with pytest.raises(SchemaInvalid, match="a trigger has events, intents, every, enters, leaves, not schedule"):
        parse_scenario_text("x.yaml", ON_INTENT.replace("{intents: [refund_risk]}", "{schedule: daily}"))
    with pytest.raises(SchemaInvalid) as invalid:
        parse_scenario_text("x.yaml", ON_INTENT.replace("{intents: [refund_risk]}", "{every: 2 days, enters: [refund_risk_studnt], leaves: [high_potential]}"))
    text = str(invalid.value)
    assert "trigger.every: a schedule is a number and a unit m, h, d or w, from 5m to 52w (15m, 6h, 1d), got '2 days'" in text
    assert "trigger.enters.0: unknown concept 'refund_risk_studnt'" in text and "trigger.leaves.0: unknown concept 'high_potential'" in text
    with pytest.raises(SchemaInvalid, match="from 5m to 52w"):
        parse_scenario_text("x.yaml", ON_INTENT.replace("{intents: [refund_risk]}", "{every: 1m}"))
    scenario = parse_scenario_text("x.yaml", ON_INTENT.replace("{intents: [refund_risk]}", "{every: 6h, enters: [refund_risk_student]}"))
    assert scenario.every_seconds == 6 * 3600 and scenario.trigger_keys == ("concept:enter:refund_risk_student",)


def deployed(store, text: str) -> None:
    registry = ScenarioRegistry(store)
    version = registry.save(text, "ana", "a trigger test")
    registry.deploy(version.scenario_id, version.number, "ana")


ENTERS = """id: refund_risk_entered
subject: Contact
trigger: {enters: [refund_risk_student]}
when: last_survey_score < 3
actions:
  - {kind: task, role: service, title: "${subject_name} just became a refund risk"}
"""
LEAVES = """id: refund_risk_left
subject: Contact
trigger: {leaves: [refund_risk_student]}
when: last_survey_score < 3
actions:
  - {kind: task, role: service, title: "${subject_name} is back in the app"}
"""
WEEKLY = """id: weekly_refund_review
subject: Contact
trigger: {every: 7d}
when: refund_risk_student
actions:
  - {kind: task, role: finance, title: "Weekly refund review: ${subject_name}"}
"""


def test_concept_membership_triggers_on_entry_and_exit(store) -> None:
    from graph.store import EdgeRecord, NodeRecord
    from reasoning.demo_world import demo_as_of
    from reasoning.scenario_dispatch import on_touched
    from reasoning.scenario_triggers import tick

    load_demo_world(store)
    deployed(store, ENTERS)
    deployed(store, LEAVES)
    features, start = default_features(), demo_as_of()
    # the first evaluation records who is in (Liu Yang) without firing for him
    assert tick(store, features, start) == {}
    inside = [e for e in store.edges_from([NodeRef("Contact", "student-liu-yang")], "IN_CONCEPT") if e.dst == NodeRef("Concept", "refund_risk_student")]
    assert [e.props["in_concept"] for e in inside] == [True]
    assert tick(store, features, start + timedelta(days=5)) == {}  # nobody entered or left
    # time alone: He Lin has not used the app for two weeks by day 20: she enters
    fired = tick(store, features, start + timedelta(days=20))
    assert [str(h.subject) for h in fired["refund_risk_entered"]] == ["Contact:student-he-lin"] and "refund_risk_left" not in fired
    assert fired["refund_risk_entered"][0].actions[0]["status"] == "done"
    # an event: Liu Yang opens the app again; the worker's path sees him leave
    app = NodeRecord("Event", "ev-liu-back", {"event_type": "app_usage", "occurred_at": (start + timedelta(days=20)).isoformat()})
    store.upsert([app], [EdgeRecord("PERFORMED_BY", app.ref, NodeRef("Contact", "student-liu-yang"), source_id="test")])
    fired = on_touched(store, [app.ref], features, start + timedelta(days=20, hours=1))
    assert [str(h.subject) for h in fired["refund_risk_left"]] == ["Contact:student-liu-yang"] and "refund_risk_entered" not in fired
    assert tick(store, features, start + timedelta(days=20, hours=2)) == {}  # recorded: no second exit
    # the sandbox replays the entries over a window from the day-by-day membership
    run = sandbox(store, find_scenario(store, "refund_risk_entered"), features, start - timedelta(days=10), start)
    assert {str(h.hit.subject): h.event for h in run.hits} == {
        "Contact:student-he-lin": "concept:enter:refund_risk_student",
        "Contact:student-liu-yang": "concept:enter:refund_risk_student",
    }
    assert all(h.at < start.isoformat() for h in run.hits)
    left = sandbox(store, find_scenario(store, "refund_risk_left"), features, start - timedelta(days=10), start)
    assert [str(h.hit.subject) for h in left.hits] == ["Contact:student-he-lin"]  # she used the app on Nov 29


def test_a_scheduled_scenario_runs_once_per_period(store) -> None:
    from reasoning.demo_world import demo_as_of
    from reasoning.scenario_triggers import tick

    load_demo_world(store)
    deployed(store, WEEKLY)
    features, start = default_features(), demo_as_of()
    fired = tick(store, features, start)
    assert [str(h.subject) for h in fired["weekly_refund_review"]] == ["Contact:student-liu-yang"]
    task = fired["weekly_refund_review"][0].actions[0]["task"]
    assert store.get(NodeRef("ScenarioSchedule", "weekly_refund_review")).props["last_run_at"].startswith("2026-12-01T00:00:00")
    assert "weekly_refund_review" not in tick(store, features, start + timedelta(days=1))  # not due
    again = tick(store, features, start + timedelta(days=7))
    assert [h.actions[0]["task"] for h in again["weekly_refund_review"]] == [task]  # the same task, updated, not a second one
    # replayed daily moments of a 1d version over ten days: each student at the first day the condition holds
    daily = parse_scenario_text("daily.yaml", WEEKLY.replace("every: 7d", "every: 1d"))
    run = sandbox(store, daily, features, start - timedelta(days=10), start)
    assert {str(h.hit.subject): h.event for h in run.hits} == {"Contact:student-liu-yang": "schedule", "Contact:student-he-lin": "schedule"}


class BrokenForOneScenario:
    """The real store, refusing (raising) writes of one scenario's tasks while `broken` is set."""

    def __init__(self, store, scenario_id: str) -> None:
        self._store, self._scenario_id, self.broken = store, scenario_id, True

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def upsert(self, nodes=(), edges=()):
        nodes = list(nodes)
        if self.broken and any(n.label == "Task" and n.props.get("scenario_id") == self._scenario_id for n in nodes):
            raise RuntimeError("the store went away")
        return self._store.upsert(nodes, edges)


def test_a_failing_scenario_does_not_stop_the_others_and_is_retried(store, tmp_path: Path) -> None:
    from ingest.deadletter import DeadLetter
    from reasoning.actions import ActionConfig, ActionRunner
    from reasoning.demo_world import demo_as_of
    from reasoning.scenario_dispatch import on_events, retry_failed

    load_demo_world(store)
    deployed(store, ON_INTENT.replace("id: refund_call_on_intent", "id: refund_call_on_survey").replace("{intents: [refund_risk]}", "{events: [survey]}"))
    flaky = BrokenForOneScenario(store, "refund_warning")
    deadletter = DeadLetter(tmp_path / "deadletter.jsonl")
    runner = ActionRunner(flaky, ActionConfig(ledger_path=None), deadletter)
    liu = NodeRef("Contact", "student-liu-yang")
    fired = on_events(flaky, [("survey", liu)], default_features(), demo_as_of(), runner)
    assert list(fired) == ["refund_call_on_survey"]  # the other scenario ran
    (failure,) = deadletter.pending().values()
    assert failure.item == "scenario:refund_warning:Contact:student-liu-yang" and "the store went away" in failure.error
    flaky.broken = False
    again = retry_failed(flaky, default_features(), demo_as_of(), runner)
    assert [h.subject for h in again["refund_warning"]] == [liu] and deadletter.pending() == {}
    assert len(store.find("Task", "scenario_id", "refund_warning", limit=10)) == 3


def test_a_live_version_that_no_longer_checks_out_is_skipped_not_fatal(store) -> None:
    """A version saved when a feature existed, live after the feature was removed: it does not run,
    it is named, and every other scenario still runs (the worker does not stop)."""
    from graph.store import NodeRecord
    from reasoning.demo_world import demo_as_of
    from reasoning.scenario_dispatch import on_events
    from reasoning.scenario_versions import active_scenarios

    load_demo_world(store)
    stale = ON_INTENT.replace("id: refund_call_on_intent", "id: stale_one").replace("unconsumed_lessons >= 10", "lessons_left_v0 >= 10")
    props = {"scenario_id": "stale_one", "version_number": 1, "definition": stale, "author": "ana", "change_comment": "old", "version_status": "live"}
    store.upsert([NodeRecord("ScenarioVersion", "stale_one@v1", props)])
    problems: list[str] = []
    assert "stale_one" not in [s.id for s in active_scenarios(store, problems)]
    (problem,) = problems
    assert problem.startswith("stale_one@v1 is live but does not run") and "lessons_left_v0" in problem
    fired = on_events(store, [("survey", NodeRef("Contact", "student-liu-yang"))], default_features(), demo_as_of())
    assert list(fired) == ["refund_warning"]


def test_membership_is_kept_only_for_subjects_the_watching_purposes_may_use(store, tmp_path: Path) -> None:
    """A marketing scenario watching a concept: only He Lin, who consented to marketing, has her
    membership evaluated and kept; Liu Yang, who did not, has none, and nothing fires for him."""
    from graph.audit import AuditLog
    from ontology.purposes import default_purposes
    from reasoning.consent_ledger import record_decision
    from reasoning.demo_world import demo_as_of
    from reasoning.scenario_triggers import tick

    load_demo_world(store)
    he_lin, liu = NodeRef("Contact", "student-he-lin"), NodeRef("Contact", "student-liu-yang")
    record_decision(store, AuditLog.for_data_dir(tmp_path), default_purposes(), he_lin, "marketing", "granted", "test", clock=demo_as_of)
    deployed(store, ENTERS.replace("id: refund_risk_entered", "id: refund_offer_marketing") + "purpose: marketing\n")
    features, start = default_features(), demo_as_of()
    assert tick(store, features, start) == {}
    assert store.edges_from([liu], "IN_CONCEPT") == []  # in the concept, but marketing may not use his behaviour: not evaluated
    fired = tick(store, features, start + timedelta(days=20))
    assert [str(h.subject) for h in fired["refund_offer_marketing"]] == [str(he_lin)]
    assert store.edges_from([liu], "IN_CONCEPT") == [] and [e.props["in_concept"] for e in store.edges_from([he_lin], "IN_CONCEPT")] == [True]


def test_oversized_scenarios_are_refused() -> None:
    """A table of 2,000 rows (its checks compare rows pairwise: refused before they run) or a text over 256,000 characters: a clear refusal."""
    rows = "".join(f'    - {{if: {{unconsumed_lessons: ">= {i}"}}, then: {{t: {i}}}}}\n' for i in range(2000))
    big = "id: big\nsubject: Contact\nwhen: unconsumed_lessons > 0\ndecision:\n  inputs: [unconsumed_lessons]\n  rules:\n" + rows + "actions: []\n"
    with pytest.raises(SchemaInvalid, match="at most 1,000 rows, this one 2,000"):
        parse_scenario_text("big.yaml", big)
    with pytest.raises(SchemaInvalid, match="at most 256,000 characters"):
        parse_scenario_text("huge.yaml", big + "#" * 300_000)
