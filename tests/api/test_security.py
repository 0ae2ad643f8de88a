"""API keys hashed at rest, 401/403/400/429 with their codes, roles, masked errors, the apikey CLI."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from pathlib import Path

import anyio
import pytest
import typer
import yaml
from typer.testing import CliRunner

from api.cli_serve import register
from api.errors import ApiError
from api.runtime import run_blocking
from api.security import ApiKeyStore, TokenBucket
from ontology.errors import SchemaInvalid
from ontology.intents import default_intents
from ontology.purposes import default_purposes, load_purposes
from tests.api.conftest import TEST_SCRYPT_N


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}, body
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"] == body["error"]["request_id"]
    return body["error"]


# ---------------------------------------------------------------------------- keys at rest
def test_keys_are_hashed_at_rest_and_verified(tmp_path: Path):
    keys = ApiKeyStore.for_data_dir(tmp_path, TEST_SCRYPT_N)
    key_id, plaintext = keys.create("crm sync", "sales_tool")
    assert plaintext.startswith(f"khub_{key_id}_") and len(plaintext.split("_", 2)[2]) == 43
    text = (tmp_path / "api-keys.json").read_text(encoding="utf-8")
    secret = plaintext.split("_", 2)[2]
    assert plaintext not in text and secret not in text and secret[:12] not in text
    record = json.loads(text)["keys"][0]
    assert set(record) == {"id", "name", "role", "created", "revoked", "salt", "hash", "n", "r", "p"}
    assert record["id"] == key_id and record["role"] == "sales_tool" and record["revoked"] is None
    assert stat.S_IMODE(os.stat(tmp_path / "api-keys.json").st_mode) == 0o600
    assert "hash" not in keys.list()[0].public()

    principal = ApiKeyStore.for_data_dir(tmp_path).verify(plaintext)  # another process: reads the file
    assert (principal.key_id, principal.name, principal.role) == (key_id, "crm sync", "sales_tool")
    for wrong in (plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), "khub_000000000000_" + secret, "not-a-key", ""):
        with pytest.raises(ApiError) as refused:
            keys.verify(wrong)
        assert refused.value.code == "UNAUTHENTICATED" and refused.value.status == 401

    keys.revoke(key_id)
    with pytest.raises(ApiError) as revoked:
        keys.verify(plaintext)  # was verified (cached) before: the revocation still applies
    assert revoked.value.code == "FORBIDDEN" and revoked.value.status == 403
    assert keys.list()[0].revoked is not None
    with pytest.raises(Exception, match="no API key"):
        keys.revoke("ffffffffffff")
    with pytest.raises(Exception, match="unknown role"):
        keys.create("x", "root")


def test_a_wrong_key_costs_the_same_scrypt_as_a_right_one(tmp_path: Path):
    keys = ApiKeyStore.for_data_dir(tmp_path, 2**14)
    _, plaintext = keys.create("timing", "analyst")

    def best_of(key: str, rounds: int = 5) -> float:
        times = []
        for _ in range(rounds):
            fresh = ApiKeyStore.for_data_dir(tmp_path, 2**14)  # no verified-key cache
            started = time.perf_counter()
            with contextlib.suppress(ApiError):
                fresh.verify(key)
            times.append(time.perf_counter() - started)
        return min(times)

    right = best_of(plaintext)
    unknown_id = best_of("khub_000000000000_" + plaintext.split("_", 2)[2])
    assert unknown_id > right * 0.5, (right, unknown_id)  # no shortcut for ids that do not exist


def test_token_bucket_refills():
    bucket = TokenBucket(rate=10.0, burst=2)
    assert bucket.take("k") is None and bucket.take("k") is None
    wait = bucket.take("k")
    assert wait is not None and 0 < wait <= 0.1
    assert bucket.take("other") is None
    time.sleep(0.12)
    assert bucket.take("k") is None
    assert TokenBucket(rate=0, burst=1).take("k") is None  # rate 0: no limit


def test_run_blocking_times_out():
    async def main() -> None:
        assert await run_blocking(lambda: 42, timeout=5) == 42
        with pytest.raises(ApiError) as timed_out:
            await run_blocking(time.sleep, 1.0, timeout=0.05, what="sleeping")
        assert timed_out.value.code == "TIMEOUT" and timed_out.value.status == 504 and "sleeping" in timed_out.value.message

    anyio.run(main)


# ---------------------------------------------------------------------------- purposes
def test_purpose_catalogue_covers_every_intent_and_reports_file_line(tmp_path: Path):
    catalogue = default_purposes()
    assert {"marketing", "service", "sales", "analytics", "finance", "legal", "ontology_curation"} <= set(catalogue.names)
    assert all(p.description_en and p.description_zh for p in catalogue.purposes.values())
    for intent in default_intents():
        assert set(intent.purposes) <= set(catalogue.names), (intent.id, intent.purposes)
    bad = tmp_path / "purposes.yaml"
    bad.write_text(yaml.safe_dump({"purposes": {"ok": {"en": "a", "zh": "甲"}, "Bad Name": {"en": "b", "zh": "乙"}, "nozh": {"en": "c"}}}), encoding="utf-8")
    with pytest.raises(SchemaInvalid) as invalid:
        load_purposes(bad)
    text = str(invalid.value)
    assert f"{bad}:" in text and "Bad Name" in text and "nozh.zh" in text
    odd = tmp_path / "odd.yaml"
    odd.write_text(
        yaml.safe_dump({"purposes": {"geo": {"en": "a", "zh": "甲", "requires": ["whereabouts"], "alternative": "nowhere"}, "ok": {"en": "b", "zh": "乙"}}}),
        encoding="utf-8",
    )
    with pytest.raises(SchemaInvalid) as invalid:
        load_purposes(odd)
    assert "geo.requires" in str(invalid.value) and "geo.alternative" in str(invalid.value) and "'nowhere'" in str(invalid.value)


# ---------------------------------------------------------------------------- over HTTP
def test_401_403_400_and_role_checks_over_http(api):
    client = api.client
    url = "/v1/jobs/job-0123456789abcdef"
    missing = client.get(url, headers={"X-Khub-Purpose": "service"})
    assert missing.status_code == 401 and error_of(missing)["code"] == "UNAUTHENTICATED"
    assert missing.headers["www-authenticate"] == "Bearer"
    for bad in ({"Authorization": "Bearer khub_000000000000_" + "x" * 43}, {"Authorization": "Basic Zm9vOmJhcg=="}, {"X-Api-Key": "nope"}):
        response = client.get(url, headers={**bad, "X-Khub-Purpose": "service"})
        assert response.status_code == 401 and error_of(response)["code"] == "UNAUTHENTICATED", bad
    # X-Api-Key works as well as Bearer
    response = client.get(url, headers={"X-Api-Key": api.keys["analyst"], "X-Khub-Purpose": "analytics"})
    assert response.status_code == 404 and error_of(response)["code"] == "NOT_FOUND"
    # the purpose: missing, empty, unknown
    for purpose in (None, "", "world_domination"):
        response = client.get(url, headers=api.headers("analyst", purpose))
        error = error_of(response)
        assert response.status_code == 400 and error["code"] == "PURPOSE_REQUIRED" and "marketing" in error["message"], purpose
    # roles: an analyst may not write events, a sales tool may not ingest documents
    response = client.post("/v1/events", headers=api.headers("analyst"), json=[])
    assert response.status_code == 403 and error_of(response)["code"] == "FORBIDDEN" and "analyst" in error_of(response)["message"]
    response = client.post("/v1/documents", headers=api.headers("sales_tool"), files={"file": ("a.txt", b"hello")})
    assert response.status_code == 403 and error_of(response)["code"] == "FORBIDDEN"
    # revoked in another process while the server runs (and after the key was used): 403 at once
    api.key_store().revoke(api.key_ids["analyst"])
    response = client.get(url, headers=api.headers("analyst", "analytics"))
    assert response.status_code == 403 and error_of(response)["code"] == "FORBIDDEN" and "revoked" in error_of(response)["message"]


def test_rate_limits_answer_429_with_retry_after(make_api):
    api = make_api(rate_per_second=0.5, rate_burst=3, auth_attempts_per_second=0.5, auth_attempt_burst=8)
    url = "/v1/jobs/job-0123456789abcdef"
    codes = [api.client.get(url, headers=api.headers("analyst", "analytics")).status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    limited = api.client.get(url, headers=api.headers("analyst", "analytics"))
    assert error_of(limited)["code"] == "RATE_LIMITED" and int(limited.headers["retry-after"]) >= 1
    # per key: another key still passes
    assert api.client.get(url, headers=api.headers("steward")).status_code == 404
    # wrong keys burn the client's verification bucket, not the CPU: 401s, then 429
    codes = [api.client.get(url, headers={"X-Api-Key": f"khub_00000000000{i % 10}_" + "y" * 43, "X-Khub-Purpose": "service"}).status_code for i in range(12)]
    assert 401 in codes and codes[-1] == 429


def test_internal_errors_are_masked_and_ids_echoed(api):
    async def boom() -> None:
        raise RuntimeError("password=hunter2 in /srv/secret/path")

    api.app.add_api_route("/boom", boom)
    response = api.client.get("/boom", headers={"X-Request-Id": "req-42"})
    error = error_of(response)
    assert response.status_code == 500 and error == {"code": "INTERNAL", "message": error["message"], "request_id": "req-42"}
    assert "hunter2" not in response.text and "/srv" not in response.text and "RuntimeError" not in response.text
    unknown = api.client.get("/no/such/route", headers={"X-Request-Id": "bad id with spaces"})
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "NOT_FOUND" and error_of(unknown)["request_id"] != "bad id with spaces"
    wrong_method = api.client.delete("/health")
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "METHOD_NOT_ALLOWED"


# ---------------------------------------------------------------------------- CLI
def test_apikey_commands_on_a_typer_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KHUB_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()

    @app.command()
    def version() -> None:  # a second command, so Typer keeps sub-command names
        """Print nothing."""

    register(app)
    runner = CliRunner()
    created = runner.invoke(app, ["apikey", "create", "--name", "crm", "--role", "sales_tool", "--json"])
    assert created.exit_code == 0, created.output
    made = json.loads(created.output)
    assert made["key"].startswith(f"khub_{made['id']}_") and made["role"] == "sales_tool"
    assert made["key"] not in (tmp_path / "data" / "api-keys.json").read_text(encoding="utf-8")
    plain = runner.invoke(app, ["apikey", "create", "--name", "ops", "--role", "admin"])
    assert plain.exit_code == 0 and "shown once" in plain.output and "khub_" in plain.output
    refused = runner.invoke(app, ["apikey", "create", "--name", "x", "--role", "root"])
    assert refused.exit_code == 2 and "unknown role" in refused.output
    listed = json.loads(runner.invoke(app, ["apikey", "list", "--json"]).output)
    assert [k["name"] for k in listed] == ["crm", "ops"] and all("hash" not in k and "key" not in k for k in listed)
    revoked = runner.invoke(app, ["apikey", "revoke", made["id"]])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    listed = json.loads(runner.invoke(app, ["apikey", "list", "--json"]).output)
    assert listed[0]["revoked"] and not listed[1]["revoked"]
    assert runner.invoke(app, ["apikey", "revoke", "ffffffffffff"]).exit_code == 1
    table = runner.invoke(app, ["apikey", "list"], terminal_width=200)
    assert "crm" in table.output and "ops" in table.output
    assert "--host" in runner.invoke(app, ["serve", "--help"], terminal_width=200).output
