"""A generated world with planted intents and decoys, evaluated on both stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reasoning.demo_world.generator import INTENT_TYPES, generate_world
from reasoning.evaluate import TypeScore, evaluate_world
from reasoning.intents import IntentEngine

pytestmark = pytest.mark.usefixtures("backend")

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
ACCOUNTS = 30


def test_generation_is_deterministic_and_covers_every_story():
    one, two = generate_world(ACCOUNTS, 11, AS_OF), generate_world(ACCOUNTS, 11, AS_OF)
    assert one.nodes == two.nodes and one.edges == two.edges and one.planted == two.planted and one.decoys == two.decoys
    assert generate_world(ACCOUNTS, 12, AS_OF).nodes != one.nodes
    assert {p.intent_type for p in one.planted} == set(INTENT_TYPES)
    assert {"test_orders", "more_complaints", "competitor_staff"} <= {d.kind for d in one.decoys}
    assert not one.positives & one.negatives
    ids = [(n.label, n.id) for n in one.nodes]
    assert len(ids) == len(set(ids))
    texts = " ".join(str(n.props.get("text") or n.props.get("job_title") or "") for n in one.nodes)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in texts) and "Manager" in texts  # EN and ZH


def test_planted_intents_fire_and_decoys_do_not(store):
    world = generate_world(ACCOUNTS, 11, AS_OF)
    result = evaluate_world(store, world, engine_factory=lambda st, now: IntentEngine(st, clock=lambda: now))
    assert result.rejected == 0, result.rejected_samples
    assert result.decoy_fires == [], result.format_report()
    found = {s.intent_type for s in result.scores if s.true_positives}
    assert found == set(INTENT_TYPES) - _embedder_only(world), result.format_report()
    assert result.macro_f1 == pytest.approx(sum(s.f1 for s in result.scores) / len(INTENT_TYPES))
    assert result.macro_f1 >= 0.8, result.format_report()
    report = result.format_report()
    assert f"macro-F1: {result.macro_f1:.3f}" in report and "| replacement_anxiety |" in report
    assert result.as_dict()["macro_f1"] == round(result.macro_f1, 4)


def test_type_score_arithmetic():
    s = TypeScore("x", planted=4, fired=5, true_positives=3)
    assert (s.false_positives, s.false_negatives) == (2, 1)
    assert s.precision == pytest.approx(0.6) and s.recall == pytest.approx(0.75) and s.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert TypeScore("y", 0, 0, 0).f1 == 1.0 and TypeScore("z", 2, 0, 0).f1 == 0.0


def _embedder_only(world) -> set[str]:
    """Intent types whose every planted case needs the embedder (none fire without it)."""
    types = {p.intent_type for p in world.planted}
    return {t for t in types if all(p.needs_embedder for p in world.planted if p.intent_type == t)}
