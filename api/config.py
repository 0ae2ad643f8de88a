"""The HTTP server's limits: body sizes, rate limits, timeouts, what /metrics needs.

A plain dataclass with safe defaults that `create_app` takes (and `khub serve` fills from its
options). `ServerConfig.from_settings` reads any field the one `Settings` object declares as
`api_<field>` (e.g. `api_rate_per_second`), so moving a limit into `khub.toml` / `KHUB_API_*`
needs only a field in `ontology/settings.py`, no change here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ontology.settings import Settings

MB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """Limits of one server process."""

    #: the largest request body outside document upload (JSON, NDJSON, GraphQL)
    max_json_mb: float = 10.0
    #: the largest document upload request; None: `Settings.max_document_mb` (+1 MB of multipart framing)
    max_upload_mb: float | None = None
    #: paths that take uploads (the larger limit)
    upload_paths: tuple[str, ...] = ("/v1/documents",)
    #: at most this many files in one upload
    max_files_per_upload: int = 50
    #: per API key: sustained requests per second (token bucket refill); 0 turns rate limiting off
    rate_per_second: float = 20.0
    #: per API key: the bucket size (a burst of this many requests passes at once)
    rate_burst: int = 100
    #: per client address: key verifications that miss the verified-key cache (each costs a scrypt)
    auth_attempts_per_second: float = 5.0
    auth_attempt_burst: int = 20
    #: a request's blocking store work (reads) is abandoned after this many seconds (504 TIMEOUT)
    request_timeout_seconds: float = 30.0
    #: an events batch is answered with 504 TIMEOUT after this long (the import goes on; re-sending is safe)
    write_timeout_seconds: float = 300.0
    #: how long /ready waits for the store
    ready_timeout_seconds: float = 3.0
    #: at shutdown, how long to wait for a running document job before closing the store
    shutdown_grace_seconds: float = 30.0
    #: False: /metrics is open (it holds no customer data: routes, statuses, latencies); True: admin key
    metrics_require_admin: bool = False
    #: embed uploaded documents' chunks with `Settings.embedding_model` (off: faster, no vector search on them)
    embed_documents: bool = True
    #: the purpose catalogue; None: the shipped `ontology/purposes.yaml`
    purposes_path: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ServerConfig:
        """Defaults, then every `api_<field>` the settings object declares, then `overrides`."""
        values = {f.name: getattr(settings, f"api_{f.name}") for f in fields(cls) if hasattr(settings, f"api_{f.name}")}
        return replace(cls(), **{**values, **overrides})

    def upload_limit_bytes(self, settings: Settings) -> int:
        """The body limit of upload paths, in bytes."""
        mb = self.max_upload_mb if self.max_upload_mb is not None else settings.max_document_mb + 1
        return int(mb * MB)

    def json_limit_bytes(self) -> int:
        """The body limit of every other path, in bytes."""
        return int(self.max_json_mb * MB)
