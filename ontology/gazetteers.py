"""Steward-edited word lists that drive extraction: job titles → decision roles, organisation
suffixes, and known terms (products, device models, policies). They live in
`ontology/gazetteers/*.yaml` and are checked against the ontology."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ontology.errors import SchemaInvalid, SchemaIssue
from ontology.model import NODE_KEY, Ontology, default_ontology
from ontology.yamlsource import Lines, load_yaml_with_lines

GAZETTEER_DIR = Path(__file__).resolve().parent / "gazetteers"

#: Sections of `terms.yaml` and the node type their entries are (an entry may say `label:`).
TERM_SECTIONS = {"products": "Product", "device_models": "Product", "policies": "Policy"}
#: Entry keys that are not node properties.
_TERM_KEYS = frozenset({"id", "label", "name", "en", "zh", "codes"})
#: Node properties a term may not set: khub maintains them, or (unique keys) they would clash
#: with a stored node of another id.
_MANAGED = frozenset({NODE_KEY, "alias_names", "embedding", "supported_by", "distinct_from"})
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]*")
_CJK = re.compile(r"[\u3400-\u9fff]")
#: Separators that names may write differently ("UltraScan 900", "UltraScan-900").
NAME_SEPARATORS = frozenset(" \t\r\n\u00a0\u3000-\u2010\u2011\u2013\u2014_")


def name_key(text: str) -> str:
    """How a term name is compared: NFKC, lower case, runs of spaces/dashes as one space."""
    out: list[str] = []
    gap = False
    for ch in unicodedata.normalize("NFKC", text).lower():
        if ch in NAME_SEPARATORS or ch.isspace():
            gap = bool(out)
            continue
        if gap:
            out.append(" ")
            gap = False
        out.append(ch)
    return "".join(out)


def code_key(text: str) -> str:
    """How a model code is compared: letters and digits only, lower case ("DSC-W120" = "dscw120")."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


@dataclass(frozen=True)
class Term:
    """A known product, device model or policy: the node it stands for (`label`, `id`), its
    display `name`, the `names` it goes by in EN and ZH text (matched case-insensitively, spaces
    and dashes alike), model `codes` (matched ignoring case and separators), and the
    properties its node is created with."""

    label: str
    id: str
    name: str
    names: tuple[str, ...]
    codes: tuple[str, ...] = ()
    props: tuple[tuple[str, Any], ...] = ()
    where: str = ""  # file:line of the entry, for messages

    @property
    def properties(self) -> dict[str, Any]:
        """The node properties as a dict (name included)."""
        return {"name": self.name, **dict(self.props)}


@dataclass(frozen=True)
class Gazetteers:
    """Title → role lists (EN lower-cased, ZH as written), organisation suffixes, known terms."""

    role_titles_en: dict[str, str]
    role_titles_zh: dict[str, str]
    chinese_org_suffixes: tuple[str, ...]
    legal_suffixes_en: frozenset[str]
    legal_suffixes_zh: tuple[str, ...]
    terms: tuple[Term, ...] = ()

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
    terms_file = directory / "terms.yaml"
    terms: tuple[Term, ...] = ()
    if terms_file.exists():
        terms, term_issues = _load_terms(terms_file, ontology)
        issues += term_issues
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
        terms=terms,
    )


def term_labels(ontology: Ontology) -> list[str]:
    """Node types a term may be: those chunks can MENTION that have a `name` (a Device is an
    installed unit, found by its serial number: list its model as a Product)."""
    mentions = ontology.edge_types.get("MENTIONS")
    targets = mentions.range if mentions else ()
    return sorted(t for t in targets if t in ontology.node_types and "name" in ontology.node_types[t].properties)


def _check_value(prop: Any, value: Any) -> str | None:
    """Why `value` does not fit property `prop`, or None."""
    values = value if prop.multivalued and isinstance(value, list) else [value]
    if prop.multivalued and not isinstance(value, list):
        return f"{prop.name} takes a list"
    for v in values:
        if prop.enum_values is not None:
            if v not in prop.enum_values:
                return f"{v!r} is not one of {', '.join(prop.enum_values)}"
        elif prop.range == "boolean":
            if not isinstance(v, bool):
                return f"{prop.name} takes true or false, not {v!r}"
        elif prop.range in ("integer", "float", "double"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (prop.range == "integer" and not isinstance(v, int)):
                return f"{prop.name} takes a number, not {v!r}"
        elif prop.range == "date":
            try:
                date.fromisoformat(str(v))
            except ValueError:
                return f"{prop.name} takes a date (YYYY-MM-DD), not {v!r}"
        elif not isinstance(v, str) or not v.strip():
            return f"{prop.name} takes a text, not {v!r}"
    return None


def _alias_problem(alias: str, code: bool) -> str | None:
    """Why a name or code is unusable for matching (too short to be safe), or None."""
    if code:
        key = code_key(alias)
        if len(key) < 3:
            return f"model code {alias!r} is too short (at least 3 letters and digits)"
        if not any(c.isdigit() for c in key):
            return f"model code {alias!r} has no digit (list names under en/zh)"
        return None
    key = name_key(alias)
    if _CJK.search(key):
        return None if len(key) >= 2 else f"name {alias!r} is too short (at least 2 Chinese characters)"
    return None if sum(c.isalnum() for c in key) >= 3 else f"name {alias!r} is too short (at least 3 letters or digits)"


def _load_terms(path: Path, ontology: Ontology) -> tuple[tuple[Term, ...], list[SchemaIssue]]:
    """The entries of `terms.yaml`, checked against the ontology; problems name file, line and entry."""
    issues: list[SchemaIssue] = []
    try:
        data, lines, duplicates = load_yaml_with_lines(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return (), [SchemaIssue(str(path), mark.line + 1 if mark else 0, "terms.yaml", f"not valid YAML: {exc}")]
    issues += [SchemaIssue(str(path), line, ".".join(p), "repeated key") for p, line in duplicates]
    if data is None:
        return (), issues
    if not isinstance(data, dict):
        return (), [*issues, SchemaIssue(str(path), 1, "terms.yaml", f"expected sections {', '.join(TERM_SECTIONS)}")]
    labels = term_labels(ontology)
    terms: list[Term] = []
    seen_ids: dict[tuple[str, str], str] = {}
    seen_keys: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, key) → (label:id, element)
    for section, entries in data.items():
        if section not in TERM_SECTIONS:
            issues.append(SchemaIssue(str(path), lines.get((section,), 0), section, f"unknown section (known: {', '.join(TERM_SECTIONS)})"))
            continue
        if entries is None:
            continue
        if not isinstance(entries, list):
            issues.append(SchemaIssue(str(path), lines.get((section,), 0), section, "expected a list of entries"))
            continue
        for i, entry in enumerate(entries):
            term, problems = _term(path, lines, section, i, entry, ontology, labels)
            issues += problems
            if term is None:
                continue
            element = f"{section}[{i}] ({term.id})"
            other = seen_ids.get((term.label, term.id))
            if other is not None:
                issues.append(SchemaIssue(str(path), lines.get((section, str(i)), 0), element, f"id {term.id!r} is also used by {other}"))
                continue
            seen_ids[(term.label, term.id)] = element
            clash = False
            for kind, key in [("name", name_key(n)) for n in term.names] + [("code", code_key(c)) for c in term.codes]:
                owner = seen_keys.setdefault((kind, key), (f"{term.label}:{term.id}", element))
                if owner[0] != f"{term.label}:{term.id}":
                    issues.append(SchemaIssue(str(path), lines.get((section, str(i)), 0), element, f"{kind} {key!r} also names {owner[1]}"))
                    clash = True
            if not clash:
                terms.append(term)
    return tuple(terms), issues


def _term(path: Path, lines: Lines, section: str, i: int, entry: Any, ontology: Ontology, labels: list[str]) -> tuple[Term | None, list[SchemaIssue]]:
    """One entry of `terms.yaml` as a Term, or the problems that keep it out."""
    here = (section, str(i))
    line = lines.get(here, 0)
    if not isinstance(entry, dict):
        return None, [SchemaIssue(str(path), line, f"{section}[{i}]", "expected a mapping with id, name, en, zh, codes, ...")]
    element = f"{section}[{i}] ({entry.get('id', '?')})"
    issues: list[SchemaIssue] = []

    def problem(key: str | None, message: str) -> None:
        issues.append(SchemaIssue(str(path), lines.get((*here, key), line) if key else line, f"{element}.{key}" if key else element, message))

    label = entry.get("label", TERM_SECTIONS[section])
    if label not in ontology.node_types:
        problem("label", f"{label!r} is not a node type of the ontology")
        return None, issues
    if label not in labels:
        problem("label", f"{label!r} cannot be a term (terms may be {', '.join(labels)}; a device model is a Product)")
        return None, issues
    node_type = ontology.node_types[label]
    term_id, name = entry.get("id"), entry.get("name")
    if not isinstance(term_id, str) or not _ID.fullmatch(term_id):
        problem("id" if "id" in entry else None, "needs an id: letters, digits, '.', '_', ':' or '-'")
    names: list[str] = []
    if not isinstance(name, str) or not name.strip():
        problem("name" if "name" in entry else None, "needs a name")
    elif why := _alias_problem(name, code=False):
        problem("name", why)
    else:
        names.append(name)
    codes: list[str] = []
    for key, target in (("en", names), ("zh", names), ("codes", codes)):
        value = entry.get(key, [])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
            problem(key, "expected a list of texts")
            continue
        for v in items:
            why = _alias_problem(v, code=key == "codes")
            if why:
                problem(key, why)
            elif v not in target:
                target.append(v)
    props: dict[str, Any] = {}
    for key, value in entry.items():
        if key in _TERM_KEYS:
            continue
        prop = node_type.properties.get(key)
        if prop is None or key in _MANAGED:
            problem(key, f"not a property a {label} term may set ({', '.join(sorted(p for p in node_type.properties if p not in _MANAGED and p != 'name'))})")
        elif prop.unique:
            problem(key, f"{key} is a unique key: set it on the node in the graph, not in a word list")
        elif why := _check_value(prop, value):
            problem(key, why)
        else:
            props[key] = value
    if codes and "model_number" in node_type.properties and "model_number" not in props:
        props["model_number"] = codes[0]
    if issues:
        return None, issues
    where = f"{path.name}:{line}: {element}"
    return Term(label, term_id, name.strip(), tuple(names), tuple(codes), tuple(sorted(props.items())), where), []


@lru_cache(maxsize=1)
def default_gazetteers() -> Gazetteers:
    """The shipped gazetteers, loaded once."""
    return load_gazetteers()
