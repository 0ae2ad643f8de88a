"""`khub worker`: keeps intents current as data arrives.

It reads the change outbox (`ingest/outbox.py`) from its saved offset, collects the nodes the
new writes touched, and re-scores only the subjects they can change
(`IntentEngine.refresh_touched`), so the cost follows the size of the change, not of the graph.
The offset is saved after each batch: a killed worker resumes where it stopped (a batch may be
re-scored twice, which is harmless: scoring is idempotent and actions have their cooldown).
With a `scenarios` hook (`reasoning.scenario_dispatch.on_touched`), the same touched nodes also
trigger the zero-code scenarios listening for their events (a rerun never reopens a done task).
With a `periodic` hook (`reasoning.scenario_triggers.tick`), what time alone triggers (scheduled
scenarios, concept memberships that windows sliding change) runs every `periodic_seconds`, at
the first poll and then between polls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graph.store import NodeRef
from ingest.outbox import Outbox
from reasoning.intents import IntentEngine, RefreshReport


@dataclass
class WorkerStats:
    """What the worker has done since it started."""

    batches: int = 0
    changes: int = 0
    nodes: int = 0
    fired: int = 0
    new: list[str] = field(default_factory=list)
    scenario_hits: int = 0
    ticks: int = 0
    seconds: float = 0.0


class IntentWorker:
    """Consumes the outbox and re-scores what changed."""

    def __init__(
        self,
        engine: IntentEngine,
        outbox: Outbox,
        offset_path: Path,
        batch_lines: int = 500,
        scenarios: Callable[[Sequence[NodeRef]], int] | None = None,
        periodic: Callable[[], int] | None = None,
        periodic_seconds: float = 60.0,
    ):
        self.engine = engine
        self.scenarios = scenarios
        self.periodic = periodic
        self.periodic_seconds = periodic_seconds
        self._periodic_at: float | None = None
        self.outbox = outbox
        self.offset_path = offset_path
        self.batch_lines = batch_lines
        self.stats = WorkerStats()

    def _offset(self) -> int:
        try:
            return int(self.offset_path.read_text(encoding="utf-8").strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _save(self, offset: int) -> None:
        tmp = self.offset_path.with_suffix(".tmp")
        tmp.write_text(str(offset), encoding="utf-8")
        tmp.replace(self.offset_path)

    def run_once(self) -> RefreshReport | None:
        """Handle the changes waiting in the outbox (one batch); None when there were none."""
        changes, offset = self.outbox.read(self._offset(), self.batch_lines)
        if not changes:
            return None
        started = time.perf_counter()
        touched: list[NodeRef] = list(dict.fromkeys(ref for change in changes for ref in change.refs))
        report = self.engine.refresh_touched(touched)
        if self.scenarios is not None:
            self.stats.scenario_hits += self.scenarios(touched)
        self._save(offset)
        self.stats.batches += 1
        self.stats.changes += len(changes)
        self.stats.nodes += len(touched)
        self.stats.fired += len(report.fired)
        self.stats.new += report.new
        self.stats.seconds += time.perf_counter() - started
        return report

    def run_periodic(self, force: bool = False) -> bool:
        """Run the `periodic` hook when its period has passed (or `force`); True when it ran."""
        if self.periodic is None:
            return False
        if not force and self._periodic_at is not None and time.monotonic() - self._periodic_at < self.periodic_seconds:
            return False
        self._periodic_at = time.monotonic()
        self.stats.scenario_hits += self.periodic()
        self.stats.ticks += 1
        return True

    def run(self, interval: float = 1.0, stop: threading.Event | None = None) -> None:
        """Poll until `stop` is set (or forever)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            while self.run_once() is not None and not stop.is_set():
                pass
            self.run_periodic()
            stop.wait(interval)
