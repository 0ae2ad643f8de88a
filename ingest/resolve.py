"""Entity resolution: decide whether two mentions or records denote the same real-world entity.

Two layers, one module, no graph imports (the pipeline fetches candidates and writes merges):

1. **Plain records** (`Mapping[str, Any]` plus a `FieldSpec` list naming each field's kind):
   `score(a, b, fields)` for one pair, `cluster(records, fields)` to deduplicate a batch,
   `link(left, right, fields)` to link two files. The model is Fellegi–Sunter: every field
   comparison falls into an agreement *level* (equal, close, loose, different; missing adds
   nothing), each level has an m-probability P(level | match) and a u-probability
   P(level | non-match), and a pair's score is the posterior match probability
   ``sigmoid(logit(prior) + Σ weight_f · log(m_f / u_f))``. Parameters are set without labels:
   u from the data at hand (value frequencies, random pairs), with term-frequency adjustment
   (agreeing on a rare value counts more); the prior by EM over the blocked candidate pairs;
   m from documented per-kind tables (`DEFAULT_LEVELS`: typo and missing-value rates are
   similar across datasets, value distributions are not; EM on m too is available but can lock
   onto a coarser entity). Name and text similarities weigh words by their rarity in the data
   (soft TF-IDF). Blocking uses several keys per record; clusters are connected components
   checked by average linkage, so one spurious edge does not chain two entities.
2. **Graph mentions**: `EntityCandidate` (a node or a mention: label, name, aliases, keys,
   context, model codes, optional embedding), `Resolver.resolve(mention, candidates)` returns
   a `Match` with a score and reasons in words, and `candidate_keys(mention)` gives the blocking
   keys a store can use to fetch candidates. Rules: a key match wins (email, phone, web domain,
   tax id, device serial), a conflicting strong key (tax id, serial) blocks, otherwise the
   normalised name similarity (with model codes for products and devices, context agreement
   and an optional embedding cosine) must pass the label's threshold (`LABEL_THRESHOLDS`).

Normalisation (`normalise_name` & co.) is shared by both layers: NFKC, case folding,
traditional → simplified Chinese (OpenCC t2s), punctuation and whitespace collapsed, `&` → and,
legal suffixes (Inc., GmbH, 有限公司 ...) removed from organisation names, "Smith, John" →
"john smith" for people.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from ingest.nlp.quantities import find_dates, model_codes
from ontology.gazetteers import default_gazetteers

NameKind = Literal["organisation", "person", "product", "generic"]
FieldKind = Literal["key", "email", "phone", "domain", "name", "text", "address", "date", "number", "postcode", "code", "category"]

# ============================================================================ normalisation
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DOTTED = re.compile(r"(?<!\w)(?:[^\W\d_]\.){2,}(?!\w)")  # u.s.a. / s.a. / l.l.c.
_APOSTROPHE = re.compile(r"(?<=\w)['’`](?=\w)|(?<=\w)['’`](?=\s|$)")
_NON_WORD = re.compile(r"[\W_]+")

# Abbreviations expanded in organisation names (generic English business vocabulary).
ORG_ABBREVIATIONS: dict[str, str] = {
    "intl": "international",
    "natl": "national",
    "univ": "university",
    "hosp": "hospital",
    "ctr": "center",
    "cntr": "center",
    "centre": "center",
    "dept": "department",
    "mfg": "manufacturing",
    "assn": "association",
    "assoc": "association",
    "svcs": "services",
    "svc": "service",
    "bros": "brothers",
    "dev": "development",
    "devel": "development",
    "mgmt": "management",
    "sch": "school",
    "acad": "academy",
    "inst": "institute",
    "tech": "technology",
}
# Street-address vocabulary folded to one short form (USPS-style, plus AU/UK variants).
ADDRESS_ABBREVIATIONS: dict[str, str] = {
    "street": "st",
    "str": "st",
    "avenue": "ave",
    "av": "ave",
    "boulevard": "blvd",
    "road": "rd",
    "drive": "dr",
    "place": "pl",
    "court": "ct",
    "lane": "ln",
    "parkway": "pkwy",
    "highway": "hwy",
    "square": "sq",
    "terrace": "ter",
    "crescent": "cres",
    "circuit": "cct",
    "circle": "cir",
    "suite": "ste",
    "apartment": "apt",
    "building": "bldg",
    "floor": "fl",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
    "mount": "mt",
    "saint": "st",
    "expressway": "expy",
    "freeway": "fwy",
}
_PERSON_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "madam", "dame", "jr", "sr", "phd", "md", "esq"})
_PERSON_TITLES_ZH = ("先生", "女士", "小姐", "博士", "教授", "老师")
_FREEMAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "sohu.com",
        "foxmail.com",
        "yeah.net",
        "139.com",
    }
)
_UNIT_CODE = re.compile(r"^\d+(?:mp|gb|tb|mb|kb|mm|cm|km|kg|mg|ml|hz|khz|mhz|ghz|w|kw|kwh|v|mah|in|inch|ft|lb|lbs|x|k|p|fps|bit|nm|db)$")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def fold(text: Any) -> str:
    """NFKC, case folding and traditional → simplified Chinese; nothing else."""
    out = unicodedata.normalize("NFKC", str(text)).casefold()
    if _CJK.search(out):
        out = _t2s().convert(out)
    return out


def _clean(text: str) -> str:
    """Folded text to space-separated word tokens: dotted abbreviations joined, apostrophes dropped, & → and."""
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _APOSTROPHE.sub("", text).replace("&", " and ")
    return " ".join(_NON_WORD.sub(" ", text).split())


def _strip_legal(tokens: list[str]) -> list[str]:
    gaz = default_gazetteers()
    suffixes_en = gaz.legal_suffixes_en
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        if tokens[-1] in suffixes_en or tokens[-1] == "and":  # "Smith & Co." → "smith"
            tokens.pop()
            changed = True
            continue
        last = tokens[-1]
        if _CJK.search(last):
            for suffix in gaz.legal_suffixes_zh:
                if last.endswith(suffix) and len(last) - len(suffix) >= 2:
                    tokens[-1] = last[: -len(suffix)]
                    changed = True
                    break
                if last == suffix:
                    tokens.pop()
                    changed = True
                    break
    if len(tokens) == 1 and _CJK.search(tokens[0]):
        word = tokens[0]
        for suffix in gaz.legal_suffixes_zh:
            if word.endswith(suffix) and len(word) - len(suffix) >= 2:
                word = word[: -len(suffix)]
        tokens[0] = word
    if len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    return tokens


def normalise_name(text: Any, kind: NameKind = "generic") -> str:
    """A name reduced to what identifies it: folded (NFKC, case, traditional → simplified),
    punctuation and whitespace collapsed, `&` → and. Organisations also lose legal suffixes
    (Inc., GmbH, Ltd, 有限公司 ...) and a leading "the", and common abbreviations are expanded
    (intl → international); people lose titles (Mr, Dr, 先生) and "Smith, John" becomes
    "john smith". Returns "" for empty input."""
    if text is None:
        return ""
    raw = fold(text).strip()
    if not raw:
        return ""
    if kind == "person" and raw.count(",") == 1:
        last, first = (part.strip() for part in raw.split(","))
        if first and _clean(first) not in _PERSON_TITLES:
            raw = f"{first} {last}"
    tokens = _clean(raw).split()
    if kind == "organisation":
        tokens = [ORG_ABBREVIATIONS.get(t, t) for t in tokens]
        tokens = _strip_legal(tokens)
    elif kind == "person":
        kept = [t for t in tokens if t not in _PERSON_TITLES]
        tokens = kept or tokens
        if tokens and _CJK.search(tokens[-1]):
            for title in _PERSON_TITLES_ZH:
                if tokens[-1].endswith(title) and len(tokens[-1]) > len(title):
                    tokens[-1] = tokens[-1][: -len(title)]
                    break
    return " ".join(tokens)


def normalise_text(text: Any) -> str:
    """Generic free text: folded, punctuation and whitespace collapsed."""
    return "" if text is None else _clean(fold(text))


def normalise_address(text: Any) -> str:
    """A postal address: `normalise_text` plus street types and directions folded to one form
    (Street → st, Avenue → ave, North → n ...)."""
    return " ".join(ADDRESS_ABBREVIATIONS.get(t, t) for t in normalise_text(text).split())


def normalise_email(text: Any) -> str:
    """Lower-case address without `mailto:`, surrounding brackets or a `+tag`; "" if not an email."""
    if text is None:
        return ""
    value = fold(text).strip().strip("<>").removeprefix("mailto:").strip()
    if value.count("@") != 1:
        return ""
    local, domain = value.split("@")
    local = local.split("+", 1)[0]
    domain = domain.strip(".")
    if not local or "." not in domain:
        return ""
    return f"{local}@{domain}"


def normalise_phone(text: Any) -> str:
    """Digits only, without an extension, an international `00` prefix or a national trunk `0`,
    at most the last 15 digits (E.164). Numbers with and without a country or area code match by
    suffix (`phones_match`). Returns "" when fewer than 6 digits remain."""
    if text is None:
        return ""
    value = fold(text)
    value = re.split(r"(?:ext\.?|extension|x|#|转|分机)\s*\d+\s*$", value)[0]
    digits = re.sub(r"\D", "", value)
    if digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0") and not value.lstrip().startswith("+"):
        digits = digits[1:]
    digits = digits[-15:]
    return digits if len(digits) >= 6 else ""


def phones_match(a: str, b: str) -> bool:
    """Two normalised phone numbers denote the same line: equal, or the shorter (≥ 7 digits) is
    the end of the longer (one written with a country or area code, the other without)."""
    if not a or not b:
        return False
    short, long_ = sorted((a, b), key=len)
    return short == long_ or (len(short) >= 7 and long_.endswith(short))


_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "ltd", "plc", "or", "ne", "go"})


def registrable_domain(host: str) -> str:
    """The part of a host name an organisation registers: `shop.acme.com` → `acme.com`,
    `mail.acme.co.uk` → `acme.co.uk`, `www.sjtu.edu.cn` → `sjtu.edu.cn` (a heuristic, not the
    public-suffix list)."""
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def normalise_domain(text: Any, registrable: bool = False) -> str:
    """The host of a URL, an email address or a bare domain, lower-case, without `www.`, port or
    trailing dot (with `registrable`, reduced to `registrable_domain`); "" if there is none."""
    if text is None:
        return ""
    value = fold(text).strip()
    if not value:
        return ""
    if "@" in value and "://" not in value:
        value = value.rsplit("@", 1)[1]
    if "://" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:
        return ""
    host = host.strip(".")
    host = re.sub(r"^www\d*\.", "", host)
    if "." not in host or not re.search(r"[a-z]", host.rsplit(".", 1)[1]):
        return ""  # no dot, or an IP address
    return registrable_domain(host) if registrable else host


def normalise_key(text: Any) -> str:
    """An identifier (tax id, serial, SKU): upper-case, separators and spaces removed."""
    return "" if text is None else re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", str(text))).upper()


def normalise_date(value: Any) -> str:
    """A date as `YYYYMMDD` (or `YYYYMM` / `YYYY` for periods) from a date object, an ISO or
    8-digit string, or English/Chinese prose; other strings are reduced to their digits."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y%m%d")
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return ""
    if text.isdigit():
        return text
    found = find_dates(text)
    if found and "Q" not in str(found[0].value):
        return str(found[0].value).replace("-", "")
    return re.sub(r"\D", "", text)


def codes_of(text: Any) -> frozenset[str]:
    """Model-number codes in a text (`model_codes`), without unit quantities such as 7.2MP or 64GB."""
    if text is None:
        return frozenset()
    return frozenset(c for c in model_codes(unicodedata.normalize("NFKC", str(text))) if not _UNIT_CODE.match(c))


# ============================================================================ similarities
_LEVEL_FLOOR = 0.65  # similarities below this are level 0 ("different")


@dataclass(frozen=True)
class TokenStats:
    """Document frequencies of the words of one field over a set of records, for inverse
    document frequency weights: words most records share ("house", "center") count less."""

    df: Mapping[str, int]
    n: int
    _vectors: dict[str, tuple[dict[str, float], float]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, texts: Iterable[str | None]) -> TokenStats:
        """Statistics of normalised texts (None and "" are skipped)."""
        df: Counter[str] = Counter()
        n = 0
        for text in texts:
            if text:
                n += 1
                df.update(set(_tokens(text)))
        return cls(dict(df), n)

    def idf(self, token: str) -> float:
        """Smoothed inverse document frequency, ≥ 1."""
        return math.log((self.n + 1) / (self.df.get(token, 0) + 1)) + 1.0


def _tokens(text: str) -> list[str]:
    if " " not in text and _CJK.search(text):
        return list(text)  # Chinese without word boundaries: characters are the tokens
    return text.split()


def _weights(text: str, stats: TokenStats | None) -> tuple[dict[str, float], float]:
    cached = stats._vectors.get(text) if stats is not None else None
    if cached is not None:
        return cached
    weights = {t: stats.idf(t) if stats else 1.0 for t in _tokens(text)}
    out = (weights, math.sqrt(sum(w * w for w in weights.values())))
    if stats is not None:
        stats._vectors[text] = out
    return out


def soft_tfidf(a: str, b: str, stats: TokenStats | None = None, close: float = 0.9) -> float:
    """Soft TF-IDF cosine (Cohen, Ravikumar & Fienberg 2003) of two normalised texts: words
    weighted by IDF (all 1 without `stats`), a word counting as shared with its most similar
    word on the other side when their Jaro–Winkler similarity is ≥ `close`. Symmetrised."""
    wa, na = _weights(a, stats)
    wb, nb = _weights(b, stats)
    if not wa or not wb:
        return 0.0

    def one_way(x: dict[str, float], y: dict[str, float]) -> float:
        total = 0.0
        for t, w in x.items():
            if t in y:
                total += w * y[t]
                continue
            best, best_s = 0.0, None
            for u in y:
                sim = JaroWinkler.similarity(t, u)
                if sim >= close and sim > best:
                    best, best_s = sim, u
            if best_s is not None:
                total += w * y[best_s] * best
        return total

    return min(1.0, (one_way(wa, wb) + one_way(wb, wa)) / (2 * na * nb))


def name_similarity(a: str, b: str, stats: TokenStats | None = None) -> float:
    """Similarity in [0, 1] of two *normalised* names: 1.0 when equal, else the mean of a string
    score and `soft_tfidf` (with the field's word statistics when known). The string score mixes
    rapidfuzz token-sort ratio (word order), token-set ratio (one name's words inside the
    other's) and Jaro–Winkler (typos, shared prefix): 0.5·sort + 0.25·set + 0.25·JW."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    x, y = a, b
    if " " not in a and " " not in b and (_CJK.search(a) or _CJK.search(b)):
        x, y = " ".join(a), " ".join(b)
    ts = fuzz.token_sort_ratio(x, y) / 100.0
    tset = fuzz.token_set_ratio(x, y) / 100.0
    jw = JaroWinkler.similarity(x, y)
    plain = 0.5 * ts + 0.25 * tset + 0.25 * jw
    if plain < 2 * _LEVEL_FLOOR - 1:  # the mean with soft TF-IDF (≤ 1) stays below the lowest level
        return 0.5 * plain
    return 0.5 * plain + 0.5 * soft_tfidf(a, b, stats)


_ROMAN = frozenset({"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"})


def numerals_conflict(a: str, b: str, roman: bool = True) -> bool:
    """Two normalised names carry different numbers ("Little Tykes I" / "Little Tykes II",
    "Plant 2" / "Plant 3", "iPhone 12" / "iPhone 13"): both have number tokens (digits, or
    roman numerals up to xii unless `roman` is False) and share none. Such names denote
    different entities however similar the rest is."""

    def numerals(text: str) -> set[str]:
        return {t for t in text.split() if t.isdigit() or (roman and t in _ROMAN)}

    na, nb = numerals(a), numerals(b)
    return bool(na and nb and not (na & nb))


def text_similarity(a: str, b: str, stats: TokenStats | None = None) -> float:
    """Similarity in [0, 1] of two normalised texts (addresses, descriptions): mean of token-set
    and token-sort ratios (a shorter text inside a longer one still scores high), averaged with
    `soft_tfidf` when word statistics are given."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    plain = (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 200.0
    if stats is None:
        return plain
    if plain < 2 * _LEVEL_FLOOR - 1:  # the mean with soft TF-IDF (≤ 1) stays below the lowest level
        return 0.5 * plain
    return 0.5 * plain + 0.5 * soft_tfidf(a, b, stats)


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


# ============================================================================ records
@dataclass(frozen=True)
class FieldSpec:
    """How one field of a plain record is compared.

    kind: `key` (identifier: equal ⇒ same entity; `strong=True` also makes a different value
    strong evidence against, e.g. tax id, serial), `email`, `phone`, `domain` (keys with their
    own normalisers), `name` (with `entity` = organisation / person / product / generic),
    `text`, `address`, `date`, `number`, `postcode`, `code` (model numbers in the text must
    overlap), `category` (exact). `weight` scales the field's log-likelihood ratio. `column` is
    the key in the record (defaults to `field`).
    """

    field: str
    kind: FieldKind
    weight: float = 1.0
    entity: NameKind = "generic"
    strong: bool = False
    column: str | None = None

    @property
    def key(self) -> str:
        """The record key this field reads."""
        return self.column or self.field


# Agreement levels per kind, lowest (disagree) first, with default m and u probabilities.
# m = P(level | same entity), u = P(level | different entities); the defaults are generic
# priors (typo rates of a few percent, chance agreement of unrelated records), used as they are
# by an unfitted model and as the starting point / smoothing prior of `fit()`.
@dataclass(frozen=True)
class LevelTable:
    """Agreement levels of one field kind and their default m/u probabilities."""

    names: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]
    exact_top: bool = True  # the top level means "normalised values equal" (u from value frequencies)


DEFAULT_LEVELS: dict[str, LevelTable] = {
    "key": LevelTable(("different", "one edit", "equal"), (0.05, 0.10, 0.85), (0.9989, 0.001, 0.0001)),
    "strong_key": LevelTable(("different", "one edit", "equal"), (0.01, 0.04, 0.95), (0.9989, 0.001, 0.0001)),
    "email": LevelTable(("different", "close", "equal"), (0.10, 0.10, 0.80), (0.9989, 0.001, 0.0001)),
    "domain": LevelTable(("different", "close", "equal"), (0.10, 0.05, 0.85), (0.995, 0.004, 0.001)),
    "phone": LevelTable(("different", "one edit", "same line"), (0.10, 0.05, 0.85), (0.998, 0.001, 0.001)),
    "name": LevelTable(("different", "≥0.65", "≥0.80", "≥0.92", "equal"), (0.02, 0.05, 0.13, 0.20, 0.60), (0.90, 0.07, 0.025, 0.004, 0.001)),
    "text": LevelTable(("different", "≥0.65", "≥0.80", "≥0.92", "equal"), (0.05, 0.05, 0.10, 0.20, 0.60), (0.90, 0.07, 0.02, 0.008, 0.002)),
    "address": LevelTable(
        ("house number differs", "different", "≥0.65", "≥0.80", "≥0.92", "equal"),
        (0.02, 0.04, 0.04, 0.10, 0.20, 0.60),
        (0.90, 0.06, 0.03, 0.007, 0.002, 0.001),
    ),
    "date": LevelTable(("different", "two edits", "one edit or day/month swapped", "equal"), (0.05, 0.05, 0.10, 0.80), (0.95, 0.04, 0.009, 0.001)),
    "number": LevelTable(("different", "one edit", "equal"), (0.10, 0.10, 0.80), (0.95, 0.04, 0.01)),
    "postcode": LevelTable(("different", "one edit", "equal"), (0.10, 0.10, 0.80), (0.95, 0.04, 0.01)),
    "code": LevelTable(("different", "prefix", "shared code"), (0.05, 0.15, 0.80), (0.98, 0.015, 0.005), exact_top=False),
    "category": LevelTable(("different", "equal"), (0.10, 0.90), (0.70, 0.30)),
}
DEFAULT_PRIOR = 0.05  # share of matches among blocked candidate pairs assumed by an unfitted model
PRIOR_PSEUDO_PAIRS = 20  # weight of DEFAULT_PRIOR, in pseudo-pairs, in the EM estimate of the prior (small batches)
U_PRIOR_PAIRS = 200  # weight of the default u table, in pseudo-pairs, when estimating u from data
MAX_BLOCK = 32  # blocks with more records (per side) are skipped
SMALL_BLOCK = 8  # a pair sharing one automatic blocking key is kept only when that block is this small
DEFAULT_THRESHOLD = 0.5  # posterior match probability at which a pair is called a match


def _table(spec: FieldSpec) -> LevelTable:
    if spec.kind == "key" and spec.strong:
        return DEFAULT_LEVELS["strong_key"]
    return DEFAULT_LEVELS[spec.kind]


def prepare(value: Any, spec: FieldSpec) -> Hashable | None:
    """A field value normalised for comparison (None when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    kind = spec.kind
    if kind == "key":
        out: Hashable = normalise_key(value)
    elif kind == "email":
        out = normalise_email(value)
    elif kind == "phone":
        out = normalise_phone(value)
    elif kind == "domain":
        out = normalise_domain(value)
    elif kind == "name":
        out = normalise_name(value, spec.entity)
    elif kind == "address":
        out = normalise_address(value)
    elif kind in ("text", "category"):
        out = normalise_text(value)
    elif kind == "date":
        out = normalise_date(value)
    elif kind in ("number", "postcode"):
        out = normalise_key(value).lower()
    elif kind == "code":
        out = codes_of(value)
    else:
        raise ValueError(f"unknown field kind {kind!r}")
    return out or None


def _freq_key(value: Hashable | None, spec: FieldSpec) -> Hashable | None:
    """The value whose frequency sets the u-probability of the top level (term-frequency
    adjustment): the prepared value itself, a phone's last 7 digits; None for kinds without one."""
    if value is None or not _table(spec).exact_top:
        return None
    return str(value)[-7:] if spec.kind == "phone" else value


def _similar_level(sim: float) -> int:
    return 3 if sim >= 0.92 else 2 if sim >= 0.80 else 1 if sim >= _LEVEL_FLOOR else 0


def compare(a: Hashable | None, b: Hashable | None, spec: FieldSpec, stats: TokenStats | None = None) -> int:
    """The agreement level (index into the kind's `LevelTable`) of two prepared values, -1 if
    one is missing; `stats` are the field's word statistics (names, texts, addresses)."""
    if a is None or b is None:
        return -1
    kind = spec.kind
    if kind in ("key", "email", "domain"):
        if a == b:
            return 2
        sa, sb = str(a), str(b)
        if kind == "email":
            return 1 if sa.split("@")[0] == sb.split("@")[0] or OSA.distance(sa, sb) <= 1 else 0
        if kind == "domain":
            return 1 if sa.split(".")[0] == sb.split(".")[0] else 0
        return 1 if min(len(sa), len(sb)) >= 5 and OSA.distance(sa, sb) <= 1 else 0
    if kind == "phone":
        sa, sb = str(a), str(b)
        if phones_match(sa, sb):
            return 2
        return 1 if OSA.distance(sa[-7:], sb[-7:]) <= 1 else 0
    if kind == "name":
        if a == b:
            return 4
        if numerals_conflict(str(a), str(b), roman=spec.entity != "person"):
            return 0
        return _similar_level(name_similarity(str(a), str(b), stats))
    if kind == "text":
        return 4 if a == b else _similar_level(text_similarity(str(a), str(b), stats))
    if kind == "address":
        if a == b:
            return 5
        sa, sb = str(a), str(b)
        na, nb = _numbers(sa), _numbers(sb)
        if na and nb and not (na & nb):
            return 0
        return 1 + _similar_level(text_similarity(sa, sb, stats))
    if kind == "date":
        if a == b:
            return 3
        sa, sb = str(a), str(b)
        if len(sa) == len(sb) == 8 and sa[:4] == sb[:4] and sa[4:6] == sb[6:8] and sa[6:8] == sb[4:6]:
            return 2
        distance = OSA.distance(sa, sb)
        return 2 if distance <= 1 else 1 if distance <= 2 else 0
    if kind in ("number", "postcode"):
        if a == b:
            return 2
        return 1 if OSA.distance(str(a), str(b)) <= 1 else 0
    if kind == "code":
        ca, cb = a if isinstance(a, frozenset) else frozenset(), b if isinstance(b, frozenset) else frozenset()
        if ca & cb:
            return 2
        return 1 if any(x.startswith(y) or y.startswith(x) for x in ca for y in cb if min(len(x), len(y)) >= 4) else 0
    if kind == "category":
        return 1 if a == b else 0
    raise ValueError(f"unknown field kind {kind!r}")


@dataclass
class MatchModel:
    """Fellegi–Sunter parameters for a list of fields: per field and level the m and u
    probabilities, the prior share of matches among candidate pairs, and (fitted models) per
    field the relative frequency of each value, so that agreeing on a rare value ("Xavier")
    weighs more than agreeing on a common one ("Smith"): the top level's weight becomes
    log(m_top / frequency of the value)."""

    fields: tuple[FieldSpec, ...]
    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float = DEFAULT_PRIOR
    iterations: int = 0
    tf: list[dict[Hashable, float] | None] = field(default_factory=list)
    tf_floor: list[float] = field(default_factory=list)
    stats: list[TokenStats | None] = field(default_factory=list)

    @classmethod
    def default(cls, fields: Sequence[FieldSpec]) -> MatchModel:
        """The unfitted model: the documented `DEFAULT_LEVELS` tables and `DEFAULT_PRIOR`."""
        fields = tuple(fields)
        return cls(fields, [np.array(_table(f).m, dtype=float) for f in fields], [np.array(_table(f).u, dtype=float) for f in fields])

    def weights(self) -> list[np.ndarray]:
        """Per field, the log-likelihood ratio log(m/u) of each level times the field's weight,
        made non-decreasing over the levels (a closer agreement never weighs less)."""
        return [spec.weight * np.maximum.accumulate(np.log(m / u)) for spec, m, u in zip(self.fields, self.m, self.u, strict=True)]

    def frequencies(self, values: Sequence[Sequence[Hashable | None]]) -> np.ndarray:
        """Per record (rows of prepared values) and field, the frequency of its value (NaN when
        the model has no frequencies for the field)."""
        out = np.full((len(values), len(self.fields)), np.nan)
        for j, table in enumerate(self.tf):
            if table is None:
                continue
            floor = self.tf_floor[j]
            for i, row in enumerate(values):
                key = _freq_key(row[j], self.fields[j])
                if key is not None:
                    out[i, j] = max(table.get(key, floor), floor)
        return out

    def log_odds(self, levels: np.ndarray, freq: np.ndarray | None = None) -> np.ndarray:
        """Posterior log-odds of a match for rows of agreement levels (pairs × fields), with
        the pairs' value frequencies (`frequencies` of one side's records) if known."""
        levels = np.atleast_2d(levels)
        total = np.full(levels.shape[0], math.log(self.prior / (1 - self.prior)))
        for j, w in enumerate(self.weights()):
            col = levels[:, j]
            contrib = np.where(col >= 0, w[np.clip(col, 0, None)], 0.0)
            if freq is not None:
                top = len(w) - 1
                fj = freq[:, j]
                use = (col == top) & ~np.isnan(fj)
                if use.any():
                    contrib[use] = self.fields[j].weight * np.log(self.m[j][top] / fj[use])
            total += contrib
        return total

    def probability(self, levels: np.ndarray, freq: np.ndarray | None = None) -> np.ndarray:
        """Posterior match probabilities for rows of agreement levels (see `log_odds`)."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.log_odds(levels, freq), -50, 50)))

    def explain(self, levels: Sequence[int]) -> list[str]:
        """Each field's level and weight in words, e.g. "surname: ≥0.92 (+3.1)"."""
        out = []
        for j, (spec, w) in enumerate(zip(self.fields, self.weights(), strict=True)):
            level = int(levels[j])
            if level < 0:
                out.append(f"{spec.field}: missing")
            else:
                out.append(f"{spec.field}: {_table(spec).names[level]} ({w[level]:+.1f})")
        return out


def score(a: Mapping[str, Any], b: Mapping[str, Any], fields: Sequence[FieldSpec], model: MatchModel | None = None) -> float:
    """Match probability in [0, 1] of two plain records under `model` (default: the unfitted
    `MatchModel.default(fields)`, i.e. generic m/u priors and a 1-in-20 prior)."""
    model = model or MatchModel.default(fields)
    pa = [prepare(a.get(f.key), f) for f in fields]
    stats = model.stats or [None] * len(fields)
    levels = np.array([[compare(x, prepare(b.get(f.key), f), f, st) for x, f, st in zip(pa, fields, stats, strict=True)]])
    return float(model.probability(levels, model.frequencies([pa]) if model.tf else None)[0])


# ----------------------------------------------------------------------------- blocking
BlockingArg = Callable[[Mapping[str, Any]], Iterable[str]] | Sequence[str] | None


def _auto_keys(prepared: Sequence[Hashable | None], fields: Sequence[FieldSpec]) -> set[str]:
    """Automatic blocking keys of one record: key values, dates (and their year-month and
    month-day), the last 7 phone digits, model codes, name/text/address words (Chinese:
    character bigrams), a 4-letter name prefix and the whole multi-word name."""
    keys: set[str] = set()
    for j, (value, spec) in enumerate(zip(prepared, fields, strict=True)):
        if value is None:
            continue
        kind = spec.kind
        if kind in ("number", "postcode", "category"):
            continue  # too coarse to block on alone; compared, not blocked
        if kind in ("key", "email", "domain", "date"):
            keys.add(f"{j}={value}")
            if kind == "date" and len(str(value)) == 8:  # typos: day or month may be wrong
                keys.add(f"{j}ym={str(value)[:6]}")
                keys.add(f"{j}md={str(value)[4:]}")
        elif kind == "phone":
            keys.add(f"{j}={str(value)[-7:]}")
        elif kind == "code":
            keys.update(f"c={c}" for c in value)  # type: ignore[union-attr]
        elif kind in ("name", "text", "address"):
            text = str(value)
            tokens = text.split()
            for token in tokens:
                if _CJK.search(token):
                    keys.update(f"{j}~{token[i : i + 2]}" for i in range(max(1, len(token) - 1)))
                elif len(token) >= 2 or token.isdigit():
                    keys.add(f"{j}~{token}")
            if kind == "name":
                keys.add(f"{j}^{text.replace(' ', '')[:4]}")  # typo-robust prefix
                if len(tokens) > 1:
                    keys.add(f"{j}={text}")
    return keys


def _record_keys(
    records: Sequence[Mapping[str, Any]], prepared: Sequence[Sequence[Hashable | None]], fields: Sequence[FieldSpec], blocking: BlockingArg
) -> list[set[str]]:
    if blocking is None:
        return [_auto_keys(p, fields) for p in prepared]
    if callable(blocking):
        return [set(blocking(r)) for r in records]
    by_name = {f.field: j for j, f in enumerate(fields)}
    out = []
    for p in prepared:
        keys = set()
        for name in blocking:
            j = by_name[name]
            if p[j] is not None:
                keys.add(f"{j}={p[j]}")
        out.append(keys)
    return out


def _blocked_pairs(
    key_sets_left: list[set[str]], key_sets_right: list[set[str]] | None, max_block: int, min_shared: int = 1, small_block: int = 0
) -> np.ndarray:
    """Candidate pairs (i, j) sharing a blocking key whose block is at most `max_block` records
    (per side when linking); for deduplication i < j. With `min_shared` > 1, a pair must share
    that many keys unless one shared block has at most `small_block` records (meta-blocking:
    pairs met in one big block only are mostly chance). Shape (n, 2), int64, unique."""
    left_index: dict[str, list[int]] = defaultdict(list)
    for i, keys in enumerate(key_sets_left):
        for k in keys:
            left_index[k].append(i)
    chunks: list[np.ndarray] = []
    small: list[np.ndarray] = []
    if key_sets_right is None:
        n_right = len(key_sets_left)
        for members in left_index.values():
            if 1 < len(members) <= max_block:
                arr = np.array(members, dtype=np.int64)
                iu, ju = np.triu_indices(len(arr), 1)
                chunk = arr[iu] * (n_right + 1) + arr[ju]
                (small if len(members) <= small_block else chunks).append(chunk)
    else:
        n_right = len(key_sets_right)
        right_index: dict[str, list[int]] = defaultdict(list)
        for j, keys in enumerate(key_sets_right):
            for k in keys:
                right_index[k].append(j)
        for k, lm in left_index.items():
            rm = right_index.get(k)
            if rm and len(lm) <= max_block and len(rm) <= max_block:
                la, ra = np.array(lm, dtype=np.int64), np.array(rm, dtype=np.int64)
                chunk = np.repeat(la, len(ra)) * (n_right + 1) + np.tile(ra, len(la))
                (small if max(len(lm), len(rm)) <= small_block else chunks).append(chunk)
    codes = np.zeros(0, dtype=np.int64)
    if chunks:
        codes, counts = np.unique(np.concatenate(chunks), return_counts=True)
        codes = codes[counts >= min_shared]
    if small:
        codes = np.union1d(codes, np.concatenate(small))
    return np.stack([codes // (n_right + 1), codes % (n_right + 1)], axis=1)


# ----------------------------------------------------------------------------- comparison
def _levels(
    prep_left: Sequence[Sequence[Hashable | None]],
    prep_right: Sequence[Sequence[Hashable | None]],
    pairs: np.ndarray,
    fields: Sequence[FieldSpec],
    stats: Sequence[TokenStats | None] | None = None,
) -> np.ndarray:
    """Agreement levels (pairs × fields, int8, -1 = missing), each distinct value pair compared once."""
    out = np.full((len(pairs), len(fields)), -1, dtype=np.int8)
    for j, spec in enumerate(fields):
        field_stats = stats[j] if stats else None
        cache: dict[tuple[Hashable, Hashable], int] = {}
        col = out[:, j]
        for row, (a_i, b_i) in enumerate(pairs.tolist()):
            a, b = prep_left[a_i][j], prep_right[b_i][j]
            if a is None or b is None:
                continue
            key = (a, b)
            level = cache.get(key)
            if level is None:
                level = cache[key] = compare(a, b, spec, field_stats)
            col[row] = level
    return out


def _estimate_u(
    prep_left: Sequence[Sequence[Hashable | None]],
    prep_right: Sequence[Sequence[Hashable | None]] | None,
    fields: Sequence[FieldSpec],
    sample: int,
    rng: random.Random,
    stats: Sequence[TokenStats | None] | None = None,
) -> tuple[list[np.ndarray], list[dict[Hashable, float] | None], list[float]]:
    """u-probabilities from the data: the top level from value frequencies (the chance that two
    random records share a value), the other levels from a random sample of pairs (all pairs
    when there are fewer than `sample`). Both are smoothed towards the default table by
    `U_PRIOR_PAIRS` pseudo-pairs, so a small batch leans on the defaults and a large one on its
    own statistics. Also the (equally smoothed) value frequencies per field, both files pooled
    when linking, and their floor (the frequency of an unseen value)."""
    right = prep_right if prep_right is not None else prep_left
    n_l, n_r = len(prep_left), len(right)
    possible = n_l * (n_l - 1) // 2 if prep_right is None else n_l * n_r
    if possible <= sample:
        pairs = [(i, j) for i in range(n_l) for j in (range(i + 1, n_l) if prep_right is None else range(n_r))]
    else:
        pairs = []
        for _ in range(sample):
            i, j = rng.randrange(n_l), rng.randrange(n_r)
            if prep_right is None and i == j:
                continue
            pairs.append((i, j))
    levels = _levels(prep_left, right, np.array(pairs, dtype=np.int64).reshape(-1, 2), fields, stats)
    k = U_PRIOR_PAIRS
    us: list[np.ndarray] = []
    tfs: list[dict[Hashable, float] | None] = []
    floors: list[float] = []
    for j, spec in enumerate(fields):
        table = _table(spec)
        prior = np.array(table.u)
        col = levels[:, j]
        counts = np.bincount(col[col >= 0], minlength=len(prior)).astype(float)
        u = (counts + k * prior) / (counts.sum() + k)
        tf: dict[Hashable, float] | None = None
        floor = 1.0
        if table.exact_top:
            cl = Counter(key for p in prep_left if (key := _freq_key(p[j], spec)) is not None)
            if prep_right is None:
                n = sum(cl.values())
                agree, pairs_n = sum(c * (c - 1) / 2 for c in cl.values()), n * (n - 1) / 2
                pooled = cl
            else:
                cr = Counter(key for p in prep_right if (key := _freq_key(p[j], spec)) is not None)
                agree, pairs_n = sum(c * cr.get(v, 0) for v, c in cl.items()), sum(cl.values()) * sum(cr.values())
                pooled = cl + cr
            total = sum(pooled.values())
            if total:
                exact = (agree + k * prior[-1]) / (pairs_n + k)
                u = np.append(u[:-1] / u[:-1].sum() * (1 - exact), exact)
                tf = {v: (c + k * prior[-1]) / (total + k) for v, c in pooled.items()}
                floor = (1 + k * prior[-1]) / (total + k)
        us.append(np.clip(u, 1e-9, None))
        tfs.append(tf)
        floors.append(floor)
    return us, tfs, floors


def _em(levels: np.ndarray, model: MatchModel, freq: np.ndarray | None = None, estimate_m: bool = False, max_iter: int = 200, tol: float = 1e-7) -> MatchModel:
    """Expectation–maximisation over candidate pairs with u fixed: the prior always (smoothed
    towards `DEFAULT_PRIOR` by `PRIOR_PSEUDO_PAIRS`), and m only when `estimate_m` (smoothed
    towards the starting table by one pseudo-pair per field)."""
    m0 = [m.copy() for m in model.m]
    current = MatchModel(model.fields, [m.copy() for m in model.m], model.u, model.prior, 0, model.tf, model.tf_floor, model.stats)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported
        p = current.probability(levels, freq)
        new_m = current.m
        if estimate_m:
            new_m = []
            for j in range(len(model.fields)):
                col = levels[:, j]
                mask = col >= 0
                counts = np.bincount(col[mask], weights=p[mask], minlength=len(m0[j]))
                new_m.append((counts + m0[j]) / (counts.sum() + 1.0))
        new_prior = float(np.clip((p.sum() + PRIOR_PSEUDO_PAIRS * DEFAULT_PRIOR) / (len(p) + PRIOR_PSEUDO_PAIRS), 1e-6, 1 - 1e-6))
        delta = max(float(np.max(np.abs(a - b))) for a, b in zip(new_m, current.m, strict=True))
        delta = max(delta, abs(new_prior - current.prior))
        current = MatchModel(model.fields, new_m, model.u, new_prior, 0, model.tf, model.tf_floor, model.stats)
        if delta < tol:
            break
    current.iterations = it
    return current


@dataclass
class _Prepared:
    left: list[list[Hashable | None]]
    right: list[list[Hashable | None]] | None
    pairs: np.ndarray
    levels: np.ndarray
    stats: list[TokenStats | None]


def _token_stats(fields: Sequence[FieldSpec], *sides: Sequence[Sequence[Hashable | None]] | None) -> list[TokenStats | None]:
    """Word statistics of every name/text/address field over all records given."""
    out: list[TokenStats | None] = []
    for j, spec in enumerate(fields):
        if spec.kind in ("name", "text", "address"):
            out.append(TokenStats.of(str(row[j]) if row[j] is not None else None for side in sides if side is not None for row in side))
        else:
            out.append(None)
    return out


def _prepare_all(records: Sequence[Mapping[str, Any]], fields: Sequence[FieldSpec]) -> list[list[Hashable | None]]:
    return [[prepare(r.get(f.key), f) for f in fields] for r in records]


def _run(
    left: Sequence[Mapping[str, Any]],
    right: Sequence[Mapping[str, Any]] | None,
    fields: Sequence[FieldSpec],
    blocking: BlockingArg,
    max_block: int,
) -> _Prepared:
    prep_l = _prepare_all(left, fields)
    prep_r = _prepare_all(right, fields) if right is not None else None
    keys_l = _record_keys(left, prep_l, fields, blocking)
    keys_r = _record_keys(right, prep_r, fields, blocking) if right is not None and prep_r is not None else None
    auto = blocking is None
    pairs = _blocked_pairs(keys_l, keys_r, max_block, min_shared=2 if auto else 1, small_block=SMALL_BLOCK if auto else 0)
    stats = _token_stats(fields, prep_l, prep_r)
    levels = _levels(prep_l, prep_r if prep_r is not None else prep_l, pairs, fields, stats)
    return _Prepared(prep_l, prep_r, pairs, levels, stats)


def _pair_freq(model: MatchModel, prep_left: Sequence[Sequence[Hashable | None]], pairs: np.ndarray) -> np.ndarray | None:
    if not model.tf or not len(pairs):
        return None
    per_record = model.frequencies(prep_left)
    return per_record[pairs[:, 0]]


def _fit(prepared: _Prepared, fields: Sequence[FieldSpec], estimate_m: bool = False, seed: int = 0, sample: int = 20000) -> MatchModel:
    start = MatchModel.default(fields)
    start.stats = prepared.stats
    start.u, start.tf, start.tf_floor = _estimate_u(prepared.left, prepared.right, fields, sample, random.Random(seed), prepared.stats)
    if len(prepared.pairs) == 0:
        return start
    return _em(prepared.levels, start, _pair_freq(start, prepared.left, prepared.pairs), estimate_m=estimate_m)


def fit(
    records: Sequence[Mapping[str, Any]],
    fields: Sequence[FieldSpec],
    right: Sequence[Mapping[str, Any]] | None = None,
    blocking: BlockingArg = None,
    *,
    estimate_m: bool = False,
    max_block: int = MAX_BLOCK,
) -> MatchModel:
    """Fit a `MatchModel` to unlabelled records (deduplication) or to two files (`right` given),
    without labels: u and the value frequencies from the data, the prior by EM over the blocked
    candidate pairs, m from the documented `DEFAULT_LEVELS` (or also by EM with `estimate_m`;
    that can lock onto a coarser entity, e.g. "same organisation" instead of "same site")."""
    return _fit(_run(records, right, fields, blocking, max_block), fields, estimate_m=estimate_m)


# ----------------------------------------------------------------------------- clustering
def _average_linkage(prob: np.ndarray, threshold: float) -> list[list[int]]:
    """Agglomerative clustering of a small component on a dense probability matrix: repeatedly
    merge the two clusters with the highest mean pairwise probability while it is ≥ threshold."""
    n = len(prob)
    clusters: dict[int, list[int]] = {i: [i] for i in range(n)}
    sums = prob.astype(float).copy()  # sums[a, b] = Σ prob over members of a × members of b
    np.fill_diagonal(sums, -np.inf)
    sizes = np.ones(n)
    active = np.ones(n, dtype=bool)
    while True:
        avg = sums / np.outer(sizes, sizes)
        avg[~active, :] = -np.inf
        avg[:, ~active] = -np.inf
        np.fill_diagonal(avg, -np.inf)
        flat = int(np.argmax(avg))
        a, b = divmod(flat, n)
        if avg[a, b] < threshold:
            break
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sums[a, a] = -np.inf
        sizes[a] += sizes[b]
        active[b] = False
        clusters[a].extend(clusters.pop(b))
    return list(clusters.values())


def cluster(
    records: Sequence[Mapping[str, Any]],
    fields: Sequence[FieldSpec],
    threshold: float | None = None,
    blocking: BlockingArg = None,
    *,
    model: MatchModel | None = None,
    max_block: int = MAX_BLOCK,
    max_component: int = 400,
) -> list[list[int]]:
    """Deduplicate a batch of plain records: clusters of record indices (singletons included).

    Blocking (`blocking`: None = automatic keys from the fields — name/address tokens, name
    prefixes, key values, dates, codes; or field names to block on; or a function record →
    keys) yields candidate pairs, blocks larger than `max_block` are skipped. Pairs are scored
    with `model` (default: fitted by EM on these records, see `fit`). Connected components of
    the pairs with probability ≥ `threshold` (default `DEFAULT_THRESHOLD`) are then checked by
    average-linkage clustering on all their pairwise probabilities, so one spurious edge does
    not chain two entities together. Scales to 10k records in seconds."""
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if not records:
        return []
    prepared = _run(records, None, fields, blocking, max_block)
    model = model or _fit(prepared, fields)
    probs = model.probability(prepared.levels, _pair_freq(model, prepared.left, prepared.pairs)) if len(prepared.pairs) else np.zeros(0)
    known = {(i, j): float(p) for (i, j), p in zip(prepared.pairs.tolist(), probs.tolist(), strict=True)}
    out: list[list[int]] = []
    work = [(list(range(len(records))), threshold)]
    while work:
        members, edge_threshold = work.pop()
        member_set = set(members)
        edges = [(i, j) for (i, j), p in known.items() if p >= edge_threshold and i in member_set and j in member_set]
        for component in _components(members, edges):
            if len(component) <= 2:
                out.append(component)
            elif len(component) > max_component:
                # too big to check densely: split it on more confident edges first (near-certain edges stay)
                if edge_threshold < 1 - 1e-9:
                    work.append((component, 1 - (1 - edge_threshold) / 10))
                else:
                    out.append(component)
            else:
                out.extend(_check_component(component, known, prepared, fields, model, threshold))
    return sorted((sorted(c) for c in out), key=lambda c: c[0])


def _components(members: Sequence[int], edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components (union–find) of `members` under `edges`."""
    parent = {m: m for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in edges:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[ri] = rj
    groups: dict[int, list[int]] = defaultdict(list)
    for m in members:
        groups[find(m)].append(m)
    return list(groups.values())


def _check_component(
    members: list[int], known: dict[tuple[int, int], float], prepared: _Prepared, fields: Sequence[FieldSpec], model: MatchModel, threshold: float
) -> list[list[int]]:
    """Average-linkage clustering of one component on all its pairwise probabilities (pairs the
    blocking skipped are scored now)."""
    members = sorted(members)
    missing = [(a, b) for x, a in enumerate(members) for b in members[x + 1 :] if (a, b) not in known]
    if missing:
        pairs = np.array(missing, dtype=np.int64)
        levels = _levels(prepared.left, prepared.left, pairs, fields, prepared.stats)
        for pair, p in zip(missing, model.probability(levels, _pair_freq(model, prepared.left, pairs)).tolist(), strict=True):
            known[pair] = p
    prob = np.array([[known[(min(a, b), max(a, b))] if a != b else 1.0 for b in members] for a in members])
    return [[members[g] for g in group] for group in _average_linkage(prob, threshold)]


def link(
    left: Sequence[Mapping[str, Any]],
    right: Sequence[Mapping[str, Any]],
    fields: Sequence[FieldSpec],
    threshold: float | None = None,
    blocking: BlockingArg = None,
    *,
    one_to_one: bool = False,
    model: MatchModel | None = None,
    max_block: int = MAX_BLOCK,
) -> list[tuple[int, int, float]]:
    """Link two files: (left index, right index, probability) for every candidate pair at or
    above `threshold`, best first. `one_to_one=True` keeps each record in at most one link
    (greedy by probability), for files known to hold each entity at most once. The model is
    fitted by EM on the two files unless given."""
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if not left or not right:
        return []
    prepared = _run(left, right, fields, blocking, max_block)
    model = model or _fit(prepared, fields)
    if not len(prepared.pairs):
        return []
    probs = model.probability(prepared.levels, _pair_freq(model, prepared.left, prepared.pairs))
    order = np.argsort(-probs, kind="stable")
    out: list[tuple[int, int, float]] = []
    used_l: set[int] = set()
    used_r: set[int] = set()
    for idx in order.tolist():
        p = float(probs[idx])
        if p < threshold:
            break
        i, j = (int(x) for x in prepared.pairs[idx])
        if one_to_one:
            if i in used_l or j in used_r:
                continue
            used_l.add(i)
            used_r.add(j)
        out.append((i, j, p))
    return out


# ============================================================================ graph mentions
# Keys whose equal values settle a match and whose different values block it.
STRONG_KEYS = frozenset({"tax_id", "serial", "vat_id", "lei", "duns", "imei"})
# Keys that link on their own only when the names do not contradict (shared switchboards, parent companies).
WEAK_KEYS = frozenset({"phone", "domain"})
WEAK_KEY_MIN_NAME = 0.5  # name similarity a weak key needs (when both sides have names)
KEY_MATCH_SCORE = {"strong": 0.99, "key": 0.98, "weak": 0.95}
# Per-label thresholds on the name score (after code, context and embedding adjustments). Set from
# what the name scores mean, not fitted: ≥ 0.92 is a typo or word-order variant of the same name
# ("Jon Smith" ~ "John Smith" 0.96), 0.85 is a name inside a longer one ("Acme Medical" ~
# "Acme Medical Systems"), which must not link an account or a person on its own.
LABEL_THRESHOLDS: dict[str, float] = {
    "Account": 0.90,
    "ThirdParty": 0.90,
    "Contact": 0.92,
    "Product": 0.88,
    "Device": 0.95,
    "Region": 0.95,
}
DEFAULT_LABEL_THRESHOLD = 0.92
# Context keys: (bonus when equal, penalty when both set and different).
CONTEXT_WEIGHTS: dict[str, tuple[float, float]] = {
    "account_id": (0.05, -0.10),
    "domain": (0.03, -0.05),
    "region": (0.02, -0.03),
    "site": (0.03, -0.05),
}
DEFAULT_CONTEXT_WEIGHT = (0.02, -0.02)
CONTEXT_BONUS_CAP = 0.06
EMBEDDING_SHARE = 0.3  # the embedding cosine's share of the name score when both vectors are known
# A shared model code sets the score to at least this: a product is identified by its model
# number; a device is one unit of a model, so the code alone (0.93) stays under the Device
# threshold (0.95) and context (same account or site) must agree too.
CODE_MATCH_SCORE = {"Product": 0.96, "Device": 0.93}
CODE_CONFLICT_PENALTY = 0.15  # both have model codes and none is shared (DSC-W120 vs DSC-W130)
_PRODUCT_LABELS = frozenset({"Product", "Device"})
_NAME_KIND_BY_LABEL: dict[str, NameKind] = {
    "Account": "organisation",
    "ThirdParty": "organisation",
    "Contact": "person",
    "Product": "product",
    "Device": "product",
}
_DOMAIN_KEYS = frozenset({"domain", "website", "url", "web"})


def domain_key(text: Any) -> str:
    """A web domain as an identifier: `normalise_domain(text, registrable=True)`; "" for free-mail
    providers (gmail.com, qq.com ...), which identify nobody."""
    host = normalise_domain(text, registrable=True)
    return "" if host in _FREEMAIL else host


def key_normaliser(key: str) -> Callable[[Any], str]:
    """The normaliser for a key type: email, phone (also `*_phone`, mobile), domain (also
    website, url, web), and `normalise_key` for anything else (tax_id, serial, sku ...)."""
    if key == "email":
        return normalise_email
    if key in ("phone", "mobile", "fax") or key.endswith("_phone"):
        return normalise_phone
    if key in _DOMAIN_KEYS:
        return domain_key
    return normalise_key


def _same_key(key: str, a: str, b: str) -> bool:
    return phones_match(a, b) if key_normaliser(key) is normalise_phone else a == b


def _words(key: str) -> str:
    return key.replace("_", " ")


@dataclass
class EntityCandidate:
    """A node already in the graph, or a mention to resolve.

    keys: identifiers by type (email, phone, domain, tax_id, serial ...), raw or normalised;
    context: where it was seen (account_id, domain, region, site ...); codes: model numbers
    (more are read from the name and aliases for products and devices); embedding: an
    optional L2-normalised vector of the name."""

    node_id: str | None
    label: str
    name: str = ""
    aliases: Sequence[str] = ()
    keys: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    codes: Sequence[str] = ()
    embedding: Sequence[float] | np.ndarray | None = None

    @property
    def name_kind(self) -> NameKind:
        """How this label's names are normalised."""
        return _NAME_KIND_BY_LABEL.get(self.label, "generic")

    def surface_names(self) -> dict[str, str]:
        """Normalised name → its first surface form, for the name then the aliases."""
        out: dict[str, str] = {}
        for text in (self.name, *self.aliases):
            if text:
                norm = normalise_name(text, self.name_kind)
                if norm and norm not in out:
                    out[norm] = str(text)
        return out

    def normalised_names(self) -> list[str]:
        """The name and aliases, normalised and deduplicated, name first."""
        return list(self.surface_names())

    def normalised_keys(self) -> dict[str, str]:
        """Keys normalised by type (website/url become domain); empty values and free-mail domains dropped."""
        out = {}
        for key, value in self.keys.items():
            if value is None or value == "":
                continue
            norm = key_normaliser(key)(value)
            if norm:
                out["domain" if key in _DOMAIN_KEYS else key] = norm
        return out

    def all_codes(self) -> frozenset[str]:
        """Explicit codes plus model codes found in the name and aliases (products and devices only)."""
        codes = {re.sub(r"[^a-z0-9]", "", fold(c)) for c in self.codes if c}
        if self.label in _PRODUCT_LABELS:
            for text in (self.name, *self.aliases):
                codes |= codes_of(text)
        return frozenset(c for c in codes if c)


@dataclass(frozen=True)
class Match:
    """The node a mention resolves to, with a score in [0, 1] and the reasons in words."""

    node_id: str | None
    score: float
    reasons: list[str]


def candidate_keys(mention: EntityCandidate) -> list[str]:
    """Blocking keys to fetch candidates for a mention from any store: `key:<type>:<value>` for
    identifiers (phones by their last 7 digits), `code:<code>`, `name:<normalised name>` for the
    name and aliases, and `token:<word>` for their words of 3+ letters (Chinese: character
    bigrams). Applied to stored nodes, the same function gives the index entries; a store looks
    up candidates of the mention's label sharing any key."""
    out: list[str] = []

    def add(key: str) -> None:
        if key not in out:
            out.append(key)

    for key, value in mention.normalised_keys().items():
        add(f"key:{key}:{value[-7:] if key_normaliser(key) is normalise_phone else value}")
    for code in sorted(mention.all_codes()):
        add(f"code:{code}")
    names = mention.normalised_names()
    for name in names:
        add(f"name:{name}")
    for name in names:
        for token in name.split():
            if _CJK.search(token):
                for i in range(max(1, len(token) - 1)):
                    add(f"token:{token[i : i + 2]}")
            elif len(token) >= 3 or token.isdigit():
                add(f"token:{token}")
    return out


class Resolver:
    """Decides whether a mention is one of the candidate nodes (see the module docstring).

    Rules, in order: (1) a shared strong key (tax id, serial) links; (2) a conflicting strong key
    excludes the candidate; (3) another shared key links (email, other identifiers; phone and
    domain only when the names do not contradict, similarity ≥ `WEAK_KEY_MIN_NAME`); (4) else
    the best name/alias similarity, blended with the embedding cosine when both vectors are
    known, raised to `CODE_MATCH_SCORE` by a shared model code (products, devices) or lowered
    by conflicting codes, plus context bonuses / minus context penalties, must reach the label's
    threshold (`LABEL_THRESHOLDS`)."""

    def __init__(
        self,
        thresholds: Mapping[str, float] | None = None,
        embedder: Any | None = None,
        context_weights: Mapping[str, tuple[float, float]] | None = None,
        token_stats: TokenStats | None = None,
    ):
        """thresholds: per-label overrides of `LABEL_THRESHOLDS`; embedder: an
        `ingest.embed.Embedder` for names without vectors (optional: without it, and without
        vectors on the candidates, the names alone decide); context_weights: overrides of
        `CONTEXT_WEIGHTS`; token_stats: word statistics of stored names (rare shared words
        then weigh more, see `soft_tfidf`)."""
        self.thresholds = {**LABEL_THRESHOLDS, **(thresholds or {})}
        self.embedder = embedder
        self.context_weights = {**CONTEXT_WEIGHTS, **(context_weights or {})}
        self.token_stats = token_stats
        self._vectors: dict[str, np.ndarray] = {}

    def threshold(self, label: str) -> float:
        """The score a candidate of this label must reach."""
        return self.thresholds.get(label, DEFAULT_LABEL_THRESHOLD)

    def _vector(self, entity: EntityCandidate) -> np.ndarray | None:
        if entity.embedding is not None:
            vec = np.asarray(entity.embedding, dtype=np.float32)
            return vec if vec.size else None
        if self.embedder is None or not entity.name:
            return None
        if entity.name not in self._vectors:
            self._vectors[entity.name] = np.asarray(self.embedder.embed([entity.name], kind="passage")[0], dtype=np.float32)
        return self._vectors[entity.name]

    def compare(self, mention: EntityCandidate, candidate: EntityCandidate) -> tuple[float, list[str], bool]:
        """(score, reasons, decided): `decided` is True when keys settled it, either way (a key
        match, or a strong-key conflict with score 0)."""
        mk, ck = mention.normalised_keys(), candidate.normalised_keys()
        names_m, names_c = mention.surface_names(), candidate.surface_names()
        best_name, pair = 0.0, ("", "")
        for a, surface_a in names_m.items():
            for b, surface_b in names_c.items():
                sim = name_similarity(a, b, self.token_stats)
                if numerals_conflict(a, b, roman=mention.name_kind != "person"):
                    sim = min(sim, 0.5)
                if sim > best_name or not pair[0]:
                    best_name, pair = sim, (surface_a, surface_b)

        same_strong = sorted(k for k in STRONG_KEYS if k in mk and k in ck and mk[k] == ck[k])
        if same_strong:
            return KEY_MATCH_SCORE["strong"], [f"same {_words(k)} ({mk[k]})" for k in same_strong], True
        conflicts = sorted(k for k in STRONG_KEYS if k in mk and k in ck and mk[k] != ck[k])
        if conflicts:
            return 0.0, [f"different {_words(k)} ({mk[k]} ≠ {ck[k]})" for k in conflicts], True
        shared = [k for k in mk if k in ck and _same_key(k, mk[k], ck[k])]
        decisive = [k for k in shared if k not in WEAK_KEYS]
        names_agree = not names_m or not names_c or best_name >= WEAK_KEY_MIN_NAME
        weak = [k for k in shared if k in WEAK_KEYS and names_agree]
        if decisive or weak:
            reasons = [f"same {_words(k)} ({mk[k]})" for k in decisive + weak]
            return KEY_MATCH_SCORE["key" if decisive else "weak"], reasons, True

        reasons: list[str] = []
        score_ = best_name
        if names_m and names_c:
            reasons.append(f"name {best_name:.2f} ({pair[0]} ~ {pair[1]})")
        vm, vc = self._vector(mention), self._vector(candidate)
        if vm is not None and vc is not None and vm.shape == vc.shape:
            cos = float(np.dot(vm, vc) / ((np.linalg.norm(vm) * np.linalg.norm(vc)) or 1.0))
            score_ = (1 - EMBEDDING_SHARE) * score_ + EMBEDDING_SHARE * cos
            reasons.append(f"embedding cosine {cos:.2f}")
        if mention.label in _PRODUCT_LABELS or candidate.label in _PRODUCT_LABELS:
            cm, cc = mention.all_codes(), candidate.all_codes()
            common = cm & cc
            if common:
                score_ = max(score_, CODE_MATCH_SCORE.get(candidate.label, CODE_MATCH_SCORE["Product"]))
                reasons.append(f"same model code {', '.join(sorted(common))}")
            elif cm and cc:
                score_ -= CODE_CONFLICT_PENALTY
                reasons.append(f"different model codes ({', '.join(sorted(cm))} vs {', '.join(sorted(cc))})")
        bonus = 0.0
        for key, value in mention.context.items():
            other = candidate.context.get(key)
            if value in (None, "") or other in (None, ""):
                continue
            plus, minus = self.context_weights.get(key, DEFAULT_CONTEXT_WEIGHT)
            norm = domain_key if key in _DOMAIN_KEYS else normalise_key
            if norm(value) == norm(other):
                bonus += plus
                reasons.append(f"same {_words(key)}")
            else:
                score_ += minus
                reasons.append(f"different {_words(key)}")
        score_ += min(bonus, CONTEXT_BONUS_CAP)
        return max(0.0, min(1.0, score_)), reasons, False

    def resolve(self, mention: EntityCandidate, candidates: Sequence[EntityCandidate]) -> Match | None:
        """The best candidate of the mention's label that passes the rules, or None (a new node).
        A key match beats any name score; a strong-key conflict excludes the candidate."""
        best: tuple[tuple[bool, float], EntityCandidate, list[str]] | None = None
        for cand in candidates:
            if cand.label != mention.label:
                continue
            s, reasons, decided = self.compare(mention, cand)
            if decided and s == 0.0:
                continue
            if not decided and s < self.threshold(mention.label):
                continue
            if best is None or (decided, s) > best[0]:
                best = ((decided, s), cand, reasons)
        if best is None:
            return None
        return Match(best[1].node_id, round(best[0][1], 4), best[2])

    def group(self, mentions: Sequence[EntityCandidate]) -> list[list[int]]:
        """Group a batch of mentions that denote the same entity (lists of indices, in order), so
        one ingest run creates one node per entity: candidates come from shared
        `candidate_keys`, and each mention joins the group whose first mention it resolves to."""
        index: dict[str, list[int]] = defaultdict(list)
        groups: list[list[int]] = []
        for i, mention in enumerate(mentions):
            keys = candidate_keys(mention)
            seen: list[int] = []
            for key in keys:
                for g in index.get(key, ()):
                    if g not in seen:
                        seen.append(g)
            reps = [replace(mentions[groups[g][0]], node_id=str(g)) for g in seen]
            match = self.resolve(mention, reps)
            if match is not None and match.node_id is not None:
                g = int(match.node_id)
            else:
                g = len(groups)
                groups.append([])
            groups[g].append(i)
            for key in keys:
                if g not in index[key]:
                    index[key].append(g)
        return groups
