"""khub's compiled decision tables answer as the GoRules ZEN engine does on the same JDM graph:
the shipped tables and generated ones, over generated inputs (missing values and texts included)."""

from __future__ import annotations

import json

import pytest
import zen
from hypothesis import given, settings
from hypothesis import strategies as st

from ontology.scenarios import DecisionTable, decision_model, load_scenarios
from reasoning.decision_table import CompiledTable

TESTS = st.sampled_from(["", "null", ">= 20", "> 5", "< 10", "<= 3", "== 7", "7", "[1..5]", "(10..20]", "[0..30)", '"AE"', '"AE", "CN"'])
VALUES = st.one_of(st.none(), st.integers(-5, 40).map(float), st.sampled_from(["AE", "CN", "US"]))


def engine_answer(table: DecisionTable, values: dict) -> dict:
    decision = zen.ZenEngine().create_decision(json.dumps(decision_model(table, "t")))
    result = decision.evaluate(values)["result"]
    if table.hit_policy in ("collect", "unique"):
        rows = result or []
        return {"rows": rows} if table.hit_policy == "collect" else (rows[0] if rows else {})
    return result or {}


@pytest.mark.parametrize("scenario", [s for s in load_scenarios() if s.decision is not None], ids=lambda s: s.id)
def test_the_shipped_tables_agree_with_the_engine(scenario) -> None:
    compiled = CompiledTable.of(scenario.decision, scenario.id)
    for value in (None, 0.0, 3.0, 9.0, 10.0, 15.0, 19.0, 20.0, 25.0, "AE"):
        values = dict.fromkeys(scenario.decision.inputs, value)
        assert compiled.decide(values) == engine_answer(scenario.decision, values), (scenario.id, value)


@settings(max_examples=150, deadline=None)
@given(
    policy=st.sampled_from(["first", "collect"]),
    rows=st.lists(st.tuples(TESTS, TESTS), min_size=1, max_size=5),
    values=st.tuples(VALUES, VALUES),
)
def test_generated_tables_agree_with_the_engine(policy: str, rows: list, values: tuple) -> None:
    table = DecisionTable(policy, ("x", "y"), tuple(({"x": a, "y": b}, {"row": i, "label": f"r{i}"}) for i, (a, b) in enumerate(rows)))
    given_values = {"x": values[0], "y": values[1]}
    assert CompiledTable.of(table, "t").decide(given_values) == engine_answer(table, given_values)
