"""Device telemetry → device features over rolling windows (no node per reading).

Readings are folded into daily aggregates per (device, metric, day) in a small SQLite file
in the data directory; each reading's event id is remembered, so re-importing the same file
changes nothing, and readings may arrive late or out of order. After a batch, the features of
the devices it touched are recomputed from their aggregates:
- `operating_hours`: the largest value of an operating-hours counter metric;
- `load_intensity`: the mean load over the last `load_window_days` before the device's newest
  reading (percentages above 1 are divided by 100);
- `last_service_date` and `maintenance_overdue_days`: from the newest maintenance reading and
  the maintenance interval, as of the newest reading.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ontology.event_schema import TelemetryConfig


@dataclass(frozen=True)
class Reading:
    """One telemetry value of a device."""

    event_id: str
    device_id: str
    metric: str
    value: float
    ts: str  # normalised ISO UTC time


class TelemetryAggregator:
    """Daily aggregates of telemetry, and the device features derived from them."""

    def __init__(self, path: Path, config: TelemetryConfig):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.config = config
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.executescript(
            """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS daily (
                device TEXT, metric TEXT, day TEXT, n INTEGER, total REAL, low REAL, high REAL, last_ts TEXT, last_value REAL,
                PRIMARY KEY (device, metric, day));
            """
        )

    def add(self, readings: Iterable[Reading]) -> tuple[int, set[str]]:
        """Fold new readings in (already seen event ids are skipped); return (new readings, devices touched)."""
        new = 0
        touched: set[str] = set()
        with self._lock, self.db:
            for r in readings:
                if self.db.execute("INSERT OR IGNORE INTO seen (event_id) VALUES (?)", (r.event_id,)).rowcount == 0:
                    continue
                new += 1
                touched.add(r.device_id)
                self.db.execute(
                    """
                    INSERT INTO daily (device, metric, day, n, total, low, high, last_ts, last_value)
                    VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)
                    ON CONFLICT (device, metric, day) DO UPDATE SET
                        n = n + 1, total = total + excluded.total, low = min(low, excluded.low), high = max(high, excluded.high),
                        last_value = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_value ELSE last_value END,
                        last_ts = max(last_ts, excluded.last_ts)
                    """,
                    (r.device_id, r.metric, r.ts[:10], r.value, r.value, r.value, r.ts, r.value),
                )
        return new, touched

    def features(self, device_id: str) -> dict[str, Any]:
        """The current features of one device (only those its readings support)."""
        cfg = self.config
        rows = self.db.execute("SELECT metric, day, n, total, high FROM daily WHERE device = ?", (device_id,)).fetchall()
        if not rows:
            return {}
        newest = max(date.fromisoformat(day) for _, day, _, _, _ in rows)
        out: dict[str, Any] = {}
        hours = [high for metric, _, _, _, high in rows if metric in cfg.operating_hours_metrics]
        if hours:
            out["operating_hours"] = float(max(hours))
        window_start = (newest - timedelta(days=cfg.load_window_days)).isoformat()
        loads = [(n, total) for metric, day, n, total, _ in rows if metric in cfg.load_metrics and day > window_start]
        if loads:
            mean = sum(t for _, t in loads) / sum(n for n, _ in loads)
            out["load_intensity"] = round(mean / 100 if mean > 1 else mean, 4)
        services = [day for metric, day, _, _, _ in rows if metric in cfg.maintenance_metrics]
        if services:
            last = max(date.fromisoformat(d) for d in services)
            out["last_service_date"] = last.isoformat()
            out["maintenance_overdue_days"] = max(0, (newest - last).days - cfg.maintenance_interval_days)
        return out
