"""Steward-edited word lists that drive extraction: job titles → decision roles, organisation
suffixes. They live in `ontology/gazetteers/*.yaml` and are checked against the ontology."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from ontology.errors import SchemaInvalid, SchemaIssue
from ontology.model import Ontology, default_ontology

GAZETTEER_DIR = Path(__file__).resolve().parent / "gazetteers"


@dataclass(frozen=True)
class Gazetteers:
    """Title → role lists (EN lower-cased, ZH as written) and organisation suffixes."""

    role_titles_en: dict[str, str]
    role_titles_zh: dict[str, str]
    chinese_org_suffixes: tuple[str, ...]
    legal_suffixes_en: frozenset[str]
    legal_suffixes_zh: tuple[str, ...]

    def role_for_title(self, title: str) -> str | None:
        """The decision role a job title implies (longest matching title wins), or None."""
        low = title.lower()
        best: tuple[int, str] | None = None
        for phrase, role in self.role_titles_en.items():
            if _contains_words(low, phrase) and (best is None or len(phrase) > best[0]):
                best = (len(phrase), role)
        for phrase, role in self.role_titles_zh.items():
            if phrase in title and (best is None or len(phrase) > best[0]):
                best = (len(phrase), role)
        return best[1] if best else None


def _contains_words(text: str, phrase: str) -> bool:
    start = text.find(phrase)
    while start != -1:
        end = start + len(phrase)
        if (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
            return True
        start = text.find(phrase, start + 1)
    return False


def load_gazetteers(directory: Path = GAZETTEER_DIR, ontology: Ontology | None = None) -> Gazetteers:
    """Load and check the gazetteers; `SchemaInvalid` names the file and entry of any problem."""
    ontology = ontology or default_ontology()
    roles_file, orgs_file = directory / "roles.yaml", directory / "organisations.yaml"
    roles = (yaml.safe_load(roles_file.read_text(encoding="utf-8")) or {}).get("roles", {})
    orgs = yaml.safe_load(orgs_file.read_text(encoding="utf-8")) or {}
    allowed = set(ontology.enums.get("DecisionRole", ()))
    issues = [SchemaIssue(str(roles_file), 0, f"roles.{role}", f"not a DecisionRole ({', '.join(sorted(allowed))})") for role in roles if role not in allowed]
    if issues:
        raise SchemaInvalid(issues)
    en: dict[str, str] = {}
    zh: dict[str, str] = {}
    for role, lists in roles.items():
        for title in (lists or {}).get("en", []) or []:
            en[str(title).lower()] = role
        for title in (lists or {}).get("zh", []) or []:
            zh[str(title)] = role
    legal = orgs.get("legal_suffixes", {}) or {}
    return Gazetteers(
        role_titles_en=en,
        role_titles_zh=zh,
        chinese_org_suffixes=tuple(sorted(orgs.get("chinese_org_suffixes", []) or [], key=len, reverse=True)),
        legal_suffixes_en=frozenset(str(s).lower() for s in legal.get("en", []) or []),
        legal_suffixes_zh=tuple(sorted(legal.get("zh", []) or [], key=len, reverse=True)),
    )


@lru_cache(maxsize=1)
def default_gazetteers() -> Gazetteers:
    """The shipped gazetteers, loaded once."""
    return load_gazetteers()
