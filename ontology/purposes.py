"""The purposes a request may declare (`ontology/purposes.yaml`, steward-edited).

Every API request names one purpose (header `X-Khub-Purpose`); consent enforcement (issue 6)
compares it with each data subject's consent. Intent definitions name the purposes an inference
may serve, and those must be in this catalogue too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from ontology.errors import SchemaInvalid, SchemaIssue
from ontology.yamlsource import line_of, load_yaml_with_lines

PURPOSES_FILE = Path(__file__).resolve().parent / "purposes.yaml"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
LANGUAGES = ("en", "zh")
#: The keys a purpose may have besides its descriptions.
EXTRA_KEYS = ("basis", "requires", "alternative")


#: Legal bases a purpose may rest on without a data subject's own consent.
DEFAULT_BASES = ("contract", "legal_obligation", "legitimate_interest")
#: The bases a person's refusal or revocation overrides (an objection); contract and legal obligation stand.
OBJECTABLE_BASES = frozenset({"legitimate_interest"})
#: Categories a purpose can use by default (not `none`: always usable; not `sensitive`: consent only).
DEFAULT_CATEGORIES = ("identity", "contact", "location", "behavioural", "financial")


@dataclass(frozen=True)
class Purpose:
    """One declared purpose of data use, with its description in English and Chinese, and the
    privacy categories it may use without a person's consent, by legal basis."""

    name: str
    description_en: str
    description_zh: str
    basis: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Categories without which the purpose cannot work at all: refused (or never consented), the purpose is off for that person.
    requires: tuple[str, ...] = ()
    #: The purpose khub suggests instead when this one is off for a person (when that one is on for them).
    alternative: str | None = None

    def default_basis(self) -> dict[str, str]:
        """Category -> the legal basis this purpose uses it on without consent."""
        return {category: basis for basis, categories in self.basis for category in categories}


@dataclass(frozen=True)
class PurposeCatalogue:
    """Every purpose a caller may declare, by name, in file order."""

    purposes: dict[str, Purpose]
    source: str

    def __contains__(self, name: object) -> bool:
        return name in self.purposes

    @property
    def names(self) -> tuple[str, ...]:
        """The purpose names, in file order."""
        return tuple(self.purposes)


def load_purposes(path: Path = PURPOSES_FILE) -> PurposeCatalogue:
    """Load and check the catalogue; `SchemaInvalid` names the file, line and purpose of every problem."""
    try:
        data, lines, duplicates = load_yaml_with_lines(path)
    except (OSError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SchemaInvalid([SchemaIssue(str(path), (mark.line + 1) if mark else 1, "(file)", str(exc))]) from None
    issues = [SchemaIssue(str(path), line, ".".join(where), "key given twice") for where, line in duplicates]
    entries = data.get("purposes") if isinstance(data, Mapping) else None
    if not isinstance(entries, Mapping) or not entries:
        raise SchemaInvalid([*issues, SchemaIssue(str(path), 1, "purposes", "expected a mapping from purpose name to its descriptions (en, zh)")])
    purposes: dict[str, Purpose] = {}
    for name, spec in entries.items():
        where = ("purposes", str(name))
        line = line_of(lines, where)
        if not _NAME.fullmatch(str(name)):
            issues.append(SchemaIssue(str(path), line, str(name), "a purpose name is lower case letters, digits and underscores"))
            continue
        if not isinstance(spec, Mapping):
            issues.append(SchemaIssue(str(path), line, str(name), "expected descriptions: {en: ..., zh: ...}"))
            continue
        texts = {}
        for lang in LANGUAGES:
            text = spec.get(lang)
            if not isinstance(text, str) or not text.strip():
                issues.append(SchemaIssue(str(path), line, f"{name}.{lang}", f"a purpose needs a description in {lang}"))
            texts[lang] = str(text or "").strip()
        for key in spec:
            if key not in (*LANGUAGES, *EXTRA_KEYS):
                known = ", ".join((*LANGUAGES, *EXTRA_KEYS))
                issues.append(SchemaIssue(str(path), line_of(lines, (*where, str(key))), f"{name}.{key}", f"unknown key (known: {known})"))
        basis = _basis(spec.get("basis"), str(path), lines, (*where, "basis"), issues)
        requires = spec.get("requires") or []
        if not isinstance(requires, list) or not all(c in (*DEFAULT_CATEGORIES, "sensitive") for c in requires):
            issues.append(SchemaIssue(str(path), line_of(lines, (*where, "requires")), f"{name}.requires", "expected a list of data categories"))
            requires = []
        alternative = spec.get("alternative")
        purposes[str(name)] = Purpose(str(name), texts["en"], texts["zh"], basis, tuple(requires), str(alternative) if alternative else None)
    for purpose in purposes.values():
        if purpose.alternative is not None and (purpose.alternative not in purposes or purpose.alternative == purpose.name):
            at = line_of(lines, ("purposes", purpose.name, "alternative"))
            issues.append(SchemaIssue(str(path), at, f"{purpose.name}.alternative", f"expected another purpose of this file, not {purpose.alternative!r}"))
    if issues:
        raise SchemaInvalid(issues)
    return PurposeCatalogue(purposes, str(path))


def _basis(raw: object, path: str, lines: dict, where: tuple[str, ...], issues: list[SchemaIssue]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A purpose's `basis` mapping (legal basis -> categories), checked; problems go to `issues`."""
    if raw is None:
        return ()
    element = ".".join(where[1:])
    if not isinstance(raw, Mapping):
        issues.append(SchemaIssue(path, line_of(lines, where), element, f"expected a mapping of legal basis ({', '.join(DEFAULT_BASES)}) to categories"))
        return ()
    out, seen = [], set()
    for basis, categories in raw.items():
        at = line_of(lines, (*where, str(basis)))
        if basis not in DEFAULT_BASES:
            issues.append(SchemaIssue(path, at, f"{element}.{basis}", f"a default basis is one of {', '.join(DEFAULT_BASES)} (consent is given per person)"))
            continue
        if not isinstance(categories, list) or not all(c in DEFAULT_CATEGORIES for c in categories):
            issues.append(SchemaIssue(path, at, f"{element}.{basis}", f"expected a list of categories among {', '.join(DEFAULT_CATEGORIES)}"))
            continue
        twice = sorted(seen & set(categories))
        if twice:
            issues.append(SchemaIssue(path, at, f"{element}.{basis}", f"{', '.join(twice)} already has another basis"))
        seen |= set(categories)
        out.append((str(basis), tuple(str(c) for c in categories)))
    return tuple(out)


@lru_cache(maxsize=4)
def default_purposes() -> PurposeCatalogue:
    """The shipped catalogue, loaded once."""
    return load_purposes()
