"""Money, dates, percentages and serial numbers in English and Chinese text, normalised.

Each finder returns `Quantity` spans with character offsets into the text and a normalised
value: money as (amount, ISO currency), dates as ISO `YYYY-MM-DD` (or a period such as
`2025-03` / `2025-Q4`), percentages as fractions, serials as upper-case strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))

_CURRENCY_SYMBOLS = {
    "$": "USD",
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "CNY",
    "￥": "CNY",
    "RMB": "CNY",
    "CNY": "CNY",
    "USD": "USD",
    "EUR": "EUR",
    "GBP": "GBP",
    "HKD": "HKD",
    "JPY": "JPY",
    "人民币": "CNY",
    "美元": "USD",
    "欧元": "EUR",
}
_SCALE_WORDS = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "b": 1e9}
_ZH_SCALES = {"万": 1e4, "亿": 1e8, "千": 1e3, "百万": 1e6, "千万": 1e7}
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


@dataclass(frozen=True)
class Quantity:
    """A recognised quantity: kind (money, date, percent, serial), span, text and value."""

    kind: str
    start: int
    end: int
    text: str
    value: Any


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("，", "").replace(" ", ""))


# ----------------------------------------------------------------------------- money
_NUM = r"\d{1,3}(?:[,，]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONEY_PREFIX = re.compile(
    rf"(?P<cur>US\$|\$|€|£|¥|￥|RMB|CNY|USD|EUR|GBP|HKD|JPY|人民币)\s?(?P<num>{_NUM})\s*(?P<scale>thousand|million|billion|bn|mn|[kKmMbB](?![a-zA-Z])|百万|千万|万|亿)?(?P<yuan>元)?",
)
_MONEY_SUFFIX = re.compile(
    rf"(?P<num>{_NUM})\s*(?P<scale>thousand|million|billion|百万|千万|万|亿)?\s*(?P<cur>元|美元|欧元|USD|EUR|GBP|CNY|RMB|dollars|euros)(?![a-zA-Z])",
)


def _scale(word: str | None) -> float:
    if not word:
        return 1.0
    return _ZH_SCALES.get(word) or _SCALE_WORDS.get(word.lower(), 1.0)


def find_money(text: str) -> list[Quantity]:
    """Amounts with a currency: $1.2 million, €300k, ¥50,000, 人民币120万元, 3亿元, 45 USD."""
    found: list[Quantity] = []
    taken: list[tuple[int, int]] = []
    for pattern in (_MONEY_PREFIX, _MONEY_SUFFIX):
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            cur = m.group("cur")
            currency = {"元": "CNY", "dollars": "USD", "euros": "EUR"}.get(cur, _CURRENCY_SYMBOLS.get(cur, cur))
            amount = _number(m.group("num")) * _scale(m.group("scale"))
            found.append(Quantity("money", m.start(), m.end(), m.group(0).strip(), (round(amount, 2), currency)))
            taken.append((m.start(), m.end()))
    return sorted(found, key=lambda q: q.start)


# ----------------------------------------------------------------------------- dates
_ZH_DATE = re.compile(r"(?P<y>\d{4})\s*年\s*(?:(?P<m>\d{1,2})\s*月\s*(?:(?P<d>\d{1,2})\s*[日号])?)?")
_ISO_DATE = re.compile(r"(?<!\d)(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)")
_EN_DATE_MDY = re.compile(rf"\b(?P<mon>{_MONTH_NAMES})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b", re.IGNORECASE)
_EN_DATE_DMY = re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?(?P<mon>{_MONTH_NAMES})\.?,?\s+(?P<y>\d{{4}})\b", re.IGNORECASE)
_EN_MONTH_YEAR = re.compile(rf"\b(?P<mon>{_MONTH_NAMES})\.?\s+(?P<y>\d{{4}})\b", re.IGNORECASE)
_QUARTER = re.compile(r"\b(?:(?P<y1>\d{4})\s*)?Q(?P<q>[1-4])(?:\s*(?P<y2>\d{4}))?\b|(?P<y3>\d{4})\s*年?\s*第(?P<zq>[一二三四1-4])季度")


def _iso(y: int, m: int | None = None, d: int | None = None) -> str | None:
    try:
        if m is None:
            return f"{y:04d}"
        if d is None:
            date(y, m, 1)
            return f"{y:04d}-{m:02d}"
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def find_dates(text: str) -> list[Quantity]:
    """Dates and periods: 2025年3月, 2026年12月1日, 2025-03-01, March 3, 2019, 3rd March 2019, Q4 2025."""
    found: list[Quantity] = []
    taken: list[tuple[int, int]] = []

    def add(m: re.Match[str], value: str | None) -> None:
        if value and not any(s < m.end() and m.start() < e for s, e in taken):
            found.append(Quantity("date", m.start(), m.end(), m.group(0).strip(), value))
            taken.append((m.start(), m.end()))

    for m in _ZH_DATE.finditer(text):
        add(m, _iso(int(m["y"]), int(m["m"]) if m["m"] else None, int(m["d"]) if m["d"] else None) if m["m"] else None)
    for m in _ISO_DATE.finditer(text):
        add(m, _iso(int(m["y"]), int(m["m"]), int(m["d"])))
    for pattern in (_EN_DATE_MDY, _EN_DATE_DMY):
        for m in pattern.finditer(text):
            add(m, _iso(int(m["y"]), _MONTHS[m["mon"].lower()], int(m["d"])))
    for m in _EN_MONTH_YEAR.finditer(text):
        if m["mon"].lower() == "may" and not text[m.start() : m.start() + 1].isupper():
            continue  # "may 2020" is more often the verb than the month
        add(m, _iso(int(m["y"]), _MONTHS[m["mon"].lower()]))
    for m in _QUARTER.finditer(text):
        year = m["y1"] or m["y2"] or m["y3"]
        quarter = m["q"] or str("一二三四".index(m["zq"]) + 1 if m["zq"] in "一二三四" else m["zq"])
        add(m, f"{year}-Q{quarter}" if year else f"Q{quarter}")
    return sorted(found, key=lambda q: q.start)


# ----------------------------------------------------------------------------- percentages
_PERCENT = re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*(?:%|％|percent\b|per cent\b)|百分之(?P<zh>[零〇一二两三四五六七八九十百\d.]+)")


def _zh_number(text: str) -> float | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    total, current = 0, 0
    for ch in text:
        if ch in _ZH_DIGITS:
            current = _ZH_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return float(total + current)


def find_percentages(text: str) -> list[Quantity]:
    """Percentages as fractions: 40%, 12.5 percent, 百分之三十."""
    out = []
    for m in _PERCENT.finditer(text):
        number = float(m["num"]) if m["num"] else _zh_number(m["zh"])
        if number is not None:
            out.append(Quantity("percent", m.start(), m.end(), m.group(0).strip(), round(number / 100, 6)))
    return out


# ----------------------------------------------------------------------------- serials
_SERIAL = re.compile(
    r"(?:\b(?:S/N|Serial(?:\s+(?:No\.?|Number|#))?)(?![A-Za-z])|\bSN(?![A-Za-z0-9])|序列号|出厂编号|设备编号|机身编号)\s*[:：#]?\s*(?P<serial>[A-Z0-9][A-Z0-9\-_/]{3,30})"
    r"|(?<![A-Za-z0-9])(?P<bare>SN[-_]?\d[A-Z0-9\-_/]{2,29})",
    re.IGNORECASE,
)
_MODEL_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]+(?:[-/.][A-Za-z0-9]+)*(?![A-Za-z0-9])")


def find_serials(text: str) -> list[Quantity]:
    """Serial numbers introduced by S/N, Serial No., 序列号, 出厂编号 ..., or written with their
    SN prefix (SN-2019-0142, SN20190142); a serial has a digit."""
    out = []
    for m in _SERIAL.finditer(text):
        group = "serial" if m["serial"] else "bare"
        serial = m[group].rstrip("-_/")
        if any(c.isdigit() for c in serial):
            out.append(Quantity("serial", m.start(group), m.start(group) + len(serial), serial, serial.upper()))
    return out


def model_codes(text: str) -> list[str]:
    """Model-number-like codes (letters and digits, e.g. DSC-W120P, US900), normalised:
    lower-case without separators, so 'DSC-W120/P' and 'dscw120p' compare equal."""
    codes = []
    for m in _MODEL_CODE.finditer(text):
        code = re.sub(r"[^a-z0-9]", "", m.group(0).lower())
        if len(code) >= 4 and re.search(r"\d", code) and re.search(r"[a-z]", code) and code not in codes:
            codes.append(code)
    return codes


def find_all(text: str) -> list[Quantity]:
    """Every quantity in `text`, in order."""
    return sorted(find_money(text) + find_dates(text) + find_percentages(text) + find_serials(text), key=lambda q: (q.start, q.kind))
