"""REST: `POST /v1/events`, `POST /v1/documents`, `GET /v1/jobs/{id}`.

- **Events** (roles sales_tool, steward, admin): a JSON array of events, or NDJSON (one event
  per line). They go through the same `ingest.events.EventImporter` as `khub events import`:
  idempotent by event id; a malformed line or invalid event comes back with its line number
  (NDJSON) or array index and is dead-lettered; the rest lands. Answered when written.
- **Documents** (roles steward, admin): a multipart upload (`file` parts, optional `type`
  field forcing a parse rule). The files are saved under `<data_dir>/uploads/<sha256>/<name>`
  (content-addressed: uploading the same file again is "unchanged") and ingested by a
  background job with `ingest.pipeline.IngestPipeline`, as `khub ingest` does; the answer is
  202 with the job, to poll at `GET /v1/jobs/{id}`.
- **Jobs**: a job is visible to the key that started it and to stewards and admins (404 for
  anyone else, so ids do not leak).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from api.context import RequestContext
from api.errors import BAD_INPUT, NOT_FOUND, UNSUPPORTED_MEDIA_TYPE, ApiError, error_responses
from api.jobs import JOB_ID_PATTERN, Job
from api.runtime import ServerState, run_blocking
from api.security import DOCUMENT_WRITER_ROLES, EVENT_WRITER_ROLES, JOB_READER_ROLES, request_context, require_role
from api.writes import check_doc_type, check_filenames, import_events, safe_filename, save_upload, start_document_job
from ingest.events import EventError

log = logging.getLogger("khub.api.rest")

router = APIRouter(prefix="/v1")
#: errors every authenticated route can answer
_AUTH_ERRORS = (400, 401, 403, 429)
_AUTH_OPENAPI = {"x-khub-auth": True}
MAX_ERRORS = 1000
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/ndjson", "text/plain")


# ---------------------------------------------------------------------- models
class EventLineError(BaseModel):
    """One event that did not land: where it was in the body and why."""

    line: int | None = Field(None, description="1-based line of an NDJSON body")
    index: int | None = Field(None, description="0-based position in a JSON array body")
    item: str = Field(description="'line N', 'index N', or the node a store check refused (Label:id)")
    reason: str


class EventsResult(BaseModel):
    """What an events batch did."""

    received: int = Field(description="events in the body")
    written: int = Field(description="events written (new or already there: import is idempotent by id)")
    rejected: int
    telemetry_new: int = 0
    devices_updated: int = 0
    seconds: float
    errors: list[EventLineError] = Field(description=f"the first {MAX_ERRORS} problems")


class JobOut(BaseModel):
    """A background job."""

    id: str
    kind: str
    status: str = Field(description="queued, running, succeeded (every file landed) or failed (see errors)")
    owner: str = Field(description="the API key id that started it")
    purpose: str
    created: str
    started: str | None = None
    finished: str | None = None
    progress: dict[str, int] = Field(description="done and total files")
    counts: dict[str, int] = Field(description="added, updated, unchanged, failed; chunks, mentions, relations")
    errors: list[dict[str, Any]]
    result: dict[str, Any] = Field(description="documents: one entry per file, with its document_id")


def _state(request: Request) -> ServerState:
    return request.app.state.khub


# ---------------------------------------------------------------------- events
def _item(request_id: str, kind: str, n: int) -> str:
    return f"api:{request_id}:{kind}:{n}"


def parse_events_body(body: bytes, content_type: str, request_id: str) -> list[tuple[str, dict[str, Any] | EventError]]:
    """(`api:<request id>:line|index:<n>`, event or error) pairs of a JSON array or NDJSON body."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in NDJSON_TYPES:
        array = False
    elif media == "":
        array = body.lstrip()[:1] == b"["  # no content type: an array, else one event per line
    elif media == "application/json" or media.endswith("+json"):
        array = True
    else:
        raise ApiError(UNSUPPORTED_MEDIA_TYPE, f"send events as application/json (an array) or application/x-ndjson, not {media[:64]}", 415)
    if not body.strip():
        raise ApiError(BAD_INPUT, "the body holds no events", 400)
    pairs: list[tuple[str, dict[str, Any] | EventError]] = []
    if array:
        try:
            data = json.loads(body)
        except UnicodeDecodeError:
            raise ApiError(BAD_INPUT, "the body is not UTF-8", 400) from None
        except json.JSONDecodeError as exc:
            raise ApiError(BAD_INPUT, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", 400) from None
        if not isinstance(data, list):
            raise ApiError(BAD_INPUT, "a JSON body is an array of events", 400)
        for index, record in enumerate(data):
            pairs.append((_item(request_id, "index", index), record if isinstance(record, dict) else EventError("an event must be a JSON object")))
        return pairs
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        item = _item(request_id, "line", number)
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            pairs.append((item, EventError("not UTF-8")))
            continue
        except json.JSONDecodeError as exc:
            pairs.append((item, EventError(f"malformed JSON: {exc.msg} at column {exc.colno}")))
            continue
        pairs.append((item, record if isinstance(record, dict) else EventError("an event must be a JSON object")))
    return pairs


_ITEM = re.compile(r"api:[^:]*:(line|index):(\d+)")


def _event_error(item: str, reason: str) -> EventLineError:
    match = _ITEM.fullmatch(item)
    if match is None:
        return EventLineError(item=item, reason=reason)
    kind, n = match.group(1), int(match.group(2))
    return EventLineError(line=n if kind == "line" else None, index=n if kind == "index" else None, item=f"{kind} {n}", reason=reason)


@router.post(
    "/events",
    response_model=EventsResult,
    summary="Record a batch of events (JSON array or NDJSON)",
    responses=error_responses(*_AUTH_ERRORS, 413, 415, 504),
    openapi_extra={
        **_AUTH_OPENAPI,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "description": "events: each an object with id, type (an event type of ontology/events.yaml), ts and the type's fields; "
                        "an item that is not a valid event comes back in `errors` with its index, the others land",
                        "items": {},
                    },
                    "example": [{"id": "e1", "type": "web_view", "ts": "2026-11-20T09:12:00Z", "contact": "wang-fang", "url": "https://example.com/pricing"}],
                },
                "application/x-ndjson": {"schema": {"type": "string", "description": "one JSON event per line"}},
            },
        },
    },
)
async def post_events(request: Request, context: RequestContext = Depends(require_role(*EVENT_WRITER_ROLES))) -> EventsResult:
    """Import events idempotently (by event id); each bad line comes back with its number, the rest lands."""
    state = _state(request)
    body = await request.body()
    pairs = parse_events_body(body, request.headers.get("content-type", ""), context.request_id)
    report = await run_blocking(import_events, state, pairs, timeout=state.config.write_timeout_seconds, what="importing the events")
    errors = [_event_error(r.item, r.reason) for r in report.rejected[:MAX_ERRORS]]
    return EventsResult(
        received=len(pairs),
        written=report.events_written,
        rejected=len(report.rejected),
        telemetry_new=report.telemetry_new,
        devices_updated=report.devices_updated,
        seconds=round(report.seconds, 3),
        errors=errors,
    )


# ---------------------------------------------------------------------- documents
@router.post(
    "/documents",
    status_code=202,
    response_model=JobOut,
    summary="Upload documents to ingest (multipart); answers with the ingest job",
    responses=error_responses(*_AUTH_ERRORS, 413, 415),
    openapi_extra={
        **_AUTH_OPENAPI,
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string", "format": "binary"},
                                "description": "one or more documents; the part's file name gives the format (.pdf, .docx, .txt, ...)",
                            },
                            "type": {"type": "string", "description": "force a document type (a parse rule, e.g. tender_notice)"},
                        },
                    }
                }
            },
        },
    },
)
async def post_documents(request: Request, context: RequestContext = Depends(require_role(*DOCUMENT_WRITER_ROLES))) -> JSONResponse:
    """Save the uploaded files and start an ingest job (202, `Location: /v1/jobs/{id}`)."""
    state = _state(request)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        raise ApiError(UNSUPPORTED_MEDIA_TYPE, "upload documents as multipart/form-data with one or more 'file' parts", 415)
    limit = state.config.max_files_per_upload
    try:
        form = await request.form(max_files=limit, max_fields=20)
    except MultiPartException as exc:
        raise ApiError(BAD_INPUT, f"malformed multipart body: {exc.message}", 400) from None
    try:
        uploads = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        if not uploads:
            raise ApiError(BAD_INPUT, "no 'file' part in the upload", 400)
        raw_type = form.get("type")
        doc_type = check_doc_type(raw_type if isinstance(raw_type, str) else None)
        names = [safe_filename(f.filename) for f in uploads]
        check_filenames(names)
        folder = state.settings.data_dir / "uploads"
        saved = [
            (name, await run_blocking(save_upload, upload.file, folder, name, timeout=state.config.write_timeout_seconds, what="saving the upload"))
            for name, upload in zip(names, uploads, strict=True)
        ]
    finally:
        await form.close()
    job = start_document_job(state, context.principal.key_id, context.purpose, saved, doc_type)
    return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


# ---------------------------------------------------------------------- jobs
@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="A job's status, progress, counts and errors",
    responses=error_responses(*_AUTH_ERRORS, 404),
    openapi_extra=_AUTH_OPENAPI,
)
async def get_job(job_id: str, request: Request, context: RequestContext = Depends(request_context)) -> Job | dict[str, Any]:
    """A job, for the key that started it or a steward/admin."""
    job = _state(request).jobs.get(job_id) if re.fullmatch(JOB_ID_PATTERN[1:-1], job_id) else None
    if job is None or not (job.owner == context.principal.key_id or context.principal.has_role(*JOB_READER_ROLES)):
        raise ApiError(NOT_FOUND, f"no job {job_id[:40]!r}", 404)
    return job.to_dict()
