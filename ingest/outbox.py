"""The change outbox: which nodes each ingest wrote, for the intent worker.

Every document or event batch appends one JSON line `{"at", "source", "refs": ["Label:id", ...]}`
to `<data_dir>/outbox.jsonl` (one `write` per line with O_APPEND, so concurrent writers never
interleave). The refs are every node the write created or changed and both ends of every edge it
wrote or ended (the engine relies on it: `graph.patterns.watched_positions`). `khub worker` reads
it from its saved offset and re-scores only the subjects those nodes can change. Each record is written as a newline, the JSON, a newline: a line a crash left
half-written is ended by the next record's leading newline and skipped, never merged with it.
One machine's processes share the file; several khub instances on one Neo4j would need a
shared queue instead (noted in docs/reasoning.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from graph.store import NodeRef
from graph.values import now_iso

#: At most this many refs per line; larger batches are split.
REFS_PER_LINE = 5000


@dataclass(frozen=True)
class Change:
    """One write: the nodes it touched and where it came from."""

    at: str
    source: str
    refs: tuple[NodeRef, ...]


class Outbox:
    """Append-only record of touched nodes, read by offset."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, refs: Iterable[NodeRef], source: str) -> None:
        """Record that a write touched `refs` (deduplicated, in order)."""
        unique = list(dict.fromkeys(f"{r.label}:{r.id}" for r in refs))
        if not unique:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            for start in range(0, len(unique), REFS_PER_LINE):
                record = {"at": now_iso(), "source": source, "refs": unique[start : start + REFS_PER_LINE]}
                os.write(fd, ("\n" + json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        finally:
            os.close(fd)

    def read(self, offset: int = 0, max_lines: int = 1000) -> tuple[list[Change], int]:
        """Changes after byte `offset` (complete lines only) and the offset to continue from."""
        if not self.path.exists():
            return [], offset
        changes: list[Change] = []
        with self.path.open("rb") as f:
            f.seek(offset)
            for _ in range(max_lines):
                line = f.readline()
                if not line.endswith(b"\n"):
                    break  # being written: read it next time
                offset += len(line)
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    refs = tuple(NodeRef(*item.split(":", 1)) for item in record["refs"])
                except (ValueError, KeyError, TypeError):
                    continue  # a torn line from a crash: skip it
                changes.append(Change(record.get("at", ""), record.get("source", ""), refs))
        return changes, offset
