"""Scenarios (issue 7.2, dry run): the two shipped seed scenarios on the demo world, with their decision
tables run by GoRules ZEN and their actions rendered; look-alikes stay quiet; precise validation; both stores."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from graph.store import NodeRecord, NodeRef
from ontology.concepts import default_features
from ontology.errors import SchemaInvalid
from ontology.scenarios import load_scenarios
from reasoning.demo_world import demo_as_of, load_demo_world
from reasoning.scenarios import dry_run

pytestmark = pytest.mark.usefixtures("backend")


def scenarios() -> dict:
    return {s.id: s for s in load_scenarios()}


def test_refund_warning_picks_the_student_and_tiers_the_refund(store) -> None:
    load_demo_world(store)
    (hit,) = dry_run(store, scenarios()["refund_warning"], default_features(), demo_as_of())
    assert hit.subject == NodeRef("Contact", "student-liu-yang") and hit.name == "刘洋"  # He Lin used the app two days ago: quiet
    assert hit.outputs == {"refund_tier": "partial", "refund_share": 0.5}  # 18 lessons left: the second row
    assert [(a["kind"], a["role"]) for a in hit.actions] == [("task", "service"), ("task", "service"), ("task", "finance")]
    assert hit.actions[2]["title"] == "Tiered refund offer for 刘洋: partial"
    assert "18.0 lessons not taken: offer a partial refund (0.5 of their value)" in hit.actions[2]["message"]
    assert "has not opened the app for 25.5" in hit.actions[0]["message"] and "rated the last class 2.0" in hit.actions[0]["message"]
    # more lessons left: the first row; nothing written by a dry run
    store.upsert([NodeRecord("Event", "ev-erp-liu-lessons", {"value": 24.0})])
    (hit,) = dry_run(store, scenarios()["refund_warning"], default_features(), demo_as_of())
    assert hit.outputs["refund_tier"] == "full"
    assert store.scan_nodes("Task") == []


def test_cross_border_customs_picks_the_trader_with_customs_trouble(store) -> None:
    load_demo_world(store)
    (hit,) = dry_run(store, scenarios()["cross_border_customs"], default_features(), demo_as_of())
    assert hit.subject == NodeRef("Account", "al-noor-trading") and hit.outputs == {"priority": "normal", "records_to_prefill": 3}
    assert hit.actions[0]["title"] == "Pre-clearance board for Al Noor Trading LLC (normal)"
    assert "1.0 failed clearance(s) in 90 days" in hit.actions[0]["message"]
    # four months later the failure is out of its 90-day window: quiet
    assert dry_run(store, scenarios()["cross_border_customs"], default_features(), demo_as_of() + timedelta(days=120)) == []


def test_bad_scenarios_are_named_with_file_line_and_element(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nsubject: Contact\nwhen: refund_risk_studnt\n"
        "decision:\n  inputs: [unconsumed_lessons, customs_tickets_30d]\n  rules:\n"
        "    - {if: {}, then: {tier: full}}\n"
        "    - {if: {unconsumed_lessons: '>= > 3'}, then: {tier: 2}}\n"
        "actions:\n  - {kind: task, role: finance, title: 'Offer ${tierr}'}\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaInvalid) as invalid:
        load_scenarios([bad])
    text = str(invalid.value)
    for problem in (
        f"{bad}:3: when: unknown concept or feature 'refund_risk_studnt'",
        "decision.inputs.1: feature 'customs_tickets_30d' is about a Account, this scenario about a Contact",
        "decision.rules.1: unreachable: row 0 before it matches everything",
        "decision.rules.1.if.unconsumed_lessons: the test '>= > 3' cannot be read",
        "decision.rules.1.then.tier: tier is a str in row 0, a number here",
        "actions.0.title: unknown variable $tierr",
    ):
        assert problem in text, (problem, text)


def test_the_shipped_scenarios_run_and_their_actions_fire(store) -> None:
    from reasoning.scenarios import run

    load_demo_world(store)
    refund, customs = scenarios()["refund_warning"], scenarios()["cross_border_customs"]
    (hit,) = run(store, refund, default_features(), demo_as_of())
    assert [a["status"] for a in hit.actions] == ["done", "done", "done"]
    tasks = {t.id: t.props for t in store.scan_nodes("Task")}
    offer = tasks[hit.actions[2]["task"]]
    assert offer["title"] == "Tiered refund offer for 刘洋: partial" and offer["assignee_role"] == "finance" and offer["task_status"] == "open"
    assert [e.dst for e in store.edges_from([NodeRef("Task", hit.actions[2]["task"])], "TASK_FOR")] == [NodeRef("Contact", "student-liu-yang")]
    (trader,) = run(store, customs, default_features(), demo_as_of())
    assert trader.actions[0]["status"] == "done" and len(store.scan_nodes("Task")) == 4
    # running again: the same tasks, a done one stays done
    store.upsert([NodeRecord("Task", hit.actions[0]["task"], {"task_status": "done"})])
    run(store, refund, default_features(), demo_as_of())
    assert len(store.scan_nodes("Task")) == 4 and store.get(NodeRef("Task", hit.actions[0]["task"])).props["task_status"] == "done"


def test_a_scenario_webhook_is_signed_sent_once_per_cooldown_and_dead_lettered(store, receiver, tmp_path: Path) -> None:
    """Webhook actions of scenarios go through the intents' runner: signed, once per subject within
    the cooldown, audited as a sharing, dead-lettered when the receiver fails."""
    import json
    from datetime import UTC, datetime

    from graph.audit import AuditLog
    from ingest.deadletter import DeadLetter
    from ontology.scenarios import SCENARIO_DIR, parse_scenario_text
    from reasoning.actions import ActionConfig, ActionRunner, verify_signature
    from reasoning.scenarios import run

    load_demo_world(store)
    text = (SCENARIO_DIR / "refund_warning.yaml").read_text(encoding="utf-8")
    hook = f"{{kind: webhook, url: '{receiver.url}', secret_env: KHUB_TEST_HOOK, max_attempts: 2, title: 'Refund risk: ${{subject_name}}'}}"
    text += f"  - {hook}\ncooldown_hours: 12\n"
    scenario = parse_scenario_text("refund_warning.yaml", text)
    now = {"t": datetime(2026, 3, 2, 9, 30, tzinfo=UTC)}
    audit = AuditLog.for_data_dir(tmp_path)
    runner = ActionRunner(
        store,
        ActionConfig(timeout_seconds=2.0, jitter=0.0, ledger_path=tmp_path / "ledger.jsonl"),
        DeadLetter(tmp_path / "deadletter.jsonl"),
        clock=lambda: now["t"],
        sleep=lambda _s: None,
        secrets={"KHUB_TEST_HOOK": "hook-secret"},
        audit=audit,
    )
    (hit,) = run(store, scenario, default_features(), demo_as_of(), runner=runner)
    assert hit.actions[3]["kind"] == "webhook" and hit.actions[3]["status"] == "done", hit.actions[3]
    (request,) = receiver.requests
    assert verify_signature("hook-secret", request.body, request.headers["X-Khub-Signature"])
    body = json.loads(request.body)
    assert body["event"] == "scenario.fired" and body["scenario"]["id"] == "refund_warning" and body["scenario"]["purpose"] == "service"
    assert body["subject"] == {"label": "Contact", "id": "student-liu-yang", "name": "刘洋"} and body["outputs"]["refund_tier"] == "partial"
    assert body["title"] == "Refund risk: 刘洋" and body["delivery_id"] == request.headers["X-Khub-Delivery"]
    shared = [e for e in audit.entries() if e.get("action") == "share"]
    assert len(shared) == 1 and shared[0]["purpose"] == "service"
    # again within 12 hours: not sent again; after them: sent again
    (again,) = run(store, scenario, default_features(), demo_as_of(), runner=runner)
    assert again.actions[3]["status"].startswith("skipped: cooldown") and len(receiver.requests) == 1
    now["t"] += timedelta(hours=13)
    receiver.plan = ["500", "500"]
    (failed,) = run(store, scenario, default_features(), demo_as_of(), runner=runner)
    assert failed.actions[3]["status"].startswith("failed: webhook(") and "gave up after 2" in failed.actions[3]["status"]
    assert list(DeadLetter(tmp_path / "deadletter.jsonl").pending()) == [f"webhook:{failed.actions[3]['delivery_id']}"]
    # without a runner (a library caller), nothing is sent and it says so; the tasks still land
    (quiet,) = run(store, scenario, default_features(), demo_as_of())
    assert quiet.actions[3]["status"].startswith("skipped: no action runner") and quiet.actions[2]["status"] == "done"
    assert len(receiver.requests) == 3


def test_a_webhook_without_its_secret_setting_is_refused_on_save() -> None:
    from ontology.scenarios import SCENARIO_DIR, parse_scenario_text

    text = (SCENARIO_DIR / "refund_warning.yaml").read_text(encoding="utf-8") + "  - {kind: webhook, url: 'https://hooks.example.com/x'}\n"
    with pytest.raises(SchemaInvalid, match=r"actions\.3\.secret_env: a webhook names the setting"):
        parse_scenario_text("refund_warning.yaml", text)
