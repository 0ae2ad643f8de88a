"""An HTTP client on `create_app` over the `store` fixture (both backends), with a key per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ServerConfig
from api.context import ROLES
from api.security import ApiKeyStore
from ontology.settings import Settings

#: cheap scrypt for keys made in tests (the cost is kept per key; the server verifies with it)
TEST_SCRYPT_N = 2**10


@dataclass
class Api:
    """A running app, its client, and one key per role."""

    app: FastAPI
    client: TestClient
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)  # role -> plaintext
    key_ids: dict[str, str] = field(default_factory=dict)  # role -> id

    def headers(self, role: str = "steward", purpose: str | None = "service", **extra: str) -> dict[str, str]:
        """Headers of an authenticated request with a declared purpose."""
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        if purpose is not None:
            headers["X-Khub-Purpose"] = purpose
        return {**headers, **extra}

    def key_store(self) -> ApiKeyStore:
        """Another handle on the key file (as another process would have)."""
        return ApiKeyStore.for_data_dir(self.settings.data_dir, TEST_SCRYPT_N)


@pytest.fixture
def make_api(store, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Builds apps on the current store; `config` overrides go to `ServerConfig`."""
    clients: list[TestClient] = []

    def make(data_dir: Path | None = None, **config: Any) -> Api:
        settings = Settings(store="embedded", data_dir=data_dir or tmp_path / "data")
        app = create_app(settings, store, ServerConfig(**{"embed_documents": False, **config}))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        api = Api(app, client, settings)
        keys = api.key_store()
        for role in ROLES:
            if role not in api.keys:
                key_id, plaintext = keys.create(f"test-{role}", role)
                api.keys[role], api.key_ids[role] = plaintext, key_id
        return api

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api) -> Api:
    """An app with default limits on the current store."""
    return make_api()
