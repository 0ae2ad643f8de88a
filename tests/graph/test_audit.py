"""The audit log: a hash chain with checkpoints; any edit, insertion, deletion or cut is named."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from graph.audit import AuditLog, entry_hash


def _log(tmp_path: Path, n: int = 5, every: int = 1000) -> AuditLog:
    log = AuditLog(tmp_path / "audit", checkpoint_every=every)
    for i in range(n):
        log.record("key:k1", "marketing", "read", [f"Contact:c{i}"], {"request": f"r{i}"})
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text(encoding="utf-8").splitlines()


def test_an_intact_log_verifies(tmp_path: Path) -> None:
    log = _log(tmp_path)
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 5 and "intact" in verdict.message
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5] and entries[1]["prev"] == entries[0]["hash"]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    assert AuditLog(tmp_path / "empty").verify().ok


def test_an_edit_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    entry = json.loads(lines[2])
    entry["subjects"] = ["Contact:someone-else"]
    lines[2] = json.dumps(entry, sort_keys=True)
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    verdict = log.verify()
    assert not verdict.ok and verdict.seq == 3 and verdict.line == 3 and "entry 3 at line 3 was changed" in verdict.message
    # re-hashing the edited entry does not help: the next entry's link breaks
    entry["hash"] = entry_hash(entry)
    lines[2] = json.dumps(entry, sort_keys=True)
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    verdict = log.verify()
    assert not verdict.ok and verdict.seq == 4 and "link to entry 3 does not match" in verdict.message


def test_a_deletion_and_an_insertion_are_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    log.path.write_text("\n".join(lines[:1] + lines[2:]) + "\n", encoding="utf-8")
    verdict = log.verify()
    assert not verdict.ok and verdict.seq == 2 and verdict.line == 2 and "expected entry 2" in verdict.message
    log.path.write_text("\n".join([*lines[:2], lines[1], *lines[2:]]) + "\n", encoding="utf-8")
    assert not log.verify().ok


def test_a_cut_off_end_is_caught_by_a_checkpoint(tmp_path: Path) -> None:
    log = _log(tmp_path, n=6, every=3)  # checkpoints at entries 3 and 6
    assert len(log.checkpoints.read_text(encoding="utf-8").splitlines()) == 2
    lines = _lines(log)
    log.path.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")  # entries 5 and 6 gone: the chain itself still holds
    verdict = log.verify()
    assert not verdict.ok and "reached entry 6, it ends at 4" in verdict.message
    assert log.checkpoint() is not None  # a checkpoint now records the current end


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit")

    def write(who: int) -> None:
        for i in range(25):
            AuditLog(tmp_path / "audit").record(f"key:{who}", "service", "read", [f"Contact:{who}-{i}"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 100


def test_subjects_are_pseudonyms_only_the_key_links_them(tmp_path) -> None:
    log = AuditLog(tmp_path / "audit")
    log.record("key:a", "sales", "read", ["Contact:li-ming", "Contact:wang-fang"])
    log.record("key:b", "legal", "erase", ["digest:abc"])
    text = log.path.read_text()
    assert "li-ming" not in text and "wang-fang" not in text and "digest:abc" in text
    assert [e["actor"] for e in log.about("Contact:li-ming")] == ["key:a"]
    assert log.pseudonym("Contact:li-ming") == AuditLog(tmp_path / "audit").pseudonym("Contact:li-ming")  # the key is kept beside the log
    assert log.pseudonym("Contact:li-ming") != AuditLog(tmp_path / "other").pseudonym("Contact:li-ming")  # another log, another key
    assert oct((tmp_path / "audit" / "subjects.key").stat().st_mode & 0o777) == "0o600"
    assert log.verify().ok
