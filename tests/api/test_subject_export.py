"""Data-subject access (issue 6.3): everything khub holds about a person, from GraphQL and the CLI,
on both stores, on the demo world."""

from __future__ import annotations

from typing import Any

from graph.cypher_store import CypherGraphStore
from graph.store import NodeRef
from reasoning.subject_export import export_html, export_subject
from tests.api.test_graphql import Gql, backend, codes, world  # noqa: F401 - the demo world fixtures (module scope, per backend)

QUERY = "query($s: String!) { subjectExport(subject: $s) }"


def ask(gql: Gql, subject: str, role: str = "steward", purpose: str = "legal") -> dict[str, Any]:
    response = gql.client.post("/graphql", json={"query": QUERY, "variables": {"s": subject}}, headers={"X-Test-Role": role, "X-Khub-Purpose": purpose})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_person_gets_everything_held_about_them(world: CypherGraphStore) -> None:  # noqa: F811
    body = ask(Gql(world), "Contact:li-ming")
    assert not body.get("errors"), body["errors"]
    exported = body["data"]["subjectExport"]
    assert exported["subject"] == "Contact:li-ming" and exported["profile"]["email"] == "li.ming@renji.example"
    assert {e["id"] for e in exported["events"]} == {"ev-web-1", "ev-web-2"}
    assert exported["consents"][0]["purpose"] == "marketing" and exported["consents"][0]["consent_status"] == "revoked"
    assert sorted(exported["consents"][0]["categories"]) == ["behavioural", "contact", "identity"]
    anxiety = next(i for i in exported["inferences"] if i["id"] == "intent-replacement_anxiety-dev-us900-0142")
    assert anxiety["about"] == "what they did" and {"Event:ev-web-1", "Event:ev-web-2"} <= {e["evidence"] for e in anxiety["evidence"]}
    assert anxiety["purposes"] == ["service"] and anxiety["purpose_notes"].startswith("marketing:")


def test_the_history_is_theirs_too(world: CypherGraphStore) -> None:  # noqa: F811
    exported = export_subject(world, NodeRef("Contact", "zhang-wei"))
    employers = {(r["other"], r["properties"].get("valid_to") is not None) for r in exported["relationships"] if r["type"] == "WORKS_AT"}
    assert employers == {("Account:renji-hospital", False), ("Account:rival-imaging", True)}  # the ended job is listed
    page = export_html(exported)
    assert "Data held about Contact:zhang-wei" in page and "rival-imaging" in page and "<script" not in page


def test_who_may_ask_and_for_what(world: CypherGraphStore) -> None:  # noqa: F811
    gql = Gql(world)
    assert codes(ask(gql, "Contact:li-ming", role="sales_tool")) == ["FORBIDDEN"]
    assert codes(ask(gql, "Contact:li-ming", purpose="marketing")) == ["CONSENT_DENIED"]
    assert codes(ask(gql, "Contact:nobody")) == ["NOT_FOUND"]
    assert codes(ask(gql, "Device:dev-us900-0142")) == ["BAD_INPUT"]
