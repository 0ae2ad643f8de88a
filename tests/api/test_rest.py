"""REST over HTTP on both stores: events with bad lines, document upload jobs, 413, health/ready/metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

from api.jobs import JobRegistry
from graph.store import NodeRef
from ingest.pipeline import document_id
from tests.api.test_security import error_of

EVENTS = [
    {"id": "e1", "type": "web_view", "ts": "2026-11-20T09:12:00+08:00", "contact": "li", "url": "https://x.example/terms"},
    {"id": "e2", "type": "teleport", "ts": "2026-11-20T10:00:00Z"},
    {"id": "e3", "type": "email", "ts": "2026-11-23T08:00:00Z", "contact_email": "li@acme.example", "subject": "Renewal"},
]


def wait_for(api, job_id: str, role: str = "steward", timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get(f"/v1/jobs/{job_id}", headers=api.headers(role))
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_events_ndjson_with_bad_lines_named_the_rest_lands(api, store):
    lines = [json.dumps(EVENTS[0]), '{"id": "e9", "type": "web_view", ', "", json.dumps(EVENTS[1]), json.dumps(EVENTS[2]), "[1, 2]"]
    body = "\n".join(lines).encode()
    response = api.client.post("/v1/events", headers=api.headers("sales_tool", "sales", **{"Content-Type": "application/x-ndjson"}), content=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["received"], result["written"], result["rejected"]) == (5, 2, 3)
    errors = {e["line"]: e for e in result["errors"]}
    assert set(errors) == {2, 4, 6}
    assert "malformed JSON" in errors[2]["reason"] and errors[2]["item"] == "line 2" and errors[2]["index"] is None
    assert "unknown event type 'teleport'" in errors[4]["reason"]
    assert "JSON object" in errors[6]["reason"]
    assert store.get(NodeRef("Event", "e1")).props["event_type"] == "web_view"
    assert store.get(NodeRef("Event", "e3")) is not None and store.get(NodeRef("Event", "e2")) is None
    linked = store.read_query("MATCH (:Event {id: 'e1'})-[:PERFORMED_BY]->(c:Contact) RETURN c.id AS id")
    assert [r["id"] for r in linked] == ["li"]
    # the same batch again changes nothing (idempotent by event id); a JSON array names indexes
    again = api.client.post("/v1/events", headers=api.headers("steward"), json=[EVENTS[0], "nope", EVENTS[1]])
    assert again.status_code == 200
    assert {(e["index"], e["line"]) for e in again.json()["errors"]} == {(1, None), (2, None)}
    assert store.stats().nodes["Event"] == 2
    # dead-lettered with the request id and line
    dead = (api.settings.data_dir / "deadletter.jsonl").read_text(encoding="utf-8")
    assert ":line:2" in dead and ":index:1" in dead


def test_events_refuse_what_is_not_a_batch(api):
    headers = api.headers("sales_tool")
    for content, content_type, code, status in (
        (b"", "application/json", "BAD_INPUT", 400),
        (b"[1, 2", "application/json", "BAD_INPUT", 400),
        (b"<xml/>", "application/xml", "UNSUPPORTED_MEDIA_TYPE", 415),
    ):
        response = api.client.post("/v1/events", headers={**headers, "Content-Type": content_type}, content=content)
        assert response.status_code == status and error_of(response)["code"] == code, response.text


def test_document_upload_job_finishes_and_the_document_lands(api, store):
    text = "Renji Hospital plans to replace its UltraScan 900 ultrasound. 仁济医院计划更换超声设备。".encode()
    response = api.client.post(
        "/v1/documents",
        headers=api.headers("steward", "ontology_curation"),
        files=[("file", ("notes.md", text, "text/markdown")), ("file", ("../../etc/empty.txt", b"", "text/plain"))],
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running") and job["progress"]["total"] == 2 and job["purpose"] == "ontology_curation"
    done = wait_for(api, job["id"])
    assert done["status"] == "failed", done  # one of the two files is empty
    assert done["progress"] == {"done": 2, "total": 2} and done["counts"]["added"] == 1 and done["counts"]["failed"] == 1
    docs = {d["filename"]: d for d in done["result"]["documents"]}
    assert set(docs) == {"notes.md", "empty.txt"}  # no directories from the client's name
    assert "empty" in docs["empty.txt"]["error"] and str(api.settings.data_dir) not in json.dumps(done)
    saved = next((api.settings.data_dir / "uploads").glob("*/notes.md"))
    assert docs["notes.md"]["document_id"] == document_id(str(saved.resolve()))
    node = store.get(NodeRef("Document", docs["notes.md"]["document_id"]))
    assert node is not None and len(node.props["content_hash"]) == 64
    assert store.read_query("MATCH (:Document {id: $d})-[:HAS_CHUNK]->(c:Chunk) RETURN count(c) AS n", {"d": node.id})[0]["n"] >= 1

    # the same file again: unchanged; a sales tool's own job is its own, others get 404
    again = api.client.post("/v1/documents", headers=api.headers("admin"), files={"file": ("notes.md", text)})
    assert wait_for(api, again.json()["id"], "admin")["counts"] == {"unchanged": 1, "chunks": 0, "mentions": 0, "relations": 0}
    hidden = api.client.get(f"/v1/jobs/{job['id']}", headers=api.headers("sales_tool"))
    assert hidden.status_code == 404 and error_of(hidden)["code"] == "NOT_FOUND"


def test_jobs_survive_a_restart_and_interrupted_ones_say_so(make_api, tmp_path: Path):
    data = tmp_path / "shared-data"
    first = make_api(data_dir=data)
    job = first.client.post("/v1/documents", headers=first.headers(), files={"file": ("a.txt", b"Hello from Acme.")}).json()
    finished = wait_for(first, job["id"])
    assert finished["status"] == "succeeded"
    orphan = JobRegistry(data / "jobs").create("documents", first.key_ids["steward"], "service", total=1)  # a "previous process"
    second = make_api(data_dir=data)
    assert second.client.get(f"/v1/jobs/{job['id']}", headers=second.headers()).json() == finished
    interrupted = second.client.get(f"/v1/jobs/{orphan.id}", headers=second.headers()).json()
    assert interrupted["status"] == "failed" and "interrupted" in interrupted["errors"][0]["error"]


def test_uploads_refused_early(api):
    headers = api.headers("steward")
    response = api.client.post("/v1/documents", headers=headers, files={"file": ("virus.exe", b"MZ")})
    assert response.status_code == 400 and "unsupported file type" in error_of(response)["message"]
    response = api.client.post("/v1/documents", headers=headers, files={"file": ("a.txt", b"x")}, data={"type": "horoscope"})
    assert response.status_code == 400 and "tender_notice" in error_of(response)["message"]
    response = api.client.post("/v1/documents", headers=headers, data={"type": "contract"})
    assert response.status_code in (400, 415) and error_of(response)["code"] in ("BAD_INPUT", "UNSUPPORTED_MEDIA_TYPE")


def test_bodies_over_10_mb_are_refused_with_413(api, store):
    big = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    started = time.perf_counter()
    response = api.client.post("/v1/events", headers=api.headers("sales_tool", **{"Content-Type": "application/json"}), content=big)
    assert response.status_code == 413 and error_of(response)["code"] == "PAYLOAD_TOO_LARGE"
    assert time.perf_counter() - started < 5

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(11):
            yield b" " * (1024 * 1024)

    streamed = api.client.post("/v1/events", headers=api.headers("sales_tool", **{"Content-Type": "application/json"}), content=chunks())
    assert streamed.status_code == 413 and error_of(streamed)["code"] == "PAYLOAD_TOO_LARGE"
    # unauthenticated: refused just the same, before anything reads it
    assert api.client.post("/v1/events", content=big).status_code == 413
    # uploads have their own (larger) limit: 11 MB pass the size check (and are refused for their type, so no job runs)
    upload = api.client.post("/v1/documents", headers=api.headers(), files={"file": ("big.bin", b"a" * (11 * 1024 * 1024))})
    assert upload.status_code == 400 and "unsupported file type" in error_of(upload)["message"]


def test_health_ready_metrics_and_docs(api, make_api, backend):
    client = api.client
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["store"] == {"embedded": "falkordb", "neo4j": "neo4j"}[backend]
    client.get("/v1/jobs/job-0123456789abcdef", headers=api.headers())
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'khub_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 1.0' in metrics.text
    assert 'khub_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/health"}' in metrics.text
    assert "job-0123456789abcdef" not in metrics.text and api.key_ids["steward"] not in metrics.text
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/..%2Fapp.py").status_code == 404
    schema = client.get("/openapi.json").json()
    events = schema["paths"]["/v1/events"]["post"]
    assert events["security"] == [{"bearer": []}, {"apiKey": []}]
    assert any(p["name"] == "X-Khub-Purpose" and "marketing" in p["schema"]["enum"] for p in events["parameters"])
    # metrics behind an admin key, when configured
    locked = make_api(metrics_require_admin=True)
    assert locked.client.get("/metrics").status_code == 401
    assert locked.client.get("/metrics", headers=locked.headers("steward")).status_code == 403
    assert locked.client.get("/metrics", headers=locked.headers("admin", None)).status_code == 200
