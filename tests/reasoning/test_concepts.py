"""Business concepts (issue 7.1): features read from the graph, concepts as ZEN expressions over them,
member counts; precise errors for bad definitions; both stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from ontology.concepts import default_features, load_concepts, load_features
from ontology.errors import SchemaInvalid
from reasoning.concepts import concept_counts, feature_values, members
from reasoning.demo_world import demo_as_of, load_demo_world

pytestmark = pytest.mark.usefixtures("backend")


def test_features_are_read_from_the_graph(store) -> None:
    load_demo_world(store)
    features = default_features()
    names = ["site_dwell_minutes_30d", "whitepaper_downloads_30d", "missed_sales_calls_30d", "days_since_app_use", "last_survey_score", "unconsumed_lessons"]
    values = feature_values(store, [features[n] for n in names], demo_as_of(), ["visitor-emma-lind", "visitor-olaf-berg", "student-liu-yang", "wang-fang"])
    emma, olaf, liu, wang = (values[k] for k in ("visitor-emma-lind", "visitor-olaf-berg", "student-liu-yang", "wang-fang"))
    assert emma["site_dwell_minutes_30d"] == pytest.approx(8.0, abs=0.01) and emma["whitepaper_downloads_30d"] == 1 and emma["missed_sales_calls_30d"] == 0
    assert olaf["missed_sales_calls_30d"] == 2 and olaf["site_dwell_minutes_30d"] == pytest.approx(7.0, abs=0.01)
    assert liu["last_survey_score"] == 2.0 and liu["unconsumed_lessons"] == 18.0 and liu["days_since_app_use"] == pytest.approx(25.5, abs=0.1)
    # nothing found: counts and sums are 0, the rest is none (or the feature's default)
    assert wang["site_dwell_minutes_30d"] == 0 and wang["last_survey_score"] is None and wang["days_since_app_use"] == 9999


def test_concepts_have_members_and_counts(store) -> None:
    load_demo_world(store)
    features = default_features()
    concepts = {c.id: c for c in load_concepts()}
    now = demo_as_of()
    assert members(store, concepts["high_potential_customer"], features, now) == ["visitor-emma-lind"]  # Olaf missed two calls
    assert members(store, concepts["refund_risk_student"], features, now) == ["student-liu-yang"]  # He Lin used the app 2 days ago
    counts = {c.concept.id: (c.members, c.subjects) for c in concept_counts(store, concepts.values(), features, now)}
    contacts = store.stats().nodes["Contact"]
    assert counts == {"high_potential_customer": (1, contacts), "refund_risk_student": (1, contacts)}
    # a month later Emma's visits are out of the window
    from datetime import timedelta

    assert members(store, concepts["high_potential_customer"], features, now + timedelta(days=30)) == []


def test_bad_definitions_are_named_with_file_line_and_element(tmp_path: Path) -> None:
    catalogue = tmp_path / "features.yaml"
    catalogue.write_text(
        "features:\n"
        "  dwell:\n    subject: Contact\n    path: [{edge: PERFORMED_BY, direction: in, node: Event}]\n    aggregate: sum\n"
        "  visits:\n    subject: Contact\n    path: [{edge: PERFORMED_BY, direction: in, node: Event, where: {colour: red}}]\n    aggregate: count\n"
        "  spend:\n    subject: Account\n    path: []\n    aggregate: median\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaInvalid) as invalid:
        load_features(catalogue)
    text = str(invalid.value)
    assert f"{catalogue}:2: features.dwell.property: sum needs the property of Event" in text
    assert "Event has no property 'colour'" in text and "one of count, sum, avg, min, max, last, days_since_last, got 'median'" in text

    concept = tmp_path / "c.yaml"
    for when, problem in (
        ("site_dwel_minutes_30d > 5", "unknown feature 'site_dwel_minutes_30d'"),
        ("customs_tickets_30d > 1", "feature 'customs_tickets_30d' is about a Account, this concept about a Contact"),
        ("site_dwell_minutes_30d > > 5", "the expression cannot be read: Unexpected token"),
    ):
        concept.write_text(f"id: c\nsubject: Contact\nwhen: {when}\n", encoding="utf-8")
        with pytest.raises(SchemaInvalid) as invalid:
            load_concepts([concept])
        assert problem in str(invalid.value) and f"{concept}:3" in str(invalid.value), str(invalid.value)


CONCEPT_INTENT = """id: refund_risk_by_concept
version: 1
subject: Contact
description: {en: A student in the refund-risk concept., zh: 退费风险学员。}
threshold: 0.7
window_days: 30
half_life_days: 30
cooldown_days: 14
purposes: [service]
signals:
  - {id: at_risk, kind: concept, concept: refund_risk_student, weight: 0.8, describe: in the refund-risk concept}
"""


def test_a_concept_is_an_intent_signal(store, tmp_path: Path) -> None:
    """A concept signal holds for the concept's members, with what its features read as evidence;
    a new event that can change the membership re-scores the subject on the real-time path."""
    from datetime import timedelta

    from graph.store import EdgeRecord, NodeRecord, NodeRef
    from ontology.intents import load_intents
    from reasoning.intents import IntentEngine

    (tmp_path / "refund_risk_by_concept.yaml").write_text(CONCEPT_INTENT, encoding="utf-8")
    definitions = load_intents([tmp_path / "refund_risk_by_concept.yaml"], store.ontology)
    load_demo_world(store)
    engine = IntentEngine(store, definitions, clock=demo_as_of)
    (result,) = engine.score(definitions[0])
    assert result.subject == NodeRef("Contact", "student-liu-yang") and result.fires and result.score == pytest.approx(0.8)
    evidence = {e.ref for s in result.signals for e in s.evidence}
    assert NodeRef("Event", "ev-survey-liu-1") in evidence and all(ref.label == "Event" for ref in evidence)
    engine.refresh()
    assert store.get(NodeRef("Intent", "intent-refund_risk_by_concept-student-liu-yang")).props["intent_status"] == "new"
    # He Lin's bad survey is already there; three weeks without the app put her in the concept, and a new event reaches her
    later = IntentEngine(store, definitions, clock=lambda: demo_as_of() + timedelta(days=20))
    survey = NodeRecord("Event", "ev-survey-he-2", {"event_type": "survey", "occurred_at": (demo_as_of() + timedelta(days=19)).isoformat(), "score_value": 2.0})
    store.upsert([survey], [EdgeRecord("PERFORMED_BY", survey.ref, NodeRef("Contact", "student-he-lin"), source_id="test")])
    assert later.affected([survey.ref]) == {"refund_risk_by_concept": {"Contact": ["student-he-lin"]}}
    report = later.refresh_touched([survey.ref])
    assert [r.intent_id for r in report.fired] == ["intent-refund_risk_by_concept-student-he-lin"]


def test_a_concept_signal_must_name_a_concept_about_the_intent_subject(tmp_path: Path) -> None:
    from ontology.intents import load_intents

    bad = tmp_path / "bad.yaml"
    bad.write_text(CONCEPT_INTENT.replace("refund_risk_student", "high_potential_customr").replace("subject: Contact", "subject: Account"), encoding="utf-8")
    with pytest.raises(SchemaInvalid) as invalid:
        load_intents([bad])
    assert "signals.0.concept: a concept signal names a concept (one of high_potential_customer, refund_risk_student), got 'high_potential_customr'" in str(
        invalid.value
    )
    bad.write_text(CONCEPT_INTENT.replace("subject: Contact", "subject: Account"), encoding="utf-8")
    with pytest.raises(SchemaInvalid, match="concept 'refund_risk_student' is about a Contact, this intent about a Account"):
        load_intents([bad])


def test_features_aggregated_in_the_store_equal_those_aggregated_from_the_matches(store) -> None:
    """`feature_values` reads summaries aggregated in the store; every shipped feature, for every
    subject, over several moments, equals `aggregate` over what `match_patterns` returns."""
    from datetime import timedelta

    from reasoning.concepts import aggregate, feature_matches, subject_ids

    load_demo_world(store)
    features = list(default_features().values())
    for label in ("Contact", "Account", "Device"):
        mine = [f for f in features if f.subject == label]
        ids = subject_ids(store, label)
        for now in (demo_as_of() - timedelta(days=40), demo_as_of() - timedelta(days=3), demo_as_of(), demo_as_of() + timedelta(days=20)):
            summed = feature_values(store, mine, now, ids, in_store=True)
            found = feature_matches(store, mine, now, ids)
            for feature, per in zip(mine, found, strict=True):
                for subject in ids:
                    expected = aggregate(feature, per.get(subject, []), now)
                    got = summed[subject][feature.name]
                    assert got == pytest.approx(expected) if expected is not None else got is None, (feature.name, subject, now, got, expected)
    # no subject list: the subjects some path reaches, with the values of the features that reach them
    contact_features = [f for f in features if f.subject == "Contact"]
    reached = feature_values(store, contact_features, demo_as_of())
    assert reached == feature_values(store, contact_features, demo_as_of(), in_store=False)
    given = feature_values(store, contact_features, demo_as_of(), sorted(reached), in_store=True)
    assert reached and all(given[s][name] == value for s, values in reached.items() for name, value in values.items())
