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
    assert budget["purposes"] == ["marketing", "sales"] and budget["purpose_notes"] == ""  # its evidence is no one's behaviour

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


def test_an_action_runs_only_for_a_purpose_the_intent_serves() -> None:
    from dataclasses import replace

    from ontology.intents import default_intents
    from reasoning.intents import IntentScore
    from reasoning.purposes import permitted_actions

    definitions = {d.id: d for d in default_intents()}
    anxiety = definitions["replacement_anxiety"]
    assert [a.purpose for a in anxiety.actions] == ["service"]  # its role, one of its purposes
    assert [a.purpose for a in definitions["budget_loosening"].actions] == ["marketing"]  # role finance: the first purpose
    marketing_call = replace(anxiety.actions[0], role="sales", purpose="marketing")
    both = replace(anxiety, actions=(anxiety.actions[0], marketing_call))
    result = IntentScore(both, NodeRef("Device", "dev-us900-0142"), 0.69, [])
    kept, skipped = permitted_actions(result, ["service"])
    assert kept == [anxiety.actions[0]] and skipped == [marketing_call]
    assert permitted_actions(result, None) == ([anxiety.actions[0], marketing_call], [])


def test_an_action_purpose_must_be_one_of_the_intent(tmp_path) -> None:
    import pytest

    from ontology.errors import SchemaInvalid
    from ontology.intents import parse_intent

    path = tmp_path / "odd.yaml"
    path.write_text(
        "id: odd\nsubject: Device\nthreshold: 0.5\npurposes: [service]\n"
        "signals:\n  - {id: old, kind: feature, weight: 0.9, subject_where: {device_status: retired}}\n"
        "actions:\n  - {kind: task, role: sales, title: Call, purpose: marketing}\n",
        encoding="utf-8",
    )
    definition, issues = parse_intent(path)
    assert definition is None and any("actions.0.purpose" in i.element and "marketing" in i.message for i in issues)
    with pytest.raises(SchemaInvalid):
        from ontology.intents import load_intents

        load_intents([path])


def test_a_purpose_off_for_the_subject_names_the_consented_alternative(store) -> None:
    """Refund risk offered for location-based marketing: the student never consented to location,
    so location_marketing is off for him, and the note names marketing, which he consented to."""
    from dataclasses import replace

    from ontology.intents import default_intents

    load_demo_world(store)
    student = NodeRef("Contact", "student-liu-yang")
    yes = NodeRef("Consent", "consent-liu-marketing")
    store.upsert(
        [NodeRecord(yes.label, yes.id, {"consent_status": "granted", "legal_basis": "consent", "granted_at": "2026-01-01T00:00:00Z"})],
        [
            EdgeRecord("GAVE_CONSENT", student, yes, source_id="consent-portal"),
            EdgeRecord("FOR_PURPOSE", yes, NodeRef("Purpose", "marketing"), source_id="consent-portal"),
            EdgeRecord("COVERS", yes, NodeRef("DataCategory", "behavioural"), source_id="consent-portal"),
        ],
    )
    refund = next(d for d in default_intents() if d.id == "refund_risk")
    offered = replace(refund, purposes=("location_marketing", "marketing"), actions=())
    IntentEngine(store, definitions=[offered], clock=demo_as_of).refresh()
    intent = store.get(NodeRef("Intent", "intent-refund_risk-student-liu-yang")).props
    assert intent["purposes"] == ["marketing"]
    assert "location_marketing is off without location" in intent["purpose_notes"]
    assert intent["purpose_notes"].endswith("it serves marketing, the consented alternative")
