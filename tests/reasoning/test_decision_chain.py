"""Decision chains on both stores: roles from records, titles and behaviour; changes raise the intent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graph.store import EdgeRecord, NodeRecord, NodeRef
from reasoning.decision_chain import apply_chain, infer_chain
from reasoning.demo_world import load_demo_world
from reasoning.intents import IntentEngine

pytestmark = pytest.mark.usefixtures("backend")

NOW = datetime(2026, 12, 1, tzinfo=UTC)
RENJI = NodeRef("Account", "renji-hospital")


def test_roles_come_from_records_titles_and_behaviour(store):
    load_demo_world(store)
    newcomer, aide, leaver = NodeRef("Contact", "liu-yang"), NodeRef("Contact", "sun-li"), NodeRef("Contact", "li-ming")
    nodes = [NodeRecord("Contact", newcomer.id, {"full_name": "刘洋"}), NodeRecord("Contact", aide.id, {"full_name": "孙丽"})]
    edges = [
        EdgeRecord("WORKS_AT", newcomer, RENJI, {"job_title": "Chief Financial Officer"}, valid_from="2026-11-15"),
        EdgeRecord("WORKS_AT", aide, RENJI, valid_from="2024-01-01"),
        EdgeRecord("REPORTS_TO", aide, NodeRef("Contact", "wang-fang")),
        EdgeRecord("WORKS_AT", leaver, RENJI, valid_from="2015-07-01", valid_to="2026-11-20"),
    ]
    for i, day in enumerate(("2026-11-10", "2026-11-24")):
        event = NodeRef("Event", f"meeting-{i}")
        nodes.append(NodeRecord("Event", event.id, {"event_type": "meeting", "occurred_at": f"{day}T09:00:00Z"}))
        edges.append(EdgeRecord("PERFORMED_BY", event, aide))
    assert not store.upsert(nodes, edges).rejected

    chain = infer_chain(store, RENJI, NOW)
    roles = {m.contact.id: (m.role, m.basis) for m in chain.members}
    assert roles["wang-fang"] == ("budget_holder", "explicit")  # the CRM record
    assert roles["liu-yang"] == ("budget_holder", "title")  # "Chief Financial Officer"
    assert roles["sun-li"] == ("influencer", "behaviour")  # reports to the budget holder, 2 meetings
    assert "li-ming" not in roles and [m.contact.id for m in chain.departed] == ["li-ming"]
    aide_member = next(m for m in chain.members if m.contact == aide)
    assert any("reports to 王芳" in r for r in aide_member.reasons) and any("2 meeting" in r for r in aide_member.reasons)

    written = apply_chain(store, chain, NOW)
    assert not written.rejected and written.edges_written == 2
    assert infer_chain(store, RENJI, NOW).members == chain.members  # our own edges are not new evidence

    report = IntentEngine(store, clock=lambda: NOW).refresh(definitions=["decision_chain_change"])
    (fired,) = report.fired
    assert fired.subject == RENJI
    evidence = {e.ref.id for s in fired.signals for e in s.evidence}
    assert {"liu-yang"} <= evidence


def test_email_patterns_make_an_influencer(store, tmp_path):
    """Imported e-mails with several participants (a list of contacts): someone who keeps being on
    the budget holder's e-mails influences her; someone on one e-mail with her does not."""
    from ingest.deadletter import DeadLetter
    from ingest.events import EventImporter
    from ingest.telemetry import TelemetryAggregator
    from ontology.event_schema import default_event_schema

    load_demo_world(store)
    aide, once = NodeRef("Contact", "zhao-lei"), NodeRef("Contact", "qian-yu")
    assert not store.upsert(
        [NodeRecord("Contact", aide.id, {"full_name": "赵磊"}), NodeRecord("Contact", once.id, {"full_name": "钱宇"})],
        [EdgeRecord("WORKS_AT", aide, RENJI, valid_from="2023-01-01"), EdgeRecord("WORKS_AT", once, RENJI, valid_from="2023-01-01")],
    ).rejected
    mails = [
        {"id": "mail-1", "type": "email", "ts": "2026-11-02T08:00:00Z", "contact": ["wang-fang", aide.id, once.id], "subject": "预算"},
        {"id": "mail-2", "type": "email", "ts": "2026-11-20T08:00:00Z", "contact": [aide.id, "wang-fang"], "subject": "Re: 预算"},
        {"id": "mail-3", "type": "email", "ts": "2026-05-01T08:00:00Z", "contact": [once.id, "wang-fang"], "subject": "old"},  # out of the window
    ]
    schema = default_event_schema()
    importer = EventImporter(store, schema, TelemetryAggregator(tmp_path / "telemetry.sqlite", schema.telemetry), DeadLetter(tmp_path / "dead.jsonl"))
    report = importer.import_records((m["id"], m) for m in mails)
    assert report.rejected == [] and report.events_written == 3, report

    chain = infer_chain(store, RENJI, NOW)
    members = {m.contact.id: m for m in chain.members}
    assert (members[aide.id].role, members[aide.id].basis) == ("influencer", "behaviour")
    assert any("on 2 e-mail(s) with 王芳 (budget_holder)" in r for r in members[aide.id].reasons)
    assert members[once.id].role is None
