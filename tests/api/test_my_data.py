"""A data subject's own token (issue 6.4, 6.5): myData, deciding consents with receipts, nothing else; both stores."""

from __future__ import annotations

import json

from graph.audit import AuditLog
from graph.store import EdgeRecord, NodeRecord, NodeRef
from graph.values import now_iso
from reasoning.demo_world import load_demo_world
from tests.api.test_cli import khub_env, run  # noqa: F401 - the CLI's data-directory fixture

MY_DATA = """query { myData(days: 3650) { subject days profile collected { kind at what } uses { at purpose action by }
  sharedWith { purpose recipients categories } consents { id purpose decision categories at } howToRevoke } }"""
DECIDE = """mutation($p: String!, $d: ConsentDecision!, $c: [String!], $s: String) {
  decideConsent(purpose: $p, decision: $d, categories: $c, subject: $s) { receipt } }"""
VERIFY = "query($r: JSON!) { verifyConsentReceipt(receipt: $r) { ok message } }"


def subject_headers(api, subject: str, purpose: str = "service") -> dict[str, str]:
    _key_id, plaintext = api.key_store().create(f"self-{subject}", "subject", subject)
    return {"Authorization": f"Bearer {plaintext}", "X-Khub-Purpose": purpose}


def post(api, query: str, headers: dict[str, str], variables: dict | None = None) -> dict:
    response = api.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_person_sees_their_own_data_and_revokes_a_consent_with_a_receipt(api, store) -> None:
    load_demo_world(store)
    store.upsert(
        [
            NodeRecord("ThirdParty", "fast-freight", {"name": "Fast Freight Logistics", "country": "CN"}),
            NodeRecord("Purpose", "service", {"name": "service"}),
            NodeRecord("Event", "ev-wang-web", {"event_type": "web_view", "occurred_at": now_iso(), "url": "https://example.com/pricing"}),
        ],
        [
            EdgeRecord("SHARED_WITH", NodeRef("Purpose", "service"), NodeRef("ThirdParty", "fast-freight")),
            EdgeRecord("PERFORMED_BY", NodeRef("Event", "ev-wang-web"), NodeRef("Contact", "wang-fang")),
        ],
    )
    me = subject_headers(api, "Contact:wang-fang")
    # a staff read of her data comes first: she sees it among the uses
    assert not post(api, '{ contact(id: "wang-fang") { fullName email } }', api.headers("sales_tool", "sales")).get("errors")

    body = post(api, MY_DATA, me)
    assert not body.get("errors"), body
    mine = body["data"]["myData"]
    assert mine["subject"] == "Contact:wang-fang" and mine["profile"]["email"] and mine["profile"]["full_name"]
    assert {"kind": "event: web_view", "at": mine["collected"][0]["at"], "what": "https://example.com/pricing"} in mine["collected"]
    assert [(u["purpose"], u["action"]) for u in mine["uses"]][-1] == ("sales", "read")
    assert mine["sharedWith"] == [{"purpose": "service", "recipients": ["Fast Freight Logistics"], "categories": mine["sharedWith"][0]["categories"]}]
    assert "contact" in mine["sharedWith"][0]["categories"]  # service uses contact data on the contract
    (marketing,) = [c for c in mine["consents"] if c["purpose"] == "marketing"]
    assert marketing["decision"] == "granted" and "decideConsent" in mine["howToRevoke"]

    # she revokes marketing: from now on marketing no longer gets her e-mail
    assert post(api, '{ contact(id: "wang-fang") { email } }', api.headers("sales_tool", "marketing"))["data"]["contact"]["email"]
    decided = post(api, DECIDE, me, {"p": "marketing", "d": "REVOKED", "c": ["identity", "contact", "behavioural"]})
    assert not decided.get("errors"), decided
    receipt = decided["data"]["decideConsent"]["receipt"]
    assert receipt["subject"] == "Contact:wang-fang" and receipt["decision"] == "revoked" and receipt["audit"]["seq"] >= 1
    assert post(api, '{ contact(id: "wang-fang") { email } }', api.headers("sales_tool", "marketing"))["data"]["contact"]["email"] is None
    # the receipt holds, for her and anyone she shows it to; an edited one does not
    assert post(api, VERIFY, me, {"r": receipt})["data"]["verifyConsentReceipt"]["ok"] is True
    edited = {**receipt, "decision": "granted"}
    check = post(api, VERIFY, api.headers("analyst", "legal"), {"r": edited})["data"]["verifyConsentReceipt"]
    assert check["ok"] is False and "changed" in check["message"]
    assert post(api, MY_DATA, me)["data"]["myData"]["consents"][0]["decision"] == "revoked"
    assert AuditLog.for_data_dir(api.settings.data_dir).verify().ok


def test_a_subject_token_reaches_nothing_else(api, store) -> None:
    load_demo_world(store)
    me = subject_headers(api, "Contact:wang-fang")
    for query in (
        '{ contact(id: "li-ming") { fullName } }',
        "{ accounts { nodes { name } } }",
        "{ myData { subject } ...F } fragment F on Query { intents { totalCount } }",
        '{ search(text: "Renji") { totalCount } }',
    ):
        errors = post(api, query, me)["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN", (query, errors)
    # deciding for someone else is refused; a steward may record a decision received elsewhere
    assert post(api, DECIDE, me, {"p": "marketing", "d": "GRANTED", "s": "Contact:li-ming"})["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    staff = post(api, DECIDE, api.headers("steward", "legal"), {"p": "marketing", "d": "GRANTED", "s": "Contact:li-ming"})
    assert staff["data"]["decideConsent"]["receipt"]["subject"] == "Contact:li-ming"
    assert (
        post(api, DECIDE, api.headers("sales_tool", "sales"), {"p": "marketing", "d": "GRANTED", "s": "Contact:li-ming"})["errors"][0]["extensions"]["code"]
        == "FORBIDDEN"
    )
    # myData is the subject's own view: staff use subjectExport
    assert post(api, MY_DATA, api.headers("admin", "legal"))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # REST writes are closed to a subject token too
    response = api.client.post("/v1/events", json=[{"id": "e1", "type": "web_view", "ts": "2026-01-01T00:00:00Z", "url": "x"}], headers=me)
    assert response.status_code == 403
    assert "Contact:wang-fang" in json.dumps([k.public() for k in api.key_store().list()])


def test_consent_decisions_and_receipts_from_the_command_line(khub_env) -> None:  # noqa: F811
    assert run("demo")[0] == 0
    code, out = run("consent", "decide", "Contact:li-ming", "marketing", "granted", "--categories", "contact,identity", "--out", "receipt.json")
    assert code == 0 and "receipt" in out, out
    receipt = json.loads((khub_env / "receipt.json").read_text())
    assert receipt["categories"] == ["contact", "identity"] and receipt["decision"] == "granted"
    code, out = run("consent", "verify", "receipt.json")
    assert code == 0 and "valid" in out, out
    (khub_env / "edited.json").write_text(json.dumps({**receipt, "purpose": "sales"}))
    code, out = run("consent", "verify", "edited.json")
    assert code == 1 and "INVALID" in out and "changed" in out
    code, out = run("consent", "decide", "Contact:li-ming", "spam", "granted")
    assert code == 1 and "unknown purpose" in out
    code, out = run("apikey", "create", "--name", "li-ming-self", "--role", "subject", "--subject", "Contact:li-ming", "--json")
    assert code == 0 and json.loads(out)["subject"] == "Contact:li-ming", out
    code, out = run("apikey", "create", "--name", "nobody", "--role", "subject")
    assert code == 2 and "needs --subject" in out


def test_purpose_check_switches_location_marketing_off_and_suggests_marketing(api, store) -> None:
    load_demo_world(store)
    query = "query($s: String!, $p: String!) { purposeCheck(subject: $s, purpose: $p) { allowed reasons off alternative } }"

    def check(subject: str, purpose: str = "location_marketing") -> dict:
        body = post(api, query, api.headers("sales_tool", "marketing"), {"s": subject, "p": purpose})
        assert not body.get("errors"), body
        return body["data"]["purposeCheck"]

    # Wang Fang consented to marketing, never to location: location marketing is off, marketing is the alternative
    wang = check("Contact:wang-fang")
    assert wang["allowed"] == ["none"] and "location_marketing is off without location" in wang["off"] and wang["alternative"] == "marketing"
    # Li Ming revoked marketing: off, and no consented alternative to suggest
    assert check("Contact:li-ming")["alternative"] is None
    # she grants location for location marketing: on; she revokes location: off again, with the revocation as the reason
    decide = post(api, DECIDE, subject_headers(api, "Contact:wang-fang"), {"p": "location_marketing", "d": "GRANTED", "c": ["location", "contact"]})
    assert not decide.get("errors"), decide
    on = check("Contact:wang-fang")
    assert on["off"] is None and on["allowed"] == ["contact", "location", "none"]
    post(api, DECIDE, api.headers("steward", "legal"), {"p": "location_marketing", "d": "REVOKED", "c": ["location"], "s": "Contact:wang-fang"})
    again = check("Contact:wang-fang")
    assert again["off"] and again["reasons"]["location"].startswith("revoked consent") and again["alternative"] == "marketing"
    # a sales tool asking for location_marketing reads nothing personal of hers now
    data = post(api, '{ contact(id: "wang-fang") { email city } }', api.headers("sales_tool", "location_marketing"))["data"]["contact"]
    assert data == {"email": None, "city": None}
    codes = [
        post(api, query, api.headers("sales_tool", "marketing"), v)["errors"][0]["extensions"]["code"]
        for v in ({"s": "Contact:wang-fang", "p": "spam"}, {"s": "Device:dev-us900-0142", "p": "marketing"}, {"s": "Contact:nobody", "p": "marketing"})
    ]
    assert codes == ["BAD_INPUT", "BAD_INPUT", "NOT_FOUND"]
