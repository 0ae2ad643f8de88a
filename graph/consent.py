"""Purpose-bound consent: which privacy categories of a data subject a purpose may use.

A purpose (`ontology/purposes.yaml`) may use some categories of everyone's data without asking,
on a legal basis (contract, legal obligation, legitimate interest); everything else needs the
person's own consent for that purpose. A person's Consent nodes (`(subject)-[:GAVE_CONSENT]->
(:Consent)-[:FOR_PURPOSE]->(:Purpose)`, `-[:COVERS]->(:DataCategory)`) change that:

- a consent `granted` (not revoked, not expired) adds the categories it covers;
- a consent `refused` or `revoked` (or with `revoked_at` set) takes away the categories it covers,
  also those the purpose used on legitimate interest (an objection), but not those it uses on a
  contract or a legal obligation;
- for one category the person's latest word wins (a grant after a revocation gives it back); on
  the same moment, or without dates, the refusal wins.

`none` data is always usable. An organisation (Account) is not a person: its data is withheld only
when it refused or revoked a consent (`withholds`). `decide()` is pure; `subject_decisions()` fetches the consents of
many subjects (one query per label) and decides for each. `graph.reads.Reads` masks what the
decision leaves out of every node a read returns, so every read of the API (GraphQL, REST) obeys
it; the intent engine (`reasoning.purposes`) scores each purpose on the evidence it may use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graph import cypher
from graph.dialect import quote
from graph.store import GraphStore, NodeRef
from graph.values import ValueRejected, normalise_datetime
from ontology.purposes import OBJECTABLE_BASES, Purpose

#: Node types that are data subjects: their own properties are masked by their consents.
SUBJECT_LABELS = ("Contact", "Account")
#: Always usable.
FREE_CATEGORY = "none"
REFUSALS = frozenset({"refused", "revoked"})


@dataclass(frozen=True)
class ConsentRecord:
    """One Consent node of a subject for the purpose asked about, with the categories it covers."""

    consent_id: str
    status: str | None
    legal_basis: str | None
    categories: tuple[str, ...]
    granted_at: str | None = None
    expires_at: str | None = None
    revoked_at: str | None = None

    @staticmethod
    def of_row(row: dict[str, Any]) -> ConsentRecord:
        """A record from a row of `Reads` consent query."""
        return ConsentRecord(
            consent_id=str(row.get("cid")),
            status=row.get("status"),
            legal_basis=row.get("basis"),
            categories=tuple(sorted(str(c) for c in row.get("categories") or [] if c is not None)),
            granted_at=row.get("granted"),
            expires_at=row.get("expires"),
            revoked_at=row.get("revoked"),
        )

    def refuses(self, now: str) -> bool:
        """True when this consent says no (refused, revoked, or revoked_at in the past)."""
        return self.status in REFUSALS or (self.revoked_at is not None and _before(self.revoked_at, now))

    def grants(self, now: str) -> bool:
        """True when this consent says yes now (granted, not revoked, not expired)."""
        if self.refuses(now) or self.status not in (None, "granted"):
            return False
        return self.expires_at is None or not _before(self.expires_at, now)


@dataclass
class Decision:
    """What one purpose may use of one subject, and why."""

    purpose: str
    allowed: set[str] = field(default_factory=lambda: {FREE_CATEGORY})
    #: category -> why it is allowed or withheld ("contract", "consent <id>", "revoked consent <id>", "no consent")
    reasons: dict[str, str] = field(default_factory=dict)
    #: why the purpose is off for this subject (a category it requires is withheld), else None
    off: str | None = None

    def allows(self, category: str) -> bool:
        """True when data of `category` may be used for the purpose."""
        return category in self.allowed


def withholds(subject: NodeRef, decision: Decision, category: str) -> bool:
    """Whether data of `category` about `subject` is withheld from the decision's purpose: a
    person's (Contact) without a basis or consent; an organisation's (Account: not personal data as
    such) only when it refused or revoked a consent."""
    if decision.allows(category):
        return False
    if subject.label == "Account":
        return decision.reasons.get(category, "").startswith(("refused", "revoked"))
    return True


def subject_decisions(
    store: GraphStore, purpose: Purpose, refs: Iterable[NodeRef], now: str, categories_of: Callable[[str], set[str]], timeout: float = 10.0
) -> dict[NodeRef, Decision]:
    """The decisions for `purpose` on the subjects among `refs` (other labels are left out): one
    query per label for their consents, none when the purpose's defaults decide every category
    of the label whatever a person said. `categories_of(label)`: the categories to decide on."""
    wanted: dict[str, dict[str, None]] = {}  # label -> ids, deduplicated in order
    for ref in refs:
        if ref.label in SUBJECT_LABELS and ref.label in store.ontology.node_types:
            wanted.setdefault(ref.label, {})[ref.id] = None
    default = purpose.default_basis()
    out: dict[NodeRef, Decision] = {}
    for label, unique in wanted.items():
        ids = list(unique)
        categories = set(categories_of(label)) | set(purpose.requires)
        records: dict[str, list[ConsentRecord]] = {}
        if any(default.get(c) in (None, *OBJECTABLE_BASES) for c in categories):
            rows = store.read_query(cypher.subject_consents(quote(label)), {"ids": ids, "purpose": purpose.name, "now": now}, timeout)
            for row in rows:
                records.setdefault(str(row["sid"]), []).append(ConsentRecord.of_row(row))
        for subject_id in ids:
            out[NodeRef(label, subject_id)] = decide(purpose, records.get(subject_id, []), now, categories)
    return out


@dataclass(frozen=True)
class PurposeConsentStats:
    """How the consents for one purpose stand now."""

    purpose: str
    granted: int  # consents granted and in force (not revoked, not expired)
    refused: int  # consents refused or revoked
    subjects_granting: int  # people (or accounts) with at least one consent in force
    subjects: int  # people and accounts that could give one (Contact + Account nodes)

    @property
    def active_rate(self) -> float:
        """The share of subjects with a consent in force for this purpose."""
        return self.subjects_granting / self.subjects if self.subjects else 0.0


def consent_stats(store: GraphStore, purposes: Iterable[str], now: str, timeout: float = 10.0) -> list[PurposeConsentStats]:
    """Per purpose: consents in force, refused or revoked, and the share of subjects with one in force (two queries)."""
    rows = store.read_query(cypher.consent_counts(), {"now": now}, timeout)
    by_purpose: dict[str, dict[str, Any]] = {}
    for row in rows:
        record = ConsentRecord("", row.get("status"), None, (), row.get("granted"), row.get("expires"), row.get("revoked"))
        entry = by_purpose.setdefault(str(row["purpose"]), {"granted": 0, "refused": 0, "subjects": set()})
        if record.refuses(now):
            entry["refused"] += 1
        elif record.grants(now):
            entry["granted"] += 1
            entry["subjects"].add(row["sid"])
    total = sum(int(r["n"]) for r in store.read_query(cypher.subject_count(SUBJECT_LABELS), {}, timeout))
    out = []
    for name in purposes:
        entry = by_purpose.get(name, {"granted": 0, "refused": 0, "subjects": set()})
        out.append(PurposeConsentStats(name, entry["granted"], entry["refused"], len(entry["subjects"]), total))
    return out


@dataclass(frozen=True)
class PurposeCheck:
    """Whether a purpose may use a subject's data now, category by category, and what to use instead when it is off."""

    subject: NodeRef
    purpose: str
    allowed: tuple[str, ...]
    reasons: dict[str, str]
    off: str | None
    alternative: str | None  # a purpose that is on for this subject, suggested when this one is off


def purpose_check(store: GraphStore, catalogue: Any, ref: NodeRef, purpose: str, now: str, categories: Iterable[str]) -> PurposeCheck:
    """Decide `purpose` for one subject over `categories`; when it is off, suggest its alternative if
    that one is on for the subject (it may use something of theirs beyond `none`)."""
    spec = catalogue.purposes[purpose]
    wanted = set(categories)
    decision = subject_decisions(store, spec, [ref], now, lambda _label: wanted)[ref]
    alternative = None
    if decision.off and spec.alternative in catalogue.purposes:
        other = subject_decisions(store, catalogue.purposes[spec.alternative], [ref], now, lambda _label: wanted)[ref]
        if other.off is None and other.allowed - {FREE_CATEGORY}:
            alternative = spec.alternative
    return PurposeCheck(ref, purpose, tuple(sorted(decision.allowed)), dict(sorted(decision.reasons.items())), decision.off, alternative)


def _normal(moment: Any) -> str:
    try:
        return normalise_datetime(moment) if moment else ""
    except ValueRejected:
        return ""


def _before(moment: Any, now: str) -> bool:
    try:
        return normalise_datetime(moment) <= now
    except ValueRejected:
        return False


def decide(purpose: Purpose, records: Iterable[ConsentRecord], now: str, categories: Iterable[str]) -> Decision:
    """The categories of one subject that `purpose` may use at `now` (ISO-8601, UTC), given the
    subject's consents for that purpose; `categories` are those to decide on (besides `none`)."""
    decision = Decision(purpose.name)
    default = purpose.default_basis()
    records = list(records)
    latest: dict[str, tuple[str, int, str, bool]] = {}  # category -> (when, refusal first on a tie, reason, grants)
    for record in records:
        if record.refuses(now):
            when, grants, why = record.revoked_at or record.granted_at or "", False, f"{record.status or 'revoked'} consent {record.consent_id}"
        elif record.grants(now):
            when, grants, why = record.granted_at or "", True, f"consent {record.consent_id}"
        else:
            continue
        stamp = (_normal(when), 0 if grants else 1, why, grants)
        for category in record.categories:
            if category not in latest or stamp[:2] > latest[category][:2]:
                latest[category] = stamp
    refused = {c: v[2] for c, v in latest.items() if not v[3]}
    granted = {c: v[2] for c, v in latest.items() if v[3]}
    for category in {*categories, *purpose.requires}:
        if category == FREE_CATEGORY:
            continue
        basis = default.get(category)
        if basis is not None and basis not in OBJECTABLE_BASES:
            decision.allowed.add(category)
            decision.reasons[category] = basis
        elif category in refused:
            decision.reasons[category] = refused[category]
        elif category in granted:
            decision.allowed.add(category)
            decision.reasons[category] = granted[category]
        elif basis is not None:
            decision.allowed.add(category)
            decision.reasons[category] = basis
        else:
            decision.reasons[category] = "no consent"
    missing = [c for c in purpose.requires if not decision.allows(c)]
    if missing:  # the purpose cannot work without them: off for this subject, everything withheld
        why = "; ".join(f"{c}: {decision.reasons.get(c, 'no consent')}" for c in missing)
        decision.off = f"{purpose.name} is off without {', '.join(missing)} ({why})"
        first = decision.reasons.get(missing[0], "no consent")  # a refusal stays a refusal (an account's data is withheld on it)
        for category, reason in list(decision.reasons.items()):
            if category not in missing:
                decision.reasons[category] = f"{first if decision.allows(category) else reason}; {decision.off}"
        decision.allowed = {FREE_CATEGORY}
    return decision
