"""The dead-letter record: inputs that failed, why, and how often, for `--retry-failed`.

One JSON line per failure in `<data_dir>/deadletter.jsonl`; a later success of the same item
is recorded too, so the pending set is "failed and not succeeded since". Appends are atomic
enough for one writer per line (O_APPEND, one `write` per line).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from graph.values import now_iso


@dataclass(frozen=True)
class Failure:
    """A failed input: what (a file path or `file:line`), its kind, the error, when."""

    item: str
    kind: str
    error: str
    at: str
    attempts: int = 1


class DeadLetter:
    """Failures of document and event ingestion, kept for retry."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def record_failure(self, item: str, kind: str, error: str) -> Failure:
        """Remember that `item` failed with `error`."""
        previous = self.pending().get(item)
        failure = Failure(item, kind, error, now_iso(), (previous.attempts + 1) if previous else 1)
        self._append({"status": "failed", **asdict(failure)})
        return failure

    def record_success(self, item: str) -> None:
        """Remember that `item` has now been ingested (only if it had failed before)."""
        if item in self.pending():
            self._append({"status": "ok", "item": item, "at": now_iso()})

    def pending(self) -> dict[str, Failure]:
        """Items whose latest record is a failure."""
        latest: dict[str, Failure | None] = {}
        if not self.path.exists():
            return {}
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash
                if record.get("status") == "failed":
                    latest[record["item"]] = Failure(record["item"], record["kind"], record["error"], record["at"], record.get("attempts", 1))
                else:
                    latest[record.get("item", "")] = None
        return {k: v for k, v in latest.items() if v is not None}
