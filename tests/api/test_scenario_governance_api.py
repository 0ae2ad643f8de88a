"""Scenario governance end to end through GraphQL (issue 7, Done when): versions with diff and
approval, rollback, locks, the sandbox with a side-by-side comparison, and an A/B experiment run and
reported; roles and codes on refusals; both stores."""

from __future__ import annotations

import pytest

from graph.store import NodeRecord, NodeRef
from reasoning.demo_world import demo_as_of, load_demo_world
from reasoning.scenario_ab import arm
from reasoning.scenario_versions import shipped_text
from tests.api.test_graphql import Gql, codes

pytestmark = pytest.mark.usefixtures("backend")

REFUND = shipped_text("refund_warning")
AT = demo_as_of().isoformat()
LIU = "Contact:student-liu-yang"
VERSION = "scenario version status author comment requiresApproval reviewedBy reviewNote definition"
SAVE = f"mutation($d: String!, $c: String!) {{ saveScenario(definition: $d, comment: $c) {{ {VERSION} }} }}"
DEPLOY = f'mutation($v: Int!) {{ deployScenario(id: "refund_warning", version: $v) {{ {VERSION} }} }}'
APPROVE = f'mutation($v: Int!) {{ approveScenario(id: "refund_warning", version: $v, note: "ok") {{ {VERSION} }} }}'
ROLLBACK = f'mutation($v: Int!) {{ rollbackScenario(id: "refund_warning", version: $v) {{ {VERSION} }} }}'
VERSIONS = '{ scenarioVersions(id: "refund_warning") { version status author } }'
DRY = 'query($at: String) { scenarioDryRun(id: "refund_warning", asOf: $at) { hits } }'
RUN = 'mutation($at: String) { runScenario(id: "refund_warning", asOf: $at) }'


@pytest.fixture
def gql(store) -> Gql:
    load_demo_world(store)
    return Gql(store)


def save(gql: Gql, text: str, comment: str, role: str = "steward") -> dict:
    return gql.data(SAVE, {"d": text, "c": comment}, role=role)["saveScenario"]


def share_now(gql: Gql) -> float:
    (hit,) = gql.data(DRY, {"at": AT})["scenarioDryRun"]["hits"]
    return hit["outputs"]["refund_share"]


def test_versions_diff_approval_and_rollback_through_graphql(gql: Gql) -> None:
    assert codes(gql.post(SAVE, {"d": REFUND, "c": "seed"}, role="sales_tool")) == ["FORBIDDEN"]
    v1 = save(gql, REFUND, "the seed's refund warning")
    assert (v1["version"], v1["status"], v1["author"]) == (1, "draft", "steward-tester")
    assert gql.data(DEPLOY, {"v": 1}, role="steward")["deployScenario"]["status"] == "live"
    # a change that needs approval: pending until someone else approves
    strict = REFUND.replace("actions:\n", "approval: required\nactions:\n", 1).replace("refund_share: 0.5}", "refund_share: 0.6}")
    v2 = save(gql, strict, "60% partial refunds, finance approves", role="admin")
    assert v2["requiresApproval"] and gql.data(DEPLOY, {"v": 2}, role="admin")["deployScenario"]["status"] == "pending"
    assert share_now(gql) == 0.5
    diff = gql.data('{ scenarioDiff(id: "refund_warning", fromVersion: 1, toVersion: 2) { changes text } }')["scenarioDiff"]
    assert {"path": "decision.rules.1.then.refund_share", "before": 0.5, "after": 0.6} in diff["changes"]
    assert {"path": "approval", "before": None, "after": "required"} in diff["changes"] and "+approval: required" in diff["text"]
    assert codes(gql.post(APPROVE, {"v": 2}, role="steward")) == ["FORBIDDEN"]  # approvers are admins
    assert codes(gql.post(APPROVE, {"v": 2}, role="admin")) == ["FORBIDDEN"]  # and not the author
    # another admin approves (the test app names callers by role: make the author a steward's version instead)
    v3 = save(gql, strict.replace("0.6}", "0.65}"), "65%, by the author", role="steward")
    assert gql.data(DEPLOY, {"v": v3["version"]}, role="steward")["deployScenario"]["status"] == "pending"
    approved = gql.data(APPROVE, {"v": 3}, role="admin")["approveScenario"]
    assert (approved["status"], approved["reviewedBy"], approved["reviewNote"]) == ("live", "admin-tester", "ok")
    assert share_now(gql) == 0.65
    # rollback to v1: a new version with v1's text; the live version needs approval, so it waits for it
    back = gql.data(ROLLBACK, {"v": 1}, role="steward")["rollbackScenario"]
    assert (back["version"], back["status"], back["comment"], back["definition"]) == (4, "pending", "rollback to v1", REFUND)
    gql.data(APPROVE, {"v": 4}, role="admin")
    assert share_now(gql) == 0.5
    listed = gql.data(VERSIONS)["scenarioVersions"]
    assert [(v["version"], v["status"]) for v in listed] == [(1, "retired"), (2, "pending"), (3, "retired"), (4, "live")]
    live = {s["id"]: s["version"] for s in gql.data("{ scenarios { id version } }")["scenarios"]}
    assert live == {"cross_border_customs": 1, "refund_warning": 4}


def test_bad_versions_are_refused_with_codes(gql: Gql) -> None:
    save(gql, REFUND, "seed")
    body = gql.post(SAVE, {"d": REFUND.replace("refund_risk_student", "refund_risk_studnt"), "c": "typo"}, role="steward")
    assert codes(body) == ["SCHEMA_INVALID"] and "refund_warning@v2:9: when: unknown concept or feature" in body["errors"][0]["message"]
    assert codes(gql.post(SAVE, {"d": REFUND, "c": "same"}, role="steward")) == ["CONFLICT"]
    assert codes(gql.post(DEPLOY, {"v": 7}, role="steward")) == ["NOT_FOUND"]


def test_locks_through_graphql(gql: Gql) -> None:
    save(gql, REFUND, "seed")
    lock = 'mutation($p: String!) { lockScenarioField(id: "refund_warning", path: $p, reason: "finance sets the tiers") }'
    assert codes(gql.post(lock, {"p": "decision"}, role="steward")) == ["FORBIDDEN"]
    assert gql.data(lock, {"p": "decision"}, role="admin")["lockScenarioField"]["lockedBy"] == "admin-tester"
    assert [x["path"] for x in gql.data('{ scenarioLocks(id: "refund_warning") }')["scenarioLocks"]] == ["decision"]
    body = gql.post(SAVE, {"d": REFUND.replace('">= 20"', '">= 25"'), "c": "fewer full refunds"}, role="steward")
    assert codes(body) == ["LOCKED"] and "decision is locked by admin-tester (finance sets the tiers)" in body["errors"][0]["message"]
    assert save(gql, REFUND.replace("Retention script for", "Retention call for"), "title")["version"] == 2
    unlock = 'mutation { unlockScenarioField(id: "refund_warning", path: "decision") }'
    assert gql.data(unlock, role="admin")["unlockScenarioField"] is True
    assert save(gql, REFUND.replace('">= 20"', '">= 25"'), "fewer full refunds")["version"] == 3


def test_sandbox_and_comparison_through_graphql(gql: Gql) -> None:
    save(gql, REFUND, "seed")
    save(gql, REFUND.replace("when: refund_risk_student", "when: days_since_app_use >= 21 and last_survey_score < 3"), "three weeks")
    window = {"since": "2026-11-01T00:00:00Z", "until": AT}
    sandbox = 'query($since: String!, $until: String!, $v: Int) { scenarioSandbox(id: "refund_warning", version: $v, since: $since, until: $until) }'
    run = gql.data(sandbox, {**window, "v": 1}, purpose="service")["scenarioSandbox"]
    assert [(h["subject"], h["event"]) for h in run["hits"]] == [(LIU, "Event:ev-survey-liu-1"), ("Contact:student-he-lin", "Event:ev-survey-he-1")]
    assert run["version"] == 1 and run["withheld"] == 0 and run["hits"][0]["outputs"]["refund_tier"] == "partial"
    assert gql.store.scan_nodes("Task") == []
    # marketing may not use the students' behaviour: listed as withheld only
    assert gql.data(sandbox, {**window, "v": 1}, purpose="marketing")["scenarioSandbox"]["hits"] == []
    both = 'query($since: String!, $until: String!) { scenarioCompare(id: "refund_warning", versionA: 1, versionB: 2, since: $since, until: $until) }'
    side = gql.data(both, window)["scenarioCompare"]
    assert side["counts"] == {"only v1": 1, "same": 1}
    assert {r["subject"]: r["verdict"] for r in side["subjects"]} == {LIU: "only v1", "Contact:student-he-lin": "same"}
    assert codes(gql.post(sandbox, {"since": AT, "until": "2026-11-01T00:00:00Z", "v": 1})) == ["BAD_INPUT"]


def test_ab_experiment_through_graphql(gql: Gql) -> None:
    save(gql, REFUND, "seed")
    gql.data(DEPLOY, {"v": 1}, role="steward")
    save(gql, REFUND.replace("refund_share: 0.5}", "refund_share: 0.6}"), "try 60%")
    start = 'mutation { startExperiment(id: "refund_warning", versionA: 1, versionB: 2, shareB: 0.5) }'
    assert codes(gql.post(start, role="steward")) == ["FORBIDDEN"]
    experiment = gql.data(start, role="admin")["startExperiment"]
    assert experiment["status"] == "running" and experiment["versionB"] == 2
    assert codes(gql.post(start, role="admin")) == ["CONFLICT"]
    side = arm(experiment["id"], NodeRef("Contact", "student-liu-yang"), 0.5)
    ran = gql.data(RUN, {"at": AT}, role="steward")["runScenario"]
    (hit,) = ran["hits"]
    assert hit["subject"] == LIU and hit["outputs"]["refund_share"] == {"A": 0.5, "B": 0.6}[side]
    report = "query($id: String!) { experimentReport(id: $id) }"
    arms = {a["arm"]: a for a in gql.data(report, {"id": experiment["id"]})["experimentReport"]["arms"]}
    contacts = gql.store.stats().nodes["Contact"]
    assert arms["A"]["subjects"] + arms["B"]["subjects"] == contacts and arms[side]["triggered"] == 1 and arms[side]["outcomes"] == 0
    # the task is done: an outcome in that arm
    task = gql.store.find("Task", "experiment_id", experiment["id"], limit=10)[0]
    gql.store.upsert([NodeRecord("Task", task.id, {"task_status": "done"})])
    arms = {a["arm"]: a for a in gql.data(report, {"id": experiment["id"]})["experimentReport"]["arms"]}
    assert arms[side]["outcomes"] == 1 and arms[side]["outcomeRate"] == 1.0
    listed = gql.data('{ scenarioExperiments(id: "refund_warning") }')["scenarioExperiments"]
    assert [e["id"] for e in listed] == [experiment["id"]]
    stop = "mutation($id: String!) { stopExperiment(id: $id) }"
    assert gql.data(stop, {"id": experiment["id"]}, role="admin")["stopExperiment"]["status"] == "stopped"


def test_time_triggers_through_graphql(gql: Gql) -> None:
    """A scheduled scenario saved, deployed and ticked through GraphQL; its trigger shown; analysts may not tick."""
    weekly = (
        "id: weekly_refund_review\nsubject: Contact\ntrigger: {every: 7d}\nwhen: refund_risk_student\n"
        'actions:\n  - {kind: task, role: finance, title: "Weekly refund review: ${subject_name}"}\n'
    )
    version = save(gql, weekly, "a weekly review")
    deploy = f'mutation($v: Int!) {{ deployScenario(id: "weekly_refund_review", version: $v) {{ {VERSION} }} }}'
    assert gql.data(deploy, {"v": version["version"]}, role="steward")["deployScenario"]["status"] == "live"
    (shown,) = [s for s in gql.data("{ scenarios { id everySeconds triggerEvents triggerEnters } }")["scenarios"] if s["id"] == "weekly_refund_review"]
    assert shown == {"id": "weekly_refund_review", "everySeconds": 604800, "triggerEvents": [], "triggerEnters": []}
    tick = "mutation($at: String) { tickScenarios(asOf: $at) }"
    (ran,) = gql.data(tick, {"at": AT}, role="steward")["tickScenarios"]["scenarios"]
    assert ran["scenario"] == "weekly_refund_review" and [h["subject"] for h in ran["hits"]] == [LIU]
    assert ran["hits"][0]["actions"][0]["status"] == "done"
    assert gql.data(tick, {"at": AT}, role="steward")["tickScenarios"]["scenarios"] == []  # not due again within the week
    assert codes(gql.post(tick, {"at": AT}, role="analyst")) == ["FORBIDDEN"]
