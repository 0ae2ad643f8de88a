"""Entity-resolution quality on standard record-linkage benchmarks.

    python -m bench.er_quality [--data DIR] [--threshold P] [--json out.json] [--dev]

Prints pairwise precision / recall / F1 and runtime for

- Febrl 4 (dataset4a vs dataset4b, 5,000 + 5,000 synthetic person records, 5,000 true links):
  `ingest.resolve.link(..., one_to_one=True)`;
- dedupe_chicago (3,337 early-childhood site records, 1,162 true clusters): `cluster(...)`,
  scored on within-cluster pairs;

(with `--dev`, also the deduplication of Febrl datasets 1-3, the development sets) and, in
the same run, a trivial baseline: records are the same entity when their normalised
names are equal (Febrl: given name + surname; Chicago: site name).

The data folder is `../shared/data` relative to the repository root, or `$KHUB_SHARED_DATA`.
The benchmark maps each dataset's columns to generic field kinds (below); the resolver itself
knows no column names. No labels are used to fit anything: the model is fitted by EM on the
records being resolved.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.data import shared_data_dir
from ingest.resolve import FieldSpec, cluster, link, normalise_name

# Column → field kind maps: the only dataset-specific knowledge, and it lives here.
FEBRL_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("given_name", "name", entity="person"),
    FieldSpec("surname", "name", entity="person"),
    FieldSpec("street_number", "number"),
    FieldSpec("address_1", "address"),
    FieldSpec("address_2", "text"),
    FieldSpec("suburb", "text"),
    FieldSpec("postcode", "postcode"),
    FieldSpec("state", "category"),
    FieldSpec("date_of_birth", "date"),
    FieldSpec("soc_sec_id", "key"),
)
CHICAGO_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("site_name", "name", entity="organisation", column="Site name"),
    FieldSpec("address", "address", column="Address"),
    FieldSpec("zip", "postcode", column="Zip"),
    FieldSpec("phone", "phone", column="Phone"),
    FieldSpec("website", "domain", column="Website"),
    FieldSpec("email", "email", column="Email Address"),
)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh, skipinitialspace=True)
        rows = []
        for row in reader:
            rows.append({(k or "").strip(): (v or "").strip() or None for k, v in row.items()})  # type: ignore[misc]
        return rows


def load_febrl4(data: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[int, int]]]:
    """Febrl 4a and 4b records and the true links (index in 4a, index in 4b)."""
    a = _read_csv(data / "er" / "febrl" / "dataset4a.csv")
    b = _read_csv(data / "er" / "febrl" / "dataset4b.csv")
    entity = re.compile(r"rec-(\d+)-")
    by_entity: dict[str, list[int]] = defaultdict(list)
    for j, row in enumerate(b):
        by_entity[entity.match(str(row["rec_id"])).group(1)].append(j)  # type: ignore[union-attr]
    truth = {(i, j) for i, row in enumerate(a) for j in by_entity.get(entity.match(str(row["rec_id"])).group(1), [])}  # type: ignore[union-attr]
    return a, b, truth


def load_chicago(data: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """dedupe_chicago records and their true cluster ids."""
    rows = _read_csv(data / "er" / "dedupe_chicago" / "csv_example_input_with_true_ids.csv")
    return rows, [str(r["True Id"]) for r in rows]


def prf(predicted: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict[str, float]:
    """Pairwise precision, recall, F1."""
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 0.0
    r = tp / len(truth) if truth else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "predicted": len(predicted), "true": len(truth)}


def cluster_pairs(clusters: Iterable[Sequence[int]]) -> set[tuple[int, int]]:
    """All within-cluster pairs (i < j)."""
    return {(min(a, b), max(a, b)) for c in clusters for a, b in itertools.combinations(c, 2)}


def labels_to_clusters(labels: Sequence[str]) -> list[list[int]]:
    """Cluster ids to lists of indices."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    return list(groups.values())


def _baseline_key(record: Mapping[str, Any], fields: Sequence[FieldSpec]) -> str:
    return " ".join(normalise_name(record.get(f.key), f.entity) for f in fields if f.kind == "name")


def run_febrl4(data: Path, threshold: float | None = None) -> dict[str, Any]:
    """Link Febrl 4a to 4b one-to-one; the baseline links equal normalised given name + surname."""
    a, b, truth = load_febrl4(data)
    t0, c0 = time.perf_counter(), time.process_time()
    links = link(a, b, FEBRL_FIELDS, threshold=threshold, one_to_one=True)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    result = {"resolver": {**prf({(i, j) for i, j, _ in links}, truth), "seconds": seconds, "cpu_seconds": cpu}}
    t0 = time.perf_counter()
    index: dict[str, list[int]] = defaultdict(list)
    for j, row in enumerate(b):
        key = _baseline_key(row, FEBRL_FIELDS)
        if key.strip():
            index[key].append(j)
    base = {(i, j) for i, row in enumerate(a) for j in index.get(_baseline_key(row, FEBRL_FIELDS), [])}
    result["baseline"] = {**prf(base, truth), "seconds": time.perf_counter() - t0}
    return result


def run_febrl_dedup(data: Path, name: str, threshold: float | None = None) -> dict[str, Any]:
    """Deduplicate one of Febrl datasets 1–3 (`--dev`; used while developing, see docs/quality.md)."""
    rows = _read_csv(data / "er" / "febrl" / f"{name}.csv")
    entity = re.compile(r"rec-(\d+)-")
    truth = cluster_pairs(labels_to_clusters([entity.match(str(r["rec_id"])).group(1) for r in rows]))  # type: ignore[union-attr]
    t0, c0 = time.perf_counter(), time.process_time()
    clusters = cluster(rows, FEBRL_FIELDS, threshold=threshold)
    result = {"resolver": {**prf(cluster_pairs(clusters), truth), "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}}
    keys = [_baseline_key(r, FEBRL_FIELDS) for r in rows]
    base = labels_to_clusters([k if k.strip() else f"#{i}" for i, k in enumerate(keys)])
    result["baseline"] = {**prf(cluster_pairs(base), truth), "seconds": 0.0}
    return result


def run_chicago(data: Path, threshold: float | None = None) -> dict[str, Any]:
    """Deduplicate dedupe_chicago; the baseline clusters equal normalised site names."""
    rows, labels = load_chicago(data)
    truth = cluster_pairs(labels_to_clusters(labels))
    t0, c0 = time.perf_counter(), time.process_time()
    clusters = cluster(rows, CHICAGO_FIELDS, threshold=threshold)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    result = {"resolver": {**prf(cluster_pairs(clusters), truth), "seconds": seconds, "cpu_seconds": cpu, "clusters": len(clusters)}}
    t0 = time.perf_counter()
    keys = [_baseline_key(r, CHICAGO_FIELDS) for r in rows]
    base = labels_to_clusters([k if k.strip() else f"#{i}" for i, k in enumerate(keys)])
    result["baseline"] = {**prf(cluster_pairs(base), truth), "seconds": time.perf_counter() - t0, "clusters": len(base)}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run both benchmarks and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default: $KHUB_SHARED_DATA or ../shared/data)")
    parser.add_argument("--threshold", type=float, default=None, help="match probability threshold (default: the resolver's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument("--dev", action="store_true", help="also deduplicate Febrl datasets 1-3 (development sets)")
    args = parser.parse_args(argv)
    data = args.data or shared_data_dir()
    if not (data / "er").is_dir():
        print(f"no benchmark data under {data}/er (set KHUB_SHARED_DATA)", file=sys.stderr)
        return 2
    results = {"febrl4": run_febrl4(data, args.threshold), "dedupe_chicago": run_chicago(data, args.threshold)}
    targets = {"febrl4": 0.95, "dedupe_chicago": 0.90}
    if args.dev:
        for name in ("dataset1", "dataset2", "dataset3"):
            results[f"febrl_{name}"] = run_febrl_dedup(data, name, args.threshold)
    print(f"{'dataset':<16}{'method':<10}{'precision':>10}{'recall':>10}{'F1':>8}{'seconds':>9}{'cpu s':>8}  target")
    for name, res in results.items():
        for method in ("resolver", "baseline"):
            r = res[method]
            target = targets.get(name)
            mark = ("ok" if r["f1"] >= target else "MISS") + f" (F1 ≥ {target})" if method == "resolver" and target else ""
            cpu = f"{r['cpu_seconds']:.2f}" if "cpu_seconds" in r else "-"
            print(f"{name:<16}{method:<10}{r['precision']:>10.4f}{r['recall']:>10.4f}{r['f1']:>8.4f}{r['seconds']:>9.2f}{cpu:>8}  {mark}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
