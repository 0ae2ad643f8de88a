"""The message-intent classifier on small real subsets of BANKING77 and CLINC150, with the real MiniLM embedder.

The shared intent data (`../shared/data/intent`, or `$KHUB_INTENT_DATA`) must be there: without
it these tests fail, they do not skip.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from ingest.embed import Embedder, load_embedder
from ontology.errors import BadInput
from reasoning.classifier import EmbedderMismatch, IntentClassifier, IntentModelError
from reasoning.classifier_eval import default_data_dir, evaluate_dataset, load_labelled, train_from_file

INTENTS = (
    "card_arrival",
    "exchange_rate",
    "lost_or_stolen_card",
    "pin_blocked",
    "top_up_failed",
    "apple_pay_or_google_pay",
    "terminate_account",
    "age_limit",
)
TRAIN_PER_INTENT = 12
TEST_PER_INTENT = 5


@pytest.fixture(scope="module")
def data_dir() -> Path:
    directory = default_data_dir()
    missing = [p for p in ("banking77/train.csv", "clinc150/train_val.json") if not (directory / p).is_file()]
    if missing:
        pytest.fail(f"the shared intent data is missing: {', '.join(str(directory / p) for p in missing)} (set KHUB_INTENT_DATA to its directory)")
    return directory


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return load_embedder("minilm", tmp_path_factory.mktemp("embeddings") / "cache.sqlite")


@pytest.fixture(scope="module")
def banking(data_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """The first 12 (train) and next 5 (test) BANKING77 examples of 8 intents."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with (data_dir / "banking77" / "train.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["category"] in INTENTS:
                by_intent[row["category"]].append(row["text"])
    train = [(t, i) for i in INTENTS for t in by_intent[i][:TRAIN_PER_INTENT]]
    test = [(t, i) for i in INTENTS for t in by_intent[i][TRAIN_PER_INTENT : TRAIN_PER_INTENT + TEST_PER_INTENT]]
    return {"train": train, "test": test}


@pytest.fixture(scope="module")
def clinc_oos(data_dir: Path) -> dict[str, list[str]]:
    """Out-of-scope CLINC150 texts: 40 to calibrate with, 20 held out."""
    data = json.loads((data_dir / "clinc150" / "train_val.json").read_text(encoding="utf-8"))
    return {"train": [t for t, _ in data["oos_train"][:40]], "test": [t for t, _ in data["oos_val"][:20]]}


@pytest.fixture(scope="module")
def trained(embedder: Embedder, banking, clinc_oos) -> IntentClassifier:
    texts, labels = zip(*banking["train"], strict=True)
    return IntentClassifier(embedder).fit(list(texts), list(labels), out_of_scope=clinc_oos["train"])


def test_held_out_examples_get_their_intent(trained: IntentClassifier, banking):
    texts, gold = zip(*banking["test"], strict=True)
    predictions = trained.predict(list(texts))
    accepted_right = sum(p.label == g for p, g in zip(predictions, gold, strict=True))
    best_right = sum(p.alternatives[0][0] == g for p, g in zip(predictions, gold, strict=True))
    assert best_right / len(gold) >= 0.85, [(t, p.alternatives[0]) for t, p in zip(texts, predictions, strict=True)]
    assert accepted_right / len(gold) >= 0.75  # a few may be rejected as out of scope, not many
    assert sorted(trained.labels) == sorted(INTENTS)
    cal = trained.info["calibration"]
    assert cal["folds"] == 5 and 0 < trained.threshold < 1 and trained.chosen_l2 in (1e-3, 1e-4, 1e-5, 1e-6)
    assert all(p.alternatives == tuple(sorted(p.alternatives, key=lambda a: -a[1])) for p in predictions)


def test_out_of_scope_texts_are_rejected(trained: IntentClassifier, clinc_oos):
    predictions = trained.predict(clinc_oos["test"] + ["", "   "])
    rejected = [p for p in predictions if p.out_of_scope]
    assert len(rejected) >= 0.7 * len(predictions), [(t, p.score) for t, p in zip(clinc_oos["test"], predictions, strict=False)]
    assert predictions[-1].out_of_scope and predictions[-2].out_of_scope  # empty texts never get an intent
    assert trained.predict(clinc_oos["test"][:3], threshold=0.0)[0].label in INTENTS  # no rejection at threshold 0
    assert len(trained.info["calibration"]["trade_off"]) == 9


def test_a_recall_goal_sets_the_threshold(embedder: Embedder, banking, clinc_oos):
    texts, labels = zip(*banking["train"], strict=True)
    lenient = IntentClassifier(embedder, oos_recall_goal=0.5, l2=1e-4).fit(list(texts), list(labels), out_of_scope=clinc_oos["train"])
    strict = IntentClassifier(embedder, oos_recall_goal=1.0, l2=1e-4).fit(list(texts), list(labels), out_of_scope=clinc_oos["train"])
    assert lenient.info["calibration"]["out_of_scope_recall"] >= 0.5 and strict.info["calibration"]["out_of_scope_recall"] == 1.0
    assert lenient.threshold <= strict.threshold and "lowest threshold" in strict.info["calibration"]["method"]
    with pytest.raises(BadInput, match="oos_recall_goal"):
        IntentClassifier(embedder, oos_recall_goal=1.5)


def test_save_load_round_trip_and_embedder_mismatch(trained: IntentClassifier, embedder: Embedder, banking, tmp_path: Path):
    path = trained.save(tmp_path / "model")
    assert path.suffix == ".npz"
    loaded = IntentClassifier.load(path, embedder)
    texts = [t for t, _ in banking["test"]] + ["what is the weather on mars"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), trained.predict_proba(texts))
    assert loaded.predict(texts) == trained.predict(texts)
    assert loaded.threshold == trained.threshold and loaded.labels == trained.labels

    class Renamed:
        name, dim = "another-model", embedder.dim

        def embed(self, texts, kind="passage"):
            return embedder.embed(texts, kind)

    with pytest.raises(EmbedderMismatch, match="another-model") as caught:
        IntentClassifier.load(path, Renamed())
    assert str(path) in str(caught.value) and isinstance(caught.value, BadInput)


def test_corrupt_and_malformed_model_files_are_refused(trained: IntentClassifier, embedder: Embedder, tmp_path: Path):
    good = trained.save(tmp_path / "good.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a model at all" * 10)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    no_header = tmp_path / "no-header.npz"
    np.savez(no_header, weights=np.zeros((3, 3)))
    bad_header = tmp_path / "bad-header.npz"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad_header, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "header.npy":
                data = data.replace(b'"labels"', b'"lables"')
            target.writestr(item, data)
    for path in (garbage, truncated, no_header, bad_header, tmp_path / "absent.npz"):
        with pytest.raises(BadInput) as caught:
            IntentClassifier.load(path, embedder)
        assert str(path) in str(caught.value) and isinstance(caught.value, IntentModelError)
    with pytest.raises(IntentModelError, match="not trained"):
        IntentClassifier(embedder).predict(["hello"])


def test_labelled_files_and_train_from_file(embedder: Embedder, banking, clinc_oos, tmp_path: Path):
    csv_path = tmp_path / "examples.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows([i, t, label] for i, (t, label) in enumerate(banking["train"]))
        writer.writerows([100 + i, t, "oos"] for i, t in enumerate(clinc_oos["train"][:10]))
    data = load_labelled(csv_path)
    assert len(data) == len(banking["train"]) and len(data.out_of_scope) == 10 and data.counts()["age_limit"] == TRAIN_PER_INTENT

    jsonl = tmp_path / "examples.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "label": label}) for t, label in banking["train"][:20]), encoding="utf-8")
    assert load_labelled(jsonl).labels == [label for _, label in banking["train"][:20]]
    clinc_style = tmp_path / "clinc.json"
    clinc_style.write_text(json.dumps({"train": [[t, "x"] for t in "abc"] + [["d", "y"]], "oos_train": [["e", "oos"]], "val": []}), encoding="utf-8")
    assert load_labelled(clinc_style).out_of_scope == ["e"] and load_labelled(clinc_style).labels == ["x", "x", "x", "y"]

    report = train_from_file(csv_path, tmp_path / "trained", embedder)
    assert report.examples == len(banking["train"]) and report.intents == len(INTENTS) and report.out_of_scope_examples == 10
    assert "cross-validation" in report.format_report() and report.as_dict()["model_path"].endswith(".npz")
    model = IntentClassifier.load(Path(report.model_path), embedder)
    assert model.predict(["I lost my card, someone may have stolen it"], threshold=0.0)[0].label == "lost_or_stolen_card"


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("no-text.csv", "utterance_id,label\n1,a\n", "no-text.csv:1: no text column"),
        ("empty.csv", "", "empty.csv: the file is empty"),
        ("header-only.csv", "text,label\n", "header-only.csv: no labelled examples"),
        ("missing-label.csv", "text,label\nhello,a\nworld,\n", "missing-label.csv:3: no label"),
        ("latin1.csv", "text,label\nhello,a\ncaf\xe9,b\n".encode("latin-1"), "latin1.csv:3: not UTF-8"),
        ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", \n', "bad.jsonl:3: not JSON"),
        ("bad-item.json", '[{"text": "a", "label": "x"}, 42]', "bad-item.json: list item 2"),
        ("absent.csv", None, "absent.csv: no such file"),
    ],
)
def test_bad_labelled_files_name_the_file_and_row(tmp_path: Path, name: str, content: str | bytes | None, where: str):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        load_labelled(path)
    assert where in str(caught.value)


def test_evaluate_dataset_on_small_copies(embedder: Embedder, banking, clinc_oos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "banking77").mkdir()
    with (tmp_path / "banking77" / "train.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(banking["train"] + banking["test"])
    (tmp_path / "banking77" / "categories.json").write_text(json.dumps(list(INTENTS)), encoding="utf-8")
    few = evaluate_dataset("banking77", embedder, shots=4, folds=2, seeds=2, data_dir=tmp_path)
    assert len(few.runs) == 4 and all(r["train"] == 4 * len(INTENTS) for r in few.runs)
    assert few.summary()["accuracy"]["mean"] >= 0.7 and "macro-F1" in few.format_report()
    assert few.as_dict()["targets"] == []  # the targets are for 10 shots and full data

    (tmp_path / "clinc150").mkdir()
    train = [[t, i] for t, i in banking["train"]]
    val = [[t, i] for t, i in banking["test"]]
    oos = [[t, "oos"] for t in clinc_oos["train"]]
    oos_val = [[t, "oos"] for t in clinc_oos["test"]]
    (tmp_path / "clinc150" / "train_val.json").write_text(json.dumps({"train": train, "val": val, "oos_train": oos, "oos_val": oos_val}), encoding="utf-8")
    monkeypatch.setenv("KHUB_INTENT_DATA", str(tmp_path))
    clinc = evaluate_dataset("clinc150", embedder)
    run = clinc.runs[0]
    assert run["test"] == len(val) and run["oos_test"] == len(oos_val) and run["oos_recall"] >= 0.7 and run["in_scope_accuracy"] >= 0.7
    report = clinc.format_report()
    assert "out-of-scope recall" in report and "target in_scope_accuracy >= 0.95" in report
    assert {t["metric"] for t in clinc.as_dict()["targets"]} == {"in_scope_accuracy", "oos_recall"}

    with pytest.raises(BadInput, match="the banking77 data is missing"):
        evaluate_dataset("banking77", embedder, data_dir=tmp_path / "nowhere")
