"""Tender-notice extractors: buyer, budget, deadline, CPV codes, publication date, evaluation
weights and technical-parameter deviation rules.

The logic is generic; the words it looks for live in `ontology/parse_rules/tender_notice.yaml`
(label keywords per language, currencies, month names, organisation words), so a steward
adds a language by editing the rule file.

Labelled values come first: a label ("采购人", "Official name", "Time limit for receipt of
tenders", "预算金额（万元）") followed by a separator and the value on the same line, or by the
value on the next line (flattened tables, forms). Where a document carries no labels, as the
text our XML reader makes from a TED export (element values without their tag names), some
fields fall back to layout cues with a lower confidence: the buyer is the organisation heading
the first contact block (the name above the street, postcode, phone and e-mail lines), the
deadline is the first date that has a clock time, the publication date is the earliest of the
first dates without one, the evaluation weights are a flattened two-column table summing to 100.

Every extractor returns `FieldValue`s whose spans are offsets into the text it was given.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from ingest.doc_rules import FieldValue, extractor

# ----------------------------------------------------------------------------- labels

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD_CHAR = r"[^\W_]"  # a letter or digit in any script


def _label_piece(label: str) -> str:
    """One label as a regular expression: a space matches any spacing or an underscore (element
    names such as DATE_PUB), spaces allowed between Chinese characters (PDF headings are often
    letter-spaced), word boundaries for alphabetic labels."""
    parts = []
    for ch in label.strip():
        if ch.isspace():
            if not parts or parts[-1] != r"[\s_]+":
                parts.append(r"[\s_]+")
        elif _CJK.match(ch):
            parts.append(re.escape(ch) + r"\s*")
        else:
            parts.append(re.escape(ch))
    body = "".join(parts)
    body = body.removesuffix(r"\s*")
    if label[:1].isalnum() and not _CJK.match(label[:1]):
        body = rf"(?<!{_WORD_CHAR}){body}"
    if label[-1:].isalnum() and not _CJK.match(label[-1:]):
        body = rf"{body}(?!{_WORD_CHAR})"
    return body


@lru_cache(maxsize=256)
def label_pattern(labels: tuple[str, ...]) -> re.Pattern[str] | None:
    """A pattern matching any of `labels` (longest first, case-insensitive), with an optional
    parenthesised unit after it captured as `unit` ("预算金额（万元）", "Value (EUR)")."""
    cleaned = sorted({str(x) for x in labels if str(x).strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    alternation = "|".join(_label_piece(x) for x in cleaned)
    return re.compile(rf"(?:{alternation})(?:\s*[(（](?P<unit>[^()（）\n]{{1,16}})[)）])?", re.IGNORECASE)


def _labels(options: dict[str, Any], key: str = "labels") -> tuple[str, ...]:
    return tuple(str(x) for x in options.get(key) or ())


# ----------------------------------------------------------------------------- lines


@dataclass(frozen=True)
class Line:
    """A non-empty line of the text: its stripped text and where that text starts and ends."""

    text: str
    start: int
    end: int


def text_lines(text: str) -> list[Line]:
    """The non-empty lines of `text` with offsets of their stripped text."""
    out = []
    pos = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped:
            lead = len(raw) - len(raw.lstrip())
            out.append(Line(stripped, pos + lead, pos + lead + len(stripped)))
        pos += len(raw) + 1
    return out


# ----------------------------------------------------------------------------- dates and times

_DEFAULT_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5, "june": 6, "jun": 6,
    "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10,
    "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_ZH_DATE = re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?")
_NUMERIC_DATE = re.compile(r"(?<![\d.,/:])(?P<a>\d{1,4})(?P<sep>\s*[./-]\s*)(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})(?![\d]|[.,]\d)")
_COMPACT_DATE = re.compile(r"(?<![\d+.,/-])(?P<y>(?:19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])(?![\d])")
_TIME = re.compile(
    r"(?P<half>上午|下午|中午|晚上)?\s*(?P<h>[01]?\d|2[0-3])"
    r"(?:\s*[:：]\s*(?P<m1>[0-5]\d)(?:\s*[:：]\s*[0-5]\d)?"
    r"|\s*\.\s*(?P<m2>[0-5]\d)(?=\s*(?:Uhr|h\b|hrs?\b|heures?|ore\b|godz|uur))"
    r"|h(?P<m4>[0-5]\d)?(?![^\W\d_])"
    r"|\s*[时點点]\s*(?:(?P<m3>[0-5]?\d)\s*分|整)?"
    r"|\s*(?=Uhr|h\b|hrs?\b|heures?\b|uur\b|noon\b|midday\b|[AaPp]\.?\s?[Mm]\.?(?![A-Za-z])))"
    r"(?:\s*(?P<ampm>[AaPp])\.?\s?[Mm]\.?(?![A-Za-z]))?",
)


@dataclass(frozen=True)
class DateHit:
    """A date found in text, with the clock time that goes with it when there is one."""

    day: str  # ISO YYYY-MM-DD
    time: str | None  # HH:MM
    start: int
    end: int

    @property
    def value(self) -> str:
        """ISO date, or ISO date-time (`YYYY-MM-DDTHH:MM`) when a time goes with it."""
        return f"{self.day}T{self.time}" if self.time else self.day


def _iso(y: int, m: int, d: int) -> str | None:
    if not 1900 <= y <= 2199:
        return None
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


@lru_cache(maxsize=32)
def _month_pattern(names: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    dmy = re.compile(
        rf"(?<![\w])(?P<d>\d{{1,2}})(?:st|nd|rd|th|er|\.|º)?\s*(?:de\s+|of\s+)?(?P<mon>{alternation})(?![^\W\d_])\.?,?\s*(?:de\s+)?(?P<y>\d{{4}})(?!\d)",
        re.IGNORECASE,
    )
    mdy = re.compile(rf"(?<![\w])(?P<mon>{alternation})(?![^\W\d_])\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})(?!\d)", re.IGNORECASE)
    return dmy, mdy


def _months(options: dict[str, Any]) -> dict[str, int]:
    months = dict(_DEFAULT_MONTHS)
    for name, number in (options.get("months") or {}).items():
        months[str(name).lower()] = int(number)
    return months


def find_dates(text: str, options: dict[str, Any] | None = None) -> list[DateHit]:
    """Full dates (day precision) in `text`, each with the clock time right after (or before) it.

    Recognises 2026年12月1日, 2026-12-01, 01.12.2026, 1/12/2026 (day first unless the options
    say `day_first: false`), 1 December 2026 / 1. Dezember 2026 / 1er décembre 2026 (month names
    from the options), December 1, 2026 and, with `compact_dates: true`, 20261201.
    """
    options = options or {}
    day_first = bool(options.get("day_first", True))
    months = _months(options)
    spans: list[tuple[int, int, str]] = []

    def add(start: int, end: int, iso: str | None) -> None:
        if iso and not any(s < end and start < e for s, e, _ in spans):
            spans.append((start, end, iso))

    for m in _ZH_DATE.finditer(text):
        add(m.start(), m.end(), _iso(int(m["y"]), int(m["m"]), int(m["d"])))
    for m in _NUMERIC_DATE.finditer(text):
        a, b, c = m["a"], m["b"], m["c"]
        if len(a) == 4 and len(c) <= 2:
            add(m.start(), m.end(), _iso(int(a), int(b), int(c)))
        elif len(c) == 4 and len(a) <= 2:
            d, mo = (int(a), int(b)) if day_first else (int(b), int(a))
            add(m.start(), m.end(), _iso(int(c), mo, d) or _iso(int(c), d, mo))
    dmy, mdy = _month_pattern(tuple(months))
    for pattern in (dmy, mdy):
        for m in pattern.finditer(text):
            add(m.start(), m.end(), _iso(int(m["y"]), months[m["mon"].lower()], int(m["d"])))
    if options.get("compact_dates"):
        for m in _COMPACT_DATE.finditer(text):
            add(m.start(), m.end(), _iso(int(m["y"]), int(m["m"]), int(m["d"])))
    spans.sort()
    hits: list[DateHit] = []
    for i, (start, end, iso) in enumerate(spans):
        limit = spans[i + 1][0] if i + 1 < len(spans) else len(text)
        time, end = _time_near(text, start, end, limit, hits[-1].end if hits else 0)
        hits.append(DateHit(iso, time, start, end))
    return hits


def _clock(m: re.Match[str]) -> str | None:
    hour = int(m["h"])
    minute = int(m["m1"] or m["m2"] or m["m3"] or m["m4"] or 0)
    if m["half"] in ("下午", "晚上") or (m["ampm"] and m["ampm"].lower() == "p"):
        hour = hour + 12 if hour < 12 else hour
    elif m["ampm"] and m["ampm"].lower() == "a" and hour == 12:
        hour = 0
    if hour > 23:
        return None
    return f"{hour:02d}:{minute:02d}"


_TIME_BEFORE = re.compile(
    r"(?P<half>上午|下午)?(?P<h>[01]?\d|2[0-3])\s*[:：]\s*(?P<m1>[0-5]\d)(?:\s*(?P<ampm>[AaPp])\.?\s?[Mm]\.?)?(?P<m2>)(?P<m3>)(?P<m4>)\D{0,12}$",
)


def _time_near(text: str, start: int, end: int, limit: int, lower: int) -> tuple[str | None, int]:
    """The clock time written right after a date (a few words or lines on, before any other
    number), else right before it ("12:00 on 18 March"); and where the date-time ends."""
    pos, stop = end, min(limit, end + 40)
    while pos < stop and not (text[pos].isdigit() or text[pos] in "上下中晚"):
        pos += 1
    between = text[end:pos]
    if pos < stop and between.count("\n") <= 4 and len(between.strip()) <= 30:
        m = _TIME.match(text, pos)
        clock = _clock(m) if m else None
        if m and clock:
            return clock, m.end()
    m = _TIME_BEFORE.search(text, max(lower, start - 24), start)
    if m:
        return _clock(m), end
    return None, end


# ----------------------------------------------------------------------------- money

_DEFAULT_CURRENCIES = {"€": "EUR", "£": "GBP", "$": "USD", "US$": "USD", "¥": "CNY", "￥": "CNY", "元": "CNY", "人民币": "CNY", "RMB": "CNY"}
_DEFAULT_SCALES = {"万": 1e4, "亿": 1e8, "thousand": 1e3, "million": 1e6, "billion": 1e9, "m": 1e6, "bn": 1e9, "k": 1e3}
_AMOUNT = r"(?<![\d.,])(?:\d{1,3}(?:[ \u00a0\u202f'’.,]\d{3})+(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d+)?)"


@dataclass(frozen=True)
class Money:
    """An amount with its currency (ISO code; None when the text gives none) and span."""

    amount: float
    currency: str | None
    start: int
    end: int


def parse_amount(raw: str) -> float | None:
    """A number written with any thousands / decimal convention: 1,200,000.00, 1.200.000,00,
    1 200 000,00, 1'200'000, 1200000.5, 1,5 → 1.5."""
    s = raw.replace("\u00a0", " ").replace("\u202f", " ").replace("’", "'").strip()
    s = s.replace(" ", "").replace("'", "")
    if not s:
        return None
    dots, commas = s.count("."), s.count(",")
    if dots and commas:
        decimal = "." if s.rfind(".") > s.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        s = s.replace(thousands, "").replace(decimal, ".")
    elif dots + commas:
        sep = "." if dots else ","
        parts = s.split(sep)
        thousands = len(parts) > 2 or (len(parts[-1]) == 3 and parts[0] not in ("", "0"))
        s = s.replace(sep, "") if thousands else s.replace(sep, ".")
    try:
        return float(s)
    except ValueError:
        return None


@lru_cache(maxsize=32)
def _money_patterns(currencies: tuple[tuple[str, str], ...], scales: tuple[tuple[str, float], ...]) -> re.Pattern[str]:
    def alternation(words: Iterable[str]) -> str:
        pieces = []
        for w in sorted(words, key=len, reverse=True):
            piece = re.escape(w)
            if w[:1].isalpha() and not _CJK.match(w[:1]):
                piece = rf"(?<![^\W\d_]){piece}"
            if w[-1:].isalpha() and not _CJK.match(w[-1:]):
                piece = rf"{piece}(?![^\W\d_])"
            pieces.append(piece)
        return "|".join(pieces)

    cur = alternation(c for c, _ in currencies)
    scale = alternation(s for s, _ in scales)
    return re.compile(rf"(?:(?P<pre>{cur})\s?)?(?P<num>{_AMOUNT})(?:\s?(?P<scale>(?i:{scale})))?(?:\s?(?P<post>{cur}))?")


def _money_words(options: dict[str, Any]) -> tuple[dict[str, str], dict[str, float]]:
    """Currency words (→ ISO code) and scale words (→ multiplier): built in, plus the options'."""
    currencies = dict(_DEFAULT_CURRENCIES)
    currencies.update({str(k): str(v) for k, v in (options.get("currencies") or {}).items()})
    scales = dict(_DEFAULT_SCALES)
    scales.update({str(k): float(v) for k, v in (options.get("scales") or {}).items()})
    return currencies, scales


def find_amounts(text: str, options: dict[str, Any], default_currency: str | None = None, default_scale: float = 1.0) -> list[Money]:
    """Amounts in `text` with the currency written next to them (options `currencies`:
    symbol or word → ISO code, matched case-sensitively; `scales`: word → multiplier); `default_currency` and
    `default_scale` apply to bare numbers (a label said "（万元）" or "(EUR)")."""
    currencies, scales = _money_words(options)
    lower_scales = {k.lower(): v for k, v in scales.items()}
    pattern = _money_patterns(tuple(sorted(currencies.items())), tuple(sorted(scales.items())))
    found = []
    for m in pattern.finditer(text):
        amount = parse_amount(m["num"])
        if amount is None:
            continue
        code = m["pre"] or m["post"]
        scale_word = m["scale"]
        if scale_word and scale_word.lower() in ("m", "k") and not code:
            continue  # "5 m" is metres, not millions, unless a currency is written
        currency = currencies.get(code) if code else default_currency
        factor = lower_scales.get(scale_word.lower(), 1.0) if scale_word else (1.0 if code else default_scale)
        found.append(Money(round(amount * factor, 2), currency, m.start(), m.end()))
    return found


# ----------------------------------------------------------------------------- helpers

_SEPARATOR = re.compile(r"[ \t]*(?:[:：]|为|是|\bis\b|\bare\b|[-–—](?=\s))?[ \t]*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_PHONE = re.compile(r"^(?:(?:tel|phone|fax|电话|传真)[.:：]?\s*)?\+?\(?\d[\d\s\-/().]{5,}\d$", re.IGNORECASE)
_POSTCODE = re.compile(r"^(?:[A-Z]{1,3}[\s-]?)?\d[\dA-Z\s-]{1,8}$")
_IDENTIFIER = re.compile(r"^(?=[^\s]*\d)[^\s]{5,}$|^[\d\s./-]+$|^[0-9a-f]{8}-[0-9a-f]{4}-")
_SECTION_NUMBER = re.compile(r"^(?:[IVX]+\.\d|\d+(?:\.\d+)+\)?\s|[IVX]+\)|\(?[a-z]\)\s)")


def _field_value(value: Any, start: int, end: int, confidence: float) -> FieldValue:
    return FieldValue(value, start, end, round(confidence, 2))


def _value_after(text: str, pos: int, max_lines: int = 2) -> tuple[str, int]:
    """The value after a label ending at `pos`: the rest of its line after a separator, or
    (when the label ends its line) the next non-empty line within `max_lines` lines."""
    sep = _SEPARATOR.match(text, pos)
    start = sep.end() if sep else pos
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    rest = text[start:line_end].strip()
    if rest:
        return rest, start + (len(text[start:line_end]) - len(text[start:line_end].lstrip()))
    cursor = line_end
    for _ in range(max_lines + 2):
        if cursor >= len(text):
            break
        nxt = text.find("\n", cursor + 1)
        nxt = len(text) if nxt < 0 else nxt
        candidate = text[cursor + 1 : nxt]
        if candidate.strip():
            return candidate.strip(), cursor + 1 + (len(candidate) - len(candidate.lstrip()))
        cursor = nxt
    return "", start


# ----------------------------------------------------------------------------- buyer


_SEAL_NOTE = re.compile(r"[（(][^（）()]{0,8}(?:盖章|签字|公章|签章|seal|stamp)[^（）()]{0,8}[）)]?$", re.IGNORECASE)


def _cut_name(value: str, options: dict[str, Any]) -> str:
    """The organisation name at the start of a labelled value."""
    stop = label_pattern(_labels(options, "stop_words"))
    if stop:
        m = stop.search(value)
        if m and m.start() > 0:
            value = value[: m.start()]
    if _CJK.match(value[:1] or " "):
        value = re.split(r"\s|[，,；;。、]", value, maxsplit=1)[0]
    else:
        value = re.split(r"\t|\s{3,}|;|；|。|\s+[-–—]\s+(?=\d)", value, maxsplit=1)[0]
        address = label_pattern(_labels(options, "address_words"))
        parts = value.split(",")
        for i in range(1, len(parts)):
            if re.search(r"(?<![\w.])\d{1,6}[A-Za-z]?(?![\w.])", parts[i]) or (address and address.search(parts[i])):
                value = ",".join(parts[:i])
                break
    value = _SEAL_NOTE.sub("", value.strip()).strip(" \t:：,，;；。-–—|\"'“”()（）")
    last = value.rsplit(None, 1)[-1] if value else ""
    if last.endswith(".") and len(last) > 5 and "." not in last[:-1]:
        value = value[:-1]  # a full stop, not an abbreviation such as "Ltd." or "A.m.b.A."
    return value.strip()


def _plausible_name(value: str, options: dict[str, Any]) -> bool:
    if not 2 <= len(value) <= int(options.get("max_chars", 200)):
        return False
    letters = sum(1 for c in value if c.isalpha())
    if letters < 2 or letters < len(value) * 0.4:
        return False
    if _EMAIL.search(value) or _URL.search(value) or _PHONE.match(value) or _SECTION_NUMBER.match(value):
        return False
    labels = label_pattern(_labels(options) + _labels(options, "sublabels") + _labels(options, "stop_words"))
    return not (labels and labels.fullmatch(value))


@extractor("tender_buyer")
def tender_buyer(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """The buyer (contracting authority, 采购人/招标人): the value after a buyer label (a sub-label
    such as "名称" / "Official name" right after it is skipped); without labels, the organisation
    heading the first contact block (option `contact_block`)."""
    found: list[FieldValue] = []
    seen: set[str] = set()
    labels = label_pattern(_labels(options))
    sublabels = label_pattern(_labels(options, "sublabels"))
    limit = int(options.get("max_values", 3))
    if labels:
        for m in labels.finditer(text):
            if not _ends_label(text, m.end()):
                continue
            value, start = _value_after(text, m.end())
            sub = sublabels.match(value) if sublabels else None
            if sub and _ends_label(value, sub.end()):
                inner, offset = _value_after(value, sub.end(), max_lines=0)
                start, value = start + offset, inner
            name = _cut_name(value, options)
            key = name.casefold()
            in_prose = re.match(r"\s+(?:is|are)\b", text[m.end() : m.end() + 6], re.IGNORECASE)
            if in_prose and not name[:1].isupper():
                continue  # "the buyer is entitled to ..." names nobody
            if name and key not in seen and _plausible_name(name, options):
                seen.add(key)
                begin = text.find(name, start)
                begin = begin if begin >= 0 else start
                found.append(_field_value(name, begin, begin + len(name), 0.9 if not found else 0.7))
            if len(found) >= limit:
                break
    if not found and options.get("contact_block"):
        guess = _contact_block_name(text, options["contact_block"] if isinstance(options["contact_block"], dict) else {})
        if guess:
            found.append(guess)
    return found


def _ends_label(text: str, pos: int) -> bool:
    """A label is followed by a separator, the end of its line, or a table gap, not by more words."""
    rest = text[pos : pos + 4]
    return bool(re.match(r"[ \t]*(?:[:：]|为|是|\n|\t|\s{2,}|$)|\s+(?:is|are)\b|[ \t]*[-–—]\s", rest + "\n" if len(rest) < 4 else rest))


def _line_kind(line: str) -> str:
    """A rough kind of a short line in an address block."""
    if _EMAIL.search(line):
        return "email"
    if _URL.search(line):
        return "url"
    if _PHONE.match(line):
        return "phone"
    if _POSTCODE.match(line) and len(line) <= 10:
        return "postcode"
    if _IDENTIFIER.match(line) or line.upper() in ("N/A", "NA", "-"):
        return "identifier"
    if re.search(r"\d", line) and len(line) <= 80 and re.search(r"[^\W\d_]{3,}", line):
        return "street"
    return "text"


def _contact_block_name(text: str, options: dict[str, Any]) -> FieldValue | None:
    """The organisation heading the first contact block: among the lines above the first e-mail
    address (option `lookback` lines), the name-like line scored by an organisation word (option
    `org_words`), by being followed by address lines, by recurring in the document; a line that
    looks like a street, postcode, identifier, phone or a lone town is not a name."""
    lines = text_lines(text)
    anchor = next((i for i, line in enumerate(lines) if _EMAIL.search(line.text)), None)
    if anchor is None:
        return None
    org_words = label_pattern(_labels(options, "org_words"))
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.text] = counts.get(line.text, 0) + 1
    lookback = int(options.get("lookback", 10))
    first = max(0, anchor - lookback)
    best: tuple[float, int] | None = None
    for i in range(first, anchor):
        line = lines[i].text
        if _line_kind(line) != "text" or not _plausible_name(line, options):
            continue
        score = 0.0
        if org_words and org_words.search(line):
            score += 3
        following = [_line_kind(lines[j].text) for j in range(i + 1, anchor)]
        following = [k for k in following if k != "identifier"]
        address_like = [k for k in following[:3] if k in ("street", "postcode")]
        if following and following[0] in ("street", "postcode"):
            score += 2
        elif address_like:
            score += 1
        words = line.split()
        if counts[line] > 1 and len(words) >= 2:
            score += 1
        if len(words) == 1 and not (org_words and org_words.search(line)) and not line.isupper():
            score -= 1  # a lone town name ("Heemstede", "Prescot")
        if following and following[0] in ("phone", "email") and 2 <= len(words) <= 4 and not (org_words and org_words.search(line)):
            score -= 2  # a contact person right above the phone number
        if best is None or score > best[0]:
            best = (score, i)
    if best is None or best[0] < float(options.get("min_score", 1)):
        return None
    line = lines[best[1]]
    return _field_value(line.text, line.start, line.end, float(options.get("confidence", 0.5)))


# ----------------------------------------------------------------------------- budget


def _unit_money(unit: str | None, options: dict[str, Any]) -> tuple[str | None, float]:
    """Currency and scale a label's unit gives bare numbers: "万元" → (CNY, 10000), "EUR" or
    "currency: EUR" → (EUR, 1), "Mio. EUR" → (EUR, 1000000)."""
    if not unit:
        return None, 1.0
    currencies, scales = _money_words(options)

    def word_in_unit(word: str, flags: int = 0) -> bool:
        piece = re.escape(word)
        if word[:1].isalpha() and not _CJK.match(word[:1]):
            piece = rf"(?<![^\W\d_]){piece}(?![^\W\d_])"
        return bool(re.search(piece, unit, flags))

    currency = next((currencies[w] for w in sorted(currencies, key=len, reverse=True) if word_in_unit(w)), None)
    scale = next((scales[w] for w in sorted(scales, key=len, reverse=True) if word_in_unit(w, re.IGNORECASE)), 1.0)
    return currency, scale if currency else 1.0


@extractor("tender_budget")
def tender_budget(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """The budget (estimated value, 预算金额, 最高限价) as (amount, ISO currency): the first amount
    with a currency within `window` characters after a budget label (before a line labelled as
    another field); a currency or unit between the label and a bare number applies to it
    ("预算金额（万元）：120", "Value (EUR): 1200", 'VAL_TOTAL CURRENCY="EUR": 1200')."""
    labels = label_pattern(_labels(options))
    if not labels:
        return []
    window = int(options.get("window", 160))
    found: list[FieldValue] = []
    seen: set[tuple[float, str | None]] = set()
    for m in labels.finditer(text):
        segment = _until_other_label(text[m.end() : m.end() + window], labels)
        for money in find_amounts(segment, options):
            if money.currency is None:
                currency, scale = _unit_money((m["unit"] or "") + " " + segment[: money.start][-40:], options)
                money = Money(round(money.amount * scale, 2), currency, money.start, money.end)
            if money.currency is None or money.amount <= 0:
                continue
            raw = segment[money.start : money.end]
            if re.fullmatch(r"(?:19|20)\d{2}", raw.strip()) or _percent_after(segment, money.end):
                continue
            key = (money.amount, money.currency)
            if key not in seen:
                seen.add(key)
                found.append(_field_value(key, m.end() + money.start, m.end() + money.end, 0.9 if not found else 0.7))
            break
        if len(found) >= int(options.get("max_values", 3)):
            break
    return found


_LINE_LABEL = re.compile(r"\n[ \t]*(?P<label>[^\n:：]{1,40}?)[ \t]*[:：]")


def _until_other_label(segment: str, labels: re.Pattern[str]) -> str:
    """`segment` up to the first later line that starts with a label not among `labels`."""
    for m in _LINE_LABEL.finditer(segment):
        if not labels.search(m["label"]):
            return segment[: m.start()]
    return segment


def _percent_after(text: str, pos: int) -> bool:
    return bool(re.match(r"\s*(?:%|％|percent|per\s+cent)", text[pos:]))


# ----------------------------------------------------------------------------- dates


def _labelled_dates(text: str, labels: tuple[str, ...], options: dict[str, Any], want_time: bool) -> list[tuple[DateHit, int]]:
    """(date, label start) for each label followed within `window` characters by a date; with
    `want_time`, a date that has a clock time beats an earlier one without."""
    pattern = label_pattern(labels)
    if not pattern:
        return []
    window = int(options.get("window", 150))
    out = []
    for m in pattern.finditer(text):
        segment = text[m.end() : m.end() + window]
        hits = find_dates(segment, options)
        if not hits:
            continue
        hit = next((h for h in hits if h.time), hits[0]) if want_time else hits[0]
        if want_time and hit is not hits[0] and hit.start - hits[0].end > 60:
            hit = hits[0]
        out.append((DateHit(hit.day, hit.time, m.end() + hit.start, m.end() + hit.end), m.start()))
    return out


@extractor("tender_deadline")
def tender_deadline(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """The deadline for tenders (投标截止时间, time limit for receipt of tenders) as an ISO date or
    date-time; `secondary_labels` (opening of tenders, 开标时间) count when no primary label
    does; with `fallback_first_datetime`, the first date that has a clock time."""
    for key, confidence in (("labels", 0.9), ("secondary_labels", 0.7)):
        hits = _labelled_dates(text, _labels(options, key), options, want_time=True)
        if hits:
            hit = hits[0][0]
            return [_field_value(hit.value, hit.start, hit.end, confidence)]
    if options.get("fallback_first_datetime"):
        for hit in find_dates(text, options):
            if hit.time:
                return [_field_value(hit.value, hit.start, hit.end, 0.4)]
    return []


@extractor("tender_publication_date")
def tender_publication_date(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """The notice's publication date (发布日期, date of publication; `secondary_labels` such as the
    date of dispatch when none); with `fallback_earliest_date`, the earliest of the first
    `fallback_first_dates` dates that have no clock time (a notice states its own date near the
    top; deadlines come with a time)."""
    for key, confidence in (("labels", 0.9), ("secondary_labels", 0.7)):
        hits = _labelled_dates(text, _labels(options, key), options, want_time=False)
        if hits:
            hit = hits[0][0]
            return [_field_value(hit.day, hit.start, hit.end, confidence)]
    if options.get("fallback_earliest_date"):
        hits = [h for h in find_dates(text[:20000], options) if not h.time][: int(options.get("fallback_first_dates", 3))]
        if hits:
            hit = min(hits, key=lambda h: (h.day, h.start))
            return [_field_value(hit.day, hit.start, hit.end, 0.3)]
    return []


# ----------------------------------------------------------------------------- CPV codes

_CPV = re.compile(r"(?<![\d.,/-])(?P<code>\d{8})(?:\s?-\s?(?P<check>\d))?(?![\d]|[.,]\d)")


# the divisions (first two digits) of the CPV 2008 vocabulary
_CPV_DIVISIONS = frozenset(
    "03 09 14 15 16 18 19 22 24 30 31 32 33 34 35 37 38 39 41 42 43 44 45 48 50 51 55 60 63 64 65 66 70 71 72 73 75 76 77 79 80 85 90 92 98".split()
)


def _valid_cpv(code: str) -> bool:
    return code[:2] in _CPV_DIVISIONS


@extractor("tender_cpv")
def tender_cpv(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """CPV (Common Procurement Vocabulary) codes, 8 digits of a CPV division, one value each:
    first the code after a `main_labels` label ("Main CPV code"), then, in document order,
    8-digit numbers within `window` characters after a CPV label and anywhere the check-digit
    form `NNNNNNNN-N`."""
    window = int(options.get("window", 300))
    codes: dict[str, FieldValue] = {}
    main: list[FieldValue] = []

    def add(m: re.Match[str], offset: int, confidence: float) -> FieldValue | None:
        code = m["code"]
        if _valid_cpv(code) and code not in codes:
            codes[code] = _field_value(code, offset + m.start(), offset + m.end(), confidence)
            return codes[code]
        return None

    main_labels = label_pattern(_labels(options, "main_labels"))
    if main_labels:
        for lm in main_labels.finditer(text):
            first = _CPV.search(text, lm.end(), lm.end() + int(options.get("main_window", 120)))
            value = add(first, 0, 0.9) if first else None
            if value:
                main.append(value)
                break
    labels = label_pattern(_labels(options))
    if labels:
        for lm in labels.finditer(text):
            for m in _CPV.finditer(text[lm.end() : lm.end() + window]):
                add(m, lm.end(), 0.85)
    for m in _CPV.finditer(text):
        if m["check"]:
            add(m, 0, 0.8)
    rest = sorted((v for v in codes.values() if v not in main), key=lambda v: v.start)
    return (main + rest)[: int(options.get("max_values", 50))]


# ----------------------------------------------------------------------------- evaluation weights

_UNIT = r"%|％|分|points?|pts\.?|punkte|punten|puntos|punti|punktów|poäng|pisteet"


@dataclass(frozen=True)
class _Pair:
    criterion: str
    number: float
    unit: str
    start: int
    end: int
    raw: str = ""  # the criterion as written


@lru_cache(maxsize=16)
def _pair_pattern(weight_words: tuple[str, ...]) -> re.Pattern[str]:
    words = "|".join(_label_piece(w) for w in sorted(weight_words, key=len, reverse=True)) or "(?!)"
    return re.compile(
        rf"(?P<crit>[^\W\d_][^\n:：;；,，、。%()（）\d=]{{0,60}}?)\s*(?:[(（]\s*)?(?P<word>(?:{words})\s*)?"
        rf"(?:[:：=]|[-–—]\s*(?:(?P<word2>{words})\s*[:：]?)?)?\s*(?P<num>\d{{1,3}}(?:[.,]\d+)?)\s*(?P<unit>{_UNIT})?(?![\d])",
        re.IGNORECASE,
    )


_CRIT_TRIM_END = re.compile(
    r"(?:\s|分值|分数|得分|部分|分|权重|占|为|weighting|weight|gewichtung|pondération|ponderación|ponderazione|[-–—:：(（/|])+$",
    re.IGNORECASE,
)
_CRIT_TRIM_START = re.compile(
    r"^(?:\s|and\b|und\b|et\b|y\b|e\b|are\b|is\b|as\s+follows\b|follows\b|其中|如下|和|及|为|是|、|[-–—•·*])+",
    re.IGNORECASE,
)


def _criterion(raw: str) -> str:
    crit = _CRIT_TRIM_START.sub("", _CRIT_TRIM_END.sub("", raw.strip()))
    words = crit.split()
    if words and _CJK.search(words[-1]):
        return words[-1]  # "评分标准如下 价格" → "价格"
    return " ".join(words[-6:])


def _weight_blocks(segment: str, weight_words: tuple[str, ...]) -> list[list[_Pair]]:
    """Runs of criterion-weight pairs that follow each other closely (at most 60 characters apart)."""
    blocks: list[list[_Pair]] = []
    current: list[_Pair] = []
    for m in _pair_pattern(weight_words).finditer(segment):
        crit = _criterion(m["crit"])
        unit = (m["unit"] or "").lower()
        if not crit or not (unit or m["word"] or m["word2"]) or (current and m.start() - current[-1].end > 60):
            if current:
                blocks.append(current)
            current = []
        if crit and (unit or m["word"] or m["word2"]):
            current.append(_Pair(crit, float(m["num"].replace(",", ".")), unit, m.start("crit") + m["crit"].find(crit[:1]), m.end(), m["crit"]))
    if current:
        blocks.append(current)
    return blocks


def _as_weights(block: list[_Pair], total_words: re.Pattern[str] | None, relative: bool) -> tuple[dict[str, float], int, int] | None:
    """A run of criterion-weight pairs as ({criterion: fraction}, start, end): weights summing to
    100 (or 1), or percentages summing to at most 100; with `relative`, points of any total
    (divided by their sum). Pairs naming the total ("满分100分", "maximum 100 points") are left out."""
    block = [p for p in block if not (total_words and total_words.fullmatch((p.raw or p.criterion).strip(" \t:：-–—(（")))]
    if len(block) < 2 or len({p.criterion for p in block}) != len(block) or any(p.number <= 0 for p in block):
        return None
    total = sum(p.number for p in block)
    percents = all(p.unit in ("%", "％") for p in block)
    if 99.5 <= total <= 100.5 or (percents and total <= 100.5):
        scale = 100.0
    elif 0.995 <= total <= 1.005:
        scale = 1.0
    elif relative and not any(p.unit in ("%", "％") for p in block):
        scale = total
    else:
        return None
    return {p.criterion: round(p.number / scale, 4) for p in block}, block[0].start, block[-1].end


_TABLE_PAIR = re.compile(
    r"(?m)^[ \t]*(?P<crit>[^\W\d_][^\n]{0,80}?)[ \t]*\n(?:[ \t]*\n)*[ \t]*(?P<num>\d{1,3}(?:[.,]\d+)?)[ \t]*(?P<unit>%|％|分|points?)?[ \t]*$",
)


def _table_blocks(text: str) -> list[list[_Pair]]:
    """Flattened two-column tables: a criterion line, then a line holding only its weight."""
    blocks: list[list[_Pair]] = []
    current: list[_Pair] = []
    for m in _TABLE_PAIR.finditer(text):
        pair = _Pair(m["crit"].strip(), float(m["num"].replace(",", ".")), (m["unit"] or "").lower(), m.start("crit"), m.end())
        if current and text[current[-1].end : m.start()].strip():
            blocks.append(current)
            current = []
        current.append(pair)
    if current:
        blocks.append(current)
    return blocks


@extractor("tender_weights")
def tender_weights(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """Evaluation (award) criteria and their weights as {criterion: fraction}: pairs such as
    "价格40%，技术45%", "价格分40分", "Price 40%", "Quality – Weighting: 60" within `window`
    characters after a criteria label (a run summing to 100, percentages, or points divided by
    their sum); with `fallback_table`, a flattened two-column table (criterion line, number
    line) summing to 100."""
    labels = label_pattern(_labels(options))
    weight_words = _labels(options, "weight_words")
    total_words = label_pattern(_labels(options, "total_words"))
    window = int(options.get("window", 1500))
    if labels:
        for lm in labels.finditer(text):
            segment = text[lm.end() : lm.end() + window]
            for block in _weight_blocks(segment, weight_words):
                found = _as_weights(block, total_words, relative=True)
                if found:
                    weights, start, end = found
                    return [_field_value(weights, lm.end() + start, lm.end() + end, 0.85)]
    if options.get("fallback_table"):
        for block in _table_blocks(text):
            found = _as_weights(block, total_words, relative=False)
            if found:
                weights, start, end = found
                return [_field_value(weights, start, end, 0.5)]
    return []


# ----------------------------------------------------------------------------- deviation rules


def _segments(text: str) -> Iterable[tuple[int, int]]:
    """Lines, cut further at Chinese full stops / semicolons and at English sentence ends."""
    for line in text_lines(text):
        for piece in re.finditer(r"[^。；;]+[。；;]?", line.text):
            sub = piece.group(0)
            base = line.start + piece.start()
            cuts = [0] + [m.end() for m in re.finditer(r"(?<=[a-z0-9)\]][.!?])\s+(?=[A-Z★▲※*])", sub)] + [len(sub)]
            for a, b in itertools.pairwise(cuts):
                chunk = sub[a:b]
                if chunk.strip():
                    lead = len(chunk) - len(chunk.lstrip())
                    yield base + a + lead, base + a + len(chunk.rstrip())


@extractor("tender_deviation_rules")
def tender_deviation_rules(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """The sentences or lines that state technical-parameter deviation requirements: those with a
    deviation keyword (负偏离, 偏离表, deviation, Abweichung ...) and those marked as mandatory
    or important parameters (★, ▲), in document order."""
    keywords = label_pattern(_labels(options, "keywords"))
    markers = tuple(str(m) for m in options.get("markers") or ())
    limit = int(options.get("max_values", 40))
    max_chars = int(options.get("max_chars", 300))
    found: list[FieldValue] = []
    seen: set[str] = set()
    for start, end in _segments(text):
        segment = text[start:end]
        by_keyword = bool(keywords and keywords.search(segment))
        by_marker = any(marker in segment for marker in markers)
        if not (by_keyword or by_marker):
            continue
        value = " ".join(segment.split())[:max_chars]
        if value in seen or len(value) < 4:
            continue
        seen.add(value)
        found.append(_field_value(value, start, end, 0.8 if by_keyword else 0.7))
        if len(found) >= limit:
            break
    return found
