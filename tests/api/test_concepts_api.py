"""Business concepts from GraphQL and the CLI (issue 7.1, 7.6): counts for anyone, members only for a
purpose that may use their behaviour; both stores for GraphQL."""

from __future__ import annotations

import json
from pathlib import Path

from graph.cypher_store import CypherGraphStore
from tests.api.test_cli import khub_env, run  # noqa: F401 - the CLI's data-directory fixture
from tests.api.test_graphql import AS_OF, Gql, backend, codes, world  # noqa: F401 - the demo world fixtures (module scope, per backend)

CONCEPTS = "query($at: String) { concepts(asOf: $at) { id subject when features members subjects } }"
MEMBERS = "query($id: String!, $at: String) { conceptMembers(id: $id, asOf: $at) { concept members withheld } }"


def test_concepts_with_counts_and_members_by_purpose(world: CypherGraphStore) -> None:  # noqa: F811
    gql = Gql(world)
    at = AS_OF.isoformat()
    concepts = {c["id"]: c for c in gql.data(CONCEPTS, {"at": at}, purpose="analytics")["concepts"]}
    hp = concepts["high_potential_customer"]
    assert hp["subject"] == "Contact" and hp["members"] == 1 and hp["subjects"] == world.stats().nodes["Contact"]
    assert hp["features"] == ["missed_sales_calls_30d", "site_dwell_minutes_30d", "whitepaper_downloads_30d"]
    assert concepts["refund_risk_student"]["members"] == 1
    # service rests on a contract: Emma is listed with what put her there
    served = gql.data(MEMBERS, {"id": "high_potential_customer", "at": at}, purpose="service")["conceptMembers"]
    assert served["withheld"] == 0 and [m["subject"] for m in served["members"]] == ["Contact:visitor-emma-lind"]
    assert served["members"][0]["whitepaper_downloads_30d"] == 1
    # marketing needs her consent, which she never gave: left out, counted
    marketing = gql.data(MEMBERS, {"id": "high_potential_customer", "at": at}, purpose="marketing")["conceptMembers"]
    assert marketing == {"concept": "high_potential_customer", "members": [], "withheld": 1}
    assert codes(gql.post(MEMBERS, {"id": "nope"})) == ["NOT_FOUND"]
    assert codes(gql.post(CONCEPTS, {"at": "yesterday"})) == ["BAD_INPUT"]


def test_scenarios_and_their_dry_runs(world: CypherGraphStore) -> None:  # noqa: F811
    gql = Gql(world)
    listed = {s["id"]: s for s in gql.data("{ scenarios { id subject triggerEvents when decisionModel actions } }", purpose="analytics")["scenarios"]}
    refund = listed["refund_warning"]
    assert refund["subject"] == "Contact" and refund["when"] == "days_since_app_use >= 14 and last_survey_score < 3"
    assert [n["type"] for n in refund["decisionModel"]["nodes"]] == ["inputNode", "decisionTableNode", "outputNode"]
    dry = "query($id: String!, $at: String) { scenarioDryRun(id: $id, asOf: $at) { scenario hits withheld } }"
    at = AS_OF.isoformat()
    served = gql.data(dry, {"id": "refund_warning", "at": at}, purpose="service")["scenarioDryRun"]
    assert served["withheld"] == 0 and [h["subject"] for h in served["hits"]] == ["Contact:student-liu-yang"]
    assert served["hits"][0]["outputs"] == {"refund_tier": "partial", "refund_share": 0.5}
    # marketing may not use the student's behaviour: he is left out, counted
    assert gql.data(dry, {"id": "refund_warning", "at": at}, purpose="marketing")["scenarioDryRun"]["withheld"] == 1
    customs = gql.data(dry, {"id": "cross_border_customs", "at": at}, purpose="service")["scenarioDryRun"]
    assert [h["subject"] for h in customs["hits"]] == ["Account:al-noor-trading"]
    assert codes(gql.post(dry, {"id": "nope"})) == ["NOT_FOUND"]


def test_concepts_from_the_command_line(khub_env: Path) -> None:  # noqa: F811
    assert run("demo")[0] == 0
    code, out = run("concepts", "list", "--as-of", "2026-12-01T00:00:00Z", "--json")
    assert code == 0, out
    counts = {r["concept"]: r["members"] for r in json.loads(out)}
    assert counts == {"high_potential_customer": 1, "refund_risk_student": 1}
    code, out = run("concepts", "members", "refund_risk_student", "--as-of", "2026-12-01T00:00:00Z", "--json")
    assert code == 0 and json.loads(out)[0]["subject"] == "Contact:student-liu-yang" and json.loads(out)[0]["last_survey_score"] == 2.0
    code, out = run("concepts", "members", "nope")
    assert code == 2 and "unknown concept" in out


def test_scenarios_from_the_command_line(khub_env: Path) -> None:  # noqa: F811
    assert run("demo")[0] == 0
    code, out = run("scenario", "validate")
    assert code == 0 and "cross_border_customs" in out and "refund_warning" in out
    code, out = run("scenario", "test", "refund_warning", "--as-of", "2026-12-01T00:00:00Z", "--json")
    assert code == 0, out
    (hit,) = json.loads(out)
    assert hit["subject"] == "Contact:student-liu-yang" and hit["outputs"]["refund_tier"] == "partial"
    code, out = run("scenario", "test", "cross_border_customs", "--as-of", "2026-12-01T00:00:00Z")
    assert code == 0 and "1 subject(s) would trigger" in out and "Pre-clearance board for Al Noor Trading LLC" in out
    broken = khub_env / "broken.yaml"
    broken.write_text("id: broken\nsubject: Contact\nwhen: nothing_here > 1\nactions: []\n", encoding="utf-8")
    code, out = run("scenario", "validate", str(broken))
    assert code == 1 and "unknown concept or feature 'nothing_here'" in out
    assert run("scenario", "test", "nope")[0] == 2
    code, out = run("scenario", "run", "refund_warning", "--as-of", "2026-12-01T00:00:00Z")
    assert code == 0 and "1 subject(s) triggered" in out and out.count("[done]") == 3, out


def test_scenario_governance_from_the_command_line(khub_env: Path) -> None:  # noqa: F811
    from reasoning.scenario_versions import shipped_text

    assert run("demo")[0] == 0
    code, out = run("scenario", "deploy", "refund_warning", "--as", "mei")  # the shipped file becomes version 1, live
    assert code == 0 and "refund_warning@v1: live (mei: deployed)" in out, out
    edited = khub_env / "refund_warning.yaml"
    edited.write_text(shipped_text("refund_warning").replace("refund_share: 0.5}", "refund_share: 0.6}"), encoding="utf-8")
    code, out = run("scenario", "save", str(edited), "-m", "60% partial refunds", "--as", "mei")
    assert code == 0 and "refund_warning@v2: draft (mei: 60% partial refunds)" in out, out
    code, out = run("scenario", "diff", "refund_warning", "1", "2")
    assert code == 0 and '- - {if: {unconsumed_lessons: ">= 10"}, then: {refund_tier: partial, refund_share: 0.5}}' in out  # whitespace folded
    code, out = run("scenario", "sandbox", "refund_warning", "--since", "2026-11-01", "--until", "2026-12-01T00:00:00Z", "--compare", "2", "--json")
    assert code == 0, out
    assert {r["subject"]: r["verdict"] for r in json.loads(out)["subjects"]}["Contact:student-liu-yang"] == "different"
    assert run("scenario", "lock", "refund_warning", "decision", "--reason", "finance sets the tiers", "--as", "wu")[0] == 0
    edited.write_text(shipped_text("refund_warning").replace('">= 20"', '">= 25"'), encoding="utf-8")
    code, out = run("scenario", "save", str(edited), "-m", "fewer full refunds", "--as", "mei")
    assert code == 1 and "decision is locked by wu (finance sets the tiers)" in out
    assert run("scenario", "deploy", "refund_warning", "--version", "2", "--as", "mei")[0] == 0
    code, out = run("scenario", "rollback", "refund_warning", "1", "--as", "mei")
    assert code == 1 and "decision is locked by wu" in out  # a rollback is a change like any other
    assert run("scenario", "unlock", "refund_warning", "decision")[0] == 0
    code, out = run("scenario", "rollback", "refund_warning", "1", "--as", "mei")
    assert code == 0 and "refund_warning@v3: live (mei: rollback to v1)" in out
    code, out = run("scenario", "versions", "refund_warning", "--json")
    listed = json.loads(out)
    assert [(v["version"], v["status"]) for v in listed["versions"]] == [(1, "retired"), (2, "retired"), (3, "live")]
    assert listed["locks"] == []
    code, out = run("scenario", "ab", "start", "refund_warning", "3", "2", "--as", "wu")
    assert code == 0 and "started ab-refund_warning-" in out
    experiment = out.split("started ")[1].split(":")[0]
    code, out = run("scenario", "run", "refund_warning", "--as-of", "2026-12-01T00:00:00Z")
    assert code == 0 and "1 subject(s) triggered" in out
    code, out = run("scenario", "ab", "report", experiment, "--json")
    assert code == 0 and sum(a["triggered"] for a in json.loads(out)["arms"]) == 1
    assert run("scenario", "ab", "stop", experiment)[0] == 0
    assert run("scenario", "approve", "refund_warning", "3", "--as", "mei")[0] == 1  # not pending


def test_time_triggers_from_the_command_line(khub_env: Path) -> None:  # noqa: F811
    assert run("demo")[0] == 0
    entered = khub_env / "refund_risk_entered.yaml"
    entered.write_text(
        "id: refund_risk_entered\nsubject: Contact\ntrigger: {enters: [refund_risk_student]}\nwhen: last_survey_score < 3\n"
        'actions:\n  - {kind: task, role: service, title: "${subject_name} just became a refund risk"}\n',
        encoding="utf-8",
    )
    assert run("scenario", "save", str(entered), "-m", "watch refund risks", "--as", "mei")[0] == 0
    assert run("scenario", "deploy", "refund_risk_entered", "--as", "mei")[0] == 0
    code, out = run("scenario", "tick", "--as-of", "2026-12-01T00:00:00Z")
    assert code == 0 and "nothing due" in out, out  # the baseline: who is in now
    code, out = run("scenario", "tick", "--as-of", "2026-12-21T00:00:00Z", "--json")
    assert code == 0, out
    assert [h["subject"] for h in json.loads(out)["refund_risk_entered"]] == ["Contact:student-he-lin"]
