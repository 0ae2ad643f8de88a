"""The cells of a decision table read as sets of values, to find rows that can never fire or that overlap.

A cell is a ZEN unary test on one input: empty (anything), a comparison (`>= 20`, `< 3`, `== 5`,
`5`), a range (`[1..5]`, `(1..5)`, `[1..5)`), or quoted text (`"AE"`, `"AE", "CN"`). `read_test`
turns one into a `ValueSet`: an interval of numbers or a finite set of texts; a test it cannot read
(a function call, a negation) gives None and the checks below leave that row alone rather than
guess. `covered_by` says whether earlier rows already match everything a row matches (under hit
policy `first` the row is unreachable); `overlap` whether two rows can match the same subject
(under hit policy `unique` that is an error).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_NUMBER = r"-?\d+(?:\.\d+)?"
_COMPARE = re.compile(rf"^(>=|<=|>|<|==)?\s*({_NUMBER})$")
_RANGE = re.compile(rf"^([\[\(\]])\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*([\]\)\[])$")
_TEXTS = re.compile(r'^"[^"]*"(\s*,\s*"[^"]*")*$')


@dataclass(frozen=True)
class Interval:
    """Numbers between `low` and `high`, each end included or not (infinite ends for open sides)."""

    low: float
    low_in: bool
    high: float
    high_in: bool

    def empty(self) -> bool:
        """True when no number is in it."""
        return self.low > self.high or (self.low == self.high and not (self.low_in and self.high_in))

    def contains(self, other: Interval) -> bool:
        """True when every number of `other` is in this one."""
        if other.empty():
            return True
        low_ok = self.low < other.low or (self.low == other.low and (self.low_in or not other.low_in))
        high_ok = self.high > other.high or (self.high == other.high and (self.high_in or not other.high_in))
        return low_ok and high_ok

    def meets(self, other: Interval) -> bool:
        """True when some number is in both."""
        low, low_in = max((self.low, self.low_in), (other.low, other.low_in), key=lambda e: (e[0], not e[1]))
        high, high_in = min((self.high, self.high_in), (other.high, other.high_in), key=lambda e: (e[0], e[1]))
        return not Interval(low, low_in, high, high_in).empty()


ANYTHING = Interval(-math.inf, False, math.inf, False)
#: A cell's values: an interval of numbers, a finite set of texts, or `ANY_VALUE` (an empty cell).
ValueSet = Interval | frozenset[str] | str
ANY_VALUE = "*"


def read_test(test: str) -> ValueSet | None:
    """The values a ZEN unary test accepts, or None when khub cannot tell."""
    text = test.strip()
    if not text:
        return ANY_VALUE
    if match := _COMPARE.match(text):
        op, number = match.group(1) or "==", float(match.group(2))
        return {
            ">=": Interval(number, True, math.inf, False),
            ">": Interval(number, False, math.inf, False),
            "<=": Interval(-math.inf, False, number, True),
            "<": Interval(-math.inf, False, number, False),
            "==": Interval(number, True, number, True),
        }[op]
    if match := _RANGE.match(text):
        opening, low, high, closing = match.groups()
        return Interval(float(low), opening == "[", float(high), closing == "]")
    if _TEXTS.match(text):
        return frozenset(re.findall(r'"([^"]*)"', text))
    return None


def _contains(outer: ValueSet, inner: ValueSet) -> bool | None:
    if outer == ANY_VALUE:
        return True
    if inner == ANY_VALUE:
        return False
    if isinstance(outer, Interval) and isinstance(inner, Interval):
        return outer.contains(inner)
    if isinstance(outer, frozenset) and isinstance(inner, frozenset):
        return inner <= outer
    return None  # a number test against a text test: leave it


def _meets(a: ValueSet, b: ValueSet) -> bool | None:
    if a == ANY_VALUE or b == ANY_VALUE:
        return True
    if isinstance(a, Interval) and isinstance(b, Interval):
        return a.meets(b)
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        return bool(a & b)
    return None


def _union_contains(intervals: Sequence[Interval], target: Interval) -> bool:
    """Whether the union of `intervals` holds every number of `target`."""
    low, low_in = target.low, target.low_in  # the smallest point of target not yet shown covered
    for piece in sorted(intervals, key=lambda i: (i.low, not i.low_in)):
        starts_in_time = piece.low < low or (piece.low == low and (piece.low_in or not low_in))
        if not starts_in_time:
            continue
        if piece.high > low or (piece.high == low and piece.high_in and low_in):
            if piece.high > target.high or (piece.high == target.high and (piece.high_in or not target.high_in)):
                return True
            low, low_in = piece.high, not piece.high_in
    return Interval(low, low_in, target.high, target.high_in).empty()


Row = Mapping[str, ValueSet | None]


def covered_by(row: Row, earlier: Sequence[tuple[int, Row]], inputs: Sequence[str]) -> list[int] | None:
    """The earlier rows that together match everything `row` matches (so under `first` it never
    fires), or None when they do not or khub cannot tell. One earlier row may cover it on every
    input; with one input, several rows may cover it between them."""
    cells = [row.get(name, ANY_VALUE) for name in inputs]
    for index, other in earlier:
        outer = [other.get(name, ANY_VALUE) for name in inputs]
        if all(o == ANY_VALUE or (o is not None and c is not None and _contains(o, c) is True) for o, c in zip(outer, cells, strict=True)):
            return [index]
    if len(inputs) == 1 and isinstance(cells[0], Interval):
        pieces = [(i, r.get(inputs[0], ANY_VALUE)) for i, r in earlier]
        numeric = [(i, cell) for i, cell in pieces if isinstance(cell, Interval)]
        if numeric and _union_contains([cell for _, cell in numeric], cells[0]):
            return [i for i, cell in numeric if cell.meets(cells[0])]
    return None


def overlap(a: Row, b: Row, inputs: Sequence[str]) -> bool:
    """True when some subject matches both rows (False when they cannot, or khub cannot tell)."""
    for name in inputs:
        x, y = a.get(name, ANY_VALUE), b.get(name, ANY_VALUE)
        if x is None or y is None or _meets(x, y) is not True:
            return False
    return True
