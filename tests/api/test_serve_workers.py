"""`khub serve --workers 2` on the embedded default: two server processes on one store answer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

KHUB = Path(sys.executable).with_name("khub")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_two_server_processes_share_the_embedded_store(tmp_path: Path) -> None:
    env = {**os.environ, "KHUB_STORE": "embedded", "KHUB_DATA_DIR": str(tmp_path / "data")}
    command = [str(KHUB), "apikey", "create", "--name", "ci", "--role", "analyst", "--json"]
    created = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    key = json.loads(created.stdout)["key"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    command = [str(KHUB), "serve", "--port", str(port), "--workers", "2", "--no-embed", "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        headers = {"Authorization": f"Bearer {key}", "X-Khub-Purpose": "analytics"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for _ in range(6):  # new connections: the kernel spreads them over both workers
                with httpx.Client(base_url=base, headers=headers, timeout=30) as fresh:
                    answer = fresh.post("/graphql", json={"query": "{ me { role } accounts { totalCount } }"})
                    assert answer.status_code == 200 and answer.json()["data"]["me"]["role"] == "analyst", answer.text
            assert client.get("/ready").json()["store"] == "falkordb"
        workers = [p for p in _children(server.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
        assert len(workers) == 2, workers  # uvicorn's worker processes
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
