"""A tamper-evident audit log of every use of personal data: a hash chain with checkpoints.

Each use (an API read that returned a person's data for a purpose, an inference about them, a
data-subject export) is one JSON line of `<data_dir>/audit/audit.jsonl`:

    {"seq": 41, "at": "...", "actor": "...", "purpose": "marketing", "action": "read",
     "subjects": ["p:3f9a…"], "details": {...}, "prev": "<hash of 40>", "hash": "<sha256>"}

`hash` is the SHA-256 of the entry's canonical JSON (sorted keys, without `hash`), which includes
the previous entry's hash: editing, inserting, reordering or deleting an entry breaks the chain
from there on. Every `checkpoint_every` entries (and on `checkpoint()`), the last sequence number
and hash are appended to `checkpoints.jsonl`, so cutting entries off the end is detected too (the
chain would still be consistent, but shorter than a checkpoint says). Keep the checkpoints (or
publish them) somewhere the log's writer cannot rewrite, for a proof that holds against its admin.

Appends are serialised between processes with an exclusive lock on the log file. `verify()` names
the first entry that does not hold (its sequence number and line) or says the log is intact.

**Subjects are pseudonyms.** An entry never holds a person's id: each subject (`Contact:li-ming`)
is written as `p:` + HMAC-SHA-256 of it with a key kept beside the log (`subjects.key`, made on
first use, mode 0600). Whoever holds the key finds a person's entries (`pseudonym`, `about`); the
log itself names no one, so erasing a person (`reasoning.erasure`) leaves nothing of theirs in
it, and the chain stays intact. Subjects already given as digests (`digest:...`) are kept as they
are. Keep the key with the log: without it the entries can no longer be linked to anyone.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

GENESIS = "0" * 64


def entry_hash(entry: dict[str, Any]) -> str:
    """The SHA-256 of an entry's canonical JSON, without its own `hash`."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: intact, or the first problem with its sequence number and line."""

    ok: bool
    entries: int
    message: str
    seq: int | None = None
    line: int | None = None


class AuditLog:
    """The append-only, hash-chained audit log of one data directory."""

    def __init__(self, directory: Path, checkpoint_every: int = 1000):
        self.directory = Path(directory)
        self.path = self.directory / "audit.jsonl"
        self.checkpoints = self.directory / "checkpoints.jsonl"
        self.checkpoint_every = checkpoint_every
        self._key: bytes | None = None

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> AuditLog:
        """The log under `<data_dir>/audit/`."""
        return cls(Path(data_dir) / "audit")

    @contextmanager
    def _locked(self) -> Iterator[TextIO]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield handle
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _last(handle: TextIO) -> tuple[int, str]:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return 0, GENESIS
        # read back far enough for the last line (entries are small)
        chunk = min(size, 65536)
        handle.seek(size - chunk)
        lines = handle.read().splitlines()
        last = json.loads(lines[-1])
        return int(last["seq"]), str(last["hash"])

    def _subject_key(self) -> bytes:
        """The key of the subjects' pseudonyms (`subjects.key` beside the log), made on first use."""
        if self._key is None:
            path = self.directory / "subjects.key"
            if not path.exists():
                self.directory.mkdir(parents=True, exist_ok=True)
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "w", encoding="ascii") as out:
                        out.write(secrets.token_hex(32) + "\n")
                except FileExistsError:
                    pass  # another process made it first
            self._key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        return self._key

    def pseudonym(self, subject: str) -> str:
        """How the log writes `subject` (Type:id): `p:` and a keyed digest; a `digest:` stays as it is."""
        if subject.startswith(("digest:", "p:")):
            return subject
        return "p:" + hmac.new(self._subject_key(), subject.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def about(self, subject: str) -> Iterator[dict[str, Any]]:
        """The entries naming `subject` (Type:id), oldest first. Only the lines holding its pseudonym
        are parsed (the log is read once, parsing every line costs ten times more)."""
        mark = self.pseudonym(subject)
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if mark in line:
                    entry = json.loads(line)
                    if mark in entry.get("subjects", ()):
                        yield entry

    def record(self, actor: str, purpose: str, action: str, subjects: Iterable[str], details: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append one use of personal data (subjects as pseudonyms); returns the entry (with its hash)."""
        subjects = [self.pseudonym(s) for s in subjects]
        with self._locked() as handle:
            seq, prev = self._last(handle)
            entry: dict[str, Any] = {
                "seq": seq + 1,
                "at": datetime.now(UTC).isoformat(timespec="microseconds"),
                "actor": actor,
                "purpose": purpose,
                "action": action,
                "subjects": sorted(set(subjects)),
                "details": details or {},
                "prev": prev,
            }
            entry["hash"] = entry_hash(entry)
            handle.seek(0, os.SEEK_END)
            handle.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            handle.flush()
            if entry["seq"] % self.checkpoint_every == 0:
                self._write_checkpoint(entry)
        return entry

    def checkpoint(self) -> dict[str, Any] | None:
        """Record the current end of the chain (sequence number and hash) in the checkpoints file."""
        with self._locked() as handle:
            seq, last = self._last(handle)
            if seq == 0:
                return None
            return self._write_checkpoint({"seq": seq, "hash": last})

    def _write_checkpoint(self, entry: dict[str, Any]) -> dict[str, Any]:
        point = {"seq": entry["seq"], "hash": entry["hash"], "at": datetime.now(UTC).isoformat(timespec="seconds")}
        with self.checkpoints.open("a", encoding="utf-8") as out:
            out.write(json.dumps(point, sort_keys=True) + "\n")
        return point

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry, oldest first."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def verify(self) -> Verdict:
        """Check the whole chain and the checkpoints; the first entry that does not hold is named."""
        prev, seq, count = GENESIS, 0, 0
        hashes: dict[int, str] = {}
        if self.path.exists():
            with self.path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        return Verdict(False, count, f"line {number} is not a JSON entry", seq + 1, number)
                    expected = seq + 1
                    problem = None
                    if entry.get("seq") != expected:
                        problem = f"entry {entry.get('seq')} at line {number}: expected entry {expected} (an entry was deleted, inserted or moved)"
                    elif entry.get("prev") != prev:
                        problem = f"entry {expected} at line {number}: its link to entry {seq} does not match (an entry before it changed)"
                    elif entry.get("hash") != entry_hash(entry):
                        problem = f"entry {expected} at line {number} was changed (its hash does not match its content)"
                    if problem:
                        return Verdict(False, count, problem, expected, number)
                    prev, seq, count = entry["hash"], expected, count + 1
                    hashes[seq] = prev
        if self.checkpoints.exists():
            for number, line in enumerate(self.checkpoints.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                point = json.loads(line)
                if point["seq"] > seq:
                    cut = f"checkpoint {number} says the log reached entry {point['seq']}, it ends at {seq} (entries were cut off the end)"
                    return Verdict(False, count, cut, seq + 1, None)
                if hashes.get(point["seq"]) != point["hash"]:
                    return Verdict(False, count, f"entry {point['seq']} does not match checkpoint {number} (the log was rewritten)", point["seq"], None)
        return Verdict(True, count, f"intact: {count} entries, chain and checkpoints hold")
