"""Erasure from GraphQL and the CLI (issue 6: `khub dsr erase` and GraphQL), on the demo world, both stores for GraphQL."""

from __future__ import annotations

import json
from pathlib import Path

from api.cli import app
from graph.audit import AuditLog
from graph.store import NodeRef
from reasoning.demo_world import load_demo_world
from reasoning.intents import IntentEngine
from tests.api.test_cli import khub_env, run, runner  # noqa: F401 - the CLI's data-directory fixture
from tests.api.test_graphql import AS_OF

ERASE = "mutation($s: String!, $c: Boolean!) { eraseSubject(subject: $s, confirm: $c) }"
REQUESTS = "query($st: String) { subjectRequests(status: $st) }"


def test_a_steward_erases_a_person_through_graphql(api, store) -> None:
    load_demo_world(store)
    IntentEngine(store, clock=lambda: AS_OF).refresh()
    anxiety = NodeRef("Intent", "intent-replacement_anxiety-dev-us900-0142")
    assert store.get(anxiety) is not None
    gql = api.client

    def post(query: str, variables: dict, role: str = "steward", purpose: str = "legal") -> dict:
        response = gql.post("/graphql", json={"query": query, "variables": variables}, headers=api.headers(role, purpose))
        assert response.status_code == 200, response.text
        return response.json()

    # who may, for what, and only when confirmed
    assert post(ERASE, {"s": "Contact:li-ming", "c": True}, role="analyst")["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert post(ERASE, {"s": "Contact:li-ming", "c": True}, purpose="service")["errors"][0]["extensions"]["code"] == "CONSENT_DENIED"
    assert post(ERASE, {"s": "Contact:li-ming", "c": False})["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert store.get(NodeRef("Contact", "li-ming")) is not None

    body = post(ERASE, {"s": "Contact:li-ming", "c": True})
    assert not body.get("errors"), body
    done = body["data"]["eraseSubject"]
    assert done["nodes_deleted"]["Contact"] == 1 and done["nodes_deleted"]["Event"] == 2 and done["nodes_deleted"]["Consent"] == 1
    assert "li-ming" not in json.dumps(done)
    assert store.get(NodeRef("Contact", "li-ming")) is None and store.get(NodeRef("Tombstone", done["tombstone"])) is not None
    # the replacement-anxiety intent their visits supported is gone; the account is queued for re-scoring
    assert store.get(anxiety) is None
    assert done["subjects_to_rescore"] >= 1

    # the account's contacts no longer list them, for anyone
    query = '{ account(id: "renji-hospital") { contacts(first: 20) { nodes { id } } } }'
    ids = [n["id"] for n in post(query, {}, role="analyst", purpose="service")["data"]["account"]["contacts"]["nodes"]]
    assert "li-ming" not in ids and "wang-fang" in ids

    requests = post(REQUESTS, {"st": "completed"})["data"]["subjectRequests"]
    assert [(r["kind"], r["status"], r["overdue"]) for r in requests] == [("erase", "completed", False)]
    assert requests[0]["id"] == done["request"] and "li-ming" not in json.dumps(requests)
    # erased twice: refused, and on record
    assert post(ERASE, {"s": "Contact:li-ming", "c": True})["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert {r["status"] for r in post(REQUESTS, {"st": None})["data"]["subjectRequests"]} == {"completed", "rejected"}
    log = AuditLog.for_data_dir(api.settings.data_dir)
    assert log.verify().ok and [e["action"] for e in log.entries()].count("erase") == 1
    stats = post("{ subjectRequestStats { open overdue completed failed medianTurnaroundSeconds } }", {}, role="analyst", purpose="analytics")
    figures = stats["data"]["subjectRequestStats"]
    assert (figures["open"], figures["overdue"], figures["completed"], figures["failed"]) == (0, 0, 1, 1)
    assert figures["medianTurnaroundSeconds"] is not None and figures["medianTurnaroundSeconds"] >= 0
    metrics = api.client.get("/metrics").text
    assert "khub_dsr_requests_completed 1.0" in metrics and "khub_dsr_requests_overdue 0.0" in metrics
    # a steward cannot bring them back by hand either: not by id, not under another id with their name
    upsert = "mutation($t: String!, $i: ID!, $p: JSON!) { upsertNode(type: $t, id: $i, properties: $p) { ok errors { field message } } }"
    again = post(upsert, {"t": "Contact", "i": "li-ming", "p": {"full_name": "Someone"}})["data"]["upsertNode"]
    assert again["ok"] is False and again["errors"][0]["field"] == "id" and "erased data subject" in again["errors"][0]["message"]
    renamed = post(upsert, {"t": "Contact", "i": "lm-2", "p": {"full_name": "李明"}})["data"]["upsertNode"]
    assert renamed["ok"] is False and renamed["errors"][0]["field"] == "full_name"
    assert store.get(NodeRef("Contact", "li-ming")) is None and store.get(NodeRef("Contact", "lm-2")) is None
    fresh = post(upsert, {"t": "Contact", "i": "new-person", "p": {"full_name": "New Person"}})["data"]["upsertNode"]
    assert fresh["ok"] is True  # anyone else: as before


def test_dsr_erase_and_requests_from_the_command_line(khub_env: Path) -> None:  # noqa: F811
    assert run("demo")[0] == 0
    answered_no = runner.invoke(app, ["dsr", "erase", "Contact:zhang-wei"], input="n\n")  # no --yes: it asks
    assert answered_no.exit_code == 1 and "nothing erased" in answered_no.output
    code, out = run("dsr", "erase", "Contact:zhang-wei", "--yes", "--no-embed", "--json")
    assert code == 0, out
    done = json.loads(out)
    assert done["nodes_deleted"]["Contact"] == 1 and done["identifiers_suppressed"] >= 2 and done["tombstone"].startswith("tombstone-")
    code, out = run("dsr", "export", "Contact:zhang-wei")
    assert code == 1 and "erased before" in out
    code, out = run("dsr", "requests", "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert sorted((r["kind"], r["status"]) for r in rows) == [("erase", "completed"), ("export", "rejected")]
    assert "zhang-wei" not in json.dumps([r for r in rows if r["kind"] == "erase"])
    code, out = run("audit", "verify")
    assert code == 0 and "ok" in out
