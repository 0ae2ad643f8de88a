"""Tokens for full-text search in English and Chinese, identical on both stores.

Each full-text property `p` gets a hidden copy `p__ft` holding lower-cased tokens separated by
spaces: Chinese runs are cut by jieba in search mode (so 招标文件 also yields 招标 and 文件),
other text is split on non-word characters. Both stores index that copy with a plain
whitespace tokenizer and no stemming, and queries are tokenised the same way, so a term
matches exactly the same documents on Neo4j and FalkorDB.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

SHADOW_SUFFIX = "__ft"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def shadow_name(prop: str) -> str:
    """The name of the hidden token copy of full-text property `prop`."""
    return prop + SHADOW_SUFFIX


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _tokens(text: str, search_mode: bool) -> list[str]:
    out: list[str] = []
    pos = 0
    for m in _CJK.finditer(text):
        out.extend(w.lower() for w in _WORD.findall(text[pos : m.start()]))
        jieba = _jieba()
        words = jieba.cut_for_search(m.group()) if search_mode else jieba.cut(m.group())
        out.extend(w for w in words if w.strip())
        pos = m.end()
    out.extend(w.lower() for w in _WORD.findall(text[pos:]))
    return out


def index_tokens(text: str) -> str:
    """The token copy stored for `text` (fine and coarse Chinese words, lower-cased words)."""
    seen: dict[str, None] = {}
    for token in _tokens(text, search_mode=True):
        seen.setdefault(token, None)
    return " ".join(seen)


def query_tokens(query: str) -> list[str]:
    """The tokens of a search query; a document matches when it has all of them."""
    seen: dict[str, None] = {}
    for token in _tokens(query, search_mode=False):
        seen.setdefault(token, None)
    return list(seen)
