"""GraphiQL renders in a real headless Chromium with the network cut (every host but localhost
unresolvable): the page needs no CDN, as on a customer's closed network."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from starlette.requests import HTTPConnection

from api.errors import ApiError, install_error_handlers
from api.graphql import graphql_router

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _no_key(connection: HTTPConnection) -> None:
    raise ApiError("UNAUTHENTICATED", "an API key is required", 401)


@pytest.fixture
def served() -> Iterator[str]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(graphql_router(_no_key), prefix="/graphql")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    yield f"http://localhost:{port}/graphql"
    server.should_exit = True
    thread.join(10)


def test_graphiql_renders_with_the_network_cut(served: str, tmp_path: Path) -> None:
    assert CHROMIUM, "headless Chromium is needed (Debian package chromium; .ci/system-deps.sh installs it)"
    command = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",  # the network is cut, but for this server
        "--virtual-time-budget=15000",
        "--dump-dom",
        served,
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    assert 'class="graphiql-container"' in dom, dom[:2000]  # React rendered GraphiQL from the local bundles
    assert "Loading GraphiQL" not in dom and "graphiql-editor" in dom
