"""Every API read obeys the purpose: a person's data is returned only when the declared purpose
has a legal basis for it (ontology/purposes.yaml) or the person's consent, on both stores, on the
demo world (Wang Fang consented to marketing, Li Ming revoked it, Zhang Wei objected to sales)."""

from __future__ import annotations

from typing import Any

import pytest

from graph.cypher_store import CypherGraphStore
from graph.store import EdgeRecord, NodeRecord, NodeRef
from tests.api.test_graphql import Gql, backend, codes, world  # noqa: F401 - the demo world fixtures (module scope, per backend)

CONTACTS = '{ account(id: "renji-hospital") { contacts(first: 10) { edges { node { id fullName email } } } } }'


def ask(gql: Gql, query: str, purpose: str, role: str = "sales_tool", variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = gql.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers={"X-Test-Role": role, "X-Khub-Purpose": purpose})
    assert response.status_code == 200, response.text
    return response.json()


def emails(gql: Gql, purpose: str) -> dict[str, str | None]:
    body = ask(gql, CONTACTS, purpose)
    assert not body.get("errors"), body["errors"]
    return {e["node"]["id"]: e["node"]["email"] for e in body["data"]["account"]["contacts"]["edges"]}


@pytest.fixture
def gql(world: CypherGraphStore) -> Gql:  # noqa: F811
    return Gql(world)


def test_each_purpose_sees_what_it_has_a_basis_for(gql: Gql) -> None:
    marketing = emails(gql, "marketing")
    assert marketing["wang-fang"] == "wang.fang@renji.example"  # she consented to marketing
    assert marketing["li-ming"] is None and marketing["chen-jing"] is None  # revoked; never asked
    assert emails(gql, "sales")["zhang-wei"] is None  # he objected to sales use of his contact data
    assert emails(gql, "sales")["li-ming"] == "li.ming@renji.example"  # legitimate interest, no objection
    assert all(emails(gql, "service").values())  # the service contract covers everyone's contact data
    names = ask(gql, '{ contact(id: "li-ming") { fullName properties } }', "marketing")["data"]["contact"]
    assert names["fullName"] is None and "full_name" not in names["properties"] and "email" not in names["properties"]


def test_the_same_rule_holds_on_every_read_path(gql: Gql) -> None:
    paths = {
        "node": ('{ node(type: "Contact", id: "li-ming") { properties } }', lambda d: [d["node"]["properties"]]),
        "list": ("{ contacts(first: 20) { nodes { id properties } } }", lambda d: [n["properties"] for n in d["contacts"]["nodes"] if n["id"] == "li-ming"]),
        "neighbourhood": (
            '{ neighbourhood(ref: "Account:renji-hospital", depth: 1, types: ["Contact"]) { nodes { id properties } } }',
            lambda d: [n["properties"] for n in d["neighbourhood"]["nodes"] if n["id"] == "li-ming"],
        ),
        "paths": (
            '{ paths(from: "Contact:li-ming", to: "Account:renji-hospital", maxLength: 2) { paths { nodes { id properties } } } }',
            lambda d: [n["properties"] for p in d["paths"]["paths"] for n in p["nodes"] if n["id"] == "li-ming"],
        ),
        "edges": (
            '{ account(id: "renji-hospital") { edges(type: "WORKS_AT", direction: IN) { nodes { id properties } } } }',
            lambda d: [n["properties"] for n in d["account"]["edges"]["nodes"] if n["id"] == "li-ming"],
        ),
    }
    for name, (query, pick) in paths.items():
        body = ask(gql, query, "marketing")
        assert not body.get("errors"), (name, body["errors"])
        found = pick(body["data"])
        assert found, name
        assert all("email" not in p and "full_name" not in p for p in found), (name, found)
        service = pick(ask(gql, query, "service")["data"])
        assert all(p.get("email") == "li.ming@renji.example" for p in service), (name, service)


def test_filters_cannot_reveal_withheld_data(gql: Gql) -> None:
    by_email = 'query($e: JSON) { contacts(where: [{property: "email", eq: $e}]) { totalCount nodes { id } } }'
    refused = ask(gql, by_email, "marketing", variables={"e": "li.ming@renji.example"})
    assert codes(refused) == ["CONSENT_DENIED"] and "consent" in refused["errors"][0]["message"]
    objected = ask(gql, by_email, "sales", variables={"e": "zhang.wei@renji.example"})
    assert not objected.get("errors") and objected["data"]["contacts"] == {"totalCount": 0, "nodes": []}  # he objected: no match for sales
    found = ask(gql, by_email, "sales", variables={"e": "wang.fang@renji.example"})
    assert found["data"]["contacts"] == {"totalCount": 1, "nodes": [{"id": "wang-fang"}]}
    # the count agrees with the pages: the objector is not counted among those with an e-mail
    with_email = 'query { contacts(first: 100, where: [{property: "email", contains: "@"}]) { totalCount nodes { id } } }'
    listed = ask(gql, with_email, "sales")["data"]["contacts"]
    assert listed["totalCount"] == len(listed["nodes"]) and "zhang-wei" not in {n["id"] for n in listed["nodes"]}
    assert ask(gql, with_email, "service")["data"]["contacts"]["totalCount"] == listed["totalCount"] + 1
    assert ask(gql, by_email, "service", variables={"e": "zhang.wei@renji.example"})["data"]["contacts"]["nodes"] == [{"id": "zhang-wei"}]


def test_what_a_person_did_is_theirs(gql: Gql) -> None:
    timeline = '{ timeline(subject: "Device:dev-us900-0142", first: 50) { edges { node { id type properties } } } }'
    by_purpose = {}
    for purpose in ("marketing", "service"):
        body = ask(gql, timeline, purpose)
        assert not body.get("errors"), body["errors"]
        by_purpose[purpose] = {e["node"]["id"]: e["node"]["properties"] for e in body["data"]["timeline"]["edges"]}
    web = by_purpose["service"]["ev-web-1"]
    assert web["url"].endswith("maintenance-terms") and web["occurred_at"]  # the service contract covers his web views
    assert "url" not in by_purpose["marketing"].get("ev-web-1", {})  # Li Ming revoked marketing: his web views are withheld
    ticket = by_purpose["marketing"].get("ev-ticket-1") or {}
    assert ticket.get("event_type") == "ticket"  # performed by the hospital (an organisation): not withheld without a refusal
    # and the intent they supported shows to service, not to marketing
    intents = '{ device(id: "dev-us900-0142") { intents { nodes { intentType purposes purposeNotes } } } }'
    service = ask(gql, intents, "service")["data"]["device"]["intents"]["nodes"]
    assert [(i["intentType"], i["purposes"]) for i in service] == [("replacement_anxiety", ["service"])]
    assert service[0]["purposeNotes"].startswith("marketing: 2 piece(s) of evidence withheld (Contact:li-ming")
    assert ask(gql, intents, "marketing")["data"]["device"]["intents"]["nodes"] == []


def test_search_does_not_find_what_a_person_wrote_for_a_purpose_without_a_basis(gql: Gql, world: CypherGraphStore) -> None:  # noqa: F811
    mail = NodeRef("Event", "ev-mail-li-ming")
    world.upsert(
        [NodeRecord(mail.label, mail.id, {"event_type": "email", "occurred_at": "2026-11-25T08:00:00Z", "content": "请报价 zebrawarranty 延保方案"})],
        [EdgeRecord("PERFORMED_BY", mail, NodeRef("Contact", "li-ming"), source_id="test-consent")],
    )
    try:
        query = 'query($t: String!) { search(text: $t, types: ["Event"], mode: FULLTEXT) { hits { node { id properties } } } }'
        for purpose, expected in (("service", True), ("marketing", False)):
            body = ask(gql, query, purpose, variables={"t": "zebrawarranty"})
            assert not body.get("errors"), body["errors"]
            assert ("ev-mail-li-ming" in {h["node"]["id"] for h in body["data"]["search"]["hits"]}) is expected, (purpose, body)
    finally:
        world.delete(mail)


def test_the_cypher_passthrough_runs_only_where_no_consent_is_needed(gql: Gql) -> None:
    query = '{ cypher(query: "MATCH (c:Contact) RETURN c.email AS email ORDER BY email") { rows } }'
    for purpose in ("marketing", "sales", "analytics"):
        refused = ask(gql, query, purpose, role="analyst")
        assert codes(refused) == ["CONSENT_DENIED"] and "typed queries" in refused["errors"][0]["message"], purpose
    rows = ask(gql, query, "service", role="analyst")["data"]["cypher"]["rows"]
    assert {"email": "li.ming@renji.example"} in rows  # the service contract covers everyone's contact data


def test_passages_mask_the_people_a_purpose_may_not_identify(gql: Gql, world: CypherGraphStore) -> None:  # noqa: F811
    """A passage mentioning Li Ming (who revoked marketing) and Wang Fang (who consented): read for
    marketing, his name and e-mail are masked and hers stay; read for service, both stay; a search for
    his name for marketing does not find the passage."""
    text = "Call notes: Li Ming (li.ming@renji.example) wants the quote; Wang Fang approves the budget."
    chunk = NodeRef("Chunk", "zz-notes#0")
    world.upsert(
        [NodeRecord(chunk.label, chunk.id, {"text": text, "position": 0})],
        [
            EdgeRecord("MENTIONS", chunk, NodeRef("Contact", "li-ming"), props={"char_start": 12, "char_end": 19, "mention_text": "Li Ming"}),
            EdgeRecord("MENTIONS", chunk, NodeRef("Contact", "wang-fang"), props={"char_start": 62, "char_end": 71, "mention_text": "Wang Fang"}),
        ],
    )
    try:
        query = 'query($t: String!) { search(text: $t, types: ["Chunk"], mode: FULLTEXT) { hits { node { id properties } } } }'

        def passage(purpose: str, words: str) -> str | None:
            body = ask(gql, query, purpose, variables={"t": words})
            assert not body.get("errors"), body["errors"]
            hits = [h["node"]["properties"]["text"] for h in body["data"]["search"]["hits"] if h["node"]["id"] == chunk.id]
            return hits[0] if hits else None

        for_marketing = passage("marketing", "budget quote")
        assert for_marketing is not None and "Li Ming" not in for_marketing and "li.ming@" not in for_marketing
        assert "Wang Fang" in for_marketing and len(for_marketing) == len(text) and "███" in for_marketing
        assert passage("service", "budget quote") == text
        assert passage("marketing", "Li Ming") is None and passage("service", "Li Ming") == text
    finally:
        world.delete(chunk)


def test_an_explanation_does_not_quote_evidence_a_purpose_may_not_use(gql: Gql, world: CypherGraphStore) -> None:  # noqa: F811
    """An intent serving marketing and service, with Li Ming's web views among its evidence: read for
    service (a contract) it quotes them; read for marketing (he revoked it) the quotes are gone."""
    intent = NodeRef("Intent", "zz-intent-quotes")
    line = "site visits: 2 found (li-ming viewed /products/us-900 (pricing), li-ming viewed /support); strength 0.80 × weight 0.50 gives 0.40 of the score"
    world.upsert(
        [NodeRecord(intent.label, intent.id, {"confidence_score": 0.7, "purposes": ["marketing", "service"], "explanation": line + "\nscore 0.70 is over"})],
        [EdgeRecord("SUPPORTED_BY", intent, NodeRef("Event", "ev-web-1"), source_id="test-consent")],
    )
    try:
        query = '{ node(type: "Intent", id: "zz-intent-quotes") { ... on Intent { explanation } } }'
        for_service = ask(gql, query, "service")["data"]["node"]["explanation"]
        assert for_service[0] == line
        for_marketing = ask(gql, query, "marketing")["data"]["node"]["explanation"]
        assert for_marketing[0].startswith("site visits: 2 found (quotes withheld for this purpose); strength 0.80")
        assert "us-900" not in " ".join(for_marketing) and for_marketing[1] == "score 0.70 is over"
    finally:
        world.delete(intent)
