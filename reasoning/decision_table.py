"""A scenario's decision table, compiled once and evaluated cell by cell with GoRules ZEN's unary tests.

The table's JDM graph (`ontology.scenarios.decision_model`) is what an editor shows and what
`zen.ZenEngine` runs; going through the engine costs about 0.2 ms a call, so for one event against
a thousand scenarios khub evaluates the same cells itself: each cell compiled once with
`zen.compile_unary_expression` (about 1 µs a test), rows tried in order, the hit policy applied
(`first`: the first row that matches; `unique`: at most one may; `collect`: every one, as `rows`).
As in ZEN, a cell whose test cannot compare the value (a missing value, a text against a number)
does not match. `tests/reasoning/test_decision_table.py` checks that both give the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ontology.errors import BadInput
from ontology.scenarios import DecisionTable


@dataclass(frozen=True)
class CompiledTable:
    """Rows of (input, test, compiled test) cells and their outputs, with the hit policy."""

    name: str
    hit_policy: str
    inputs: tuple[str, ...]
    rows: tuple[tuple[tuple[tuple[str, str, Any], ...], Mapping[str, Any]], ...]

    @classmethod
    def of(cls, table: DecisionTable, name: str) -> CompiledTable:
        """Compile every non-empty cell of `table` once."""
        import zen

        rows = []
        for tests, then in table.rules:
            cells = tuple((field, str(test).strip(), zen.compile_unary_expression(test)) for field, test in tests.items() if str(test).strip())
            rows.append((cells, dict(then)))
        return cls(name, table.hit_policy, table.inputs, tuple(rows))

    def decide(self, values: Mapping[str, Any], memo: dict[tuple[str, str], bool] | None = None) -> dict[str, Any]:
        """The outputs for one subject's values (empty when no row matches). `memo`: the cells
        already tested on these values, by (input, test), shared between tables of one event."""
        memo = {} if memo is None else memo

        def matches(cells: tuple[tuple[str, str, Any], ...]) -> bool:
            for field, text, test in cells:
                key = (field, text)
                passed = memo.get(key)
                if passed is None:
                    value = values.get(field)
                    # ZEN fails to compare a missing value with anything but null, and failing costs ~20 µs (it records a backtrace)
                    passed = memo[key] = False if value is None and "null" not in text else _passes(test, value)
                if not passed:
                    return False
            return True

        if self.hit_policy == "first":
            return next((dict(then) for cells, then in self.rows if matches(cells)), {})
        matched = [then for cells, then in self.rows if matches(cells)]
        if self.hit_policy == "collect":
            return {"rows": [dict(m) for m in matched]}
        if self.hit_policy == "unique" and len(matched) > 1:
            raise BadInput(f"scenario {self.name}: decision table: {len(matched)} rows match under hit policy unique")
        return dict(matched[0]) if matched else {}


def _passes(test: Any, value: Any) -> bool:
    try:
        return test.evaluate({"$": value}) is True
    except Exception:  # ZEN cannot compare them (none, text against number): no match, as in a ZEN decision table
        return False
