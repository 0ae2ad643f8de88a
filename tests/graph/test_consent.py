"""graph.consent.decide: what a purpose may use of one person, from the purpose's defaults and the person's consents."""

from __future__ import annotations

from graph.consent import ConsentRecord, decide
from ontology.purposes import default_purposes

NOW = "2026-12-01T00:00:00+00:00"
ALL = ("identity", "contact", "location", "behavioural", "financial", "sensitive")
P = default_purposes().purposes


def consent(status: str, *categories: str, expires: str | None = None, revoked: str | None = None, cid: str = "c1") -> ConsentRecord:
    return ConsentRecord(cid, status, "consent", tuple(categories), "2026-01-01T00:00:00Z", expires, revoked)


def test_marketing_needs_consent_and_a_revocation_takes_it_back() -> None:
    assert decide(P["marketing"], [], NOW, ALL).allowed == {"none"}
    granted = decide(P["marketing"], [consent("granted", "contact", "behavioural")], NOW, ALL)
    assert granted.allowed == {"none", "contact", "behavioural"} and granted.reasons["contact"] == "consent c1"
    assert granted.reasons["identity"] == "no consent"
    revoked = decide(P["marketing"], [consent("revoked", "contact", revoked="2026-10-15T00:00:00Z")], NOW, ALL)
    assert revoked.allowed == {"none"} and revoked.reasons["contact"] == "revoked consent c1"
    # the same moment (both dated 2026-01-01): the refusal wins, whatever their order
    both = [consent("granted", "contact", "identity", cid="a"), consent("refused", "contact", cid="b")]
    assert decide(P["marketing"], both, NOW, ALL).allowed == {"none", "identity"}
    assert decide(P["marketing"], list(reversed(both)), NOW, ALL).allowed == {"none", "identity"}


def test_expired_and_future_revocations() -> None:
    expired = decide(P["marketing"], [consent("granted", "contact", expires="2026-06-30T00:00:00Z")], NOW, ALL)
    assert "contact" not in expired.allowed
    later = decide(P["marketing"], [consent("granted", "contact", revoked="2027-01-01T00:00:00Z")], NOW, ALL)
    assert "contact" in later.allowed  # a revocation dated later does not apply yet


def test_an_objection_overrides_legitimate_interest_but_not_a_contract() -> None:
    sales = decide(P["sales"], [], NOW, ALL)
    assert sales.allowed == {"none", "identity", "contact", "financial"} and sales.reasons["contact"] == "legitimate_interest"
    objected = decide(P["sales"], [consent("refused", "contact")], NOW, ALL)
    assert "contact" not in objected.allowed and "identity" in objected.allowed
    service = decide(P["service"], [consent("refused", "contact", "behavioural")], NOW, ALL)
    assert {"contact", "behavioural"} <= service.allowed and service.reasons["contact"] == "contract"
    assert "sensitive" not in service.allowed  # never without consent
    assert "sensitive" in decide(P["service"], [consent("granted", "sensitive")], NOW, ALL).allowed


def test_the_latest_word_wins() -> None:
    revoked = ConsentRecord("old", "revoked", "consent", ("contact",), "2025-01-01T00:00:00Z", None, "2026-03-01T00:00:00Z")
    granted_again = ConsentRecord("new", "granted", "consent", ("contact",), "2026-05-01T00:00:00Z")
    decided = decide(P["marketing"], [revoked, granted_again], NOW, ALL)
    assert "contact" in decided.allowed and decided.reasons["contact"] == "consent new"
    granted_before = ConsentRecord("older", "granted", "consent", ("contact",), "2026-02-01T00:00:00Z")
    assert "contact" not in decide(P["marketing"], [granted_before, revoked], NOW, ALL).allowed


def test_refusing_location_switches_location_marketing_off() -> None:
    spec = P["location_marketing"]
    assert spec.requires == ("location",) and spec.alternative == "marketing"
    never = decide(spec, [consent("granted", "contact", "identity")], NOW, ("contact", "identity"))
    assert never.off is not None and "without location" in never.off and never.allowed == {"none"}
    on = decide(spec, [consent("granted", "contact", "location", "behavioural")], NOW, ALL)
    assert on.off is None and on.allowed == {"none", "contact", "location", "behavioural"}
    refused = [consent("granted", "contact", "location", cid="a"), consent("revoked", "location", revoked="2026-11-01T00:00:00Z", cid="b")]
    off = decide(spec, refused, NOW, ALL)
    assert off.allowed == {"none"} and off.reasons["contact"].startswith("revoked consent b")  # a refusal stays a refusal
    assert "location_marketing is off without location" in off.reasons["contact"]
    # plain marketing is not tied to location
    assert decide(P["marketing"], [consent("granted", "contact")], NOW, ALL).off is None
