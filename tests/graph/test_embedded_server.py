"""The embedded FalkorDB launcher: sharing between processes, durability, stale files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from graph.factory import open_store
from graph.falkordb_server import EmbeddedFalkorDB
from graph.store import NodeRecord
from ontology.settings import Settings


def test_two_users_share_one_server_and_the_last_one_stops_it(tmp_path: Path):
    first, second = EmbeddedFalkorDB(tmp_path), EmbeddedFalkorDB(tmp_path)
    first.acquire()
    pid = first._pid()
    second.acquire()
    assert second._pid() == pid
    assert first.release() is False  # the other user still holds it
    assert second._pid() == pid
    assert second.release() is True
    assert first._pid() is None and not first.socket.exists()


def test_a_khub_process_reuses_the_running_server(tmp_path: Path):
    settings = Settings(store="embedded", data_dir=tmp_path)
    store = open_store(settings)
    store.sync_schema()
    store.upsert([NodeRecord("Account", "acme", {"name": "Acme"})])
    server = EmbeddedFalkorDB(tmp_path / "graph")
    pid = server._pid()
    env = {**os.environ, "KHUB_STORE": "embedded", "KHUB_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "api.cli", "stats", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"Account": 1' in out.stdout
    assert server._pid() == pid  # still running: this process still uses it
    store.close()
    assert server._pid() is None


def test_acknowledged_writes_survive_kill_9_of_the_server(tmp_path: Path):
    settings = Settings(store="embedded", data_dir=tmp_path)
    store = open_store(settings)
    store.sync_schema()
    result = store.upsert([NodeRecord("Account", f"a{i}", {"name": f"n{i}"}) for i in range(1000)])
    assert result.nodes_written == 1000
    server = EmbeddedFalkorDB(tmp_path / "graph")
    os.kill(server._pid(), signal.SIGKILL)
    for _ in range(100):
        if server._pid() is None:
            break
        time.sleep(0.05)
    store.close()  # releases this process's hold; the server is already gone
    reopened = open_store(settings)
    try:
        assert reopened.stats().nodes == {"Account": 1000}
    finally:
        reopened.close()


def test_stale_pid_and_socket_files_are_cleaned_up(tmp_path: Path):
    server = EmbeddedFalkorDB(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    server.pid_file.write_text("999999\n")
    server.socket.write_text("not a socket")
    server.acquire()
    try:
        assert server._pid() not in (None, 999999)
    finally:
        assert server.release() is True
