"""Tender-notice field quality on real EU TED notices (XML exports).

    python -m bench.ted_quality [--data DIR] [--json out.json] [--verbose] [--no-baseline]

For each notice in `documents/ted/*.xml` the gold fields are read from the XML structure
(the notice's original-language form), and the predictions come from khub's text pipeline:
`parse_file` (unstructured's XML partitioning) → `document_text` → `extract_facts` (type
detection, then the `tender_notice` parse rule). The extractors never see the XML tags.

Fields and how a prediction counts as right:

- buyer: `OFFICIALNAME` of the contracting body; right when its normalised name
  (`ingest.resolve.normalise_name`, organisation) matches the name in the original form or in
  any translation of the notice with a rapidfuzz token-sort ratio ≥ 0.85;
- value: the contract's `VAL_ESTIMATED_TOTAL` (else `VAL_TOTAL`) under `OBJECT_CONTRACT`;
  right when the amount is within 1% and the currency is equal;
- cpv: `CPV_MAIN` code; right when the first predicted code equals its 8 digits;
- deadline: `DT_DATE_FOR_SUBMISSION`; right on the same day (the time is reported apart);
- publication_date: `DATE_PUB` (strict); the lenient variant also accepts `DS_DATE_DISPATCH`;
- evaluation_weights: the weightings of the first award-criteria block; right when the sorted
  weight fractions agree within 0.005.

Per field: precision = right / predicted (over notices that have the gold field), recall =
right / notices with the gold field, F1, and "spurious" = predictions on notices without one.
A trivial baseline runs in the same invocation: the first organisation mention (khub's
`Extractor`, in the first 20,000 characters), the first amount with a currency, the first
8-digit number and the first full date (`ingest.nlp.quantities`).

The text is what `ingest.parse` makes of the XML: one `TAG attr="value": text` paragraph per
element, so element names and attributes (CPV codes, currencies) reach the rule as labels.

The data folder is `../shared/data` next to the repository, or `$KHUB_SHARED_DATA`. The
notices come from OP-TED/ted-xml-data-converter (EUPL-1.2; TED data is free to reuse).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from bench.data import shared_data_dir
from ingest.chunk import document_text
from ingest.doc_rules import DocFacts, detect_type, extract_facts
from ingest.nlp.quantities import find_dates, find_money
from ingest.parse import parse_file
from ingest.resolve import normalise_name

FIELDS = ("buyer", "value", "cpv", "deadline", "publication_date", "publication_date_lenient", "evaluation_weights")
NAME_THRESHOLD = 0.85
VALUE_TOLERANCE = 0.01
WEIGHT_TOLERANCE = 0.005


def ted_dir(data: Path | None = None) -> Path:
    """The folder of TED XML notices."""
    return (data or shared_data_dir()) / "documents" / "ted"


# ----------------------------------------------------------------------------- gold (XML structure)


@dataclass
class Gold:
    """The fields of one notice as its XML states them (None when the notice has none)."""

    buyer: str | None = None
    buyer_variants: list[str] = field(default_factory=list)
    value: tuple[float, str] | None = None
    cpv: str | None = None
    deadline: str | None = None  # YYYY-MM-DD
    deadline_time: str | None = None  # HH:MM
    publication_date: str | None = None
    dispatch_date: str | None = None
    evaluation_weights: list[float] | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _text(node: ET.Element | None) -> str | None:
    if node is None:
        return None
    text = " ".join("".join(node.itertext()).split())
    return text or None


def _compact_date(raw: str | None) -> tuple[str | None, str | None]:
    """'20210318 12:00' → ('2021-03-18', '12:00')."""
    if not raw:
        return None, None
    m = re.match(r"(\d{4})(\d{2})(\d{2})(?:\s+(\d{1,2}):(\d{2}))?", raw.strip())
    if not m:
        return None, None
    day = f"{m[1]}-{m[2]}-{m[3]}"
    return day, f"{int(m[4]):02d}:{m[5]}" if m[4] else None


def _number(raw: str | None) -> float | None:
    m = re.search(r"\d+(?:[.,]\d+)?", raw or "")
    return float(m.group(0).replace(",", ".")) if m else None


def read_gold(path: Path) -> Gold:
    """The gold fields of one TED XML notice."""
    root = ET.parse(path).getroot()
    gold = Gold()
    coded = _child(root, "CODED_DATA_SECTION")
    gold.publication_date, _ = _compact_date(_text(_child(coded, "REF_OJS", "DATE_PUB")))
    gold.dispatch_date, _ = _compact_date(_text(_child(coded, "CODIF_DATA", "DS_DATE_DISPATCH")))
    gold.deadline, gold.deadline_time = _compact_date(_text(_child(coded, "CODIF_DATA", "DT_DATE_FOR_SUBMISSION")))
    lg_orig = (_text(_child(coded, "NOTICE_DATA", "LG_ORIG")) or "").upper()
    forms = list(_child(root, "FORM_SECTION") or [])
    originals = [f for f in forms if f.get("CATEGORY") == "ORIGINAL"] or forms
    form = next((f for f in originals if (f.get("LG") or "").upper() == lg_orig), originals[0] if originals else None)
    for f in [form, *forms]:
        name = _text(_child(f, "CONTRACTING_BODY", "ADDRESS_CONTRACTING_BODY", "OFFICIALNAME"))
        if name and name not in gold.buyer_variants:
            gold.buyer_variants.append(name)
    gold.buyer = gold.buyer_variants[0] if gold.buyer_variants else None
    obj = _child(form, "OBJECT_CONTRACT")
    for tag in ("VAL_ESTIMATED_TOTAL", "VAL_TOTAL"):
        node = _child(obj, tag)
        amount = _number(_text(node))
        if node is not None and amount is not None:
            gold.value = (amount, (node.get("CURRENCY") or "").upper())
            break
    cpv = _child(obj, "CPV_MAIN", "CPV_CODE")
    gold.cpv = cpv.get("CODE") if cpv is not None else None
    if form is not None:
        for ac in form.iter():
            if _local(ac.tag) != "AC":
                continue
            weights = [_number(_text(w)) for w in ac.iter() if _local(w.tag) == "AC_WEIGHTING"]
            weights = [w for w in weights if w is not None]
            if len(weights) >= 2 and sum(weights) > 0:
                total = 100.0 if abs(sum(weights) - 100) < 0.5 else sum(weights)
                gold.evaluation_weights = sorted(round(w / total, 4) for w in weights)
                break
    return gold


# ----------------------------------------------------------------------------- predictions


def notice_text(path: Path) -> str:
    """The text khub's pipeline makes of a file (what parse rules run on)."""
    return document_text(parse_file(path).elements)


def predict(text: str) -> tuple[str | None, dict[str, Any]]:
    """(detected type, predicted fields) from the text pipeline's parse rules."""
    doc_type = detect_type(text)
    facts: DocFacts | None = extract_facts(text, doc_type) if doc_type == "tender_notice" else None
    if facts is None:
        return doc_type, {}
    day = facts.first("deadline")
    weights = facts.first("evaluation_weights")
    return doc_type, {
        "buyer": facts.first("buyer"),
        "value": facts.first("budget"),
        "cpv": facts.first("cpv_codes"),
        "deadline": day,
        "publication_date": facts.first("publication_date"),
        "evaluation_weights": sorted(weights.values()) if isinstance(weights, dict) else None,
    }


_EIGHT_DIGITS = re.compile(r"(?<!\d)\d{8}(?!\d)")


def baseline(text: str, extractor: Any) -> dict[str, Any]:
    """The trivial baseline: first organisation mention, first money, first 8-digit number, first date."""
    orgs = [m for m in extractor.extract(text[:20000]).mentions if m.label == "Account"]
    money = find_money(text)
    dates = [q for q in find_dates(text) if isinstance(q.value, str) and len(q.value) == 10]
    cpv = _EIGHT_DIGITS.search(text)
    first_date = dates[0].value if dates else None
    return {
        "buyer": orgs[0].text if orgs else None,
        "value": money[0].value if money else None,
        "cpv": cpv.group(0) if cpv else None,
        "deadline": first_date,
        "publication_date": first_date,
        "evaluation_weights": None,
    }


# ----------------------------------------------------------------------------- comparison


def same_name(predicted: Any, variants: Iterable[str]) -> bool:
    """Normalised organisation names agree (token-sort ratio ≥ NAME_THRESHOLD) with any variant."""
    if not isinstance(predicted, str):
        return False
    left = normalise_name(predicted, "organisation")
    return any(left and fuzz.token_sort_ratio(left, normalise_name(v, "organisation")) / 100 >= NAME_THRESHOLD for v in variants)


def same_value(predicted: Any, gold: tuple[float, str]) -> bool:
    """Amounts within VALUE_TOLERANCE (relative), same currency."""
    if not (isinstance(predicted, tuple | list) and len(predicted) == 2):
        return False
    amount, currency = predicted
    return abs(float(amount) - gold[0]) <= VALUE_TOLERANCE * max(gold[0], 1.0) and (currency or "").upper() == gold[1]


def same_day(predicted: Any, gold: str) -> bool:
    """The predicted date or date-time falls on the gold day."""
    return isinstance(predicted, str) and predicted[:10] == gold


def same_weights(predicted: Any, gold: list[float]) -> bool:
    """Sorted weight fractions agree within WEIGHT_TOLERANCE."""
    return isinstance(predicted, list) and len(predicted) == len(gold) and all(abs(a - b) <= WEIGHT_TOLERANCE for a, b in zip(predicted, gold, strict=True))


def _checks(gold: Gold) -> dict[str, tuple[Any, Callable[[Any], bool]] | None]:
    """Per field: (gold value, judge of a prediction), or None when the notice has no gold."""
    pub = gold.publication_date
    lenient = [d for d in (gold.publication_date, gold.dispatch_date) if d]
    return {
        "buyer": (gold.buyer, lambda p: same_name(p, gold.buyer_variants)) if gold.buyer else None,
        "value": (gold.value, lambda p: same_value(p, gold.value)) if gold.value else None,
        "cpv": (gold.cpv, lambda p: p == gold.cpv) if gold.cpv else None,
        "deadline": (gold.deadline, lambda p: same_day(p, gold.deadline)) if gold.deadline else None,
        "publication_date": (pub, lambda p: same_day(p, pub)) if pub else None,
        "publication_date_lenient": (lenient, lambda p: any(same_day(p, d) for d in lenient)) if lenient else None,
        "evaluation_weights": (gold.evaluation_weights, lambda p: same_weights(p, gold.evaluation_weights)) if gold.evaluation_weights else None,
    }


@dataclass
class Tally:
    """Counts for one field and method."""

    gold: int = 0
    predicted: int = 0
    right: int = 0
    spurious: int = 0

    def scores(self) -> dict[str, float | int]:
        """Precision, recall, F1 and the counts."""
        precision = self.right / self.predicted if self.predicted else 0.0
        recall = self.right / self.gold if self.gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "gold": self.gold,
            "predicted": self.predicted,
            "right": self.right,
            "spurious": self.spurious,
        }


def _score(tallies: dict[str, Tally], gold: Gold, predicted: dict[str, Any]) -> dict[str, bool | None]:
    outcome: dict[str, bool | None] = {}
    for name, check in _checks(gold).items():
        value = predicted.get("publication_date" if name == "publication_date_lenient" else name)
        tally = tallies[name]
        if check is None:
            tally.spurious += value is not None
            outcome[name] = None
            continue
        tally.gold += 1
        ok = value is not None and check[1](value)
        tally.predicted += value is not None
        tally.right += ok
        outcome[name] = ok
    return outcome


# ----------------------------------------------------------------------------- run


def run(data: Path | None = None, verbose: bool = False, with_baseline: bool = True, text_of: Callable[[Path], str] = notice_text) -> dict[str, Any]:
    """Score the parse rule (and the baseline) on every TED notice; returns the figures.
    `text_of` makes a notice's text (default: khub's parsing pipeline)."""
    folder = ted_dir(data)
    paths = sorted(folder.glob("*.xml"))
    if not paths:
        raise FileNotFoundError(f"no TED XML notices under {folder}")
    extractor = None
    if with_baseline:
        from ingest.nlp.extract import Extractor

        extractor = Extractor()
    rule = {name: Tally() for name in FIELDS}
    base = {name: Tally() for name in FIELDS}
    detected = 0
    deadline_times = [0, 0]  # right time, gold deadlines found on the right day with a gold time
    notices = []
    started = time.perf_counter()
    parse_seconds = 0.0
    for path in paths:
        gold = read_gold(path)
        t0 = time.perf_counter()
        text = text_of(path)
        parse_seconds += time.perf_counter() - t0
        doc_type, predicted = predict(text)
        detected += doc_type == "tender_notice"
        outcome = _score(rule, gold, predicted)
        if outcome.get("deadline") and gold.deadline_time:
            deadline_times[1] += 1
            deadline_times[0] += predicted["deadline"][11:16] == gold.deadline_time
        if extractor is not None:
            _score(base, gold, baseline(text, extractor))
        notices.append({"file": path.name, "type": doc_type, "gold": gold.__dict__, "predicted": predicted, "right": outcome})
        if verbose:
            marks = " ".join(f"{k}={'+' if v else '-' if v is False else '.'}" for k, v in outcome.items())
            print(f"{path.name}  {doc_type}  {marks}", file=sys.stderr)
            for k, v in outcome.items():
                if v is False:
                    print(f"    {k}: predicted {predicted.get(k.replace('_lenient', ''))!r} gold {_checks(gold)[k][0]!r}", file=sys.stderr)  # type: ignore[index]
    return {
        "notices": len(paths),
        "detected_as_tender_notice": detected,
        "rule": {name: t.scores() for name, t in rule.items()},
        "baseline": {name: t.scores() for name, t in base.items()} if extractor is not None else None,
        "deadline_time_right": {"right": deadline_times[0], "of": deadline_times[1]},
        "seconds": round(time.perf_counter() - started, 1),
        "parse_seconds": round(parse_seconds, 1),
        "per_notice": notices,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default: $KHUB_SHARED_DATA or ../shared/data)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and per-notice results) as JSON")
    parser.add_argument("--verbose", action="store_true", help="print each notice's outcome and misses to stderr")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline (it runs the NER models)")
    args = parser.parse_args(argv)
    folder = ted_dir(args.data)
    if not folder.is_dir():
        print(f"no TED notices under {folder} (set KHUB_SHARED_DATA)", file=sys.stderr)
        return 2
    results = run(args.data, verbose=args.verbose, with_baseline=not args.no_baseline, text_of=notice_text)
    source = "khub's parsing pipeline"
    print(f"{results['notices']} TED notices, text from {source}; detected as tender_notice: {results['detected_as_tender_notice']}")
    print(f"{'field':<26}{'method':<10}{'gold':>6}{'pred':>6}{'right':>7}{'precision':>11}{'recall':>8}{'F1':>8}{'spurious':>10}")
    for name in FIELDS:
        for method in ("rule", "baseline"):
            scores = results[method][name] if results.get(method) else None
            if scores is None:
                continue
            print(
                f"{name:<26}{method:<10}{scores['gold']:>6}{scores['predicted']:>6}{scores['right']:>7}{scores['precision']:>11.4f}"
                f"{scores['recall']:>8.4f}{scores['f1']:>8.4f}{scores['spurious']:>10}"
            )
    times = results["deadline_time_right"]
    print(f"deadline clock time right: {times['right']} of {times['of']} deadlines found on the right day")
    print(f"{results['seconds']} s ({results['parse_seconds']} s parsing)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
