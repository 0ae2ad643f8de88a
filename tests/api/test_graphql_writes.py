"""GraphQL writes over HTTP on both stores: recordEvents and ingestDocuments land data the way
POST /v1/events and POST /v1/documents do, with the same roles, errors and jobs."""

from __future__ import annotations

import base64
from typing import Any

from graph.store import NodeRef
from tests.api.test_rest import EVENTS, wait_for

RECORD = """mutation($events: [JSON!]!) {
  recordEvents(events: $events) { received written rejected errors { index item reason } }
}"""
INGEST = """mutation($docs: [DocumentUpload!]!, $type: String) {
  ingestDocuments(documents: $docs, type: $type) { id kind status total }
}"""


def post(api: Any, query: str, variables: dict[str, Any], role: str = "steward", purpose: str = "service") -> dict[str, Any]:
    response = api.client.post("/graphql", json={"query": query, "variables": variables}, headers=api.headers(role, purpose))
    assert response.status_code == 200, response.text
    return response.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def test_record_events_lands_the_good_ones_and_names_the_bad(api, store) -> None:
    body = post(api, RECORD, {"events": [EVENTS[0], "not an event", EVENTS[1], EVENTS[2]]}, "sales_tool", "sales")
    assert not body.get("errors"), body
    result = body["data"]["recordEvents"]
    assert (result["received"], result["written"], result["rejected"]) == (4, 2, 2)
    errors = {e["index"]: e for e in result["errors"]}
    assert set(errors) == {1, 2} and errors[1]["item"] == "index 1"
    assert "JSON object" in errors[1]["reason"] and "unknown event type 'teleport'" in errors[2]["reason"]
    assert store.get(NodeRef("Event", "e1")).props["event_type"] == "web_view" and store.get(NodeRef("Event", "e2")) is None
    # idempotent by event id: the same batch again writes the same two events, nothing more
    again = post(api, RECORD, {"events": [EVENTS[0], EVENTS[2]]})["data"]["recordEvents"]
    assert (again["received"], again["rejected"]) == (2, 0) and store.stats().nodes["Event"] == 2
    dead = (api.settings.data_dir / "deadletter.jsonl").read_text(encoding="utf-8")
    assert ":index:1" in dead and ":index:2" in dead


def test_record_events_roles_and_empty_batches(api) -> None:
    refused = post(api, RECORD, {"events": [EVENTS[0]]}, "analyst")
    assert codes(refused) == ["FORBIDDEN"] and refused["data"] is None
    assert codes(post(api, RECORD, {"events": []})) == ["BAD_INPUT"]


def test_ingest_documents_runs_a_job_that_lands_them(api, store) -> None:
    text = "Renji Hospital plans to replace its UltraScan 900 ultrasound. 仁济医院计划更换超声设备。"
    docs = [
        {"filename": "notes.md", "text": text},
        {"filename": "../memo.txt", "contentBase64": base64.b64encode(b"Budget approved for Q1.").decode()},
    ]
    body = post(api, INGEST, {"docs": docs}, "steward", "ontology_curation")
    assert not body.get("errors"), body
    job = body["data"]["ingestDocuments"]
    assert job["kind"] == "documents" and job["total"] == 2 and job["status"] in ("queued", "running", "succeeded")
    done = wait_for(api, job["id"])
    assert done["status"] == "succeeded", done
    assert done["purpose"] == "ontology_curation" and done["counts"]["added"] == 2
    names = {d["filename"]: d for d in done["result"]["documents"]}
    assert set(names) == {"notes.md", "memo.txt"}  # no directories from the client's name
    node = store.get(NodeRef("Document", names["notes.md"]["document_id"]))
    assert node is not None and len(node.props["content_hash"]) == 64


def test_ingest_documents_refuses_bad_uploads_by_name(api) -> None:
    cases = [
        ({"filename": "a.txt"}, "exactly one of text or contentBase64"),
        ({"filename": "a.txt", "text": "x", "contentBase64": "eA=="}, "exactly one of text or contentBase64"),
        ({"filename": "scan.pdf", "contentBase64": "%%%not base64"}, "documents[0] ('scan.pdf'): contentBase64 is not valid base64"),
        ({"filename": "tool.exe", "text": "MZ"}, "unsupported file type: tool.exe"),
    ]
    for doc, message in cases:
        body = post(api, INGEST, {"docs": [doc]})
        assert codes(body) == ["BAD_INPUT"] and message in body["errors"][0]["message"], body
    unknown_type = post(api, INGEST, {"docs": [{"filename": "a.txt", "text": "x"}], "type": "horoscope"})
    assert codes(unknown_type) == ["BAD_INPUT"] and "unknown document type 'horoscope'" in unknown_type["errors"][0]["message"]
    assert codes(post(api, INGEST, {"docs": [{"filename": "a.txt", "text": "x"}]}, "sales_tool")) == ["FORBIDDEN"]
    uploads = api.settings.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*"))  # nothing refused was saved
