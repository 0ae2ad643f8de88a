"""Scenario governance (issue 7.3-7.5) on both stores: versions and diffs, approval with four eyes,
rollback, locks, the sandbox over history with a side-by-side comparison, A/B experiments with a
deterministic split and per-arm rates, and the event trigger; plus the decision-table checks
(rows covered by earlier rows, overlapping rows under `unique`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graph.store import NodeRecord, NodeRef
from ontology.concepts import default_features
from ontology.errors import BadInput, Conflict, Locked, NotPermitted, SchemaInvalid
from ontology.scenarios import parse_scenario_text
from reasoning.demo_world import demo_as_of, load_demo_world
from reasoning.scenario_ab import Experiments, arm
from reasoning.scenario_dispatch import execute, on_events
from reasoning.scenario_sandbox import compare, sandbox
from reasoning.scenario_versions import ScenarioRegistry, active_scenarios, find_scenario, shipped_text
from reasoning.scenarios import dry_run

pytestmark = pytest.mark.usefixtures("backend")

LIU = NodeRef("Contact", "student-liu-yang")
CLOCK = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
REFUND = shipped_text("refund_warning")


def registry(store) -> ScenarioRegistry:
    return ScenarioRegistry(store, clock=lambda: CLOCK)


def register_refund(store) -> ScenarioRegistry:
    """The shipped refund_warning as version 1, live."""
    reg = registry(store)
    assert reg.save(REFUND, "mei", "the seed's refund warning").number == 1
    assert reg.deploy("refund_warning", 1, "mei").status == "live"
    return reg


def test_versions_diff_and_rollback(store) -> None:
    load_demo_world(store)
    reg = register_refund(store)
    richer = REFUND.replace("refund_share: 0.5}", "refund_share: 0.6}")
    v2 = reg.save(richer, "mei", "partial refunds at 60%")
    assert (v2.number, v2.status, v2.author, v2.comment) == (2, "draft", "mei", "partial refunds at 60%")
    # a draft does not run: the live version still decides
    assert find_scenario(store, "refund_warning").version == 1
    (hit,) = dry_run(store, find_scenario(store, "refund_warning"), default_features(), demo_as_of())
    assert hit.outputs["refund_share"] == 0.5
    changes, text = reg.diff("refund_warning", 1, 2)
    assert [(c.path, c.before, c.after) for c in changes] == [("decision.rules.1.then.refund_share", 0.5, 0.6)]
    assert '-    - {if: {unconsumed_lessons: ">= 10"}, then: {refund_tier: partial, refund_share: 0.5}}' in text and "+++ refund_warning@v2" in text
    assert reg.deploy("refund_warning", 2, "mei").status == "live"
    assert [(v.number, v.status) for v in reg.versions("refund_warning")] == [(1, "retired"), (2, "live")]
    (hit,) = dry_run(store, find_scenario(store, "refund_warning"), default_features(), demo_as_of())
    assert hit.outputs["refund_share"] == 0.6
    # rollback: version 1's text as version 3, live; history only grows
    v3 = reg.rollback("refund_warning", 1, "mei")
    assert (v3.number, v3.status, v3.comment, v3.definition) == (3, "live", "rollback to v1", REFUND)
    assert [(v.number, v.status) for v in reg.versions("refund_warning")] == [(1, "retired"), (2, "retired"), (3, "live")]
    (hit,) = dry_run(store, find_scenario(store, "refund_warning"), default_features(), demo_as_of())
    assert hit.outputs["refund_share"] == 0.5
    with pytest.raises(Conflict, match="nothing changed since refund_warning@v3"):
        reg.save(REFUND, "mei", "again")
    # a registered scenario runs its live version; the other shipped one still runs from its file
    assert {s.id: s.version for s in active_scenarios(store)} == {"cross_border_customs": 1, "refund_warning": 3}


def test_saving_checks_the_text_with_lines_and_elements(store) -> None:
    reg = register_refund(store)
    broken = REFUND.replace("when: refund_risk_student", "when: refund_risk_studnt")
    with pytest.raises(SchemaInvalid) as invalid:
        reg.save(broken, "mei", "typo")
    assert "refund_warning@v2:9: when: unknown concept or feature 'refund_risk_studnt'" in str(invalid.value)
    assert len(reg.versions("refund_warning")) == 1


def test_approval_needs_a_second_person(store) -> None:
    load_demo_world(store)
    reg = register_refund(store)
    strict = REFUND.replace("actions:\n", "approval: required\nactions:\n", 1).replace("refund_share: 0.5}", "refund_share: 0.55}")
    v2 = reg.save(strict, "mei", "finance wants a say")
    assert v2.requires_approval and reg.deploy("refund_warning", 2, "mei").status == "pending"
    assert find_scenario(store, "refund_warning").version == 1  # pending does not run
    with pytest.raises(NotPermitted, match="another person must approve it"):
        reg.approve("refund_warning", 2, "mei")
    approved = reg.approve("refund_warning", 2, "chen", "ok for Q1")
    assert (approved.status, approved.reviewed_by, approved.review_note) == ("live", "chen", "ok for Q1")
    assert reg.version("refund_warning", 1).status == "retired"
    # dropping the requirement is itself a change the live version's approvers must see
    loose = REFUND.replace("refund_share: 0.5}", "refund_share: 0.45}")
    reg.save(loose, "mei", "no more approvals")
    assert reg.deploy("refund_warning", 3, "mei").status == "pending"
    rejected = reg.reject("refund_warning", 3, "chen", "approvals stay")
    assert (rejected.status, rejected.review_note) == ("rejected", "approvals stay")
    with pytest.raises(Conflict, match="is rejected, not pending"):
        reg.approve("refund_warning", 3, "chen")
    assert find_scenario(store, "refund_warning").version == 2


def test_locked_fields_cannot_change_until_unlocked(store) -> None:
    reg = register_refund(store)
    lock = reg.lock("refund_warning", "decision.rules", "supervisor-wu", "refund tiers are set by finance")
    assert lock.path == "decision.rules" and [x.path for x in reg.locks("refund_warning")] == ["decision.rules"]
    with pytest.raises(Locked) as locked:
        reg.save(REFUND.replace('">= 20"', '">= 25"'), "mei", "fewer full refunds")
    message = str(locked.value)
    assert "decision.rules is locked by supervisor-wu (refund tiers are set by finance)" in message and "decision.rules.0.if.unconsumed_lessons" in message
    # other fields stay editable
    retitled = REFUND.replace("Retention script for", "Retention call for")
    assert reg.save(retitled, "mei", "clearer title").number == 2
    assert reg.unlock("refund_warning", "decision.rules") and not reg.unlock("refund_warning", "decision.rules")
    assert reg.save(retitled.replace('">= 20"', '">= 25"'), "mei", "fewer full refunds").number == 3
    with pytest.raises(BadInput, match=r"no field or section 'decision\.rulez'"):
        reg.lock("refund_warning", "decision.rulez", "supervisor-wu", "typo")


def test_sandbox_replays_history_and_compares_versions(store) -> None:
    load_demo_world(store)
    reg = register_refund(store)
    run = sandbox(store, find_scenario(store, "refund_warning"), default_features(), *WINDOW)
    liu, he = run.hits
    # Liu's app use (Nov 5) and the ERP figure (Nov 20) did not trigger (no survey yet); the bad survey on Nov 26 did
    assert liu.hit.subject == LIU and liu.event == "Event:ev-survey-liu-1" and liu.at == "2026-11-26T11:30:00+00:00"
    assert liu.hit.outputs == {"refund_tier": "partial", "refund_share": 0.5} and run.events >= 3
    # He Lin is quiet now (she used the app on Nov 29), but at her bad survey on Nov 26 she had never used it: history says she would have
    assert he.hit.subject == NodeRef("Contact", "student-he-lin") and he.event == "Event:ev-survey-he-1"
    assert dry_run(store, find_scenario(store, "refund_warning"), default_features(), demo_as_of())[0].subject == LIU
    assert store.scan_nodes("Task") == []  # nothing runs in the sandbox
    # a stricter version (3 weeks without the app) would not have fired for Liu then: 20.98 days
    stricter = REFUND.replace("when: refund_risk_student", "when: days_since_app_use >= 21 and last_survey_score < 3")
    reg.save(stricter, "mei", "wait three weeks")
    other = sandbox(store, reg.version("refund_warning", 2).scenario(), default_features(), *WINDOW)
    assert [h.hit.subject for h in other.hits] == [NodeRef("Contact", "student-he-lin")]
    side = compare(run, other)
    assert side["counts"] == {"only v1": 1, "same": 1} and side["subjects"][1] == {**side["subjects"][1], "subject": str(LIU), "verdict": "only v1"}
    # a window before the survey: nobody
    assert sandbox(store, find_scenario(store, "refund_warning"), default_features(), WINDOW[0], datetime(2026, 11, 25, tzinfo=UTC)).hits == []


def test_ab_split_is_deterministic_and_balanced() -> None:
    arms = [arm("ab-x", NodeRef("Contact", f"c{i}"), 0.3) for i in range(10_000)]
    assert arms == [arm("ab-x", NodeRef("Contact", f"c{i}"), 0.3) for i in range(10_000)]
    assert 0.28 < arms.count("B") / len(arms) < 0.32
    assert arms != [arm("ab-y", NodeRef("Contact", f"c{i}"), 0.3) for i in range(10_000)]  # another experiment, another split


def test_ab_experiment_runs_each_arm_and_reports_rates(store) -> None:
    load_demo_world(store)
    reg = register_refund(store)
    reg.save(REFUND.replace("refund_share: 0.5}", "refund_share: 0.6}"), "mei", "try 60%")
    experiments = Experiments(store, clock=lambda: CLOCK)
    started = experiments.start("refund_warning", 1, 2, "chen", share_b=0.5)
    with pytest.raises(Conflict, match="already runs"):
        experiments.start("refund_warning", 1, 2, "chen")
    side = arm(started.id, LIU, 0.5)
    version = {"A": 1, "B": 2}[side]
    (hit,) = execute(store, "refund_warning", default_features(), demo_as_of())
    assert hit.subject == LIU and hit.outputs["refund_share"] == {"A": 0.5, "B": 0.6}[side]
    tasks = store.find("Task", "experiment_id", started.id, limit=100)
    assert len(tasks) == 3 and {(t.props["experiment_arm"], t.props["scenario_version"]) for t in tasks} == {(side, version)}
    report = experiments.report(started.id)
    arms = {a["arm"]: a for a in report["arms"]}
    contacts = store.stats().nodes["Contact"]
    assert arms["A"]["subjects"] + arms["B"]["subjects"] == contacts
    assert arms[side]["triggered"] == 1 and arms[side]["triggerRate"] == round(1 / arms[side]["subjects"], 4)
    other = "B" if side == "A" else "A"
    assert arms[other]["triggered"] == 0 and arms[other]["outcomeRate"] is None
    assert arms[side]["outcomes"] == 0 and arms[side]["outcomeRate"] == 0.0
    # the finance task is done: an outcome for that arm
    store.upsert([NodeRecord("Task", tasks[0].id, {"task_status": "done"})])
    assert {a["arm"]: a["outcomes"] for a in experiments.report(started.id)["arms"]}[side] == 1
    assert experiments.stop(started.id).status == "stopped"
    # stopped: the live version runs for everyone again
    (hit,) = execute(store, "refund_warning", default_features(), demo_as_of())
    assert hit.outputs["refund_share"] == 0.5


def test_ab_outcome_event_after_the_trigger(store) -> None:
    load_demo_world(store)
    reg = register_refund(store)
    reg.save(REFUND.replace("refund_share: 0.5}", "refund_share: 0.6}"), "mei", "try 60%")
    experiments = Experiments(store, clock=lambda: demo_as_of() + timedelta(days=3))
    started = experiments.start("refund_warning", 1, 2, "chen", share_b=0.5, outcome_event="call")
    execute(store, "refund_warning", default_features(), demo_as_of())
    side = arm(started.id, LIU, 0.5)
    assert {a["arm"]: a["outcomes"] for a in experiments.report(started.id)["arms"]}[side] == 0
    # Liu renews two days after the task: the outcome
    from graph.store import EdgeRecord

    when = (demo_as_of() + timedelta(days=2)).isoformat()
    renewal = NodeRecord("Event", "ev-liu-renewal", {"event_type": "call", "duration_seconds": 300.0, "occurred_at": when})
    store.upsert([renewal], [EdgeRecord("PERFORMED_BY", NodeRef("Event", "ev-liu-renewal"), LIU, source_id="test")])
    report = experiments.report(started.id)
    assert report["outcome"] == "performed call after the trigger"
    assert {a["arm"]: a["outcomes"] for a in report["arms"]}[side] == 1


def test_ab_counts_subjects_whose_task_predates_the_experiment(store) -> None:
    """Liu Yang's tasks exist before the experiment (a rerun updates them, never re-marks them):
    he still counts as triggered in his arm, once, from when he first triggered under it."""
    load_demo_world(store)
    reg = register_refund(store)
    execute(store, "refund_warning", default_features(), demo_as_of())  # before: three tasks, no experiment
    reg.save(REFUND.replace("refund_share: 0.5}", "refund_share: 0.6}"), "mei", "try 60%")
    experiments = Experiments(store, clock=lambda: demo_as_of() + timedelta(days=3))
    started = experiments.start("refund_warning", 1, 2, "chen", share_b=0.5, outcome_event="call")
    side = arm(started.id, LIU, 0.5)
    execute(store, "refund_warning", default_features(), demo_as_of() + timedelta(hours=1))
    execute(store, "refund_warning", default_features(), demo_as_of() + timedelta(hours=2))
    assert store.find("Task", "experiment_id", started.id, limit=10) == []  # the old tasks keep no experiment
    arms = {a["arm"]: a for a in experiments.report(started.id)["arms"]}
    assert arms[side]["triggered"] == 1 and arms["B" if side == "A" else "A"]["triggered"] == 0
    (edge,) = [e for e in store.edges_from([LIU], "IN_EXPERIMENT") if e.dst == NodeRef("Experiment", started.id)]
    assert edge.props["experiment_arm"] == side and edge.props["triggered_at"].startswith("2026-12-01T01:00:00")
    # an outcome event before the first trigger does not count; one after does
    from graph.store import EdgeRecord

    early = NodeRecord("Event", "ev-liu-call-0", {"event_type": "call", "duration_seconds": 60.0, "occurred_at": demo_as_of().isoformat()})
    store.upsert([early], [EdgeRecord("PERFORMED_BY", early.ref, LIU, source_id="test")])
    assert {a["arm"]: a["outcomes"] for a in experiments.report(started.id)["arms"]}[side] == 0
    late = NodeRecord("Event", "ev-liu-call-1", {"event_type": "call", "duration_seconds": 60.0, "occurred_at": (demo_as_of() + timedelta(days=1)).isoformat()})
    store.upsert([late], [EdgeRecord("PERFORMED_BY", late.ref, LIU, source_id="test")])
    assert {a["arm"]: a["outcomes"] for a in experiments.report(started.id)["arms"]}[side] == 1


def test_an_event_triggers_the_scenarios_listening_for_it(store) -> None:
    load_demo_world(store)
    fired = on_events(store, [("survey", LIU), ("web_view", LIU)], default_features(), demo_as_of())
    assert list(fired) == ["refund_warning"] and [h.subject for h in fired["refund_warning"]] == [LIU]
    assert len(store.find("Task", "scenario_id", "refund_warning", limit=10)) == 3
    # an event no scenario listens for fires nothing
    assert on_events(store, [("web_view", LIU)], default_features(), demo_as_of()) == {}


def test_actions_run_only_for_subjects_their_purpose_may_use(store) -> None:
    load_demo_world(store)
    marketing = REFUND.replace("    role: finance\n", "    role: finance\n    purpose: marketing\n")
    reg = register_refund(store)
    reg.save(marketing, "mei", "the offer is marketing")
    reg.deploy("refund_warning", 2, "mei")
    (hit,) = execute(store, "refund_warning", default_features(), demo_as_of())
    statuses = [a["status"] for a in hit.actions]
    assert statuses[:2] == ["done", "done"] and statuses[2].startswith("withheld: the purpose marketing may not use")
    assert len(store.find("Task", "scenario_id", "refund_warning", limit=10)) == 2


def test_decision_tables_with_rows_that_never_fire_or_overlap() -> None:
    catch_all = "    - {if: {}, then: {refund_tier: goodwill, refund_share: 0.2}}"
    below_ten = '    - {if: {unconsumed_lessons: "< 10"}, then: {refund_tier: goodwill, refund_share: 0.2}}'
    covered = REFUND.replace(catch_all, below_ten + '\n    - {if: {unconsumed_lessons: "[5..30]"}, then: {refund_tier: odd, refund_share: 0.1}}')
    with pytest.raises(SchemaInvalid) as invalid:
        parse_scenario_text("covered", covered)
    assert "decision.rules.3: unreachable: rows 0, 1, 2 before it match everything it matches" in str(invalid.value)
    unique = REFUND.replace("hit_policy: first", "hit_policy: unique")
    with pytest.raises(SchemaInvalid) as invalid:
        parse_scenario_text("unique", unique)
    text = str(invalid.value)
    assert "decision.rules.1: overlaps row 0: under hit policy unique" in text and "decision.rules.2: overlaps row 0" in text
    disjoint = unique.replace('">= 10"', '"[10..20)"').replace(catch_all, below_ten)
    scenario = parse_scenario_text("disjoint", disjoint)
    assert scenario.decision is not None and scenario.decision.hit_policy == "unique"


def test_the_event_index_decides_as_each_scenario_does_on_its_own(store) -> None:
    """`bench/rules.py`'s fast path (one read per feature, conditions batched per feature set, shared
    table cells) picks the same scenarios with the same decisions as a dry run of each one."""
    import random

    from bench.rules import scenario_text
    from reasoning.scenario_index import ScenarioIndex, evaluate_event

    load_demo_world(store)
    reg = registry(store)
    rng = random.Random(11)
    for i in range(40):
        saved = reg.save(scenario_text(i, rng), "bench", "generated")
        reg.deploy(saved.scenario_id, saved.number, "bench")
    index = ScenarioIndex.of(store)
    assert index.size == 42 and ScenarioIndex.of(store) is index  # unchanged: not rebuilt
    features, now = default_features(), demo_as_of()
    fired = 0
    for contact in store.scan_nodes("Contact"):
        subject = NodeRef("Contact", contact.id)
        fast = {t.scenario.id: t.outputs for t in evaluate_event(store, index, features, "survey", subject, now)}
        slow = {}
        for candidate in index.candidates("survey", "Contact"):
            for hit in dry_run(store, candidate.scenario, features, now, [subject.id]):
                slow[candidate.scenario.id] = hit.outputs
        assert fast == slow, subject
        fired += len(fast)
    assert fired > 0  # some of them trigger on the demo world
    reg.save(REFUND, "mei", "registered")  # a change: the next index has it
    assert ScenarioIndex.of(store) is not index
