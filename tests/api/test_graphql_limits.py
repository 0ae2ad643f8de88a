"""Hostile GraphQL is refused before it runs, quickly, with a stable code, on both stores.

Each refusal must cost no store call (the counting proxy over the real store proves it: the query
was refused before it ran), however large the document claims to be;
`test_measuring_is_linear_in_the_document` checks the measure itself does not expand fragments
(expanded, its document would take 3^39 steps: it would never finish). How fast refusals are is
measured in `bench/api.py`, not asserted here (wall-clock limits fail on loaded machines).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import parse

from api.graphql.limits import Limits, check_limits, measure_document
from api.graphql.schema import build_schema
from tests.api.test_graphql import ACCOUNT_360, CountingStore, Gql, codes


@pytest.fixture
def guarded(store: Any) -> tuple[Gql, CountingStore]:
    """A test app over the (empty) store of this backend, counting store calls."""
    counting = CountingStore(store)
    gql = Gql(counting)
    gql.post("{ __typename }")  # starts the test client's event loop thread outside the timings
    return gql, counting


def refused(guarded: tuple[Gql, CountingStore], query: str, variables: dict[str, Any] | None = None) -> list[str]:
    """The error codes of a query that must be refused fast and without touching the store."""
    gql, counting = guarded
    body = gql.post(query, variables, "admin")
    assert body.get("data") is None, body
    assert counting.total == 0, counting.calls
    text = str(body)
    assert "Traceback" not in text and 'File "' not in text
    return codes(body)


def _deep(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"account {{ contacts(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f'{{ contact(id: "x") {{ {inner} }} }}'


def test_deep_nesting_is_refused(guarded: tuple[Gql, CountingStore]) -> None:
    assert refused(guarded, _deep(6)) == ["QUERY_TOO_DEEP"]


def test_fragments_do_not_hide_depth(guarded: tuple[Gql, CountingStore]) -> None:
    fragments = ["fragment F0 on Contact { id }"]
    for i in range(1, 8):
        fragments.append(f"fragment F{i} on Contact {{ account {{ contacts(first: 1) {{ edges {{ node {{ ...F{i - 1} }} }} }} }} }}")
    query = '{ contact(id: "x") { ...F7 } }\n' + "\n".join(fragments)
    assert refused(guarded, query) == ["QUERY_TOO_DEEP"]


def test_alias_bomb_inside_fragments_is_refused(guarded: tuple[Gql, CountingStore]) -> None:
    # 2 aliases, doubled by each of 30 nested fragments: 2^31 aliases if expanded; measured once each
    fragments = ["fragment A0 on Query { a: me { role } b: me { role } }"]
    fragments += [f"fragment A{i} on Query {{ ...A{i - 1} ...A{i - 1} }}" for i in range(1, 31)]
    query = "{ ...A30 }\n" + "\n".join(fragments)
    assert "TOO_MANY_ALIASES" in refused(guarded, query)  # (and too complex: 2^31 fields)
    flat = "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(31)) + " }"
    assert refused(guarded, flat) == ["TOO_MANY_ALIASES"]


def test_fragment_cycles_are_refused(guarded: tuple[Gql, CountingStore]) -> None:
    query = "{ ...A }\nfragment A on Query { me { role } ...B }\nfragment B on Query { ...A }"
    assert set(refused(guarded, query)) == {"FRAGMENT_CYCLE"}
    itself = '{ contact(id: "x") { ...C } }\nfragment C on Contact { account { contacts { nodes { ...C } } } }'
    assert set(refused(guarded, itself)) == {"FRAGMENT_CYCLE"}


def test_huge_variables_and_documents_are_refused(guarded: tuple[Gql, CountingStore]) -> None:
    assert refused(guarded, "query($t: String!) { search(text: $t) { totalCount } }", {"t": "x" * 200_000}) == ["VARIABLES_TOO_LARGE"]
    assert refused(guarded, "{ me { role } }" + " " * 30_000) == ["QUERY_TOO_LARGE"]
    many_tokens = "{ me { " + "role " * 3_500 + "} }"
    assert len(many_tokens) < Limits().max_query_chars
    assert refused(guarded, many_tokens) == ["QUERY_TOO_LARGE"]


def test_costly_lists_are_refused(guarded: tuple[Gql, CountingStore]) -> None:
    costly = "query($n: Int!) { accounts(first: $n) { nodes { contacts(first: 100) { nodes { intents(first: 100) { nodes { id score } } } } } } }"
    assert refused(guarded, costly, {"n": 100}) == ["QUERY_TOO_COMPLEX"]
    # defaults count too: 20 accounts x 20 contacts x 20 intents x 20 pieces of evidence
    by_default = "{ accounts { nodes { contacts { nodes { intents { nodes { evidence { nodes { id } } } } } } } } }"
    assert refused(guarded, by_default) == ["QUERY_TOO_COMPLEX"]


def test_bad_documents_get_codes(guarded: tuple[Gql, CountingStore]) -> None:
    assert refused(guarded, "{ me { role ") == ["GRAPHQL_PARSE_FAILED"]
    assert refused(guarded, "{ me { nothing } }") == ["GRAPHQL_VALIDATION_FAILED"]
    assert refused(guarded, "query($n: Int!) { accounts(first: $n) { totalCount } }", {"n": "many"}) == ["BAD_USER_INPUT"]


def test_reasonable_queries_pass_and_limits_are_configurable(store: Any) -> None:
    counting = CountingStore(store)
    body = Gql(counting).post(ACCOUNT_360, {"id": "renji-hospital"})
    assert body == {"data": {"account": None}}  # an empty graph: allowed, ran, found nothing
    strict = Gql(CountingStore(store), limits=Limits(max_depth=4, max_cost=100))
    assert set(codes(strict.post(ACCOUNT_360, {"id": "renji-hospital"}))) == {"QUERY_TOO_DEEP", "QUERY_TOO_COMPLEX"}


def test_measuring_is_linear_in_the_document() -> None:
    schema = build_schema()._schema
    fragments = ["fragment A0 on Query { a: me { role } }"] + [f"fragment A{i} on Query {{ ...A{i - 1} ...A{i - 1} ...A{i - 1} }}" for i in range(1, 40)]
    document = parse("{ ...A39 }\n" + "\n".join(fragments))
    started = time.perf_counter()
    measured = measure_document(schema, document, None, None)
    assert time.perf_counter() - started < 30, "the measure expanded fragments (3^39 steps)"  # linear: milliseconds
    assert measured.aliases == 3**39 and measured.depth == 2


def test_graphql_through_the_app_needs_a_key_and_a_purpose(api: Any, store: Any) -> None:
    """The real app (`api.app.create_app`, keys hashed at rest) mounts the router at /graphql."""
    from reasoning.demo_world import load_demo_world

    load_demo_world(store)
    query = {"query": '{ me { role purpose } account(id: "renji-hospital") { name contacts(first: 2) { totalCount } } }'}
    assert api.client.post("/graphql", json=query).status_code == 401
    assert api.client.post("/graphql", json=query, headers=api.headers("sales_tool", purpose=None)).status_code == 400
    answer = api.client.post("/graphql", json=query, headers=api.headers("sales_tool", purpose="sales"))
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["me"] == {"role": "sales_tool", "purpose": "sales"} and data["account"]["name"] == "Renji Hospital"
    assert data["account"]["contacts"]["totalCount"] >= 4
    assert "graphiql.min.js" in api.client.get("/graphql", headers={"Accept": "text/html"}).text  # the IDE page needs no key
    denied = api.client.post("/graphql", json={"query": '{ cypher(query: "RETURN 1 AS one") { rows } }'}, headers=api.headers("sales_tool", purpose="sales"))
    assert codes(denied.json()) == ["FORBIDDEN"]
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=api.headers("analyst", purpose="analytics")) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "query { me { role purpose } }"}})
        assert ws.receive_json()["payload"]["data"]["me"] == {"role": "analyst", "purpose": "analytics"}


def test_job_progress_subscription_through_the_app(api: Any) -> None:
    jobs = api.app.state.khub.jobs
    job = jobs.create("documents", owner=api.key_ids["sales_tool"], purpose="sales", total=2)
    subscription = "subscription($id: String!) { jobProgress(id: $id) { id status done total errors } }"
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=api.headers("sales_tool", purpose="sales")) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": subscription, "variables": {"id": job.id}}})
        assert ws.receive_json()["payload"]["data"]["jobProgress"]["status"] == "queued"
        jobs.start(job.id)
        assert ws.receive_json()["payload"]["data"]["jobProgress"]["status"] == "running"
        with jobs.change(job.id) as changing:
            changing.progress["done"] = 1
        assert ws.receive_json()["payload"]["data"]["jobProgress"]["done"] == 1
        jobs.finish(job.id)
        last = ws.receive_json()["payload"]["data"]["jobProgress"]
        assert last["status"] == "succeeded" and last["total"] == 2
        assert ws.receive_json() == {"id": "1", "type": "complete"}
        # another key (not a steward) cannot follow someone else's job
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": subscription, "variables": {"id": "job-0000000000000000"}}})
        error = ws.receive_json()
        assert error["type"] in ("error", "next"), error
        errors = error["payload"] if error["type"] == "error" else error["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"


def test_hostile_documents_over_websocket_are_refused_too(store: Any) -> None:
    gql = Gql(CountingStore(store))
    deep = _deep(6).replace("{ contact", "query { contact", 1)
    with gql.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        for i, (query, variables, code) in enumerate(
            [
                (deep, {}, "QUERY_TOO_DEEP"),
                ("query($t: String!) { search(text: $t) { totalCount } }", {"t": "x" * 200_000}, "VARIABLES_TOO_LARGE"),
                ("subscription { ...A }\nfragment A on Subscription { ...B }\nfragment B on Subscription { ...A }", {}, "FRAGMENT_CYCLE"),
                ('subscription { jobProgress(id: "job-0000000000000000") { status } }', {}, "NOT_FOUND"),
            ]
        ):
            ws.send_json({"id": str(i), "type": "subscribe", "payload": {"query": query, "variables": variables}})
            message = ws.receive_json()
            errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            assert code in [e.get("extensions", {}).get("code") for e in errors], message
            assert "Traceback" not in str(message)
            if message["type"] == "next":
                assert ws.receive_json() == {"id": str(i), "type": "complete"}


def test_graphiql_introspection_fits_the_limits() -> None:
    from graphql import get_introspection_query

    schema = build_schema()._schema
    full = get_introspection_query(
        descriptions=True, input_value_deprecation=True, specified_by_url=True, directive_is_repeatable=True, schema_description=True
    )
    measured = measure_document(schema, parse(full), None, None)
    assert measured.depth <= 8 and measured.cost < Limits().max_cost and measured.aliases == 0
    assert check_limits(schema, parse(full), None, None, Limits()) == []
    # but the breadth bomb through introspection lists (types x fields x fields x ...) is refused
    bomb = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    assert [e.extensions["code"] for e in check_limits(schema, parse(bomb), None, None, Limits())] == ["QUERY_TOO_COMPLEX"]
