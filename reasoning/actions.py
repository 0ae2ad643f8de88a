"""Intent actions: signed webhooks and role-assigned tasks, fired when an intent crosses its threshold.

The intent engine decides *that* an intent fired; this module decides *what happens*, as the
intent definition's `actions` list says (a webhook, a task, or both: one entry each):

- **webhook**: a JSON POST (sorted keys, UTF-8) signed with HMAC-SHA256 over the exact body
  bytes (`X-Khub-Signature: sha256=<hex>`), with `X-Khub-Timestamp` and `X-Khub-Delivery` (a
  unique id, the same on every retry: receivers deduplicate on it). Connection errors,
  timeouts, 5xx and 429 are retried with exponential backoff and jitter; other answers are not.
  A delivery that still fails goes to the dead-letter record (`ingest.deadletter`, kind
  `webhook`; its body sits beside it) and `replay_failed_webhooks` sends it again later.
- **task**: a `Task` node assigned to a role (sales, service, finance, legal) with a title and
  message rendered from `string.Template` text (`$var`, `${var}`: substitution only, no code),
  linked `(Intent)-[:TRIGGERED]->(Task)-[:TASK_FOR]->(subject)`. Its id is derived from the
  intent and the action, so a re-run updates the same task instead of adding another.

Cooldown and dedup: an `ActionLedger` (a small append-only file, or memory) remembers when each
(intent, action) last fired; `ActionRunner.run` skips an action that fired within the
`cooldown_seconds` the caller passes (from the definition). Nothing here raises into the
engine: every action comes back as an `ActionResult` (done, skipped or failed).

Secrets never appear in definitions: a webhook names the setting that holds its secret
(`secret_env`), resolved through the `secrets` source given to the runner (in production
`Settings.webhook_secrets`: `KHUB_WEBHOOK_SECRETS` as JSON or a `[webhook_secrets]` table in
khub.toml); without a source no secret is found and nothing is sent unsigned.
See docs/actions.md for the payload, the headers and how a receiver verifies them.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef
from graph.values import normalise_datetime
from ingest.deadletter import DeadLetter
from ontology.errors import BadInput

#: The ontology types this module writes (checked against the store's ontology on start).
TASK_LABEL = "Task"
INTENT_LABEL = "Intent"
TRIGGERED = "TRIGGERED"
TASK_FOR = "TASK_FOR"

ACTION_KINDS = ("webhook", "task")
TASK_ROLES = ("sales", "service", "finance", "legal")
#: The dead-letter kind of a webhook that could not be delivered.
DEADLETTER_KIND = "webhook"

SIGNATURE_HEADER = "X-Khub-Signature"
TIMESTAMP_HEADER = "X-Khub-Timestamp"
DELIVERY_HEADER = "X-Khub-Delivery"
#: The `event` field of every webhook body (bumped if the payload changes incompatibly).
PAYLOAD_EVENT = "intent.fired"
PAYLOAD_VERSION = 1
EXTRACTOR = "reasoning.actions"

DEFAULT_TITLE = "${intent_type}: ${subject_name}"
DEFAULT_MESSAGE = "${explanation}\n\nSuggested actions: ${suggested_actions}\n\nEvidence:\n${evidence}"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: How much of an error response body is kept for the dead-letter record.
_BODY_EXCERPT = 2048


class ActionDefinitionError(BadInput):
    """An action of an intent definition that cannot be used; the message names the field."""


class TemplateError(BadInput):
    """A task template with a bad placeholder or an unknown variable; names the template and the variable."""


# ---------------------------------------------------------------------------------------------- what the engine hands over


@dataclass(frozen=True)
class IntentSubject:
    """The node an intent is about: its type, key and display name."""

    label: str
    id: str
    name: str = ""

    @property
    def ref(self) -> NodeRef:
        """The reference to the subject node."""
        return NodeRef(self.label, self.id)


@dataclass
class IntentFired:
    """An intent that crossed its threshold, with everything its actions may need.

    `subject` may be given as an `IntentSubject`, a `(label, id, name)` tuple or a mapping with
    those keys. `evidence` items are dicts with `label`, `id`, `summary`, `weight`,
    `contribution`. `variables` are extra values for task templates (they override the built-in
    ones of the same name, see `template_variables`).
    """

    intent_id: str
    intent_type: str
    subject: IntentSubject
    score: float
    first_seen: str
    last_seen: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)
    suggested_actions: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.subject, Mapping):
            self.subject = IntentSubject(str(self.subject["label"]), str(self.subject["id"]), str(self.subject.get("name") or ""))
        elif isinstance(self.subject, tuple | list):
            self.subject = IntentSubject(*(str(part) for part in self.subject))
        if not 0.0 <= float(self.score) <= 1.0:
            raise ValueError(f"intent {self.intent_id!r}: score {self.score!r} is not between 0 and 1")


# ---------------------------------------------------------------------------------------------- action definitions


@dataclass(frozen=True)
class ActionSpec:
    """One action of an intent definition (YAML `actions:` entry).

    webhook: `url` (http/https), `secret_env` (the NAME of the setting holding the HMAC secret),
    `max_attempts` (1-20), `backoff_seconds` (the first retry delay; it doubles each time),
    optional `timeout_seconds`. task: `role` (sales, service, finance, legal), `title` and
    `message` templates, `due_in_days`, optional `action_type` (default `follow_up`). `name`
    optionally names the action; it is the dedup key (default `webhook:<url without query>` or
    `task:<role>`), so renaming a URL or role makes a new action.
    """

    kind: str
    name: str | None = None
    url: str | None = None
    secret_env: str | None = None
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    timeout_seconds: float | None = None
    role: str | None = None
    title: str = ""
    message: str = ""
    due_in_days: int = 3
    action_type: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise ActionDefinitionError(f"kind: {self.kind!r} is not one of {', '.join(ACTION_KINDS)}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise ActionDefinitionError(f"name: a non-empty text, got {self.name!r}")
        if self.kind == "webhook":
            self._check_webhook()
        else:
            self._check_task()

    def _check_webhook(self) -> None:
        parts = urllib.parse.urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ActionDefinitionError(f"url: a webhook needs an http(s) URL with a host, got {self.url!r}")
        if not self.secret_env or not _ENV_NAME.fullmatch(self.secret_env):
            raise ActionDefinitionError(f"secret_env: a webhook names the setting that holds its secret (letters, digits, _), got {self.secret_env!r}")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or not 1 <= self.max_attempts <= 20:
            raise ActionDefinitionError(f"max_attempts: an integer from 1 to 20, got {self.max_attempts!r}")
        if not _is_number(self.backoff_seconds) or not 0 <= self.backoff_seconds <= 3600:
            raise ActionDefinitionError(f"backoff_seconds: a number of seconds from 0 to 3600, got {self.backoff_seconds!r}")
        if self.timeout_seconds is not None and (not _is_number(self.timeout_seconds) or not 0 < self.timeout_seconds <= 300):
            raise ActionDefinitionError(f"timeout_seconds: more than 0 and at most 300, got {self.timeout_seconds!r}")

    def _check_task(self) -> None:
        if self.role not in TASK_ROLES:
            raise ActionDefinitionError(f"role: a task goes to one of {', '.join(TASK_ROLES)}, got {self.role!r}")
        if isinstance(self.due_in_days, bool) or not isinstance(self.due_in_days, int) or not 0 <= self.due_in_days <= 3650:
            raise ActionDefinitionError(f"due_in_days: an integer from 0 to 3650, got {self.due_in_days!r}")
        for slot in ("title", "message"):
            if not isinstance(getattr(self, slot), str):
                raise ActionDefinitionError(f"{slot}: a template text, got {getattr(self, slot)!r}")
            check_template_syntax(getattr(self, slot), f"task({self.role}).{slot}")
        if self.action_type is not None and not isinstance(self.action_type, str):
            raise ActionDefinitionError(f"action_type: a text, got {self.action_type!r}")

    @property
    def key(self) -> str:
        """The action's dedup key within its intent (see the class docstring)."""
        if self.name:
            return self.name
        if self.kind == "webhook":
            return f"webhook:{_redact(self.url or '')}"
        return f"task:{self.role}"

    @property
    def label(self) -> str:
        """How error messages name the action (never the URL's query, which may hold a token)."""
        return f"{self.kind}({self.name or (self.role if self.kind == 'task' else _redact(self.url or ''))})"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "action") -> ActionSpec:
        """An action from its YAML mapping; `ActionDefinitionError` names `where` and the field."""
        if not isinstance(data, Mapping):
            raise ActionDefinitionError(f"{where}: an action is a mapping with kind: webhook or task")
        if "secret" in data:
            raise ActionDefinitionError(f"{where}.secret: never put a secret in a definition; name the setting that holds it in secret_env")
        kind = data.get("kind")
        if kind not in ACTION_KINDS:
            raise ActionDefinitionError(f"{where}.kind: {kind!r} is not one of {', '.join(ACTION_KINDS)}")
        allowed = {"kind", "name"} | (_WEBHOOK_FIELDS if kind == "webhook" else _TASK_FIELDS)
        unknown = sorted(set(data) - allowed - {"purpose"})  # purpose: which of the intent's purposes it serves (checked by ontology.intents)
        if unknown:
            raise ActionDefinitionError(f"{where}.{unknown[0]}: not a field of a {kind} action (fields: {', '.join(sorted(allowed))})")
        try:
            return cls(**{k: v for k, v in data.items() if k in allowed})
        except ActionDefinitionError as exc:
            raise ActionDefinitionError(f"{where}.{exc}") from None
        except TemplateError as exc:
            raise TemplateError(f"{where}: {exc}") from None

    @classmethod
    def coerce(cls, spec: Any, where: str = "action") -> ActionSpec:
        """An `ActionSpec` from itself, a YAML mapping, or any object with the same attribute
        names (e.g. `ontology.intents.ActionSpec`); attributes it lacks take their defaults."""
        if isinstance(spec, ActionSpec):
            return spec
        if isinstance(spec, Mapping):
            return cls.from_mapping(spec, where)
        kind = getattr(spec, "kind", None)
        wanted = {"kind", "name"} | (_WEBHOOK_FIELDS if kind == "webhook" else _TASK_FIELDS)
        values = {f: getattr(spec, f) for f in wanted if getattr(spec, f, None) is not None}
        return cls.from_mapping(values, where)


_WEBHOOK_FIELDS = {"url", "secret_env", "max_attempts", "backoff_seconds", "timeout_seconds"}
_TASK_FIELDS = {"role", "title", "message", "due_in_days", "action_type"}
assert _WEBHOOK_FIELDS | _TASK_FIELDS | {"kind", "name"} == {f.name for f in fields(ActionSpec)}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _redact(url: str) -> str:
    """`url` without user info, query and fragment (they may carry credentials or a token)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, "", ""))


# ---------------------------------------------------------------------------------------------- templates


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def check_template_syntax(text: str, where: str) -> None:
    """Raise `TemplateError` if `text` has a malformed placeholder (`$` must start `$name`,
    `${name}` or `$$`)."""
    template = string.Template(text)
    if not template.is_valid():
        try:
            template.substitute(_Blank())
        except ValueError as exc:
            raise TemplateError(f"template {where}: {exc} (write $$ for a literal $)") from None


def render_template(text: str, variables: Mapping[str, Any], where: str) -> str:
    """`text` with `$var` / `${var}` replaced from `variables` (substitution only, no code).

    An unknown variable raises `TemplateError` naming the template (`where`), every unknown
    variable and the known ones.
    """
    check_template_syntax(text, where)
    template = string.Template(text)
    missing = [name for name in template.get_identifiers() if name not in variables]
    if missing:
        names = ", ".join(f"${name}" for name in missing)
        raise TemplateError(f"template {where}: unknown variable {names}; known: {', '.join(sorted(variables))}")
    return template.substitute({k: _as_text(v) for k, v in variables.items()})


def check_template_variables(spec: ActionSpec, extra_variables: Iterable[str] = ()) -> None:
    """For definition checks at load time: raise `TemplateError` if a task template of `spec`
    uses a variable that is neither built in (`BUILTIN_VARIABLES`) nor in `extra_variables`."""
    if spec.kind != "task":
        return
    known = dict.fromkeys([*BUILTIN_VARIABLES, *extra_variables], "")
    for slot in ("title", "message"):
        text, where = getattr(spec, slot), f"task({spec.role}).{slot}"
        render_template(text, known, where)
        # `{evidence}` without its `$` would print literally: a typo, not text
        bare = [name for name in re.findall(r"(?<!\$)\{(\w+)\}", text) if name in known]
        if bare:
            raise TemplateError(f"template {where}: {', '.join('{' + n + '}' for n in bare)} is missing its $ (write ${{{bare[0]}}})")


#: The variables every task template may use (values described in docs/actions.md).
BUILTIN_VARIABLES = (
    "intent_id",
    "intent_type",
    "subject_label",
    "subject_id",
    "subject_name",
    "score",
    "score_percent",
    "first_seen",
    "last_seen",
    "role",
    "due_at",
    "due_date",
    "explanation",
    "suggested_actions",
    "evidence",
    "purposes",
)


def template_variables(fired: IntentFired, role: str, due_at: str) -> dict[str, str]:
    """The values task templates see: the built-in ones, then `fired.variables` (which win)."""
    evidence = "\n".join(f"- {item.get('summary') or item.get('id', '')}" for item in fired.evidence)
    values: dict[str, Any] = {
        "intent_id": fired.intent_id,
        "intent_type": fired.intent_type,
        "subject_label": fired.subject.label,
        "subject_id": fired.subject.id,
        "subject_name": fired.subject.name or fired.subject.id,
        "score": f"{fired.score:.2f}",
        "score_percent": f"{round(fired.score * 100)}%",
        "first_seen": fired.first_seen,
        "last_seen": fired.last_seen,
        "role": role,
        "due_at": due_at,
        "due_date": due_at[:10],
        "explanation": " ".join(fired.explanation),
        "suggested_actions": "; ".join(fired.suggested_actions),
        "evidence": evidence,
        "purposes": ", ".join(fired.purposes),
    }
    assert tuple(values) == BUILTIN_VARIABLES
    values.update(fired.variables)
    return {str(k): _as_text(v) for k, v in values.items()}


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_as_text(v) for v in value)
    return str(value)


# ---------------------------------------------------------------------------------------------- webhook payload and signature


def webhook_payload(fired: IntentFired, action_key: str, delivery_id: str, created_at: str) -> dict[str, Any]:
    """The JSON object a webhook receives (see docs/actions.md); `delivery_id` and `created_at`
    are inside the signed body, so a receiver can trust them for dedup and replay checks."""
    return {
        "event": PAYLOAD_EVENT,
        "version": PAYLOAD_VERSION,
        "delivery_id": delivery_id,
        "created_at": created_at,
        "action": action_key,
        "intent": {
            "id": fired.intent_id,
            "type": fired.intent_type,
            "score": fired.score,
            "first_seen": fired.first_seen,
            "last_seen": fired.last_seen,
            "purposes": list(fired.purposes),
            "explanation": list(fired.explanation),
        },
        "subject": {"label": fired.subject.label, "id": fired.subject.id, "name": fired.subject.name},
        "evidence": [dict(item) for item in fired.evidence],
        "suggested_actions": list(fired.suggested_actions),
    }


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The exact body bytes: JSON with sorted keys, compact, UTF-8 (`ensure_ascii=False`)."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def sign(secret: str | bytes, body: bytes) -> str:
    """The `X-Khub-Signature` value: `sha256=` and the hex HMAC-SHA256 of `body` under `secret`."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """For receivers: True when `header` (the `X-Khub-Signature` value) is the signature of the
    exact received `body` bytes under `secret`. Compares in constant time; a missing or
    malformed header is False. Verify before parsing the JSON."""
    if not header or not secret:
        return False
    given = header.strip()
    if not given.isascii():
        return False
    return hmac.compare_digest(given.encode("ascii"), sign(secret, body).encode("ascii"))


# ---------------------------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class HttpResponse:
    """What a webhook receiver answered: status, the start of the body, the headers."""

    status: int
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


#: `http_post(url, body, headers, timeout) -> HttpResponse`; raises `OSError` (or
#: `http.client.HTTPException`) when no answer came: those are retried.
HttpPost = Callable[[str, bytes, Mapping[str, str], float], HttpResponse]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (not followed): a signed POST must not wander to another URL."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def urllib_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpResponse:
    """POST `body` with the standard library; every status comes back as a response (redirects
    are not followed), transport failures and timeouts raise `OSError`."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return HttpResponse(response.status, _excerpt(response), dict(response.headers.items()))
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResponse(exc.code, _excerpt(exc), dict(exc.headers.items()) if exc.headers else {})


def _excerpt(response: Any) -> str:
    try:
        return response.read(_BODY_EXCERPT).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        return f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else f"URLError: {reason}"
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------------------------- configuration and secrets

#: Where webhook secrets come from: a mapping, or a function of the setting's name.
SecretSource = Mapping[str, Any] | Callable[[str], Any]


def _lookup_secret(source: SecretSource | None, name: str) -> str | None:
    if source is None:
        value = None
    elif isinstance(source, Mapping):
        value = source.get(name)
    else:
        value = source(name)
    if value is not None and hasattr(value, "get_secret_value"):  # pydantic SecretStr
        value = value.get_secret_value()
    return str(value) if value else None


@dataclass(frozen=True)
class ActionConfig:
    """How actions run: request timeout, the longest backoff, jitter, where the ledger lives."""

    #: Each webhook request's timeout (seconds) unless its definition says otherwise.
    timeout_seconds: float = 10.0
    #: No backoff sleep is longer than this.
    backoff_max_seconds: float = 300.0
    #: Each sleep is the exponential delay times `1 + jitter * U[0, 1)`.
    jitter: float = 0.2
    #: The cooldown ledger file; None keeps it in memory (one process, tests).
    ledger_path: Path | None = None
    #: When set, a webhook is tried at most this many times where it fires (no backoff sleeps
    #: there), then dead-lettered; `ActionRunner.retry_due_webhooks` tries it again later with the
    #: same backoff, up to its `max_attempts`. What `khub worker` uses: a receiver that is down does
    #: not hold up the other intents and events.
    inline_attempts: int | None = None
    user_agent: str = "khub-actions/1"

    @classmethod
    def from_settings(cls, settings: Any) -> ActionConfig:
        """The configuration from khub's `Settings`: the ledger in `data_dir`, and the timeout
        from `webhook_timeout_seconds` once Settings has it."""
        return cls(
            timeout_seconds=float(getattr(settings, "webhook_timeout_seconds", cls.timeout_seconds)),
            ledger_path=Path(settings.data_dir) / "actions-ledger.jsonl",
        )


# ---------------------------------------------------------------------------------------------- cooldown ledger


class ActionLedger:
    """When each (intent, action) last fired: the cooldown and dedup record.

    A claim is atomic across processes sharing the file (`flock`): two workers firing the same
    intent at once send one webhook. A claim whose action failed without being dead-lettered is
    released, so the next evaluation tries again. With `path=None` it lives in memory.

    The file only grows (one line per claim or release), so each look reads just the lines
    appended since this object's last look, under the lock, and keeps the claims per key in
    memory: a claim costs the same with ten lines or a million (a file that was replaced or
    truncated is read again from the start).
    """

    def __init__(self, path: Path | None = None):
        self.path = path
        self._fired: dict[str, set[str]] = {}  # key -> times of its claims not released
        self._lock = threading.Lock()  # one ledger object may serve several threads
        self._offset = 0  # bytes of the file folded into _fired
        self._file: tuple[int, int] | None = None  # (device, inode) of the file read so far
        self._ends_line = True  # the bytes read so far end with a newline (a crash can leave a torn line)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def claim(self, key: str, now: datetime, cooldown_seconds: float, last_fired: datetime | None = None) -> datetime | None:
        """Record that `key` fires at `now`, unless it (or `last_fired`, the caller's own record)
        is within `cooldown_seconds` before `now`: then nothing is recorded and that time is returned."""
        with self._current() as write:
            previous = self._latest(key)
            if last_fired is not None and (previous is None or last_fired > previous):
                previous = last_fired
            if previous is not None and cooldown_seconds > 0 and now - previous < timedelta(seconds=cooldown_seconds):
                return previous
            write({"key": key, "at": normalise_datetime(now), "status": "fired"})
            return None

    def release(self, key: str, claimed_at: datetime) -> None:
        """Undo the claim of `key` made at `claimed_at` (its action failed and should run again)."""
        with self._current() as write:
            write({"key": key, "at": normalise_datetime(claimed_at), "status": "released"})

    def last_fired(self, key: str) -> datetime | None:
        """When `key` last fired (claims released since are not counted)."""
        with self._current():
            return self._latest(key)

    def _latest(self, key: str) -> datetime | None:
        fired = self._fired.get(key)
        return datetime.fromisoformat(max(fired)) if fired else None  # fixed-width UTC strings: max is the latest

    def _fold(self, record: Mapping[str, Any]) -> None:
        key = record.get("key")
        if not isinstance(key, str):
            return
        if record.get("status") == "fired":
            self._fired.setdefault(key, set()).add(str(record["at"]))
        elif key in self._fired:
            self._fired[key].discard(str(record.get("at", "")))

    @contextmanager
    def _current(self) -> Iterator[Callable[[dict[str, str]], None]]:
        """Under a lock (a thread lock, and an exclusive `flock` on the file), bring the claims up
        to date with the file and give a function that appends a record (to the file and memory)."""
        if self.path is None:
            with self._lock:
                yield self._fold
            return
        with self._lock, self.path.open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            stat = os.fstat(handle.fileno())
            if (stat.st_dev, stat.st_ino) != self._file or stat.st_size < self._offset:
                self._fired, self._offset, self._file, self._ends_line = {}, 0, (stat.st_dev, stat.st_ino), True
            handle.seek(self._offset)
            for line in handle:
                self._ends_line = line.endswith(b"\n")
                try:
                    self._fold(json.loads(line))
                except (ValueError, AttributeError, KeyError):  # ValueError: bad JSON or UTF-8
                    continue  # a torn last line after a crash
            self._offset = handle.tell()

            def write(record: dict[str, str]) -> None:
                # a torn line left by a crash is ended first, so this record stays a line of its own
                handle.write((("" if self._ends_line else "\n") + json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
                handle.flush()
                self._offset, self._ends_line = handle.tell(), True
                self._fold(record)

            yield write


# ---------------------------------------------------------------------------------------------- results


@dataclass
class ActionResult:
    """What one action did: `status` is `done`, `skipped` (cooldown, duplicate) or `failed`.

    A failed webhook is `dead_lettered` (replay it with `replay_failed_webhooks`); `detail`
    says why it failed or was skipped, naming the error.
    """

    action: str
    kind: str
    status: str
    detail: str = ""
    attempts: int = 0
    http_status: int | None = None
    delivery_id: str | None = None
    task: NodeRef | None = None
    dead_lettered: bool = False

    @property
    def ok(self) -> bool:
        """True when the action was done."""
        return self.status == "done"


# ---------------------------------------------------------------------------------------------- delivery with retries


@dataclass
class _Delivery:
    ok: bool
    attempts: int
    status: int | None = None
    error: str = ""


class _WebhookSender:
    """Sends one signed body with retries; never raises."""

    def __init__(
        self,
        config: ActionConfig,
        http_post: HttpPost,
        secrets: SecretSource | None,
        sleep: Callable[[float], None],
        clock: Callable[[], datetime],
        rng: random.Random,
    ):
        self.config = config
        self.http_post = http_post
        self.secrets = secrets
        self.sleep = sleep
        self.clock = clock
        self.rng = rng

    def backoff(self, base: float, failed_attempts: int, retry_after: float | None = None) -> float:
        """The sleep after the `failed_attempts`-th failure: `base * 2**(n-1)` with jitter, capped;
        at least a 429's Retry-After (also capped)."""
        cap = self.config.backoff_max_seconds
        delay = min(cap, base * (2 ** (failed_attempts - 1))) * (1.0 + self.config.jitter * self.rng.random())
        if retry_after is not None:
            delay = max(delay, min(cap, retry_after))
        return delay

    def deliver(self, url: str, body: bytes, delivery_id: str, secret_env: str, max_attempts: int, backoff: float, timeout: float | None) -> _Delivery:
        """POST until a 2xx, a non-retryable answer, or `max_attempts` tries."""
        secret = _lookup_secret(self.secrets, secret_env)
        if secret is None:
            return _Delivery(False, 0, error=f"no webhook secret: the setting {secret_env!r} is not set")
        timeout = timeout or self.config.timeout_seconds
        signature = sign(secret, body)
        error, status = "", None
        for attempt in range(1, max_attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": self.config.user_agent,
                SIGNATURE_HEADER: signature,
                TIMESTAMP_HEADER: str(int(self.clock().timestamp())),
                DELIVERY_HEADER: delivery_id,
            }
            retry_after = None
            try:
                response = self.http_post(url, body, headers, timeout)
            except (OSError, http.client.HTTPException) as exc:
                error, status, retryable = f"attempt {attempt}: {_describe(exc)}", None, True
            except Exception as exc:  # a broken http_post must not reach the engine
                return _Delivery(False, attempt, None, f"attempt {attempt}: {_describe(exc)} (not retried)")
            else:
                status = response.status
                if 200 <= status < 300:
                    return _Delivery(True, attempt, status)
                retryable = status == 429 or status >= 500
                body_hint = f": {response.body.strip()[:200]}" if response.body.strip() else ""
                error = f"attempt {attempt}: HTTP {status}{body_hint}"
                retry_after = _retry_after(response.headers) if status == 429 else None
            if not retryable:
                return _Delivery(False, attempt, status, f"{error} (not retried)")
            if attempt < max_attempts:
                self.sleep(self.backoff(backoff, attempt, retry_after))
        return _Delivery(False, max_attempts, status, f"gave up after {max_attempts} attempt(s); last: {error}")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None  # an HTTP date: the exponential backoff applies
    return None


# ---------------------------------------------------------------------------------------------- dead-lettered bodies


class _WebhookBodies:
    """The body and target of each dead-lettered webhook, beside the dead-letter file
    (`DeadLetter` keeps item, kind and error only). Appended before the failure is recorded."""

    def __init__(self, deadletter: DeadLetter):
        self.path = deadletter.path.with_name(deadletter.path.stem + "-webhooks.jsonl")

    def save(self, record: Mapping[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # bodies may hold personal data
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def load(self) -> dict[str, dict[str, Any]]:
        """The latest saved record of each item."""
        out: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return out
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                out[record["item"]] = record
        return out


def deadletter_item(delivery_id: str) -> str:
    """The dead-letter item of a webhook delivery."""
    return f"webhook:{delivery_id}"


def replay_failed_webhooks(
    deadletter: DeadLetter,
    *,
    config: ActionConfig | None = None,
    secrets: SecretSource | None = None,
    http_post: HttpPost = urllib_post,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] | None = None,
    rng: random.Random | None = None,
    max_attempts: int | None = None,
    items: Iterable[str] | None = None,
) -> list[ActionResult]:
    """Send every pending dead-lettered webhook again (for `khub actions retry`).

    The body and delivery id are the ones of the first try (receivers deduplicate on it); the
    signature is made with the secret set now. A success clears the record; a failure is
    recorded again (its attempt count grows). `max_attempts` overrides the definition's per
    item; `items` limits the replay to those dead-letter items. Never raises per item.
    """
    config = config or ActionConfig()
    sender = _WebhookSender(config, http_post, secrets, sleep, clock or _utc_now, rng or random.Random())
    bodies = _WebhookBodies(deadletter).load()
    wanted = set(items) if items is not None else None
    results: list[ActionResult] = []
    for item, failure in deadletter.pending().items():
        if failure.kind != DEADLETTER_KIND or (wanted is not None and item not in wanted):
            continue
        record = bodies.get(item)
        if record is None:
            results.append(ActionResult(item, "webhook", "failed", f"{item}: its body was not found in {_WebhookBodies(deadletter).path}"))
            continue
        delivery_id, action = record["delivery_id"], record.get("action", item)
        try:
            outcome = sender.deliver(
                record["url"],
                record["body"].encode("utf-8"),
                delivery_id,
                record["secret_env"],
                max_attempts or int(record.get("max_attempts", 5)),
                float(record.get("backoff_seconds", 2.0)),
                record.get("timeout_seconds"),
            )
            result = ActionResult(action, "webhook", "done", "delivered on replay", outcome.attempts, outcome.status, delivery_id)
            if outcome.ok:
                deadletter.record_success(item)
            else:
                deadletter.record_failure(item, DEADLETTER_KIND, outcome.error)
                result.status, result.detail, result.dead_lettered = "failed", outcome.error, True
        except Exception as exc:  # e.g. the dead-letter file became unwritable: report, go on
            result = ActionResult(action, "webhook", "failed", f"replay of {item}: {_describe(exc)}", delivery_id=delivery_id, dead_lettered=True)
        results.append(result)
    return results


def due_webhooks(deadletter: DeadLetter, now: datetime, backoff_max_seconds: float = ActionConfig.backoff_max_seconds) -> list[str]:
    """The dead-lettered webhooks whose next try is due: fewer tries than their `max_attempts`, and
    their backoff (`backoff_seconds` doubling with each try, capped) passed since the last one.
    Those that used up their tries stay for `khub actions retry`."""
    bodies = _WebhookBodies(deadletter).load()
    out = []
    for item, failure in deadletter.pending().items():
        record = bodies.get(item)
        if failure.kind != DEADLETTER_KIND or record is None or failure.attempts >= int(record.get("max_attempts", 5)):
            continue
        delay = min(backoff_max_seconds, float(record.get("backoff_seconds", 2.0)) * 2 ** (failure.attempts - 1))
        if _aware(now) >= _aware(failure.at) + timedelta(seconds=delay):
            out.append(item)
    return out


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | str) -> datetime:
    """`value` as an aware UTC datetime (naive times and ISO strings are taken as UTC)."""
    return datetime.fromisoformat(normalise_datetime(value).replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------- the runner


def task_id_for(intent_id: str, action_key: str) -> str:
    """The deterministic id of the Task an action of an intent creates."""
    return "task-" + hashlib.sha256(f"{intent_id}\x1f{action_key}".encode()).hexdigest()[:24]


class ActionRunner:
    """Runs an intent definition's actions for an intent that fired (see the module docstring).

    `config` None means `ActionConfig()` (in production: `ActionConfig.from_settings(settings)`);
    `deadletter` receives webhooks that could not be delivered. `clock` returns the current
    aware UTC time; `http_post`, `sleep`, `rng` and `secrets` are injectable for tests and for
    other transports. `ledger` defaults to one at `config.ledger_path` (memory when None).
    """

    def __init__(
        self,
        store: GraphStore,
        config: ActionConfig | None,
        deadletter: DeadLetter,
        clock: Callable[[], datetime] = _utc_now,
        http_post: HttpPost = urllib_post,
        sleep: Callable[[float], None] = time.sleep,
        secrets: SecretSource | None = None,
        rng: random.Random | None = None,
        ledger: ActionLedger | None = None,
        audit: Any | None = None,
    ):
        """audit: a `graph.audit.AuditLog`; each webhook delivered is a sharing of the subject's data with its receiver (action `share`)."""
        for label in (TASK_LABEL, INTENT_LABEL):
            store.ontology.node_type(label)  # UnknownType names it if the ontology lacks it
        for edge in (TRIGGERED, TASK_FOR):
            store.ontology.edge_type(edge)
        self.store = store
        self.config = config or ActionConfig()
        self.deadletter = deadletter
        self.clock = clock
        self.http_post = http_post
        self.sleep = sleep
        self.secrets = secrets
        self.rng = rng or random.Random()
        self.ledger = ledger or ActionLedger(self.config.ledger_path)
        self._sender = _WebhookSender(self.config, http_post, secrets, sleep, clock, self.rng)
        self._bodies = _WebhookBodies(deadletter)
        self.audit = audit

    def run(self, fired: IntentFired, specs: Iterable[Any], cooldown_seconds: float = 0.0, last_fired: datetime | str | None = None) -> list[ActionResult]:
        """Run each action of `specs` (ActionSpec, YAML mappings, or objects with the same
        fields) for `fired`, one result per action, in order. An action that fired for this
        intent within `cooldown_seconds` (per the ledger, or `last_fired` if the caller keeps
        its own record) is skipped. Never raises for an action's failure."""
        now = _aware(self.clock())
        previous = _aware(last_fired) if last_fired is not None else None
        results: list[ActionResult] = []
        seen: set[str] = set()
        for index, raw in enumerate(specs):
            where = f"intent {fired.intent_type} actions[{index}]"
            try:
                spec = ActionSpec.coerce(raw, where)
            except BadInput as exc:
                kind = raw.get("kind") if isinstance(raw, Mapping) else getattr(raw, "kind", None)
                results.append(ActionResult(f"actions[{index}]", str(kind), "failed", str(exc)))
                continue
            if spec.key in seen:
                results.append(ActionResult(spec.key, spec.kind, "skipped", f"{where}: a second action with key {spec.key!r} (give each a distinct name)"))
                continue
            seen.add(spec.key)
            purpose = raw.get("purpose") if isinstance(raw, Mapping) else getattr(raw, "purpose", None)
            results.append(self._run_one(fired, spec, where, now, cooldown_seconds, previous, purpose))
        return results

    def _run_one(
        self, fired: IntentFired, spec: ActionSpec, where: str, now: datetime, cooldown_seconds: float, previous: datetime | None, purpose: str | None = None
    ) -> ActionResult:
        def act() -> ActionResult:
            return self._webhook(fired, spec, now, purpose) if spec.kind == "webhook" else self._task(fired, spec, where, now)

        return self._once(f"{fired.intent_id}\x1f{spec.key}", spec, where, now, cooldown_seconds, previous, act)

    def _once(
        self, ledger_key: str, spec: ActionSpec, where: str, now: datetime, cooldown_seconds: float, previous: datetime | None, act: Callable[[], ActionResult]
    ) -> ActionResult:
        """`act()` unless `ledger_key` fired within the cooldown; a failure not dead-lettered releases the claim."""
        try:
            blocked = self.ledger.claim(ledger_key, now, cooldown_seconds, previous)
        except Exception as exc:
            return ActionResult(spec.key, spec.kind, "failed", f"{where}: cooldown ledger: {_describe(exc)}")
        if blocked is not None:
            until = blocked + timedelta(seconds=cooldown_seconds)
            return ActionResult(spec.key, spec.kind, "skipped", f"cooldown: fired at {normalise_datetime(blocked)}, next after {normalise_datetime(until)}")
        try:
            result = act()
        except Exception as exc:  # the engine must go on with its other intents
            result = ActionResult(spec.key, spec.kind, "failed", f"{where}: {_describe(exc)}")
        if result.status == "failed" and not result.dead_lettered:
            try:
                self.ledger.release(ledger_key, now)
            except Exception as exc:
                result.detail += f" (and releasing its cooldown claim failed: {_describe(exc)})"
        return result

    def _webhook(self, fired: IntentFired, spec: ActionSpec, now: datetime, purpose: str | None = None) -> ActionResult:
        used_for = purpose or (fired.purposes[0] if fired.purposes else "unspecified")
        return self._send(
            spec,
            lambda delivery_id: webhook_payload(fired, spec.key, delivery_id, normalise_datetime(now)),
            fired.subject.ref,
            used_for,
            {"intent": fired.intent_id},
            f"intent {fired.intent_id}",
        )

    def send_webhook(
        self,
        raw_spec: Any,
        payload: Callable[[str], Mapping[str, Any]],
        subject: NodeRef,
        purpose: str,
        about: Mapping[str, str],
        ledger_key: str,
        cooldown_seconds: float,
        where: str,
    ) -> ActionResult:
        """Send one webhook that is not an intent's (a scenario's, `reasoning.scenarios`): `payload(delivery_id)`
        is the JSON object to sign and send; once per `ledger_key` and cooldown; signed, retried,
        dead-lettered and audited as a sharing of `subject`'s data for `purpose` like an intent's.
        `about` names what sent it (kept with the dead-lettered body and in the audit record)."""
        try:
            spec = ActionSpec.coerce(raw_spec, where)
        except BadInput as exc:
            return ActionResult(where, "webhook", "failed", str(exc))
        now = _aware(self.clock())
        return self._once(ledger_key, spec, where, now, cooldown_seconds, None, lambda: self._send(spec, payload, subject, purpose, about, where))

    def _send(
        self, spec: ActionSpec, payload: Callable[[str], Mapping[str, Any]], subject: NodeRef, purpose: str, about: Mapping[str, str], what: str
    ) -> ActionResult:
        delivery_id = str(uuid.uuid4())
        body = encode_payload(payload(delivery_id))
        attempts = min(spec.max_attempts, self.config.inline_attempts) if self.config.inline_attempts else spec.max_attempts
        outcome = self._sender.deliver(spec.url or "", body, delivery_id, spec.secret_env or "", attempts, spec.backoff_seconds, spec.timeout_seconds)
        if outcome.ok:
            if self.audit is not None:  # the subject's data left khub: a sharing, on the record
                details = {"recipient": _redact(spec.url or ""), "delivery_id": delivery_id, **about, "action": spec.key}
                self.audit.record("engine", purpose, "share", [str(subject)], details)
            return ActionResult(spec.key, "webhook", "done", f"delivered to {_redact(spec.url or '')}", outcome.attempts, outcome.status, delivery_id)
        item = deadletter_item(delivery_id)
        self._bodies.save(
            {
                "item": item,
                "delivery_id": delivery_id,
                "action": spec.key,
                **({"intent_id": about["intent"]} if "intent" in about else dict(about)),
                "url": spec.url,
                "secret_env": spec.secret_env,
                "max_attempts": spec.max_attempts,
                "backoff_seconds": spec.backoff_seconds,
                "timeout_seconds": spec.timeout_seconds,
                "body": body.decode("utf-8"),
            }
        )
        error = f"{spec.label} for {what}: {outcome.error}"
        self.deadletter.record_failure(item, DEADLETTER_KIND, error)
        return ActionResult(spec.key, "webhook", "failed", error, outcome.attempts, outcome.status, delivery_id, dead_lettered=True)

    def _task(self, fired: IntentFired, spec: ActionSpec, where: str, now: datetime) -> ActionResult:
        role = spec.role or ""
        due_at = normalise_datetime(now + timedelta(days=spec.due_in_days))
        variables = template_variables(fired, role, due_at)
        try:
            title = render_template(spec.title or DEFAULT_TITLE, variables, f"{where} task({role}).title")
            message = render_template(spec.message or DEFAULT_MESSAGE, variables, f"{where} task({role}).message")
        except TemplateError as exc:
            return ActionResult(spec.key, "task", "failed", str(exc))
        intent_ref, subject_ref = NodeRef(INTENT_LABEL, fired.intent_id), fired.subject.ref
        missing = [str(ref) for ref in (intent_ref, subject_ref) if self.store.get(ref) is None]
        if missing:
            return ActionResult(spec.key, "task", "failed", f"{where}: not in the graph yet: {', '.join(missing)} (write the Intent and its subject first)")
        task_ref = NodeRef(TASK_LABEL, task_id_for(fired.intent_id, spec.key))
        node = NodeRecord(
            TASK_LABEL,
            task_ref.id,
            props={"title": title, "description": message, "action_type": spec.action_type or "follow_up", "assignee_role": role},
            defaults={"task_status": "open", "due_at": due_at},  # set once: a re-run must not reopen a done task or move its due date
        )
        source = f"intent:{fired.intent_id}"
        edges = [
            EdgeRecord(TRIGGERED, intent_ref, task_ref, source_id=source, extractor=EXTRACTOR, valid_from=now),
            EdgeRecord(TASK_FOR, task_ref, subject_ref, source_id=source, extractor=EXTRACTOR, valid_from=now),
        ]
        written = self.store.upsert([node], edges)
        if written.rejected:
            reasons = "; ".join(f"{r.item}: {r.reason}" for r in written.rejected)
            return ActionResult(spec.key, "task", "failed", f"{where}: the store refused {reasons}", task=task_ref)
        return ActionResult(spec.key, "task", "done", f"task {task_ref.id} for {role}: {title}", task=task_ref)

    def retry_due_webhooks(self) -> list[ActionResult]:
        """One more try of each dead-lettered webhook that is due (`due_webhooks`, at the runner's
        clock): what `khub worker` runs between polls when webhooks are tried once inline."""
        due = due_webhooks(self.deadletter, self.clock(), self.config.backoff_max_seconds)
        return self.replay_failed_webhooks(max_attempts=1, items=due) if due else []

    def replay_failed_webhooks(self, max_attempts: int | None = None, items: Iterable[str] | None = None) -> list[ActionResult]:
        """`replay_failed_webhooks` with this runner's dead-letter record, transport and secrets."""
        return replay_failed_webhooks(
            self.deadletter,
            config=self.config,
            secrets=self.secrets,
            http_post=self.http_post,
            sleep=self.sleep,
            clock=self.clock,
            rng=self.rng,
            max_attempts=max_attempts,
            items=items,
        )
