"""What a data subject does through GraphQL with their own token: see their data, decide their consents.

A subject token (`khub apikey create --role subject --subject Contact:ID`) may ask only for
`me`, `myData`, `decideConsent` and `verifyConsentReceipt` (the query guard refuses any other root
field with FORBIDDEN). `myData` is their view (`reasoning.my_data`); `decideConsent` records a
grant, refusal or revocation for one purpose and answers a receipt they can check with
`verifyConsentReceipt` (any caller) or `khub consent verify` (`reasoning.consent_ledger`).
Stewards record decisions that came through another channel with `decideConsent(subject: ...)`.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from api.graphql.auth import Forbidden
from api.graphql.context import context_of
from graph.audit import AuditLog
from graph.reads import json_safe
from graph.store import NodeRef
from ontology.errors import BadInput


@strawberry.enum(description="A person's decision on the use of their data for one purpose.")
class ConsentDecision(Enum):
    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"


@strawberry.type(description="Something khub collected about the subject.")
class CollectedItem:
    kind: str
    at: str | None
    what: str | None


@strawberry.type(description="One use of the subject's data, from the audit log.")
class DataUse:
    at: str
    purpose: str
    action: str
    by: str


@strawberry.type(description="A purpose that shares data with named third parties, and what of the subject's it may use now.")
class Sharing:
    purpose: str
    recipients: list[str]
    categories: list[str]
    why: JSON


@strawberry.type(description="One consent decision of the subject.")
class MyConsent:
    id: str
    purpose: str | None
    decision: str | None
    categories: list[str]
    at: str | None
    legal_basis: str | None
    notice_version: str | None


@strawberry.type(description="The subject's own view of what khub holds and does with their data.")
class MyData:
    subject: str
    days: int
    profile: JSON
    collected: list[CollectedItem]
    uses: list[DataUse]
    shared_with: list[Sharing]
    consents: list[MyConsent]
    how_to_revoke: str


@strawberry.type(description="A consent decision recorded, with the receipt that proves it.")
class ConsentReceipt:
    receipt: JSON


@strawberry.type(description="Whether a consent receipt holds against itself and the audit chain.")
class ReceiptCheck:
    ok: bool
    message: str


def _own_subject(principal, subject: str | None) -> NodeRef:
    """The subject a call is about: a subject token's own (any other is refused), else the `subject` argument (stewards)."""
    if principal.role == "subject":
        if subject is not None and subject != principal.subject:
            raise Forbidden("a subject token speaks only for its own subject")
        label, _, node_id = str(principal.subject).partition(":")
        return NodeRef(label, node_id)
    if not principal.has_role("steward"):
        raise Forbidden("recording someone's consent needs the role steward (or admin), or their own subject token")
    if not subject:
        raise BadInput("say whose decision it is: subject: Type:id")
    label, _, node_id = subject.partition(":")
    if not node_id:
        raise BadInput(f"give the subject as Type:id (got {subject!r})")
    return NodeRef(label, node_id)


@strawberry.type(description="Data-subject requests in numbers (aggregates: no person).")
class RequestStats:
    open: int = strawberry.field(description="Received and not completed yet.")
    overdue: int = strawberry.field(description="Open past their deadline.")
    completed: int
    failed: int = strawberry.field(description="Failed or rejected.")
    median_turnaround_seconds: float | None = strawberry.field(description="Median time from receiving a request to completing it.")


@strawberry.type(description="Whether a purpose may use a person's or account's data now, and what to use instead when it is off.")
class PurposeCheckResult:
    subject: str
    purpose: str
    allowed: list[str] = strawberry.field(description="Data categories the purpose may use now.")
    reasons: JSON = strawberry.field(description="Category -> why it is allowed or withheld.")
    off: str | None = strawberry.field(description="Why the purpose is off for them (a category it requires is refused or not consented).")
    alternative: str | None = strawberry.field(description="When off: a purpose that is on for them (the consented alternative).")


@strawberry.type
class SubjectQueries:
    @strawberry.field(description="Data-subject requests in numbers: open, overdue, completed, failed, median turnaround (also at /metrics).")
    async def subject_request_stats(self, info: strawberry.Info) -> RequestStats:
        from reasoning.subject_requests import request_stats

        ctx = context_of(info)
        stats = await ctx.run(request_stats, ctx.rc.store)
        return RequestStats(
            open=stats.open,
            overdue=stats.overdue,
            completed=stats.completed,
            failed=stats.failed,
            median_turnaround_seconds=stats.median_turnaround_seconds,
        )

    @strawberry.field(description="Your own data (a subject token only): what was collected in the last `days` days, the uses of it, sharing, consents.")
    async def my_data(self, info: strawberry.Info, days: int = 30) -> MyData:
        from reasoning.my_data import my_data

        ctx = context_of(info)
        if ctx.principal.role != "subject":
            raise Forbidden("myData is a data subject's own view: use a subject token (staff: subjectExport)")
        if not 1 <= days <= 3650:
            raise BadInput("days must be between 1 and 3650")
        ref = _own_subject(ctx.principal, None)
        audit = AuditLog.for_data_dir(ctx.rc.settings.data_dir)
        found = await ctx.run(my_data, ctx.rc.store, audit, ctx.reads.purposes_catalogue, ref, days)
        await ctx.run(audit.record, f"key:{ctx.principal.key_id}", ctx.purpose, "self_access", [str(ref)], {"request": ctx.rc.request_id})
        return MyData(
            subject=found["subject"],
            days=found["days"],
            profile=json_safe(found["profile"]),
            collected=[CollectedItem(**c) for c in found["collected"]],
            uses=[DataUse(**u) for u in found["uses"]],
            shared_with=[Sharing(**s) for s in found["shared_with"]],
            consents=[MyConsent(**c) for c in found["consents"]],
            how_to_revoke=found["how_to_revoke"],
        )

    @strawberry.field(
        description="May `purpose` use this subject's data now? Category by category, with reasons; when a category the purpose "
        "requires is refused (refusing location switches off location_marketing), `off` says why and `alternative` suggests a consented purpose."
    )
    async def purpose_check(self, info: strawberry.Info, subject: str, purpose: str) -> PurposeCheckResult:
        from graph.consent import purpose_check
        from graph.values import now_iso

        ctx = context_of(info)
        catalogue = ctx.reads.purposes_catalogue
        if purpose not in catalogue:
            raise BadInput(f"unknown purpose {purpose!r} (known: {', '.join(catalogue.names)})")
        label, _, node_id = subject.partition(":")
        if label not in ("Contact", "Account") or not node_id:
            raise BadInput(f"give a Contact or an Account as Type:id (got {subject!r})")
        ref = NodeRef(label, node_id)
        if await ctx.run(ctx.rc.store.get, ref) is None:
            from ontology.errors import NotFound

            raise NotFound(f"no {label} {node_id!r}")
        categories = {p.privacy.value for p in ctx.reads.ontology.node_types[label].properties.values()} - {"none"}
        check = await ctx.run(purpose_check, ctx.rc.store, catalogue, ref, purpose, now_iso(), categories)
        return PurposeCheckResult(
            subject=subject, purpose=purpose, allowed=list(check.allowed), reasons=check.reasons, off=check.off, alternative=check.alternative
        )

    @strawberry.field(description="Check a consent receipt against itself and the audit chain (any caller).")
    async def verify_consent_receipt(self, info: strawberry.Info, receipt: JSON) -> ReceiptCheck:
        from reasoning.consent_ledger import verify_receipt

        ctx = context_of(info)
        verdict = await ctx.run(verify_receipt, AuditLog.for_data_dir(ctx.rc.settings.data_dir), receipt)
        return ReceiptCheck(ok=verdict.ok, message=verdict.message)


@strawberry.type
class SubjectMutations:
    @strawberry.mutation(
        description="Record a consent decision for one purpose: a subject token for its own subject, a steward for `subject` (Type:id). "
        "`categories` default to every category but sensitive. Answers the receipt (keep it: verifyConsentReceipt checks it)."
    )
    async def decide_consent(
        self,
        info: strawberry.Info,
        purpose: str,
        decision: ConsentDecision,
        categories: list[str] | None = None,
        notice_version: str | None = None,
        notice_hash: str | None = None,
        subject: Annotated[str | None, strawberry.argument(description="Stewards: whose decision (Type:id).")] = None,
    ) -> ConsentReceipt:
        from reasoning.consent_ledger import record_decision

        ctx = context_of(info)
        ref = _own_subject(ctx.principal, subject)
        audit = AuditLog.for_data_dir(ctx.rc.settings.data_dir)
        receipt = await ctx.run(
            record_decision,
            ctx.rc.store,
            audit,
            ctx.reads.purposes_catalogue,
            ref,
            purpose,
            decision.value,
            f"key:{ctx.principal.key_id}",
            categories,
            notice_version,
            notice_hash,
        )
        return ConsentReceipt(receipt=json_safe(receipt))
