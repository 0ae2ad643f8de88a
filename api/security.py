"""API keys (hashed at rest), the purpose every request declares, roles and per-key rate limits.

**Keys.** A key reads `khub_<id>_<secret>`: `id` is 12 hex digits, `secret` 43 URL-safe
characters (256 random bits). `<data_dir>/api-keys.json` (mode 0600) keeps, per key, its id,
name, role, creation and revocation times and a salted scrypt hash of the whole key, never the
key itself; the key is shown once, when created. Writers take an exclusive `fcntl` lock on
`api-keys.json.lock` and replace the file atomically (write, fsync, rename), so `khub apikey
revoke` in another process is seen by a running server on its next request (the server re-reads
the file when its modification time or size changes).

**Verification** looks the record up by the key's id and compares the scrypt hash with
`hmac.compare_digest`; an unknown id or a malformed key costs the same scrypt (against a dummy
record), so timing tells nothing about which ids exist. A key that passed once is remembered
in memory (an HMAC of the key under a per-process secret, never the key), so later requests
skip the scrypt; revocation still applies at once because the record is checked every time.
Cache misses are rate limited per client address, so wrong keys cannot burn the CPU.

**Request context.** `request_context` is the FastAPI dependency every REST route and the
GraphQL router use: `Authorization: Bearer <key>` or `X-Api-Key: <key>` (401 `UNAUTHENTICATED`
without or with a wrong key, 403 `FORBIDDEN` for a revoked one), then the key's token bucket
(429 `RATE_LIMITED` with `Retry-After`), then the purpose header `X-Khub-Purpose`, which must
name a purpose of `ontology/purposes.yaml` (400 `PURPOSE_REQUIRED`). `require_role(*roles)`
adds a role check (403 `FORBIDDEN`; admin passes every check).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
from starlette.requests import HTTPConnection

from api.context import PURPOSE_HEADER, ROLES, SUBJECT_ROLE, Principal, RequestContext, Role
from api.errors import FORBIDDEN, PURPOSE_REQUIRED, RATE_LIMITED, UNAUTHENTICATED, ApiError, request_id_of
from graph.values import now_iso
from ontology.errors import BadInput, NotFound

KEY_FILE_NAME = "api-keys.json"
KEY_PREFIX = "khub"
API_KEY_HEADER = "X-Api-Key"
_KEY = re.compile(r"khub_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_FORMAT = "khub-api-keys/1"
#: scrypt cost: 2^14 x 8 x 1 (16 MB, tens of ms); kept per record, so a later change keeps old keys valid
SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES = 2**14, 8, 1, 32

#: Who may write data over REST (and the matching GraphQL mutations): sales tools record the
#: interactions they see (calls, meetings, web views); only stewards (and admins) ingest documents.
EVENT_WRITER_ROLES: tuple[Role, ...] = ("sales_tool", "steward")
DOCUMENT_WRITER_ROLES: tuple[Role, ...] = ("steward",)
#: Who may read any job (others see only the jobs their own key started).
JOB_READER_ROLES: tuple[Role, ...] = ("steward",)


@dataclass(frozen=True)
class ApiKeyRecord:
    """What the key file keeps about one key (no plaintext)."""

    id: str
    name: str
    role: Role
    created: str
    revoked: str | None
    salt: str  # base64
    hash: str  # base64 scrypt of the whole key
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P
    subject: str | None = None  # a subject token's Contact or Account (Type:id)

    def public(self) -> dict[str, Any]:
        """The fields safe to list (no salt, no hash)."""
        out = {"id": self.id, "name": self.name, "role": self.role, "created": self.created, "revoked": self.revoked}
        if self.subject:
            out["subject"] = self.subject
        return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(plaintext: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(plaintext.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES, maxmem=256 * 1024 * 1024)


class ApiKeyStore:
    """The API keys of one data directory: create, revoke, list, verify."""

    def __init__(self, path: Path, scrypt_n: int = SCRYPT_N):
        """path: the key file (`<data_dir>/api-keys.json`); scrypt_n: the cost of newly created keys."""
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.scrypt_n = scrypt_n
        self._mutex = threading.Lock()
        self._records: dict[str, ApiKeyRecord] = {}
        self._signature: tuple[int, int] | None = None
        self._cache_secret = secrets.token_bytes(32)
        self._verified: dict[bytes, str] = {}  # HMAC(key) -> key id, for keys that passed scrypt
        salt = secrets.token_bytes(16)
        self._dummy = ApiKeyRecord("000000000000", "", "sales_tool", "", None, _b64(salt), _b64(_scrypt("khub_dummy", salt, 2**10, 8, 1)), n=scrypt_n)

    @classmethod
    def for_data_dir(cls, data_dir: Path, scrypt_n: int = SCRYPT_N) -> ApiKeyStore:
        """The key store of a data directory."""
        return cls(data_dir / KEY_FILE_NAME, scrypt_n)

    # ------------------------------------------------------------------ file
    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_file(self) -> dict[str, ApiKeyRecord]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise BadInput(f"{self.path}: cannot read the API key file: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise BadInput(f"{self.path}: not a khub API key file (format {_FORMAT})")
        try:
            return {r["id"]: ApiKeyRecord(**r) for r in data.get("keys", [])}
        except (TypeError, KeyError) as exc:
            raise BadInput(f"{self.path}: a key record is malformed: {exc}") from None

    def _write_file(self, records: dict[str, ApiKeyRecord]) -> None:
        rows = [{k: v for k, v in asdict(r).items() if k != "subject" or v} for r in records.values()]  # staff keys have no subject
        payload = json.dumps({"format": _FORMAT, "keys": rows}, indent=1, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=".api-keys.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _current(self) -> dict[str, ApiKeyRecord]:
        """The records, re-read when the file changed (another process created or revoked a key)."""
        try:
            st = os.stat(self.path)
            signature: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            signature = None
        with self._mutex:
            if signature != self._signature:
                with self._locked(exclusive=False):
                    self._records = self._read_file() if signature else {}
                self._signature = signature
            return self._records

    # ------------------------------------------------------------------ management
    def create(self, name: str, role: str, subject: str | None = None) -> tuple[str, str]:
        """A new key: (key id, the plaintext key, to show once; only its hash is stored). A
        `subject` token (role subject) belongs to one Contact or Account, given as Type:id."""
        name = name.strip()
        if not name or len(name) > 200:
            raise BadInput("an API key needs a name (1 to 200 characters)")
        if role not in (*ROLES, SUBJECT_ROLE):
            raise BadInput(f"unknown role {role!r} (known: {', '.join((*ROLES, SUBJECT_ROLE))})")
        if (role == SUBJECT_ROLE) != bool(subject):
            raise BadInput("a subject token needs --subject Type:id, and only a subject token has one")
        if subject and (subject.partition(":")[0] not in ("Contact", "Account") or not subject.partition(":")[2]):
            raise BadInput(f"a subject token belongs to a Contact or an Account, as Type:id (got {subject!r})")
        with self._locked(exclusive=True):
            records = self._read_file()
            key_id = secrets.token_hex(6)
            while key_id in records:
                key_id = secrets.token_hex(6)
            plaintext = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
            salt = secrets.token_bytes(16)
            digest = _scrypt(plaintext, salt, self.scrypt_n, SCRYPT_R, SCRYPT_P)
            records[key_id] = ApiKeyRecord(
                key_id, name, cast(Role, role), now_iso(), None, _b64(salt), _b64(digest), self.scrypt_n, SCRYPT_R, SCRYPT_P, subject or None
            )
            self._write_file(records)
        return key_id, plaintext

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key (kept in the file, marked revoked); `NotFound` for an unknown id."""
        with self._locked(exclusive=True):
            records = self._read_file()
            record = records.get(key_id)
            if record is None:
                raise NotFound(f"no API key with id {key_id!r}")
            if record.revoked is None:
                record = records[key_id] = ApiKeyRecord(**{**asdict(record), "revoked": now_iso()})
                self._write_file(records)
        return record

    def list(self) -> list[ApiKeyRecord]:
        """Every key, revoked ones too, oldest first."""
        return sorted(self._current().values(), key=lambda r: (r.created, r.id))

    # ------------------------------------------------------------------ verification
    def _cache_key(self, plaintext: str) -> bytes:
        return hmac.new(self._cache_secret, plaintext.encode("utf-8"), hashlib.sha256).digest()

    def verify_cached(self, plaintext: str) -> Principal | None:
        """The key's principal when it passed `verify` before (no scrypt); None when not known yet.

        Raises 403 `FORBIDDEN` when the key was revoked since."""
        key_id = self._verified.get(self._cache_key(plaintext))
        if key_id is None:
            return None
        record = self._current().get(key_id)
        if record is None:  # the file was replaced without this key
            self._verified.pop(self._cache_key(plaintext), None)
            return None
        return self._principal(record)

    def verify(self, plaintext: str) -> Principal:
        """The principal of a key; 401 `UNAUTHENTICATED` for a wrong key, 403 `FORBIDDEN` for a revoked one.

        The scrypt runs whether or not the id exists, and the hashes are compared in constant time."""
        cached = self.verify_cached(plaintext)
        if cached is not None:
            return cached
        match = _KEY.fullmatch(plaintext)
        record = self._current().get(match.group(1)) if match else None
        candidate = record or self._dummy
        digest = _scrypt(plaintext, base64.b64decode(candidate.salt), candidate.n, candidate.r, candidate.p)
        ok = hmac.compare_digest(digest, base64.b64decode(candidate.hash))
        if not (ok and record is not None):
            raise ApiError(UNAUTHENTICATED, "unknown or malformed API key", 401, {"WWW-Authenticate": "Bearer"})
        cache = self._verified
        if len(cache) > 10_000:
            cache.clear()
        cache[self._cache_key(plaintext)] = record.id
        return self._principal(record)

    @staticmethod
    def _principal(record: ApiKeyRecord) -> Principal:
        if record.revoked is not None:
            raise ApiError(FORBIDDEN, f"API key {record.id} was revoked on {record.revoked[:10]}", 403)
        return Principal(record.id, record.name, record.role, record.subject)


class TokenBucket:
    """Token buckets by key: `rate` tokens a second up to `burst`; thread-safe."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000):
        self.rate = rate
        self.burst = max(1, burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Take one token: None when granted, else the seconds until one is available."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                if len(self._buckets) >= self.max_keys and key not in self._buckets:
                    self._buckets.clear()  # a flood of distinct keys: forget them all (they start full again)
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def rate_limited(retry_after: float, what: str) -> ApiError:
    """429 `RATE_LIMITED` with a whole-second `Retry-After`."""
    seconds = max(1, math.ceil(retry_after))
    return ApiError(RATE_LIMITED, f"{what}: too many requests; retry after {seconds} s", 429, {"Retry-After": str(seconds)})


# ---------------------------------------------------------------------- FastAPI dependencies
def server_state(connection: HTTPConnection) -> Any:
    """The `api.state.ServerState` of the app serving this connection."""
    return connection.app.state.khub


def presented_key(headers: Mapping[str, str]) -> str:
    """The API key of a request (`Authorization: Bearer` or `X-Api-Key`); 401 when there is none."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(UNAUTHENTICATED, "use 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'", 401, {"WWW-Authenticate": "Bearer"})
        return value.strip()
    key = headers.get(API_KEY_HEADER.lower()) or headers.get(API_KEY_HEADER)
    if key and key.strip():
        return key.strip()
    raise ApiError(UNAUTHENTICATED, "an API key is required ('Authorization: Bearer <key>' or 'X-Api-Key: <key>')", 401, {"WWW-Authenticate": "Bearer"})


async def authenticate_headers(state: Any, headers: Mapping[str, str], client: str = "-") -> Principal:
    """The principal of a request's headers (for callers outside FastAPI's dependencies, e.g. a
    WebSocket's connection_init payload). A key not verified before costs one scrypt, off the
    event loop, and a token from the client's verification bucket."""
    plaintext = presented_key(headers)
    keys: ApiKeyStore = state.keys
    principal = keys.verify_cached(plaintext)
    if principal is not None:
        return principal
    wait = state.auth_limiter.take(client)
    if wait is not None:
        raise rate_limited(wait, "key verification")
    return await anyio.to_thread.run_sync(keys.verify, plaintext)


#: Where a request carries the server's purpose catalogue (what each purpose may use: graph.consent).
PURPOSES_KEY = "purposes"


def check_purpose(state: Any, purpose: str | None) -> str:
    """The declared purpose when it is in the catalogue; 400 `PURPOSE_REQUIRED` otherwise."""
    known = state.purposes.names
    if purpose is None or not purpose.strip():
        raise ApiError(PURPOSE_REQUIRED, f"declare the purpose of this request in the {PURPOSE_HEADER} header (one of: {', '.join(known)})", 400)
    purpose = purpose.strip()
    if purpose not in state.purposes:
        raise ApiError(PURPOSE_REQUIRED, f"unknown purpose {purpose[:64]!r} in {PURPOSE_HEADER} (one of: {', '.join(known)})", 400)
    return purpose


async def context_from_headers(state: Any, headers: Mapping[str, str], request_id: str, client: str = "-") -> RequestContext:
    """Authenticate, rate-limit and check the purpose of a request given by its headers (and let
    the store follow an ontology another server process applied)."""
    principal = await authenticate_headers(state, headers, client)
    state.follow_ontology()
    wait = state.limiter.take(principal.key_id)
    if wait is not None:
        raise rate_limited(wait, f"API key {principal.key_id}")
    purpose = check_purpose(state, headers.get(PURPOSE_HEADER.lower()) or headers.get(PURPOSE_HEADER))
    return RequestContext(principal, purpose, state.store, state.settings, request_id, extras={PURPOSES_KEY: state.purposes})


async def authenticated(connection: HTTPConnection) -> Principal:
    """FastAPI dependency: the caller's principal (no purpose, no rate limit), e.g. for /metrics."""
    client = connection.client.host if connection.client else "-"
    return await authenticate_headers(server_state(connection), connection.headers, client)


async def request_context(connection: HTTPConnection) -> RequestContext:
    """FastAPI dependency: the `RequestContext` of an authenticated request with a declared purpose.

    Works for HTTP and WebSocket connections; computed once per request (cached on its state)."""
    cached = getattr(connection.state, "khub_context", None)
    if cached is not None:
        return cast(RequestContext, cached)
    client = connection.client.host if connection.client else "-"
    context = await context_from_headers(server_state(connection), connection.headers, request_id_of(connection.scope), client)
    connection.state.khub_context = context
    return context


def require_role(*roles: Role) -> Callable[[HTTPConnection], Awaitable[RequestContext]]:
    """A FastAPI dependency: the request context when the caller has one of `roles` (admin always has);
    403 `FORBIDDEN` otherwise."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles {unknown} (known: {ROLES})")

    async def dependency(connection: HTTPConnection) -> RequestContext:
        context = await request_context(connection)
        if not context.principal.has_role(*roles):
            allowed = ", ".join(dict.fromkeys((*roles, "admin")))
            raise ApiError(FORBIDDEN, f"role {context.principal.role} may not do this (needs {allowed})", 403)
        return context

    dependency.__name__ = f"require_role_{'_'.join(roles)}"
    return dependency
