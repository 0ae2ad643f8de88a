"""Feedback on intents (both stores) and the calibration fitted from it."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph.store import NodeRef
from ontology.errors import BadInput, NotFound
from reasoning.calibration import Calibration, fit_calibration
from reasoning.demo_world import load_demo_world
from reasoning.feedback import Feedback, collected_feedback, give_feedback, intent_type_of
from reasoning.intents import IntentEngine

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ANXIETY = "intent-replacement_anxiety-dev-us900-0142"
BUDGET = "intent-budget_loosening-renji-hospital"


@pytest.mark.usefixtures("backend")
def test_feedback_is_kept_on_the_intent_and_people_win_over_a_rescore(store):
    load_demo_world(store)
    engine = IntentEngine(store, clock=lambda: NOW)
    engine.refresh()
    score = store.get(NodeRef("Intent", ANXIETY)).props["confidence_score"]

    dismissed = give_feedback(store, ANXIETY, "dismissed", "li.na", clock=lambda: NOW, reason="  they replaced it last month ")
    assert dismissed == Feedback(ANXIETY, "replacement_anxiety", score, "dismissed") and not dismissed.positive
    acknowledged = give_feedback(store, BUDGET, "acknowledged", "wang.qiang", clock=lambda: NOW)
    assert acknowledged.positive

    engine.refresh()  # a re-score keeps people's word
    anxiety = store.get(NodeRef("Intent", ANXIETY)).props
    assert anxiety["intent_status"] == "dismissed" and anxiety["feedback"] == "dismissed" and anxiety["feedback_by"] == "li.na"
    assert anxiety["feedback_score"] == score and anxiety["feedback_at"].startswith("2026-12-01")
    assert anxiety["feedback_reason"] == "they replaced it last month"
    give_feedback(store, ANXIETY, "dismissed", "li.na", clock=lambda: NOW)  # a later feedback without a reason drops the old one
    assert store.get(NodeRef("Intent", ANXIETY)).props["feedback_reason"] == ""
    assert store.get(NodeRef("Intent", BUDGET)).props["intent_status"] == "active"  # acknowledging changes no status

    found = sorted(collected_feedback(store), key=lambda f: f.intent_id)
    assert [(f.intent_id, f.intent_type, f.outcome) for f in found] == [
        (BUDGET, "budget_loosening", "acknowledged"),
        (ANXIETY, "replacement_anxiety", "dismissed"),
    ]

    with pytest.raises(NotFound, match="intent-nope"):
        give_feedback(store, "intent-nope", "acted", "x")
    with pytest.raises(BadInput, match="acknowledged, acted, dismissed"):
        give_feedback(store, ANXIETY, "great", "x")
    with pytest.raises(BadInput, match="at most 2000"):
        give_feedback(store, ANXIETY, "acted", "x", reason="y" * 2001)
    with pytest.raises(BadInput, match="who gives it"):
        give_feedback(store, ANXIETY, "acted", " ")


def test_intent_types_come_from_the_id_and_the_known_types():
    assert intent_type_of("intent-refund_risk-student-liu-yang") == "refund_risk"
    assert intent_type_of("intent-a_b-c-d", frozenset({"a_b", "a"})) == "a_b"


def _labelled(intent_type: str, n: int, seed: int) -> list[Feedback]:
    """Intents whose chance of being right rises with their score, like a real catalogue's."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        score = rng.uniform(0.4, 1.0)
        right = rng.random() < (score - 0.4) / 0.6  # 0.4 → never right, 1.0 → always
        out.append(Feedback(f"intent-{intent_type}-s{i}", intent_type, score, "acted" if right else "dismissed"))
    return out


def test_calibration_learns_how_often_scores_are_right(tmp_path: Path):
    labels = _labelled("refund_risk", 400, seed=7)
    labels += _labelled("budget_loosening", 3, seed=8)  # too few
    labels += [Feedback(f"intent-cash_flow_stress-d{i}", "cash_flow_stress", 0.7, "acted") for i in range(10)]  # one kind only
    report = fit_calibration(labels)
    fitted = report.calibration.types["refund_risk"]
    assert set(report.calibration.types) == {"refund_risk"}
    assert "3 labelled" in report.skipped["budget_loosening"] and "all 10 labels say right" in report.skipped["cash_flow_stress"]
    assert fitted.labels == 400 and 0 < fitted.positives < 400
    assert fitted.brier_calibrated < fitted.brier_raw  # raw scores of 0.5 are right far less than half the time
    assert fitted.suggested_threshold is not None and 0.6 < fitted.suggested_threshold < 0.8  # the truth: 0.7
    apply = report.calibration.apply
    assert apply("refund_risk", 0.45) < 0.2 < 0.8 < apply("refund_risk", 0.95)
    assert apply("budget_loosening", 0.61) == 0.61  # uncalibrated types keep their score

    path = report.calibration.save(tmp_path / "calibration.json")
    again = Calibration.load(path)
    assert again.types == report.calibration.types and again.apply("refund_risk", 0.9) == apply("refund_risk", 0.9)
    assert Calibration.load(tmp_path / "absent.json").types == {}
    path.write_text('{"format": "khub-intent-calibration/1", "types": {"x": {"a": 1}}}', encoding="utf-8")
    with pytest.raises(BadInput, match=r"calibration\.json: not a khub calibration file"):
        Calibration.load(path)


@pytest.mark.usefixtures("backend")
def test_the_engine_writes_calibrated_scores(store):
    load_demo_world(store)
    calibration = fit_calibration(_labelled("replacement_anxiety", 300, seed=3)).calibration
    IntentEngine(store, clock=lambda: NOW, calibration=calibration).refresh()
    anxiety = store.get(NodeRef("Intent", ANXIETY)).props
    assert anxiety["calibrated_score"] == calibration.apply("replacement_anxiety", anxiety["confidence_score"]) != anxiety["confidence_score"]
    budget = store.get(NodeRef("Intent", BUDGET)).props
    assert budget["calibrated_score"] == budget["confidence_score"]  # no labels for this type: its score stands
