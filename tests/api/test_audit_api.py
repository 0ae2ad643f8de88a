"""Every API read that returns a person's data is an audit entry: who asked, for which purpose, about whom."""

from __future__ import annotations

from graph.audit import AuditLog
from reasoning.demo_world import load_demo_world


def test_reads_of_personal_data_are_audited(api, store) -> None:
    load_demo_world(store)
    log = AuditLog.for_data_dir(api.settings.data_dir)
    query = '{ account(id: "renji-hospital") { name contacts(first: 10) { nodes { fullName email } } } }'
    response = api.client.post("/graphql", json={"query": query}, headers=api.headers("sales_tool", "sales"))
    assert response.status_code == 200 and not response.json().get("errors"), response.text
    entries = list(log.entries())
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == "read" and entry["purpose"] == "sales" and entry["actor"] == f"key:{api.key_ids['sales_tool']}"
    assert {log.pseudonym("Contact:wang-fang"), log.pseudonym("Contact:li-ming")} <= set(entry["subjects"]) and entry["details"]["role"] == "sales_tool"
    assert "wang-fang" not in log.path.read_text() and [e["seq"] for e in log.about("Contact:li-ming")] == [entry["seq"]]  # pseudonyms only
    # nothing personal came back: nothing to record
    assert api.client.post("/graphql", json={"query": "{ me { role } }"}, headers=api.headers("sales_tool", "sales")).status_code == 200
    export = api.client.post("/graphql", json={"query": '{ subjectExport(subject: "Contact:li-ming") }'}, headers=api.headers("steward", "legal"))
    assert export.status_code == 200 and not export.json().get("errors"), export.text
    uses = export.json()["data"]["subjectExport"]["uses"]
    assert [(u["action"], u["purpose"]) for u in uses] == [("read", "sales")]  # the export lists how their data was used before it
    actions = [(e["action"], e["purpose"]) for e in log.entries()]
    assert actions[0] == ("read", "sales") and ("export", "legal") in actions
    assert log.verify().ok


def test_consent_metrics_per_purpose(api, store) -> None:
    load_demo_world(store)
    query = "{ consentStats { purpose granted refused subjectsGranting subjects activeRate } }"
    body = api.client.post("/graphql", json={"query": query}, headers=api.headers("analyst", "analytics")).json()
    assert not body.get("errors"), body
    stats = {s["purpose"]: s for s in body["data"]["consentStats"]}
    subjects = store.stats().nodes["Contact"] + store.stats().nodes["Account"]
    expected = {"purpose": "marketing", "granted": 1, "refused": 1, "subjectsGranting": 1, "subjects": subjects, "activeRate": round(1 / subjects, 4)}
    assert stats["marketing"] == expected
    assert (stats["sales"]["granted"], stats["sales"]["refused"]) == (0, 1) and stats["service"]["granted"] == 0
    text = api.client.get("/metrics").text
    assert 'khub_consents_in_force{purpose="marketing"} 1.0' in text and 'khub_consents_refused{purpose="sales"} 1.0' in text
    assert "khub_consent_active_rate" in text
