"""How evidence becomes a score: time decay, signal strength, noisy-OR, contributions.

- Each piece of evidence counts `0.5 ** (age / half_life)` (1 when it has no time).
- A signal's strength is the decayed count over its `saturation`, capped at 1, and 0 below
  `at_least` pieces; an `absent` signal is 1 when nothing was found and 0 otherwise.
- Signals combine by noisy-OR: `score = 1 - Π (1 - weight_i · strength_i)`: each signal alone
  can raise the score up to its weight, several independent ones reinforce each other, and
  the score stays in [0, 1]. (Calibration against labelled outcomes, fitted from feedback,
  maps this raw score to a probability; see `docs/reasoning.md`.)
- A signal's contribution is its share of `-log(1 - score)`, i.e. `-log(1 - w·s)` over the
  sum, times the score; a piece of evidence gets its signal's contribution in proportion to
  its decayed weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime


def age_days(at: str | None, now: datetime) -> float | None:
    """Days from a stored time (ISO date or datetime) to `now`; None when there is no time."""
    if not at:
        return None
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds() / 86400.0)


def decay(age: float | None, half_life_days: float) -> float:
    """The weight of evidence of this age (1 for undated evidence)."""
    if age is None:
        return 1.0
    return 0.5 ** (age / half_life_days)


def strength(weights: Sequence[float], at_least: int, saturation: int, absent: bool = False) -> float:
    """A signal's strength from its evidence weights (see the module docstring)."""
    if absent:
        return 1.0 if not weights else 0.0
    if len(weights) < at_least:
        return 0.0
    return min(1.0, sum(weights) / max(saturation, 1))


def noisy_or(terms: Sequence[float]) -> float:
    """`1 - Π (1 - t)` for terms `weight · strength` in [0, 1]."""
    product = 1.0
    for term in terms:
        product *= 1.0 - min(max(term, 0.0), 1.0)
    return 1.0 - product


def contributions(terms: Sequence[float]) -> list[float]:
    """Each term's share of the noisy-OR score (they sum to the score)."""
    score = noisy_or(terms)
    logs = [-math.log(max(1.0 - min(max(t, 0.0), 1.0), 1e-12)) for t in terms]
    total = sum(logs)
    if total <= 0:
        return [0.0 for _ in terms]
    return [score * value / total for value in logs]
