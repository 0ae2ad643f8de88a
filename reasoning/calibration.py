"""Calibration: from an intent's score to how often people found such an intent right.

An intent's score combines its signals (noisy-OR with decay, `reasoning/scoring.py`); it ranks
well but it is not a probability. Feedback (`reasoning/feedback.py`) labels intents: acknowledged
or acted = right, dismissed = wrong. `fit_calibration` fits, per intent type, a logistic map
(Platt scaling) `calibrated = 1 / (1 + exp(-(a·score + b)))` to those labels by Newton's
method, with a weak pull (L2 = `PRIOR`) towards the identity-like map a = 6, b = -3, so a handful
of labels moves it a little and many labels decide. A type with fewer than `MIN_LABELS`
labels, or labels of one kind only, stays uncalibrated: its calibrated score is its score.

The fitted maps live in one JSON file (`Settings.calibration_path`); the engine writes
`Intent.calibrated_score` with them. Each type also gets a suggested threshold: the score at
which the calibrated score crosses 0.5 (people find it right more often than not); stewards
decide whether to move the definition's threshold there. Brier scores before and after are
reported on the labelled intents themselves (in-sample: a check that the fit did something,
not a held-out measure).
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ontology.errors import BadInput
from reasoning.feedback import Feedback

FORMAT = "khub-intent-calibration/1"
MIN_LABELS = 8
PRIOR = 0.5
PRIOR_A, PRIOR_B = 6.0, -3.0


@dataclass(frozen=True)
class TypeCalibration:
    """The fitted map of one intent type and how it was fitted."""

    intent_type: str
    a: float
    b: float
    labels: int
    positives: int
    brier_raw: float
    brier_calibrated: float
    suggested_threshold: float | None

    def apply(self, score: float) -> float:
        """The calibrated score of a raw score."""
        return _sigmoid(self.a * score + self.b)


@dataclass(frozen=True)
class Calibration:
    """Every fitted intent type; types not in it are left as they are."""

    types: dict[str, TypeCalibration]
    fitted_at: str = ""

    def apply(self, intent_type: str, score: float) -> float:
        """The calibrated score (the score itself for an uncalibrated type)."""
        fitted = self.types.get(intent_type)
        return round(fitted.apply(score) if fitted else score, 4)

    def save(self, path: Path) -> Path:
        """Write the file atomically (a reader never sees half of it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        data = {"format": FORMAT, "fitted_at": self.fitted_at, "types": {k: asdict(v) for k, v in sorted(self.types.items())}}
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """The saved calibration; an empty one when the file does not exist; `BadInput` naming the file when it is unreadable."""
        if not path.exists():
            return cls({})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            types = {k: TypeCalibration(**v) for k, v in data["types"].items()}
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise BadInput(f"{path}: not a khub calibration file ({exc}); delete it or run khub intents calibrate") from None
        return cls(types, str(data.get("fitted_at", "")))


@dataclass(frozen=True)
class CalibrationReport:
    """What `fit_calibration` did per type: fitted, or why not."""

    calibration: Calibration
    skipped: dict[str, str]


def fit_calibration(feedback: Iterable[Feedback], min_labels: int = MIN_LABELS) -> CalibrationReport:
    """Fit a map per intent type from labelled intents (see the module's docstring)."""
    by_type: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for item in feedback:
        by_type[item.intent_type].append((min(max(item.score, 0.0), 1.0), 1 if item.positive else 0))
    fitted: dict[str, TypeCalibration] = {}
    skipped: dict[str, str] = {}
    for intent_type, samples in sorted(by_type.items()):
        positives = sum(y for _, y in samples)
        if len(samples) < min_labels:
            skipped[intent_type] = f"{len(samples)} labelled intent(s), {min_labels} needed"
            continue
        if positives in (0, len(samples)):
            skipped[intent_type] = f"all {len(samples)} labels say {'right' if positives else 'wrong'}: nothing to calibrate against"
            continue
        a, b = _fit_platt(samples)
        threshold = -b / a if a > 0 else None
        fitted[intent_type] = TypeCalibration(
            intent_type,
            round(a, 6),
            round(b, 6),
            len(samples),
            positives,
            round(_brier(samples, lambda s: s), 4),
            round(_brier(samples, lambda s, a=a, b=b: _sigmoid(a * s + b)), 4),
            round(threshold, 4) if threshold is not None and 0.0 <= threshold <= 1.0 else None,
        )
    return CalibrationReport(Calibration(fitted, datetime.now(UTC).isoformat(timespec="seconds")), skipped)


def _fit_platt(samples: list[tuple[float, int]], iterations: int = 50) -> tuple[float, float]:
    """Newton's method on the log-loss of sigmoid(a·s + b) plus PRIOR/2·|(a, b) - prior|²."""
    a, b = PRIOR_A, PRIOR_B
    for _ in range(iterations):
        ga = PRIOR * (a - PRIOR_A)
        gb = PRIOR * (b - PRIOR_B)
        haa = hbb = PRIOR
        hab = 0.0
        for s, y in samples:
            p = _sigmoid(a * s + b)
            w = p * (1 - p)
            ga += (p - y) * s
            gb += p - y
            haa += w * s * s
            hab += w * s
            hbb += w
        det = haa * hbb - hab * hab
        if det <= 1e-12:
            break
        step_a = (hbb * ga - hab * gb) / det
        step_b = (haa * gb - hab * ga) / det
        a, b = a - step_a, b - step_b
        if abs(step_a) + abs(step_b) < 1e-9:
            break
    return a, b


def _brier(samples: list[tuple[float, int]], predict: Callable[[float], float]) -> float:
    return sum((predict(s) - y) ** 2 for s, y in samples) / len(samples)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
