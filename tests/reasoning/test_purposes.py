"""An intent serves a purpose only on evidence that purpose may use: on the demo world Li Ming
revoked his marketing consent, so his web views do not count for marketing, and replacement
anxiety on his hospital's ultrasound serves service only, with the reason; when he consents again,
it serves marketing too."""

from __future__ import annotations

from graph.store import EdgeRecord, NodeRecord, NodeRef
from reasoning.demo_world import demo_as_of, load_demo_world
from reasoning.intents import IntentEngine

ANXIETY = NodeRef("Intent", "intent-replacement_anxiety-dev-us900-0142")


def test_a_revoked_consent_suppresses_a_purpose_and_a_new_one_restores_it(store) -> None:
    load_demo_world(store)
    engine = IntentEngine(store, clock=demo_as_of)
    engine.refresh()
    intent = store.get(ANXIETY).props
    assert intent["purposes"] == ["service"]
    assert intent["purpose_notes"].startswith("marketing: 2 piece(s) of evidence withheld (Contact:li-ming: revoked consent consent-li-ming-marketing)")
    assert "under the threshold 0.60" in intent["purpose_notes"]
    budget = store.get(NodeRef("Intent", "intent-budget_loosening-renji-hospital")).props
    assert budget["purposes"] == ["marketing"] and budget["purpose_notes"] == ""  # its evidence is no one's behaviour

    again = NodeRef("Consent", "consent-li-ming-marketing-2026-11")
    store.upsert(
        [NodeRecord(again.label, again.id, {"consent_status": "granted", "legal_basis": "consent", "granted_at": "2026-11-20T10:00:00Z"})],
        [
            EdgeRecord("GAVE_CONSENT", NodeRef("Contact", "li-ming"), again, source_id="consent-portal"),
            EdgeRecord("FOR_PURPOSE", again, NodeRef("Purpose", "marketing"), source_id="consent-portal"),
            EdgeRecord("COVERS", again, NodeRef("DataCategory", "behavioural"), source_id="consent-portal"),
        ],
    )
    engine.refresh()
    intent = store.get(ANXIETY).props
    assert sorted(intent["purposes"]) == ["marketing", "service"] and intent["purpose_notes"] == ""
