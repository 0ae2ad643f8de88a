"""Document-type parse rules: recognise a document's type and extract its typed fields.

Rules live in `ontology/parse_rules/<doc_type>.yaml` (steward-edited): how to detect the type
(regular expressions over the beginning of the text) and which named extractor fills each
field. Extractors are Python functions registered here by name; a rule file picks and
configures them, so a steward changes what is extracted without writing code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ontology.errors import SchemaInvalid, SchemaIssue

RULES_DIR = Path(__file__).resolve().parents[2] / "ontology" / "parse_rules"


@dataclass(frozen=True)
class FieldValue:
    """An extracted value with the text span it came from (offsets into the document text)."""

    value: Any
    start: int
    end: int
    confidence: float


@dataclass
class DocFacts:
    """The document type and its extracted fields (a field may hold several values)."""

    doc_type: str
    fields: dict[str, list[FieldValue]] = field(default_factory=dict)

    def first(self, name: str) -> Any:
        """The best value of a field, or None."""
        values = self.fields.get(name) or []
        return values[0].value if values else None


#: An extractor gets the document text and the field's options from the rule file.
Extractor = Callable[[str, dict[str, Any]], list[FieldValue]]
EXTRACTORS: dict[str, Extractor] = {}


def extractor(name: str) -> Callable[[Extractor], Extractor]:
    """Register a field extractor under `name` (the name rule files use)."""

    def register(fn: Extractor) -> Extractor:
        EXTRACTORS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class ParseRule:
    """One document type: its detection patterns and its fields."""

    doc_type: str
    description: str
    window: int
    min_hits: int
    patterns: tuple[re.Pattern[str], ...]
    fields: dict[str, dict[str, Any]]

    def detect(self, text: str) -> int:
        """How many detection patterns occur in the beginning of `text`."""
        head = text[: self.window]
        return sum(1 for p in self.patterns if p.search(head))

    def apply(self, text: str) -> DocFacts:
        """Run every field's extractor over `text`."""
        facts = DocFacts(self.doc_type)
        for name, options in self.fields.items():
            values = EXTRACTORS[options["extractor"]](text, options)
            if values:
                facts.fields[name] = values
        return facts


def load_rules(directory: Path = RULES_DIR) -> dict[str, ParseRule]:
    """All parse rules; `SchemaInvalid` names the file and field of any problem."""
    _register_builtin_extractors()
    rules: dict[str, ParseRule] = {}
    issues: list[SchemaIssue] = []
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        doc_type = data.get("doc_type") or path.stem
        detect = data.get("detect") or {}
        patterns = []
        for i, raw in enumerate(detect.get("patterns") or []):
            try:
                patterns.append(re.compile(raw))
            except re.error as exc:
                issues.append(SchemaIssue(str(path), 0, f"detect.patterns[{i}]", f"bad regular expression: {exc}"))
        fields = data.get("fields") or {}
        for name, options in fields.items():
            if not isinstance(options, dict) or options.get("extractor") not in EXTRACTORS:
                issues.append(SchemaIssue(str(path), 0, f"fields.{name}", f"unknown extractor (known: {', '.join(sorted(EXTRACTORS))})"))
        rules[doc_type] = ParseRule(
            doc_type, data.get("description", ""), int(detect.get("window", 4000)), int(detect.get("min_hits", 1)), tuple(patterns), dict(fields)
        )
    if issues:
        raise SchemaInvalid(issues)
    return rules


@lru_cache(maxsize=1)
def default_rules() -> dict[str, ParseRule]:
    """The shipped parse rules, loaded once."""
    return load_rules()


def detect_type(text: str, rules: dict[str, ParseRule] | None = None) -> str | None:
    """The document type whose rule matches best (at least its `min_hits`), or None."""
    best: tuple[int, str] | None = None
    for rule in (rules or default_rules()).values():
        hits = rule.detect(text)
        if hits >= rule.min_hits and (best is None or hits > best[0]):
            best = (hits, rule.doc_type)
    return best[1] if best else None


def extract_facts(text: str, doc_type: str | None = None, rules: dict[str, ParseRule] | None = None) -> DocFacts | None:
    """The facts of `text` for its (given or detected) type, or None when no rule applies."""
    rules = rules or default_rules()
    doc_type = doc_type or detect_type(text, rules)
    if doc_type is None or doc_type not in rules:
        return None
    return rules[doc_type].apply(text)


def _register_builtin_extractors() -> None:
    # importing the modules registers their extractors
    from ingest.doc_rules import contract, tender  # noqa: F401
