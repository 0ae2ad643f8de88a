"""What one server process holds (store, keys, purposes, limits, jobs, metrics) and how
request handlers run blocking store work.

The `GraphStore` is synchronous (docs/architecture.md): handlers call it through
`run_blocking`, which runs the call in a worker thread and gives up waiting after a timeout
(504 `TIMEOUT`). The thread itself cannot be killed: a read is also bounded by the store's own
server-side timeout, and writes are idempotent, so a client may simply retry.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from api.config import ServerConfig
from api.errors import TIMEOUT, ApiError
from api.jobs import JobRegistry
from api.security import ApiKeyStore, TokenBucket
from graph.store import GraphStore
from ontology.purposes import PurposeCatalogue
from ontology.settings import Settings

T = TypeVar("T")
log = logging.getLogger("khub.api")


async def run_blocking(func: Callable[..., T], *args: Any, timeout: float, what: str = "the request", **kwargs: Any) -> T:
    """`func(*args, **kwargs)` in a worker thread; 504 `TIMEOUT` when it takes longer than `timeout` seconds."""
    call = functools.partial(func, *args, **kwargs)
    try:
        with anyio.fail_after(timeout):
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    except TimeoutError:
        raise ApiError(TIMEOUT, f"{what} took longer than {timeout:g} s", 504) from None


class Metrics:
    """Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("khub_http_requests", "HTTP requests by route template and status", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "khub_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.in_flight = Gauge("khub_http_requests_in_flight", "HTTP requests being answered", registry=self.registry)
        self.jobs = Counter("khub_jobs", "Background jobs by kind and final status", ["kind", "status"], registry=self.registry)


class ConsentCollector:
    """Prometheus gauges of consent per purpose (`graph.consent.consent_stats`), read from the store
    when scraped, at most every `every_seconds` (aggregates only: no person, no key)."""

    def __init__(self, state: ServerState, every_seconds: float = 30.0):
        self.state = state
        self.every_seconds = every_seconds
        self._cached: tuple[float, list[Any]] = (0.0, [])
        self._requests: tuple[float, Any] = (0.0, None)
        self._lock = threading.Lock()

    def stats(self) -> list[Any]:
        """The current figures (cached); empty when the store does not answer."""
        from graph.consent import consent_stats
        from graph.values import now_iso

        with self._lock:
            at, cached = self._cached
            if self.state.store is None or (time.monotonic() - at < self.every_seconds and at):
                return cached
            try:
                cached = consent_stats(self.state.store, self.state.purposes.names, now_iso())
            except Exception as exc:  # a scrape must not fail because the store is slow
                log.warning("consent metrics: %s: %s", type(exc).__name__, exc)
            self._cached = (time.monotonic(), cached)
            return cached

    def request_stats(self) -> Any:
        """Data-subject requests in numbers (`reasoning.subject_requests.request_stats`), cached like `stats`; None when the store does not answer."""
        from reasoning.subject_requests import request_stats

        with self._lock:
            at, cached = self._requests
            if self.state.store is None or (time.monotonic() - at < self.every_seconds and at):
                return cached
            try:
                cached = request_stats(self.state.store)
            except Exception as exc:  # a scrape must not fail because the store is slow
                log.warning("request metrics: %s: %s", type(exc).__name__, exc)
            self._requests = (time.monotonic(), cached)
            return cached

    def collect(self) -> Iterator[Any]:
        """The gauges: consent per purpose, data-subject requests."""
        from prometheus_client.core import GaugeMetricFamily

        requests = self.request_stats()
        if requests is not None:
            for name, text, value in (
                ("khub_dsr_requests_open", "Data-subject requests received and not yet completed", requests.open),
                ("khub_dsr_requests_overdue", "Open data-subject requests past their deadline", requests.overdue),
                ("khub_dsr_requests_completed", "Data-subject requests completed", requests.completed),
                ("khub_dsr_requests_failed", "Data-subject requests that failed or were rejected", requests.failed),
                (
                    "khub_dsr_turnaround_median_seconds",
                    "Median seconds from receiving a data-subject request to completing it",
                    requests.median_turnaround_seconds or 0.0,
                ),
            ):
                yield GaugeMetricFamily(name, text, value=float(value))
        stats = self.stats()
        families = (
            ("khub_consents_in_force", "Consents granted and in force, by purpose", lambda s: s.granted),
            ("khub_consents_refused", "Consents refused or revoked, by purpose", lambda s: s.refused),
            ("khub_consent_active_rate", "Share of people and accounts with a consent in force, by purpose", lambda s: s.active_rate),
        )
        for name, text, value in families:
            family = GaugeMetricFamily(name, text, labels=["purpose"])
            for item in stats:
                family.add_metric([item.purpose], float(value(item)))
            yield family


@dataclass
class ServerState:
    """Everything a request handler may need, created once by `create_app`."""

    settings: Settings
    config: ServerConfig
    store: GraphStore
    keys: ApiKeyStore
    purposes: PurposeCatalogue
    jobs: JobRegistry
    limiter: TokenBucket
    auth_limiter: TokenBucket
    metrics: Metrics = field(default_factory=Metrics)
    #: runs document jobs one at a time (the ingest pipeline is not shared between threads)
    job_runner: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="khub-jobs"))
    #: document jobs not finished yet (shutdown waits `shutdown_grace_seconds` for them)
    job_futures: set[Future[None]] = field(default_factory=set)
    #: one events import at a time (they share the telemetry aggregates)
    events_lock: threading.Lock = field(default_factory=threading.Lock)
    #: the document pipeline, built on first use (models load once)
    pipeline: Any = None
    #: set by create_app: whether the app opened the store (and so closes it)
    owns_store: bool = False

    #: the ontology file the store was last switched to, with its modification time, and when that was checked
    ontology_stamp: tuple[str, int] | None = None
    ontology_checked: float = 0.0

    def follow_ontology(self, every_seconds: float = 1.0) -> bool:
        """Switch the store to the ontology another process applied (`applyOntology` in another
        `khub serve` worker changed the data directory's active ontology file); looks at most once
        every `every_seconds`. True when the store was switched."""
        now = time.monotonic()
        if self.store is None or now - self.ontology_checked < every_seconds:
            return False
        self.ontology_checked = now
        from ontology.workspace import configured_schema_path

        path = configured_schema_path(self.settings)
        try:
            stamp = (str(path), path.stat().st_mtime_ns)
        except OSError:
            return False
        if self.ontology_stamp is None:  # first look: what the store was opened with
            source = Path(self.store.ontology.source)
            with contextlib.suppress(OSError):
                self.ontology_stamp = (str(source), source.stat().st_mtime_ns)
        if stamp == self.ontology_stamp:
            return False
        from ontology.model import load_ontology

        self.ontology_stamp = stamp
        self.store.use_ontology(load_ontology(path))
        return True

    def submit_job(self, func: Callable[..., None], *args: Any) -> None:
        """Run a background job on the job thread."""
        future = self.job_runner.submit(func, *args)
        self.job_futures.add(future)
        future.add_done_callback(self.job_futures.discard)
