"""Consent decisions and their receipts (issue 6.5): the decision changes what a purpose may use,
the receipt verifies against the audit chain, and any edit of either is caught; both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.audit import AuditLog
from graph.consent import subject_decisions
from graph.store import NodeRef
from graph.values import now_iso
from ontology.errors import BadInput, NotFound
from ontology.purposes import default_purposes
from reasoning.consent_ledger import record_decision, verify_receipt
from reasoning.demo_world import load_demo_world

pytestmark = pytest.mark.usefixtures("backend")
LI_MING = NodeRef("Contact", "li-ming")


def may_use(store, ref: NodeRef, purpose: str, category: str) -> bool:
    catalogue = default_purposes()
    decision = subject_decisions(store, catalogue.purposes[purpose], [ref], now_iso(), lambda _label: {category})[ref]
    return decision.allows(category)


def test_a_grant_and_a_revocation_change_what_marketing_may_use(store, tmp_path: Path) -> None:
    load_demo_world(store)
    audit = AuditLog(tmp_path / "audit")
    assert not may_use(store, LI_MING, "marketing", "contact")  # revoked in the demo world
    granted = record_decision(store, audit, default_purposes(), LI_MING, "marketing", "granted", "portal", ["contact", "identity"], "2026-12", "sha256:abc")
    assert may_use(store, LI_MING, "marketing", "contact") and not may_use(store, LI_MING, "marketing", "behavioural")
    revoked = record_decision(store, audit, default_purposes(), LI_MING, "marketing", "revoked", "portal", ["contact"])
    assert not may_use(store, LI_MING, "marketing", "contact") and may_use(store, LI_MING, "marketing", "identity")
    # the history stays: three decisions for marketing, the demo world's and these two
    consents = [e.dst for e in store.edges_from([LI_MING], "GAVE_CONSENT")]
    assert {granted["consent_id"], revoked["consent_id"], "consent-li-ming-marketing"} <= {c.id for c in consents}
    for receipt in (granted, revoked):
        verdict = verify_receipt(audit, json.loads(json.dumps(receipt)))  # as the subject keeps it: plain JSON
        assert verdict.ok, verdict.message
    assert [e["action"] for e in audit.entries()] == ["consent", "consent"]


def test_an_edited_receipt_or_a_rewritten_log_fails_verification(store, tmp_path: Path) -> None:
    load_demo_world(store)
    audit = AuditLog(tmp_path / "audit")
    first = record_decision(store, audit, default_purposes(), LI_MING, "marketing", "granted", "portal")
    second = record_decision(store, audit, default_purposes(), LI_MING, "analytics", "refused", "portal")
    edited = {**first, "decision": "refused"}
    assert "was changed" in verify_receipt(audit, edited).message
    # a receipt re-hashed after the edit no longer matches what the log recorded
    from reasoning.consent_ledger import receipt_hash

    forged = {**edited, "receipt_hash": receipt_hash(edited)}
    assert "records another receipt" in verify_receipt(audit, forged).message
    pointed = {**first, "audit": second["audit"]}
    assert not verify_receipt(audit, pointed).ok
    # the log rewritten after the receipt was issued
    lines = audit.path.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["details"]["decision"] = "refused"
    audit.path.write_text("\n".join([json.dumps(entry, sort_keys=True), *lines[1:]]) + "\n")
    assert "rewritten" in verify_receipt(audit, first).message
    assert not verify_receipt(audit, second).ok  # the chain before it no longer holds
    assert not verify_receipt(audit, {"decision": "granted"}).ok


def test_bad_decisions_are_refused_with_the_reason(store, tmp_path: Path) -> None:
    load_demo_world(store)
    audit = AuditLog(tmp_path / "audit")
    catalogue = default_purposes()
    with pytest.raises(BadInput, match="unknown purpose 'spam'"):
        record_decision(store, audit, catalogue, LI_MING, "spam", "granted", "portal")
    with pytest.raises(BadInput, match="unknown data categories shoe_size"):
        record_decision(store, audit, catalogue, LI_MING, "marketing", "granted", "portal", ["shoe_size"])
    with pytest.raises(BadInput, match="one of granted, refused, revoked"):
        record_decision(store, audit, catalogue, LI_MING, "marketing", "maybe", "portal")
    with pytest.raises(BadInput, match="not a Device"):
        record_decision(store, audit, catalogue, NodeRef("Device", "dev-us900-0142"), "marketing", "granted", "portal")
    with pytest.raises(NotFound):
        record_decision(store, audit, catalogue, NodeRef("Contact", "nobody"), "marketing", "granted", "portal")
    assert list(audit.entries()) == []
