"""Fixtures of the reasoning tests: a real local HTTP receiver for webhooks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# ---------------------------------------------------------------------------------------------- a real receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from a plan:
    each request takes the next step ("ok", "500", "400", "302", "429:<seconds>", "hang"); an
    empty plan answers 200."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/intent?token=abc"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = state["r"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.requests.append(Received({k: v for k, v in self.headers.items()}, body))
            step = rec.plan.pop(0) if rec.plan else "ok"
            if step == "hang":
                rec.release.wait(10)  # past the client's timeout
                return
            status, _, retry_after = step.partition(":")
            code = 200 if status == "ok" else int(status)
            self.send_response(code)
            if retry_after:
                self.send_header("Retry-After", retry_after)
            if code == 302:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            reply = b'{"ok": true}' if code < 300 else f"failure {code}".encode()
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state["r"]
    state["r"].release.set()
    server.shutdown()
    server.server_close()
