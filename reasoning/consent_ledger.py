"""Recording a person's consent decisions, each with a receipt they can verify against the audit chain.

`record_decision(store, audit, subject, purpose, decision)` writes one decision (granted, refused
or revoked) as a new `Consent` node of the subject (`GAVE_CONSENT`, `FOR_PURPOSE`, `COVERS` its
categories): decisions are never overwritten, so the history stays and the latest word wins
(`graph.consent.decide`). It appends an audit entry (action `consent`) and returns a receipt:

    {"receipt_id": "...", "consent_id": "...", "subject": "Contact:li-ming", "purpose": "marketing",
     "decision": "revoked", "categories": [...], "at": "...", "legal_basis": "consent",
     "notice_version": "...", "notice_hash": "...", "receipt_hash": "<sha256>",
     "audit": {"seq": 42, "entry_hash": "<sha256>"}}

`receipt_hash` is the SHA-256 of the receipt's canonical JSON without `receipt_hash` and
`audit`; the audit entry `seq` holds that hash in its details, and its own hash is `entry_hash`.
`verify_receipt(audit, receipt)` checks all three and the chain up to there: a receipt someone
edited, or an audit log rewritten after it was issued, fails with the reason.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph.audit import AuditLog, entry_hash
from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef
from ontology.errors import BadInput, NotFound
from ontology.model import PrivacyCategory
from ontology.purposes import DEFAULT_CATEGORIES, PurposeCatalogue

DECISIONS = ("granted", "refused", "revoked")
SUBJECT_LABELS = ("Contact", "Account")
SOURCE = "khub.consent/1"


@dataclass(frozen=True)
class ReceiptVerdict:
    """Whether a receipt holds, and why not."""

    ok: bool
    message: str


def receipt_hash(receipt: dict[str, Any]) -> str:
    """The SHA-256 of a receipt's canonical JSON, without its own hash and its audit anchor."""
    body = {k: v for k, v in receipt.items() if k not in ("receipt_hash", "audit")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


def _categories(categories: Sequence[str] | None) -> list[str]:
    known = {c.value for c in PrivacyCategory} - {"none"}
    chosen = sorted(set(categories)) if categories else list(DEFAULT_CATEGORIES)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise BadInput(f"unknown data categories {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return chosen


def record_decision(
    store: GraphStore,
    audit: AuditLog,
    purposes: PurposeCatalogue,
    subject: NodeRef,
    purpose: str,
    decision: str,
    actor: str,
    categories: Sequence[str] | None = None,
    notice_version: str | None = None,
    notice_hash: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """Record one consent decision of `subject` for `purpose` and return its receipt (see the module doc)."""
    if decision not in DECISIONS:
        raise BadInput(f"a consent decision is one of {', '.join(DECISIONS)}, not {decision!r}")
    if subject.label not in SUBJECT_LABELS:
        raise BadInput(f"consent is given by a Contact or an Account, not a {subject.label}")
    if purpose not in purposes:
        raise BadInput(f"unknown purpose {purpose!r} (known: {', '.join(purposes.names)})")
    if store.get(subject) is None:
        raise NotFound(f"no {subject.label} {subject.id!r}")
    chosen = _categories(categories)
    at = (clock or (lambda: datetime.now(UTC)))().isoformat(timespec="seconds")
    consent_id = f"consent-{uuid.uuid4().hex[:16]}"
    props: dict[str, Any] = {"consent_status": decision, "legal_basis": "consent", "notice_version": notice_version, "notice_hash": notice_hash}
    props["granted_at" if decision == "granted" else "revoked_at"] = at
    consent = NodeRef("Consent", consent_id)
    nodes = [
        NodeRecord("Consent", consent_id, props),
        NodeRecord("Purpose", purpose, defaults={"name": purpose}),
        *(NodeRecord("DataCategory", c, defaults={"name": c}) for c in chosen),
    ]
    edges = [
        EdgeRecord("GAVE_CONSENT", subject, consent, source_id=SOURCE, extractor=actor),
        EdgeRecord("FOR_PURPOSE", consent, NodeRef("Purpose", purpose), source_id=SOURCE, extractor=actor),
        *(EdgeRecord("COVERS", consent, NodeRef("DataCategory", c), source_id=SOURCE, extractor=actor) for c in chosen),
    ]
    written = store.upsert(nodes, edges)
    if written.rejected:
        raise BadInput("; ".join(f"{r.item}: {r.reason}" for r in written.rejected[:3]))
    receipt: dict[str, Any] = {
        "receipt_id": f"receipt-{uuid.uuid4().hex[:16]}",
        "consent_id": consent_id,
        "subject": str(subject),
        "purpose": purpose,
        "decision": decision,
        "categories": chosen,
        "at": at,
        "legal_basis": "consent",
        "notice_version": notice_version,
        "notice_hash": notice_hash,
    }
    receipt["receipt_hash"] = receipt_hash(receipt)
    entry = audit.record(
        actor, purpose, "consent", [str(subject)], {"receipt": receipt["receipt_id"], "receipt_hash": receipt["receipt_hash"], "decision": decision}
    )
    receipt["audit"] = {"seq": entry["seq"], "entry_hash": entry["hash"]}
    return receipt


def verify_receipt(audit: AuditLog, receipt: dict[str, Any]) -> ReceiptVerdict:
    """Check a receipt against itself and the audit chain (see the module doc)."""
    if not isinstance(receipt, dict) or "receipt_hash" not in receipt or not isinstance(receipt.get("audit"), dict):
        return ReceiptVerdict(False, "not a consent receipt: receipt_hash and audit are missing")
    if receipt_hash(receipt) != receipt["receipt_hash"]:
        return ReceiptVerdict(False, "the receipt was changed: its content does not match its receipt_hash")
    seq, anchored = receipt["audit"].get("seq"), receipt["audit"].get("entry_hash")
    entry = next((e for e in audit.entries() if e.get("seq") == seq), None)
    if entry is None:
        return ReceiptVerdict(False, f"the audit log has no entry {seq} (it was cut or deleted)")
    if entry.get("hash") != anchored or entry_hash(entry) != anchored:
        return ReceiptVerdict(False, f"audit entry {seq} is not the one the receipt was issued with (the log was rewritten)")
    details = entry.get("details") or {}
    if details.get("receipt_hash") != receipt["receipt_hash"] or entry.get("action") != "consent":
        return ReceiptVerdict(False, f"audit entry {seq} records another receipt")
    chain = audit.verify()
    if not chain.ok and (chain.seq is None or chain.seq <= seq):
        return ReceiptVerdict(False, f"the audit chain does not hold up to entry {seq}: {chain.message}")
    return ReceiptVerdict(True, f"valid: {receipt['decision']} for {receipt['purpose']} at {receipt['at']}, anchored in audit entry {seq}")
