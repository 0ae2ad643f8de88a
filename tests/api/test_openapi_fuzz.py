"""Schemathesis against the REST OpenAPI, in process (ASGI), on both stores: a short,
deterministic run (derandomised Hypothesis) of positive and negative cases per operation; every
default check must hold (no 5xx, statuses, content types and bodies as documented, invalid
input refused)."""

from __future__ import annotations

import concurrent.futures

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXAMPLES = 12


def fuzz(operation, mode: GenerationMode, headers: dict[str, str] | None) -> None:
    """A short deterministic Hypothesis run of one operation; every default check must hold."""
    # a document's format is its file name's suffix, which OpenAPI cannot express: an upload the
    # fuzzer names "file.bin" is refused early (400) although its body is schema-valid
    excluded = [positive_data_acceptance] if operation.path == "/v1/documents" else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_rest_openapi_holds_under_fuzzing(make_api, mode):
    # no rate limits: the fuzzer sends hundreds of requests with one key, and hundreds of wrong keys
    # from one client (whose 429 from the brute-force limiter, tested in test_security.py, would fail its auth check)
    api = make_api(rate_per_second=0, auth_attempts_per_second=0)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    auth = {"Authorization": f"Bearer {api.keys['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"POST /v1/events", "POST /v1/documents", "GET /v1/jobs/{job_id}", "GET /ready"}
    for operation in operations:
        raw = operation.definition.raw
        if mode == GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
            continue  # nothing to make invalid (e.g. /health)
        fuzz(operation, mode, auth if "security" in raw else None)
    # document jobs the fuzzer started finish before the store is handed to the next test
    concurrent.futures.wait(list(api.app.state.khub.job_futures), timeout=120)
