"""Contract extraction quality on CUAD: parties, agreement date, governing law.

    python -m bench.cuad_quality [--json out.json] [--limit N]

Gold comes from CUAD's `master_clauses_dev.csv` (Parties-Answer, Agreement Date-Answer,
Governing Law-Answer); predictions from khub's contract parse rule on each contract's text.
A trivial baseline runs in the same pass: the first two organisations spaCy finds, the first
date, and the first "laws of X".
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from bench.data import shared_data_dir
from ingest.doc_rules import default_rules
from ingest.parse import decode_text
from ingest.resolve import normalise_name


@dataclass
class Contract:
    """One contract with its gold answers."""

    name: str
    text: str
    parties: list[str]
    party_spans: list[str]
    agreement_date: str | None
    governing_law: str | None


_ROLE_WORDS = {
    "agent",
    "franchisee",
    "franchisor",
    "supplier",
    "company",
    "consultant",
    "purchaser",
    "merchant",
    "sales",
    "distributor",
    "licensee",
    "licensor",
    "customer",
    "client",
    "party",
    "parties",
    "vendor",
    "contractor",
    "provider",
    "and",
    "the",
    "a",
    "an",
}


def _gold_parties(answer: str) -> list[str]:
    """Party names of a CUAD answer. Entries that are only role words ("Agent", "Company and
    Consultant") or pairs of short names ("Miltenyi and Bellicum") are defined terms, not names."""
    names = []
    for part in answer.split(";"):
        name = re.sub(r"\([^)]*\)|[\"“”].*?[\"“”]", " ", part)
        name = " ".join(name.replace("(", " ").replace(")", " ").split()).strip(" ,.;")
        words = re.findall(r"[A-Za-z]+", name.lower())
        alias_pair = " and " in name and all(len(side.split()) <= 2 for side in name.split(" and "))
        if words and (all(w in _ROLE_WORDS for w in words) or alias_pair):
            continue
        if sum(ch.isalpha() for ch in name) >= 2 and not re.match(r"^(?:individually|collectively|each|the parties|party)\b", name, re.IGNORECASE):
            names.append(name)
    return names


def _gold_date(answer: str) -> str | None:
    m = re.match(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2,4})\s*$", answer or "")
    if not m:
        return None
    month, day, year = int(m[1]), int(m[2]), int(m[3])
    year = year + (2000 if year < 50 else 1900) if year < 100 else year
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def load_cuad(root: Path | None = None, limit: int | None = None) -> list[Contract]:
    """The CUAD contracts that have a gold row, with their texts."""
    folder = (root or shared_data_dir()) / "documents" / "cuad"
    rows = {r["Filename"].rsplit(".", 1)[0]: r for r in csv.DictReader((folder / "master_clauses_dev.csv").open(encoding="utf-8"))}
    contracts = []
    for path in sorted((folder / "contracts").glob("*.txt")):
        row = rows.get(path.stem)
        if row is None:
            continue
        try:
            spans = [s for s in json.loads(row["Parties"].replace("'", '"'))] if row["Parties"].startswith("[") else []
        except json.JSONDecodeError:
            spans = re.findall(r"'([^']+)'", row["Parties"])
        contracts.append(
            Contract(
                path.name,
                decode_text(path.read_bytes(), str(path)),
                _gold_parties(row["Parties-Answer"]),
                spans,
                _gold_date(row["Agreement Date-Answer"]),
                (row["Governing Law-Answer"] or "").strip() or None,
            )
        )
        if limit and len(contracts) >= limit:
            break
    return contracts


def same_party(a: str, b: str) -> bool:
    """Two party names denote the same party (normalised, fuzzy)."""
    na, nb = normalise_name(a, "organisation"), normalise_name(b, "organisation")
    if not na or not nb:
        return False
    return na == nb or fuzz.token_set_ratio(na, nb) >= 85 or (len(min(na, nb, key=len)) >= 4 and min(na, nb, key=len) in max(na, nb, key=len))


def same_place(gold: str, predicted: str | None) -> bool:
    """The predicted jurisdiction names the gold one (e.g. "State of New York" ~ "New York")."""
    if not predicted:
        return False
    g, p = gold.lower(), predicted.lower()
    return g in p or p in g or fuzz.token_set_ratio(g, p) >= 90


@dataclass
class Scores:
    """Counts behind the figures."""

    gold_parties: int = 0
    found_parties: int = 0
    predicted_parties: int = 0
    correct_predicted: int = 0
    dates: int = 0
    dates_right: int = 0
    laws: int = 0
    laws_right: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """Recall/precision/accuracy figures."""

        def ratio(a: int, b: int) -> float:
            return round(a / b, 4) if b else 0.0

        return {
            "party_recall": ratio(self.found_parties, self.gold_parties),
            "party_precision": ratio(self.correct_predicted, self.predicted_parties),
            "agreement_date_accuracy": ratio(self.dates_right, self.dates),
            "governing_law_accuracy": ratio(self.laws_right, self.laws),
        }


def _score(contract: Contract, parties: list[str], agreement_date: str | None, law: str | None, scores: Scores) -> None:
    scores.gold_parties += len(contract.parties)
    hits = [g for g in contract.parties if any(same_party(g, p) for p in parties)]
    scores.found_parties += len(hits)
    scores.predicted_parties += len(parties)
    scores.correct_predicted += sum(1 for p in parties if any(same_party(p, g) for g in contract.parties + contract.party_spans))
    if contract.agreement_date:
        scores.dates += 1
        scores.dates_right += agreement_date == contract.agreement_date
    if contract.governing_law:
        scores.laws += 1
        scores.laws_right += same_place(contract.governing_law, law)
    if len(hits) < len(contract.parties):
        scores.misses.append({"contract": contract.name, "gold": contract.parties, "predicted": parties})


def evaluate(contracts: list[Contract]) -> dict[str, Any]:
    """Figures for khub's contract rule and the baseline on `contracts`."""
    from ingest.nlp.extract import Extractor
    from ingest.nlp.quantities import find_dates

    rule = default_rules()["contract"]
    ours, base = Scores(), Scores()
    extractor = Extractor()
    started = time.perf_counter()
    for contract in contracts:
        facts = rule.apply(contract.text)
        names = [v.value["name"] for v in facts.fields.get("parties", [])]
        _score(contract, names, facts.first("agreement_date"), facts.first("governing_law"), ours)
    elapsed = time.perf_counter() - started
    for contract in contracts:
        head = contract.text[:3000]
        orgs = [m.text for m in extractor.extract(head, "en").mentions if m.label == "Account"][:2]
        dates = [q.value for q in find_dates(head) if len(q.value) == 10]
        law = re.search(r"laws\s+of\s+(?:the\s+)?(?:State\s+of\s+)?([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)", contract.text)
        _score(contract, orgs, dates[0] if dates else None, law.group(1) if law else None, base)
    return {"contracts": len(contracts), "khub": ours.figures(), "baseline": base.figures(), "seconds": round(elapsed, 2), "party_misses": ours.misses}


def main(argv: list[str] | None = None) -> int:
    """Print the figures (and write JSON when asked)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args(argv)
    if not (shared_data_dir() / "documents" / "cuad").exists():
        print(f"CUAD not found under {shared_data_dir()} (set KHUB_SHARED_DATA)", file=sys.stderr)
        return 2
    result = evaluate(load_cuad(limit=args.limit))
    print(f"CUAD contracts: {result['contracts']}  (rule ran in {result['seconds']} s)")
    print(f"{'figure':28} {'khub':>8} {'baseline':>9}  target")
    targets = {"party_recall": "≥ 0.85"}
    for key, value in result["khub"].items():
        print(f"{key:28} {value:8.4f} {result['baseline'][key]:9.4f}  {targets.get(key, '')}")
    if args.show_misses:
        for miss in result["party_misses"]:
            print(" miss:", miss["contract"][:60], "| gold:", miss["gold"], "| got:", miss["predicted"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
