"""Contract extractors: parties (with their defined short names), agreement date, governing law.

English contracts name their parties in the preamble: "... by and between NAME, a Delaware
corporation ("Alias"), and NAME ("Alias")" (or "among", or a "BETWEEN X AND Y" cover page);
Chinese contracts label them 甲方 / 乙方. The agreement date is the preamble's date ("dated as
of", "entered into on", "made this 3rd day of"); the governing law is the jurisdiction after
"governed by ... the laws of".
"""

from __future__ import annotations

import re
from typing import Any

from ingest.doc_rules import FieldValue, extractor
from ingest.nlp.quantities import find_dates

_PREAMBLE = re.compile(r"\b(?:by\s+and\s+)?(?:between|among|amongst)\b\s*:?", re.IGNORECASE)
_SEGMENT_SPLIT = re.compile(r";\s*(?:and\s+)?|,?\s+(?:and|AND)\s+(?=(?:the\s+|THE\s+)?[A-Z0-9\"“])|\n{2,}")
_DEFINED_PARTY = re.compile(r"\(\s*(?:the\s+|each\s+a\s+|hereinafter\s+(?:called\s+|referred\s+to\s+as\s+)?(?:the\s+)?)?[\"“]([^\"“”]{1,40})[\"”]")
# a full stop that ends a sentence, not an abbreviation such as Inc. Co. Ltd. N.V. No.
_ABBREVIATIONS = ("Inc", "Co", "Ltd", "Corp", "No", "St", "Str", "Ave", "Mt", "Blvd", "Rd", "Ste", "Dept", "Mr", "Ms", "Dr", "Jr", "Sr", "Ltda", "Bros")
_ABBREVIATION_DOT = "".join(rf"(?<!\b{a})" for a in _ABBREVIATIONS) + r"(?<!\b[A-Z])(?<!\bL\.P)(?<!\bN\.A)(?<!\bS\.A)(?<!\bB\.V)(?<!\bN\.V)"
_SENTENCE_END = re.compile(_ABBREVIATION_DOT + r"\.\s+(?=[A-Z0-9])")
_PARTY_START = re.compile(r"(?:\bbetween\b|\bamong\b|\band\b|\bby\b|;|\)|\n|" + _ABBREVIATION_DOT + r"\.\s|:)\s*", re.IGNORECASE)
_ORG_SUFFIX = re.compile(
    r"\b(?:inc|incorporated|corp|corporation|co|company|companies|ltd|limited|llc|l\.l\.c|lp|l\.p|llp|plc|gmbh|ag|s\.?a|s\.?p\.?a|n\.?v|b\.?v|"
    r"pte|pty|kg|kk|s\.?à\s*r\.?l|sarl|association|bank|bancorp|trust|fund|partners|holdings?|group|university|institute|foundation|"
    r"hospital|authority|agency|society)\b\.?",
    re.IGNORECASE,
)
_PARTY_ROLES = frozenset(
    """
    company licensor licensee distributor supplier customer vendor consultant client manufacturer agent bank
    seller buyer purchaser franchisee franchisor contractor provider reseller partner sponsor investor lender
    borrower owner operator developer publisher employer employee executive affiliate ma service provider
    recipient institution university hospital collaborator
    """.split()
)
_NAME_END = re.compile(
    r",?\s+(?:a|an)\s+(?=[A-Za-z]+\s+(?:corporation|company|limited|partnership|llc|entity|organization|organisation|bank|university|"
    r"state|public|private|joint|stock|national|federal|non-profit|nonprofit|société|sociedad|gmbh|[A-Z][a-z]+))"
    r"|\s*\(|,?\s+(?:located|having|with\s+(?:its|a|offices)|organized|organised|incorporated|whose|registered|existing|acting|doing\s+business|"
    r"hereinafter|together|on\s+behalf|residing|each\s+a|collectively|formerly)\b|,\s+(?=[0-9])|\s+as\s+(?=[A-Z\"“(])"
    r"|,?\s+and\s+its\s+(?:affiliates|subsidiaries)\b|\s+of\s+(?=\d)|,?\s+(?:with|at)\s+(?:its|an?)\s+(?:principal|registered|office|address)",
    re.IGNORECASE,
)
_DEFINED_TERM = re.compile(r"\(\s*(?:the\s+|each\s+a\s+|hereinafter\s+(?:called\s+|referred\s+to\s+as\s+)?)?[\"“”']([^\"“”']{1,60})[\"“”']", re.IGNORECASE)
_LEADING = re.compile(r"^(?:the\s+undersigned\s+|(?:and|&)\s+|[,:;.\-–\s]+)", re.IGNORECASE)
_NOT_A_PARTY = re.compile(r"^(?:(?:the\s+)?(?:parties|party|each|both|all|certain|its|their|this|such|said|other|any|one|two)|an?)\b", re.IGNORECASE)
_LABELLED_PARTY = re.compile(r"\bParty\s+[AB12]\s*[:：]\s*([^\n]{2,120}?)(?=\s{2,}|\n|\s+(?:Address|Legal|Registered|Tel)\b|$)")
_JUNK = re.compile(
    r":|^(?:address|attention|attn|tel|telephone|fax|e-?mail|postcode|definitions?|recitals?|source|exhibit|schedule|section|article|"
    r"page|table|title|name|signature|by|its|date|services?|territory|products?)\b",
    re.IGNORECASE,
)
_ZH_PARTY = re.compile(r"(甲方|乙方|丙方|买方|卖方|委托方|受托方|采购人|供应商)\s*[（(]?[^）)\n:：]{0,10}[）)]?\s*[:：]\s*([^\s，,。；;\n]{2,60})")
_DATE_CUE = re.compile(r"dated|as\s+of|entered\s+into|made\s+(?:and\s+entered\s+)?(?:on|this|as)|effective|executed|day\s+of|签订|签署|订立", re.IGNORECASE)
_LAWS_OF = re.compile(
    r"\blaws?\s+of\s+(?:the\s+)?(?:(?:State|Commonwealth|Province|Republic|Federal\s+Republic|Kingdom|People's\s+Republic|Canton)\s+of\s+)?"
    r"(?P<place>[A-Z][A-Za-z'\.]*(?:\s+(?:of\s+|and\s+)?[A-Z][A-Za-z'\.]*){0,4})",
    re.IGNORECASE,
)
_GOVERNING_CUE = re.compile(r"govern|constru|interpret|enforce|applicable\s+law|choice\s+of\s+law|in\s+accordance\s+with\s+the\s+laws", re.IGNORECASE)
_INCORPORATION_CUE = re.compile(r"organi[sz]ed|incorporated|existing|formed|duly|chartered|corporation\s+under|company\s+under", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.;]*(?:\.(?=\S)[^.;]*)*[.;]?")
_PREAMBLE_END = re.compile(
    r"\b(?:WHEREAS|RECITALS|W\s*I\s*T\s*N\s*E\s*S\s*S\s*E\s*T\s*H|NOW,?\s+THEREFORE|BACKGROUND)\b|\.\s+(?:The\s+parties|Each\s+of|In\s+consideration)"
)
_ZH_LAW = re.compile(r"适用\s*(?P<place>[\u4e00-\u9fff]{2,20}?)(?:的)?法律")
_PLACE_TAIL = re.compile(r"\s+(?:and|without|applicable|as|excluding|except|in|including|that|which|shall|to|for|with|regardless|notwithstanding)$")


def _clean_name(segment: str) -> str:
    name = _LEADING.sub("", segment.strip())
    cut = _NAME_END.search(name)
    if cut:
        name = name[: cut.start()]
    name = name.strip(" ,;:\"“”'")
    return " ".join(name.split())


def _plausible(name: str) -> bool:
    """An organisation (it has a legal-form or institution word) or a short capitalised name;
    a Chinese name from an explicit 甲方/乙方 label is taken as it is."""
    if re.search(r"[\u4e00-\u9fff]", name):
        return 2 <= len(name) <= 60
    if not 2 <= len(name) <= 120 or _NOT_A_PARTY.match(name) or _JUNK.search(name):
        return False
    words = name.split()
    if len(words) > 14:
        return False
    if _ORG_SUFFIX.search(name):
        return True
    if not (name[0].isupper() or name[0].isdigit()) or any(ch.isdigit() for ch in name) or name.endswith("."):
        return False
    return len(words) <= 5 and all(w[:1].isupper() or w.lower() in ("of", "and", "de", "van", "von", "la", "du", "&") for w in words)


@extractor("contract_parties")
def contract_parties(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """The parties named in the preamble, each as {"name", "aliases"}; Chinese 甲方/乙方 labels too."""
    head = text[: int(options.get("window", 12000))]
    found: list[FieldValue] = []
    seen: set[str] = set()

    def add(name: str, aliases: list[str], start: int, confidence: float) -> None:
        key = name.casefold()
        if key not in seen and _plausible(name):
            seen.add(key)
            found.append(FieldValue({"name": name, "aliases": aliases}, start, start + len(name), confidence))

    for m in _ZH_PARTY.finditer(head):
        add(m.group(2), [m.group(1)], m.start(2), 0.9)
    for m in _LABELLED_PARTY.finditer(head):
        add(_clean_name(m.group(1)), [], m.start(1), 0.85)
    for name, alias, start in _defined_parties(head[: int(options.get("defined_window", 6000))]):
        add(name, [alias], start, 0.8)
    for m in _PREAMBLE.finditer(head):
        window = head[m.end() : m.end() + int(options.get("preamble_chars", 1400))]
        stop = _PREAMBLE_END.search(window)
        window = window[: stop.start()] if stop else window
        sentence_end = _SENTENCE_END.search(window)
        window = window[: sentence_end.start() + 1] if sentence_end else window
        position = m.end()
        for segment in _SEGMENT_SPLIT.split(window):
            offset = window.find(segment) if segment else -1
            name = _clean_name(segment)
            aliases = [a.strip() for a in _DEFINED_TERM.findall(segment)]
            if name:
                add(name, aliases, position + max(offset, 0), 0.85)
            if len(found) >= int(options.get("max_parties", 6)):
                break
        if found:
            break
    return found


def _defined_parties(head: str) -> list[tuple[str, str, int]]:
    """Names followed by a defined short name, e.g. `Acme Inc., a Delaware corporation ("Acme")`,
    kept when the name looks like an organisation or the short name is a party role."""
    out = []
    for m in _DEFINED_PARTY.finditer(head):
        alias = m.group(1).strip()
        back = head[max(0, m.start() - 260) : m.start()]
        starts = list(_PARTY_START.finditer(back))
        begin = starts[-1].end() if starts else 0
        # "Acme Inc., a Delaware corporation": step back over the description to the name
        segment = back[begin:]
        while starts and not _clean_name(segment) and len(starts) > 1:
            starts.pop()
            segment = back[starts[-1].end() :]
        name = _clean_name(segment)
        if name and (_ORG_SUFFIX.search(name) or alias.lower() in _PARTY_ROLES):
            out.append((name, alias, m.start() - len(back) + begin))
    return out


@extractor("contract_date")
def contract_date(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """The agreement date: a full date near a cue in the preamble, else the first full date."""
    head = text[: int(options.get("window", 6000))]
    dates = [q for q in find_dates(head) if len(q.value) == 10]
    if not dates:
        return []
    for q in dates:
        if _DATE_CUE.search(head[max(0, q.start - 120) : q.start]):
            return [FieldValue(q.value, q.start, q.end, 0.85)]
    q = dates[0]
    return [FieldValue(q.value, q.start, q.end, 0.5)]


@extractor("governing_law")
def governing_law(text: str, options: dict[str, Any]) -> list[FieldValue]:
    """The governing law's jurisdiction ("New York", "England", "中华人民共和国"): the first sentence
    that names the laws of a place with a governing cue (govern, construe, interpret, enforce),
    leaving out incorporation statements ("organized under the laws of ...")."""
    for m in _ZH_LAW.finditer(text):
        return [FieldValue(m.group("place"), m.start("place"), m.end("place"), 0.85)]
    for sentence in _SENTENCE.finditer(text):
        chunk = sentence.group(0)
        if "law" not in chunk.lower() or not _GOVERNING_CUE.search(chunk):
            continue
        for m in _LAWS_OF.finditer(chunk):
            before = chunk[max(0, m.start() - 80) : m.start()]
            if _INCORPORATION_CUE.search(before) and not _GOVERNING_CUE.search(before):
                continue
            place = _tidy_place(m.group("place"))
            if place:
                start = sentence.start() + m.start("place")
                return [FieldValue(place, start, start + len(place), 0.85)]
    return []


def _tidy_place(place: str) -> str | None:
    place = re.sub(r"^the\s+", "", place.strip(), flags=re.IGNORECASE)
    while _PLACE_TAIL.search(place):
        place = _PLACE_TAIL.sub("", place)
    place = place.rstrip(" .,")
    if not place or place.lower() in ("the", "such", "any", "this", "that", "applicable", "its", "their", "each"):
        return None
    return place
