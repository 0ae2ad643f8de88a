"""A browser's WebSocket carries no headers: it authenticates in graphql-transport-ws connection_init,
with the same key and purpose fields as HTTP; a bad or missing key closes the socket (4403)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

PROTOCOL = ["graphql-transport-ws"]
ME = {"query": "query { me { name role purpose } }"}


def test_a_key_in_connection_init_authenticates_the_socket(api: Any) -> None:
    with api.client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {api.keys['sales_tool']}", "X-Khub-Purpose": "sales"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": ME})
        assert ws.receive_json()["payload"]["data"]["me"] == {"name": "test-sales_tool", "role": "sales_tool", "purpose": "sales"}
    # X-Api-Key works too, and the payload's field names are case-insensitive
    with api.client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"x-api-key": api.keys["analyst"], "x-khub-purpose": "analytics"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": ME})
        assert ws.receive_json()["payload"]["data"]["me"]["role"] == "analyst"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"Authorization": "Bearer khub_not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz", "X-Khub-Purpose": "sales"},
        {"X-Khub-Purpose": "sales"},
        "a string, not an object",
    ],
)
def test_a_socket_without_a_good_key_is_closed(api: Any, payload: Any) -> None:
    with api.client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init"} if payload is None else {"type": "connection_init", "payload": payload})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code in (4400, 4403)


def test_a_good_key_with_an_unknown_purpose_is_closed(api: Any) -> None:
    with api.client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {api.keys['steward']}", "X-Khub-Purpose": "fun"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4403


def test_nothing_runs_before_the_connection_is_acknowledged(api: Any) -> None:
    with api.client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": ME})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401


def test_a_bad_key_in_the_handshake_headers_is_still_refused_at_once(api: Any) -> None:
    wrong = {"Authorization": "Bearer khub_wrong"}
    with pytest.raises(WebSocketDisconnect), api.client.websocket_connect("/graphql", subprotocols=PROTOCOL, headers=wrong) as ws:
        ws.send_json({"type": "connection_init"})
        ws.receive_json()
