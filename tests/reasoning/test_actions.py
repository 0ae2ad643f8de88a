"""Intent actions: signed webhooks against a real local HTTP receiver, and Task nodes on both stores."""

from __future__ import annotations

import json
import random
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from graph.store import EdgeRecord, NodeRecord, NodeRef
from graph.values import normalise_datetime
from ingest.deadletter import DeadLetter
from ontology.model import default_ontology
from reasoning.actions import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ActionConfig,
    ActionDefinitionError,
    ActionLedger,
    ActionRunner,
    ActionSpec,
    IntentFired,
    IntentSubject,
    TemplateError,
    check_template_variables,
    encode_payload,
    render_template,
    replay_failed_webhooks,
    task_id_for,
    verify_signature,
)

SECRET = "s3cret-für-tests"
SECRET_ENV = "KHUB_TEST_WEBHOOK_SECRET"
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- helpers


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sleeps:
    """The injected sleep: records each delay instead of sleeping."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def fired(intent_id: str = "int-renji-service", subject: tuple[str, str, str] = ("Account", "renji", "仁济医院 Renji Hospital")) -> IntentFired:
    return IntentFired(
        intent_id=intent_id,
        intent_type="service_contract_renewal",
        subject=subject,
        score=0.82,
        first_seen="2026-02-20T08:00:00.000000Z",
        last_seen="2026-03-01T17:45:00.000000Z",
        evidence=[
            {"label": "Event", "id": "ev-1", "summary": "viewed 维保服务 terms twice", "weight": 0.6, "contribution": 0.48},
            {"label": "Device", "id": "us-7", "summary": "ultrasound 9 years old", "weight": 0.5, "contribution": 0.34},
        ],
        explanation=["Renji's contacts read the service terms twice this week.", "Its ultrasound is 9 years old."],
        purposes=["service"],
        suggested_actions=["call the head of equipment", "send a renewal quote"],
        variables={"budget": "¥1,200,000"},
    )


def webhook(url: str, **extra: object) -> dict:
    return {"kind": "webhook", "url": url, "secret_env": SECRET_ENV, "max_attempts": 4, "backoff_seconds": 1.0, **extra}


class NoStore:
    """Enough of a store for webhook-only runs (the runner checks the ontology's types)."""

    ontology = default_ontology()


def make_runner(tmp_path: Path, store: object = None, clock: Clock | None = None, sleeps: Sleeps | None = None, **kw: object) -> ActionRunner:
    config = kw.pop("config", None) or ActionConfig(timeout_seconds=2.0, jitter=0.0, ledger_path=tmp_path / "ledger.jsonl")
    return ActionRunner(
        store or NoStore(),
        config,
        DeadLetter(tmp_path / "deadletter.jsonl"),
        clock=clock or Clock(),
        sleep=sleeps if sleeps is not None else Sleeps(),
        secrets=kw.pop("secrets", {SECRET_ENV: SECRET}),
        **kw,
    )


# ---------------------------------------------------------------------------------------------- webhooks


def test_webhook_is_signed_and_carries_the_payload(receiver, tmp_path):
    clock = Clock()
    results = make_runner(tmp_path, clock=clock).run(fired(), [webhook(receiver.url)])
    assert [(r.kind, r.status, r.attempts, r.http_status) for r in results] == [("webhook", "done", 1, 200)]
    assert "token" not in results[0].detail  # the URL's query may hold a token: never echoed
    [req] = receiver.requests
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers[DELIVERY_HEADER] == results[0].delivery_id
    assert req.headers[TIMESTAMP_HEADER] == str(int(START.timestamp()))
    signature = req.headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, req.body, signature)
    assert not verify_signature("another secret", req.body, signature)
    assert not verify_signature(SECRET, req.body.replace(b"0.82", b"0.99"), signature)
    assert not verify_signature(SECRET, req.body, None)
    assert not verify_signature(SECRET, req.body, "sha256=ü")

    payload = json.loads(req.body)
    assert encode_payload(payload) == req.body  # sorted keys, compact: the body is reproducible
    assert "维保服务".encode() in req.body  # UTF-8, not \\u escapes
    assert payload["event"] == "intent.fired" and payload["version"] == 1
    assert payload["delivery_id"] == results[0].delivery_id
    assert payload["created_at"] == normalise_datetime(START)
    assert payload["intent"] == {
        "id": "int-renji-service",
        "type": "service_contract_renewal",
        "score": 0.82,
        "first_seen": "2026-02-20T08:00:00.000000Z",
        "last_seen": "2026-03-01T17:45:00.000000Z",
        "purposes": ["service"],
        "explanation": fired().explanation,
    }
    assert payload["subject"] == {"label": "Account", "id": "renji", "name": "仁济医院 Renji Hospital"}
    assert payload["evidence"] == fired().evidence
    assert payload["suggested_actions"] == ["call the head of equipment", "send a renewal quote"]
    assert "variables" not in payload and SECRET not in req.body.decode()


def test_500_is_retried_with_exponential_backoff_and_one_delivery_id(receiver, tmp_path):
    receiver.plan = ["500", "500", "500"]
    sleeps = Sleeps()
    [result] = make_runner(tmp_path, sleeps=sleeps).run(fired(), [webhook(receiver.url, max_attempts=5, backoff_seconds=0.5)])
    assert (result.status, result.attempts, result.http_status) == ("done", 4, 200)
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert len(receiver.requests) == 4
    assert {r.headers[DELIVERY_HEADER] for r in receiver.requests} == {result.delivery_id}
    assert {r.body for r in receiver.requests} == {receiver.requests[0].body}
    assert all(verify_signature(SECRET, r.body, r.headers[SIGNATURE_HEADER]) for r in receiver.requests)
    assert DeadLetter(tmp_path / "deadletter.jsonl").pending() == {}


def test_backoff_jitter_stays_within_bounds_and_the_cap(receiver, tmp_path):
    receiver.plan = ["500"] * 6
    sleeps = Sleeps()
    config = ActionConfig(jitter=0.5, backoff_max_seconds=5.0, ledger_path=None)
    runner = make_runner(tmp_path, sleeps=sleeps, config=config, rng=random.Random(7))
    [result] = runner.run(fired(), [webhook(receiver.url, max_attempts=7, backoff_seconds=1.0)])
    assert result.ok and len(sleeps.delays) == 6
    for n, delay in enumerate(sleeps.delays):
        base = min(5.0, 2.0**n)
        assert base <= delay <= base * 1.5
    assert len(set(sleeps.delays)) == 6  # jittered, not identical


def test_429_waits_at_least_retry_after(receiver, tmp_path):
    receiver.plan = ["429:7"]
    sleeps = Sleeps()
    [result] = make_runner(tmp_path, sleeps=sleeps).run(fired(), [webhook(receiver.url)])
    assert result.ok and result.attempts == 2
    assert sleeps.delays == [7.0]


@pytest.mark.parametrize("status", ["400", "302"])
def test_other_answers_are_not_retried_and_are_dead_lettered(receiver, tmp_path, status):
    receiver.plan = [status]
    sleeps = Sleeps()
    [result] = make_runner(tmp_path, sleeps=sleeps).run(fired(), [webhook(receiver.url)])
    assert (result.status, result.attempts, result.http_status, result.dead_lettered) == ("failed", 1, int(status), True)
    assert f"HTTP {status}" in result.detail and "not retried" in result.detail
    assert len(receiver.requests) == 1 and sleeps.delays == []
    assert list(DeadLetter(tmp_path / "deadletter.jsonl").pending()) == [f"webhook:{result.delivery_id}"]


def test_dead_letter_after_max_attempts_then_replay_succeeds(receiver, tmp_path):
    receiver.plan = ["500"] * 4
    sleeps = Sleeps()
    runner = make_runner(tmp_path, sleeps=sleeps)
    [result] = runner.run(fired(), [webhook(receiver.url)])
    assert (result.status, result.attempts, result.dead_lettered) == ("failed", 4, True)
    assert sleeps.delays == [1.0, 2.0, 4.0]
    assert "gave up after 4 attempt(s)" in result.detail and "HTTP 500" in result.detail and "failure 500" in result.detail
    deadletter = DeadLetter(tmp_path / "deadletter.jsonl")
    pending = deadletter.pending()
    item = f"webhook:{result.delivery_id}"
    assert list(pending) == [item]
    assert pending[item].kind == "webhook"
    assert "HTTP 500" in pending[item].error and "int-renji-service" in pending[item].error
    assert "token=abc" not in pending[item].error
    first_body = receiver.requests[0].body

    # still failing: recorded again, with the attempt count growing
    receiver.plan = ["500", "500"]
    [again] = replay_failed_webhooks(deadletter, secrets={SECRET_ENV: SECRET}, sleep=Sleeps(), max_attempts=2)
    assert (again.status, again.attempts, again.dead_lettered) == ("failed", 2, True)
    assert deadletter.pending()[item].attempts == 2

    # the receiver recovers: the same body and delivery id arrive, the record clears
    receiver.requests.clear()
    [replayed] = runner.replay_failed_webhooks()
    assert (replayed.status, replayed.delivery_id, replayed.attempts) == ("done", result.delivery_id, 1)
    [req] = receiver.requests
    assert req.body == first_body and req.headers[DELIVERY_HEADER] == result.delivery_id
    assert verify_signature(SECRET, req.body, req.headers[SIGNATURE_HEADER])
    assert deadletter.pending() == {}
    assert runner.replay_failed_webhooks() == []


def test_tried_once_inline_then_in_the_background_with_the_same_backoff(receiver, tmp_path):
    """`inline_attempts=1` (the worker): one try where the intent fires, no sleep; later tries when
    their backoff has passed (1 s, then 2 s), the same delivery; none after `max_attempts`."""
    from datetime import datetime

    deadletter = DeadLetter(tmp_path / "deadletter.jsonl")

    def after_last_failure(item: str, seconds: float) -> None:  # the record is stamped with the wall clock
        clock.now = datetime.fromisoformat(deadletter.pending()[item].at.replace("Z", "+00:00")) + timedelta(seconds=seconds)

    clock = Clock(datetime.now(UTC))
    sleeps = Sleeps()
    config = ActionConfig(timeout_seconds=2.0, jitter=0.0, ledger_path=tmp_path / "ledger.jsonl", inline_attempts=1)
    runner = make_runner(tmp_path, clock=clock, sleeps=sleeps, config=config)
    receiver.plan = ["500", "500", "ok"]
    [first] = runner.run(fired(), [webhook(receiver.url)])  # max_attempts 4, backoff 1 s
    item = f"webhook:{first.delivery_id}"
    assert (first.status, first.attempts, first.dead_lettered) == ("failed", 1, True) and sleeps.delays == []
    after_last_failure(item, 0.5)
    assert runner.retry_due_webhooks() == []  # its backoff (1 s) has not passed
    after_last_failure(item, 1.5)
    [second] = runner.retry_due_webhooks()
    assert (second.status, second.attempts) == ("failed", 1) and deadletter.pending()[item].attempts == 2
    after_last_failure(item, 1.5)
    assert runner.retry_due_webhooks() == []  # now 2 s
    after_last_failure(item, 2.5)
    [third] = runner.retry_due_webhooks()
    assert (third.status, third.delivery_id) == ("done", first.delivery_id) and deadletter.pending() == {}
    assert {r.headers[DELIVERY_HEADER] for r in receiver.requests} == {first.delivery_id} and len(receiver.requests) == 3
    # a receiver that never recovers: after max_attempts (2 here) it waits for `khub actions retry`
    receiver.plan = ["500"] * 5
    [gone] = runner.run(fired("int-other"), [webhook(receiver.url, max_attempts=2)])
    after_last_failure(f"webhook:{gone.delivery_id}", 1.5)
    assert [r.status for r in runner.retry_due_webhooks()] == ["failed"]
    after_last_failure(f"webhook:{gone.delivery_id}", 3600)
    assert runner.retry_due_webhooks() == [] and f"webhook:{gone.delivery_id}" in deadletter.pending()


def test_a_hanging_receiver_times_out_and_is_retried(receiver, tmp_path):
    receiver.plan = ["hang"]
    sleeps = Sleeps()
    [result] = make_runner(tmp_path, sleeps=sleeps).run(fired(), [webhook(receiver.url, timeout_seconds=0.3)])
    assert (result.status, result.attempts) == ("done", 2)
    assert len(sleeps.delays) == 1

    receiver.plan = ["hang", "hang"]
    [failed] = make_runner(tmp_path, clock=Clock(START + timedelta(days=1))).run(fired("other"), [webhook(receiver.url, timeout_seconds=0.3, max_attempts=2)])
    assert failed.status == "failed" and failed.dead_lettered
    assert "timed out" in failed.detail.lower()


def test_connection_refused_is_retried_then_dead_lettered(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    sleeps = Sleeps()
    [result] = make_runner(tmp_path, sleeps=sleeps).run(fired(), [webhook(f"http://127.0.0.1:{port}/hook", max_attempts=3)])
    assert (result.status, result.attempts, result.dead_lettered) == ("failed", 3, True)
    assert "ConnectionRefusedError" in result.detail
    assert sleeps.delays == [1.0, 2.0]


def test_a_missing_secret_sends_nothing_and_replays_once_set(receiver, tmp_path):
    runner = make_runner(tmp_path, secrets={})
    [result] = runner.run(fired(), [webhook(receiver.url)])
    assert result.status == "failed" and result.dead_lettered and result.attempts == 0
    assert SECRET_ENV in result.detail
    assert receiver.requests == []
    [replayed] = replay_failed_webhooks(DeadLetter(tmp_path / "deadletter.jsonl"), secrets=lambda name: SECRET if name == SECRET_ENV else None)
    assert replayed.ok
    assert verify_signature(SECRET, receiver.requests[0].body, receiver.requests[0].headers[SIGNATURE_HEADER])


def test_cooldown_skips_repeats_and_survives_a_restart(receiver, tmp_path):
    clock = Clock()
    spec = webhook(receiver.url)
    [first] = make_runner(tmp_path, clock=clock).run(fired(), [spec], cooldown_seconds=3600)
    clock.now = START + timedelta(minutes=30)
    [second] = make_runner(tmp_path, clock=clock).run(fired(), [spec], cooldown_seconds=3600)  # a new process, the same ledger file
    assert first.ok and second.status == "skipped"
    assert "cooldown" in second.detail and normalise_datetime(START) in second.detail
    assert len(receiver.requests) == 1
    [other_intent] = make_runner(tmp_path, clock=clock).run(fired("int-other"), [spec], cooldown_seconds=3600)
    assert other_intent.ok  # the cooldown is per (intent, action)
    clock.now = START + timedelta(hours=1, seconds=1)
    [third] = make_runner(tmp_path, clock=clock).run(fired(), [spec], cooldown_seconds=3600)
    assert third.ok and third.delivery_id != first.delivery_id
    # the caller's own record counts too
    [fourth] = make_runner(tmp_path, clock=clock, config=ActionConfig(ledger_path=None)).run(
        fired(), [spec], cooldown_seconds=3600, last_fired="2026-03-02T10:00:00Z"
    )
    assert fourth.status == "skipped"


def test_a_failed_action_releases_its_cooldown_claim(tmp_path):
    spec = {"kind": "task", "role": "sales", "title": "Call $nobody"}
    runner = make_runner(tmp_path)
    first, second = (runner.run(fired(), [spec], cooldown_seconds=3600)[0] for _ in range(2))
    assert first.status == second.status == "failed"  # not "skipped": fixing the definition lets it run
    assert ActionLedger(tmp_path / "ledger.jsonl").last_fired("int-renji-service\x1ftask:sales") is None


def test_ledgers_sharing_a_file_see_each_others_claims_and_survive_a_torn_line(tmp_path):
    path = tmp_path / "ledger.jsonl"
    a, b = ActionLedger(path), ActionLedger(path)  # two processes' ledgers: each reads what the other appended since
    key = "int-renji-service\x1ftask:sales"
    assert a.claim(key, START, 3600) is None
    assert b.claim(key, START + timedelta(minutes=10), 3600) == START  # b sees a's claim
    b.release(key, START)
    assert a.last_fired(key) is None  # a sees b's release
    with path.open("ab") as f:
        f.write(b'{"key": "torn", "at": "2026-')  # a writer died mid-line
    assert a.claim(key, START + timedelta(minutes=20), 3600) is None
    assert b.last_fired(key) == START + timedelta(minutes=20)  # the claim after the torn line is a line of its own
    assert ActionLedger(path).last_fired(key) == START + timedelta(minutes=20)
    assert sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.startswith('{"key": "int-')) == 3  # claim, release, claim
    path.write_text("", encoding="utf-8")  # replaced by an empty ledger: read again from the start
    assert a.last_fired(key) is None and a.claim(key, START, 3600) is None


def test_action_definitions_are_checked():
    def error(data: dict) -> str:
        with pytest.raises((ActionDefinitionError, TemplateError)) as info:
            ActionSpec.from_mapping(data, "intents/renewal.yaml actions[0]")
        return str(info.value)

    assert "never put a secret" in error({"kind": "webhook", "url": "https://x.example", "secret": "hunter2"})
    assert "actions[0].secret_env" in error({"kind": "webhook", "url": "https://x.example"})
    assert "actions[0].url" in error({"kind": "webhook", "url": "file:///etc/passwd", "secret_env": "S"})
    assert "actions[0].max_attempts" in error(webhook("https://x.example", max_attempts=0))
    assert "actions[0].role" in error({"kind": "task", "role": "marketing"})
    assert "actions[0].kind" in error({"role": "sales"})
    assert "actions[0].url: not a field of a task action" in error({"kind": "task", "role": "sales", "url": "https://x.example"})
    syntax = error({"kind": "task", "role": "legal", "message": "costs $5"})
    assert "task(legal).message" in syntax and "$$" in syntax

    engine_spec = SimpleNamespace(
        kind="task", role="finance", title="Invoice ${subject_name}", message="", url=None, secret_env=None, due_in_days=5, max_attempts=5
    )
    spec = ActionSpec.coerce(engine_spec)
    assert (spec.key, spec.role, spec.due_in_days, spec.title) == ("task:finance", "finance", 5, "Invoice ${subject_name}")
    assert ActionSpec.coerce(webhook("https://x.example/h?token=1")).key == "webhook:https://x.example/h"

    check_template_variables(spec)
    with pytest.raises(TemplateError, match=r"\$budget"):
        check_template_variables(ActionSpec("task", role="sales", message="Budget $budget"))
    check_template_variables(ActionSpec("task", role="sales", message="Budget $budget"), ["budget"])
    with pytest.raises(TemplateError, match=r"\{evidence\} is missing its \$"):
        check_template_variables(ActionSpec("task", role="sales", message="Deferred ({evidence})."))


def test_every_shipped_task_template_renders():
    from ontology.intents import default_intents

    specs = [(d.id, ActionSpec.coerce(a)) for d in default_intents() for a in d.actions if a.kind == "task"]
    assert len(specs) >= 9
    for intent_id, spec in specs:
        try:
            check_template_variables(spec)
        except TemplateError as exc:  # name the definition in the failure
            pytest.fail(f"{intent_id}: {exc}")


def test_bad_and_duplicate_specs_come_back_as_results(receiver, tmp_path):
    results = make_runner(tmp_path).run(fired(), [{"kind": "fax"}, webhook(receiver.url), webhook(receiver.url)])
    assert [r.status for r in results] == ["failed", "done", "skipped"]
    assert "kind" in results[0].detail and "distinct name" in results[2].detail
    assert len(receiver.requests) == 1


def test_render_template_names_the_template_and_the_variable():
    assert render_template("Hi ${who}, $$5 for $what", {"who": "Li", "what": ["a", "b"]}, "t") == "Hi Li, $5 for a, b"
    with pytest.raises(TemplateError) as info:
        render_template("Hi $who and $nobody and ${nothing}", {"who": "Li"}, "task(sales).title")
    message = str(info.value)
    assert "task(sales).title" in message and "$nobody" in message and "$nothing" in message and "who" in message
    assert render_template("{__import__('os')} $x", {"x": "{y}"}, "t") == "{__import__('os')} {y}"  # substitution only


# ---------------------------------------------------------------------------------------------- tasks, on both stores


def seed(store, intent_id: str = "int-renji-service") -> None:
    """The subject and the Intent node the engine would have written."""
    store.upsert(
        [
            NodeRecord("Account", "renji", {"name": "仁济医院 Renji Hospital"}),
            NodeRecord("Intent", intent_id, {"confidence_score": 0.82, "intent_status": "active"}),
        ],
        [EdgeRecord("OF", NodeRef("Intent", intent_id), NodeRef("Account", "renji"), source_id="engine")],
    )


TASK = {
    "kind": "task",
    "role": "service",
    "title": "Renewal for ${subject_name} (${score_percent})",
    "message": "${explanation}\nBudget: $budget. Next: ${suggested_actions}. Due ${due_date}.",
    "due_in_days": 5,
}


@pytest.mark.usefixtures("backend")
class TestTasks:
    def test_task_lands_with_its_edges_and_rendered_message(self, store, receiver, tmp_path):
        seed(store)
        results = make_runner(tmp_path, store=store).run(fired(), [TASK, webhook(receiver.url)])  # "both"
        assert [(r.kind, r.status) for r in results] == [("task", "done"), ("webhook", "done")]
        ref = results[0].task
        assert ref == NodeRef("Task", task_id_for("int-renji-service", "task:service"))
        props = store.get(ref).props
        assert props["title"] == "Renewal for 仁济医院 Renji Hospital (82%)"
        assert props["description"] == (
            "Renji's contacts read the service terms twice this week. Its ultrasound is 9 years old.\n"
            "Budget: ¥1,200,000. Next: call the head of equipment; send a renewal quote. Due 2026-03-07."
        )
        assert (props["task_status"], props["assignee_role"], props["action_type"]) == ("open", "service", "follow_up")
        assert props["due_at"] == normalise_datetime(START + timedelta(days=5))
        edges = {(e.type, str(e.src), str(e.dst)) for e in store.neighbourhood(ref).edges if ref in (e.src, e.dst)}
        assert edges == {("TRIGGERED", "Intent:int-renji-service", str(ref)), ("TASK_FOR", str(ref), "Account:renji")}

    def test_a_rerun_updates_the_same_task(self, store, tmp_path):
        seed(store)
        clock = Clock()
        runner = make_runner(tmp_path, store=store, clock=clock)
        [first] = runner.run(fired(), [TASK])
        store.upsert([NodeRecord("Task", first.task.id, {"task_status": "done"})])  # someone closed it
        clock.now = START + timedelta(days=2)
        later = fired()
        later.variables["budget"] = "¥1,500,000"
        [second] = runner.run(later, [TASK])
        assert second.ok and second.task == first.task
        assert store.stats().nodes.get("Task") == 1
        props = store.get(first.task).props
        assert "¥1,500,000" in props["description"]  # refreshed
        assert props["task_status"] == "done"  # not reopened
        assert props["due_at"] == normalise_datetime(START + timedelta(days=5))  # not moved
        assert sorted(e.type for e in store.neighbourhood(first.task).edges if first.task in (e.src, e.dst)) == ["TASK_FOR", "TRIGGERED"]

    def test_an_unknown_template_variable_is_a_clear_error(self, store, tmp_path):
        seed(store)
        [result] = make_runner(tmp_path, store=store).run(fired(), [{**TASK, "message": "Budget $budjet"}])
        assert result.status == "failed"
        assert "task(service).message" in result.detail and "$budjet" in result.detail and "budget" in result.detail
        assert store.stats().nodes.get("Task", 0) == 0

    def test_a_missing_intent_node_is_named(self, store, tmp_path):
        store.upsert([NodeRecord("Account", "renji", {"name": "Renji"})])
        [result] = make_runner(tmp_path, store=store).run(fired(), [TASK])
        assert result.status == "failed" and "Intent:int-renji-service" in result.detail
        assert store.stats().nodes.get("Task", 0) == 0


def test_intent_subject_forms():
    assert fired().subject == IntentSubject("Account", "renji", "仁济医院 Renji Hospital")
    as_mapping = IntentFired("i", "t", {"label": "Device", "id": "d1"}, 0.5, "2026-01-01", "2026-01-02")
    assert as_mapping.subject.ref == NodeRef("Device", "d1")
    with pytest.raises(ValueError, match="score"):
        IntentFired("i", "t", ("Account", "a", "A"), 1.5, "2026-01-01", "2026-01-02")


def test_a_delivered_webhook_is_a_sharing_on_the_audit_record(receiver, tmp_path):
    from graph.audit import AuditLog

    audit = AuditLog(tmp_path / "audit")
    results = make_runner(tmp_path, audit=audit).run(fired(), [{**webhook(receiver.url + "?token=s3cret"), "purpose": "service"}])
    assert results[0].status == "done"
    (entry,) = list(audit.entries())
    event = fired()
    assert (entry["action"], entry["purpose"], entry["actor"]) == ("share", "service", "engine")
    assert entry["subjects"] == [audit.pseudonym(str(event.subject.ref))] and entry["details"]["delivery_id"] == results[0].delivery_id
    assert "s3cret" not in json.dumps(entry) and entry["details"]["recipient"].startswith("http://127.0.0.1")
    # a delivery that failed shared nothing
    make_runner(tmp_path, audit=audit, config=ActionConfig(timeout_seconds=0.5, jitter=0.0, ledger_path=tmp_path / "l2.jsonl")).run(
        fired(), [{**webhook("http://127.0.0.1:9/unreachable"), "max_attempts": 1}]
    )
    assert len(list(audit.entries())) == 1
