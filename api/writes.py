"""The write paths every way in shares: importing events, saving uploads, document ingest jobs.

REST (`api.rest`: `POST /v1/events`, `POST /v1/documents`) and GraphQL (`recordEvents`,
`ingestDocuments`) call these, so both land data the same way as `khub events import` and
`khub ingest`: events through `ingest.events.EventImporter` (idempotent by id, bad ones
dead-lettered), documents saved content-addressed under `<data_dir>/uploads/` and ingested by a
background job with `ingest.pipeline.IngestPipeline`, its progress on `api.jobs.JobRegistry`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, BinaryIO

from api.jobs import Job
from api.runtime import ServerState
from graph.store import NodeRef
from ingest.events import EventError, EventImportReport
from ontology.errors import BadInput, KhubError

log = logging.getLogger("khub.api.writes")


# ---------------------------------------------------------------------- events
def import_events(state: ServerState, pairs: list[tuple[str, dict[str, Any] | EventError]]) -> EventImportReport:
    """Import (item, event or error) pairs through `ingest.events.EventImporter`, one import at a time
    (they share the telemetry aggregates); bad items are dead-lettered, the rest lands."""
    from ingest.deadletter import DeadLetter
    from ingest.events import EventImporter
    from ingest.outbox import Outbox
    from ingest.telemetry import TelemetryAggregator
    from ontology.event_schema import default_event_schema

    settings = state.settings
    schema = default_event_schema()
    with state.events_lock:
        telemetry = TelemetryAggregator(settings.data_dir / "telemetry.sqlite", schema.telemetry)
        try:
            importer = EventImporter(state.store, schema, telemetry, DeadLetter(settings.deadletter_path), outbox=Outbox(settings.outbox_path))
            return importer.import_records(pairs)
        finally:
            with contextlib.suppress(Exception):
                telemetry.db.close()


# ---------------------------------------------------------------------- documents
_UNSAFE = re.compile(r"[^\w.\-()\[\] ]+", re.UNICODE)


def safe_filename(name: str | None) -> str:
    """A file name safe to write: no directories, no control characters, at most 150 characters."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE.sub("_", base).strip(" .")
    if not base:
        return "upload"
    stem, dot, suffix = base.rpartition(".")
    if dot and len(suffix) <= 10:
        return stem[: 150 - len(suffix) - 1] + "." + suffix
    return base[:150]


def save_upload(handle: BinaryIO, uploads: Path, name: str) -> Path:
    """Copy an upload to `uploads/<sha256[:16]>/<name>` (kept when already there)."""
    uploads.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload.", dir=uploads)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            handle.seek(0)
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                out.write(chunk)
        folder = uploads / digest.hexdigest()[:16]
        folder.mkdir(exist_ok=True)
        target = folder / name
        if target.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
        return target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def document_pipeline(state: ServerState) -> Any:
    """The app's ingest pipeline, built on first use (in the job thread: models load once)."""
    if state.pipeline is None:
        from ingest.deadletter import DeadLetter
        from ingest.embed import load_embedder
        from ingest.outbox import Outbox
        from ingest.pipeline import IngestPipeline

        settings = state.settings
        embedder = load_embedder(settings.embedding_model, settings.embedding_cache_path) if state.config.embed_documents else None
        state.pipeline = IngestPipeline(
            state.store,
            embedder,
            DeadLetter(settings.deadletter_path),
            max_bytes=int(settings.max_document_mb * 1024 * 1024),
            max_chunk_chars=settings.chunk_chars,
            outbox=Outbox(settings.outbox_path),
        )
    return state.pipeline


def erase_for_server(state: ServerState, ref: NodeRef, actor: str) -> dict[str, Any]:
    """Erase a subject from the server's store (`reasoning.subject_requests.run_erasure`), re-embedding
    masked passages with the document embedder when the server embeds documents; returns the summary."""
    from graph.audit import AuditLog
    from ingest.outbox import Outbox
    from reasoning.subject_requests import run_erasure

    settings = state.settings
    embedder = document_pipeline(state).embedder if state.config.embed_documents else None
    request, report = run_erasure(
        state.store, ref, actor, AuditLog.for_data_dir(settings.data_dir), embedder, Outbox(settings.outbox_path), settings.dsr_deadline_days
    )
    return {"request": request, "tombstone": report.tombstone, "proof": report.proof, **report.summary()}


def run_document_job(state: ServerState, job_id: str, files: list[tuple[str, Path]], doc_type: str | None) -> None:
    """Ingest uploaded files one by one, recording progress, counts and per-file results on the job."""
    jobs = state.jobs
    jobs.start(job_id)
    failed_files = 0
    try:
        pipeline = document_pipeline(state)
        for filename, path in files:
            result = pipeline.ingest_file(path, doc_type)
            error = (result.error or "").replace(result.source, filename).replace(str(path), filename) or None
            with jobs.change(job_id) as job:
                job.progress["done"] += 1
                for key, value in ((result.status, 1), ("chunks", result.chunks), ("mentions", result.mentions), ("relations", result.relations)):
                    job.counts[key] = job.counts.get(key, 0) + value
                job.result.setdefault("documents", []).append(
                    {"filename": filename, "status": result.status, "document_id": result.document_id, "chunks": result.chunks, "error": error}
                )
                if result.status == "failed":
                    job.errors.append({"filename": filename, "error": error})
            failed_files += result.status == "failed"
    except KhubError as exc:
        jobs.finish(job_id, failed=True, error=str(exc))
        state.metrics.jobs.labels("documents", "failed").inc()
        return
    except Exception:
        log.exception("document job %s failed", job_id)
        jobs.finish(job_id, failed=True, error=f"internal error; quote job id {job_id} to the operator")
        state.metrics.jobs.labels("documents", "failed").inc()
        return
    jobs.finish(job_id, failed=failed_files > 0)
    state.metrics.jobs.labels("documents", "failed" if failed_files else "succeeded").inc()


def check_doc_type(doc_type: str | None) -> str | None:
    """The document type to force (a parse rule name), None for none; `BadInput` for an unknown one."""
    if doc_type is None or not doc_type.strip():
        return None
    from ingest.doc_rules import default_rules

    known = sorted(default_rules())
    if doc_type.strip() not in known:
        raise BadInput(f"unknown document type {doc_type.strip()[:64]!r} (known: {', '.join(known)})")
    return doc_type.strip()


def check_filenames(names: list[str]) -> None:
    """`BadInput` naming the files whose format khub cannot parse."""
    from ingest.parse import SUPPORTED

    unsupported = sorted({n for n in names if Path(n).suffix.lower() not in SUPPORTED})
    if unsupported:
        raise BadInput(f"unsupported file type: {', '.join(unsupported[:5])} (supported: {', '.join(sorted(SUPPORTED))})")


def start_document_job(state: ServerState, owner: str, purpose: str, saved: list[tuple[str, Path]], doc_type: str | None) -> Job:
    """Create a documents job for files already saved (`save_upload`) and queue it on the job thread."""
    job = state.jobs.create("documents", owner, purpose, total=len(saved))
    state.submit_job(run_document_job, state, job.id, saved, doc_type)
    return job
