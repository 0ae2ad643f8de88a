"""Background jobs (document ingestion): a thread-safe registry, in memory and on disk.

Each job is a JSON record `<data_dir>/jobs/<id>.json`, rewritten atomically at every change, so
a restarted server still answers `GET /v1/jobs/{id}` for jobs that finished before. A job that
was queued or running when its server stopped is reported as `failed` ("interrupted") when it
is read back. Listeners (e.g. a GraphQL `jobProgress` subscription) are called with a copy of
the job after every change, on the thread that made it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from graph.values import now_iso

log = logging.getLogger("khub.api.jobs")

JobStatus = Literal["queued", "running", "succeeded", "failed"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed"})
JOB_ID = re.compile(r"job-[0-9a-f]{16}")
JOB_ID_PATTERN = r"^job-[0-9a-f]{16}$"


@dataclass
class Job:
    """One background job: what, whose, how far, what came of it."""

    id: str
    kind: str
    status: JobStatus
    owner: str  # the API key id that started it
    purpose: str
    created: str
    started: str | None = None
    finished: str | None = None
    progress: dict[str, int] = field(default_factory=lambda: {"done": 0, "total": 0})
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return copy.deepcopy(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """The job of a stored record."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class JobRegistry:
    """Jobs by id: the recent ones in memory, every one on disk."""

    def __init__(self, directory: Path, keep_in_memory: int = 1000):
        self.directory = directory
        self.keep_in_memory = keep_in_memory
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._live: set[str] = set()  # jobs this process created (the others, unfinished, were interrupted)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[Job], None]] = []
        directory.mkdir(parents=True, exist_ok=True)

    def add_listener(self, listener: Callable[[Job], None]) -> Callable[[], None]:
        """Call `listener(job)` after every change; returns a function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def create(self, kind: str, owner: str, purpose: str, total: int = 0) -> Job:
        """A new queued job, recorded on disk."""
        job = Job(f"job-{secrets.token_hex(8)}", kind, "queued", owner, purpose, now_iso(), progress={"done": 0, "total": total})
        with self._lock:
            self._live.add(job.id)
            self._remember(job)
            self._save(job)
            snapshot = copy.deepcopy(job)
        self._notify(snapshot)
        return snapshot

    @contextlib.contextmanager
    def change(self, job_id: str) -> Iterator[Job]:
        """Change a job in place (under the registry's lock); saved and announced afterwards."""
        with self._lock:
            job = self._jobs.get(job_id) or self._load(job_id)
            if job is None:
                raise KeyError(job_id)
            yield job
            self._remember(job)
            self._save(job)
            snapshot = copy.deepcopy(job)
        self._notify(snapshot)

    def start(self, job_id: str) -> None:
        """Mark a job running."""
        with self.change(job_id) as job:
            job.status, job.started = "running", now_iso()

    def finish(self, job_id: str, failed: bool = False, error: str | None = None) -> None:
        """Mark a job succeeded or failed (with an error for the job as a whole)."""
        with self.change(job_id) as job:
            job.status = "failed" if failed else "succeeded"
            job.finished = now_iso()
            if error:
                job.errors.append({"error": error})

    def get(self, job_id: str) -> Job | None:
        """A copy of the job, from memory or disk; None for an unknown or malformed id."""
        if not JOB_ID.fullmatch(job_id):
            return None
        with self._lock:
            job = self._jobs.get(job_id) or self._load(job_id)
            return copy.deepcopy(job) if job else None

    # ------------------------------------------------------------------ internals
    def _path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._jobs.move_to_end(job.id)
        while len(self._jobs) > self.keep_in_memory:
            oldest = next(iter(self._jobs))
            if self._jobs[oldest].status not in FINISHED:
                break  # never drop an unfinished job from memory
            del self._jobs[oldest]

    def _load(self, job_id: str) -> Job | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        try:
            job = Job.from_dict(json.loads(self._path(job_id).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("job record %s is unreadable: %s", job_id, exc)
            return None
        if job.status not in FINISHED and job.id not in self._live:
            job.status, job.finished = "failed", now_iso()
            job.errors.append({"error": "interrupted: the server stopped before this job finished; upload the files again"})
            self._save(job)
        self._remember(job)
        return job

    def _save(self, job: Job) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{job.id}.", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(job.to_dict(), handle, ensure_ascii=False)
            os.replace(tmp, self._path(job.id))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _notify(self, job: Job) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(job)
            except Exception:  # a broken subscriber must not fail the job
                log.exception("job listener failed")
