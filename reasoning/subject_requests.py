"""Data-subject requests (export, erasure) with a status and a legal deadline.

Each request is a `DataSubjectRequest` node: its kind, status (received → in_progress →
completed, or failed / rejected with the reason), when it was received, when it is due (one month
by default: GDPR art. 12(3); `KHUB_DSR_DEADLINE_DAYS`), when it was completed, who filed it, and
its outcome as counts. The subject is named by a keyed digest (the same as the tombstone's); the
plain Type:id is kept only while an erasure is open and removed when it completes.

`run_export` and `run_erasure` file a request, carry it out, close it and write the audit entry
(the erasure's names only the digest). `list_requests` and `request_stats` (open, overdue, median
turnaround) serve the CLI, GraphQL and `/metrics`.
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from graph.audit import AuditLog
from graph.store import GraphStore, Node, NodeRecord, NodeRef
from ingest.embed import Embedder
from ingest.outbox import Outbox
from ingest.suppression import SuppressionList
from ontology.errors import KhubError, NotFound
from reasoning.erasure import Eraser, ErasureReport
from reasoning.subject_export import export_subject

DEFAULT_DEADLINE_DAYS = 30
OPEN_STATUSES = ("received", "in_progress")


@dataclass(frozen=True)
class RequestStats:
    """Requests in numbers: open, overdue, completed, and the median time to complete."""

    open: int
    overdue: int
    completed: int
    failed: int
    median_turnaround_seconds: float | None


def _now(clock: Callable[[], datetime] | None) -> datetime:
    return (clock or (lambda: datetime.now(UTC)))()


def open_request(
    store: GraphStore, kind: str, ref: NodeRef, requested_by: str, deadline_days: int = DEFAULT_DEADLINE_DAYS, clock: Callable[[], datetime] | None = None
) -> str:
    """File a request about `ref` (status received); returns its id."""
    now = _now(clock)
    request_id = f"dsr-{now:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    props = {
        "request_kind": kind,
        "request_status": "received",
        "subject_ref": str(ref),
        "subject_label": ref.label,
        "subject_digest": SuppressionList(store).subject_digest(ref),
        "received_at": now.isoformat(timespec="seconds"),
        "due_at": (now + timedelta(days=deadline_days)).isoformat(timespec="seconds"),
        "requested_by": requested_by,
    }
    store.upsert([NodeRecord("DataSubjectRequest", request_id, props)])
    return request_id


def set_status(
    store: GraphStore,
    request_id: str,
    status: str,
    outcome: dict[str, Any] | None = None,
    forget_subject: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Move a request to `status` (completed, failed and rejected record when); `forget_subject` removes its plain Type:id."""
    props: dict[str, Any] = {"request_status": status}
    if status not in OPEN_STATUSES:
        props["completed_at"] = _now(clock).isoformat(timespec="seconds")
    if outcome is not None:
        props["outcome"] = json.dumps(outcome, sort_keys=True, ensure_ascii=False)
    ref = NodeRef("DataSubjectRequest", request_id)
    store.upsert([NodeRecord(ref.label, ref.id, props)])
    if forget_subject:
        store.remove_properties(ref, ["subject_ref"])


def run_export(store: GraphStore, ref: NodeRef, requested_by: str, audit: AuditLog, deadline_days: int = DEFAULT_DEADLINE_DAYS) -> tuple[str, dict[str, Any]]:
    """File, carry out and close an export request; returns (request id, the export)."""
    request_id = open_request(store, "export", ref, requested_by, deadline_days)
    try:
        exported = export_subject(store, ref, audit=audit)
    except NotFound as exc:
        set_status(store, request_id, "rejected", {"reason": "not found"}, forget_subject=True)
        if Eraser(store).tombstone_of(ref) is not None:
            raise NotFound(f"{ref} was erased before: a tombstone holds its digest, nothing else is left") from exc
        raise
    except KhubError as exc:
        set_status(store, request_id, "rejected", {"reason": str(exc).replace(ref.id, "<subject>")}, forget_subject=True)
        raise
    counts = {k: len(v) for k, v in exported.items() if isinstance(v, list)}
    set_status(store, request_id, "completed", counts)
    audit.record(requested_by, "legal", "export", [str(ref)], {"request": request_id})
    exported["request"] = request_id
    return request_id, exported


def run_erasure(
    store: GraphStore,
    ref: NodeRef,
    requested_by: str,
    audit: AuditLog,
    embedder: Embedder | None = None,
    outbox: Outbox | None = None,
    deadline_days: int = DEFAULT_DEADLINE_DAYS,
) -> tuple[str, ErasureReport]:
    """File, carry out and close an erasure request; returns (request id, what was erased)."""
    request_id = open_request(store, "erase", ref, requested_by, deadline_days)
    set_status(store, request_id, "in_progress")
    try:
        report = Eraser(store, embedder, outbox).erase(ref)
    except KhubError as exc:
        set_status(store, request_id, "rejected", {"reason": str(exc).replace(ref.id, "<subject>")}, forget_subject=True)
        raise
    except Exception as exc:  # the request stays on record as failed, with the subject to retry
        set_status(store, request_id, "failed", {"reason": f"{type(exc).__name__}: {exc}"})
        raise
    set_status(store, request_id, "completed", {**report.summary(), "tombstone": report.tombstone, "proof": report.proof}, forget_subject=True)
    audit.record(
        requested_by, "legal", "erase", [f"digest:{report.subject_digest}"], {"request": request_id, "tombstone": report.tombstone, "proof": report.proof}
    )
    return request_id, report


def _row(node: Node, now: datetime) -> dict[str, Any]:
    props = node.props
    due = props.get("due_at")
    status = props.get("request_status")
    overdue = bool(status in OPEN_STATUSES and due and datetime.fromisoformat(str(due)) < now)
    outcome = props.get("outcome")
    return {
        "id": node.id,
        "kind": props.get("request_kind"),
        "status": status,
        "subject": props.get("subject_ref") or f"{props.get('subject_label')} (digest {str(props.get('subject_digest'))[:16]}…)",
        "received_at": props.get("received_at"),
        "due_at": due,
        "completed_at": props.get("completed_at"),
        "overdue": overdue,
        "requested_by": props.get("requested_by"),
        "outcome": json.loads(outcome) if isinstance(outcome, str) and outcome.startswith("{") else outcome,
    }


def list_requests(store: GraphStore, status: str | None = None, clock: Callable[[], datetime] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Requests, newest first (only those with `status` when given), with an `overdue` flag."""
    now = _now(clock)
    nodes = store.find("DataSubjectRequest", "request_status", status, limit=limit) if status else store.scan_nodes("DataSubjectRequest", limit=limit)
    return sorted((_row(n, now) for n in nodes), key=lambda r: str(r["received_at"]), reverse=True)


def request_stats(store: GraphStore, clock: Callable[[], datetime] | None = None) -> RequestStats:
    """Open, overdue, completed and failed requests, and the median turnaround of completed ones."""
    rows = list_requests(store, clock=clock, limit=100_000)
    turnaround = [
        (datetime.fromisoformat(str(r["completed_at"])) - datetime.fromisoformat(str(r["received_at"]))).total_seconds()
        for r in rows
        if r["status"] == "completed" and r["completed_at"] and r["received_at"]
    ]
    return RequestStats(
        open=sum(r["status"] in OPEN_STATUSES for r in rows),
        overdue=sum(r["overdue"] for r in rows),
        completed=len(turnaround),
        failed=sum(r["status"] in ("failed", "rejected") for r in rows),
        median_turnaround_seconds=statistics.median(turnaround) if turnaround else None,
    )
