"""Business features and concepts, defined by business users in YAML (no code).

**Features** (`ontology/features.yaml`): a named number about a subject, read from the graph.
Each has a subject type, a path from the subject to the things it counts (the same steps and
conditions as intent signals: `{edge, direction, node, where}`), a time property and an optional
window, and an aggregate:

    site_dwell_minutes_30d:
      subject: Contact
      describe: minutes spent on our site in the last 30 days
      path: [{edge: PERFORMED_BY, direction: in, node: Event, where: {event_type: web_view}}]
      time: occurred_at
      window_days: 30
      aggregate: sum            # count, sum, avg, min, max, last, days_since_last
      property: duration_seconds
      scale: 0.016667           # seconds -> minutes

`count` and `days_since_last` need no property; a subject with nothing found gets `default`
(0 for count and sum, none otherwise: comparisons with none are false).

**Concepts** (`ontology/concepts/*.yaml`, one per file): a named set of subjects defined by an
expression over features in the ZEN expression language (GoRules), which reads like a sentence:

    id: high_potential_customer
    subject: Contact
    description: {en: ..., zh: ...}
    when: site_dwell_minutes_30d > 5 and whitepaper_downloads_30d >= 1 and missed_sales_calls_30d < 2

Validation names the file, line and element of every problem: an unknown feature, a feature of
another subject type, an expression ZEN cannot read, an unknown property in a path, a missing
property for an aggregate that needs one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ontology.errors import SchemaInvalid, SchemaIssue
from ontology.intents import SUBJECT_LABELS, DefinitionChecker, PathPattern
from ontology.model import Ontology, default_ontology
from ontology.yamlsource import load_yaml_with_lines

ONTOLOGY_DIR = Path(__file__).resolve().parent
FEATURES_FILE = ONTOLOGY_DIR / "features.yaml"
CONCEPT_DIR = ONTOLOGY_DIR / "concepts"
AGGREGATES = ("count", "sum", "avg", "min", "max", "last", "days_since_last")
NEEDS_PROPERTY = frozenset({"sum", "avg", "min", "max", "last"})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: Words of the ZEN expression language that are not feature names.
EXPRESSION_WORDS = frozenset({"and", "or", "not", "in", "true", "false", "null", "abs", "round", "floor", "ceil", "min", "max", "sum", "avg", "len"})
_IDENTIFIER = re.compile(r"(?<![\w.'\"$])([a-z_][a-z0-9_]*)(?![\w'\"(])")


@dataclass(frozen=True)
class FeatureDef:
    """One named feature of a subject type (see the module doc)."""

    name: str
    subject: str
    pattern: PathPattern
    aggregate: str
    prop: str | None = None
    window_days: float | None = None
    scale: float = 1.0
    default: float | None = None
    describe: str = ""

    @property
    def empty_value(self) -> float | None:
        """The value of a subject with nothing found."""
        if self.default is not None:
            return self.default
        return 0.0 if self.aggregate in ("count", "sum") else None


@dataclass(frozen=True)
class ConceptDef:
    """A named set of subjects: those whose features satisfy `when`."""

    id: str
    subject: str
    when: str
    features: tuple[str, ...]
    description_en: str = ""
    description_zh: str = ""
    source: str = ""


def expression_names(expression: str) -> list[str]:
    """The feature names an expression uses (words that are not ZEN keywords or functions, outside strings)."""
    code = re.sub(r"'[^']*'|\"[^\"]*\"", " ", expression)
    return sorted({m.group(1) for m in _IDENTIFIER.finditer(code)} - EXPRESSION_WORDS)


def zen_message(exc: BaseException) -> str:
    """The readable part of a ZEN error (its first line is JSON with `source`; a backtrace follows)."""
    first = str(exc).strip().split("\n", 1)[0]
    try:
        return str(json.loads(first).get("source") or first)
    except (ValueError, AttributeError):
        return first or type(exc).__name__


def check_expression(expression: str) -> str | None:
    """Why ZEN cannot read `expression`, or evaluate it with every name bound to 0 (None when it can)."""
    import zen

    try:
        zen.compile_expression(expression).evaluate(dict.fromkeys(expression_names(expression), 0))
    except Exception as exc:  # zen raises RuntimeError with the parser's or the VM's message
        return zen_message(exc)
    return None


def check_condition(
    check: DefinitionChecker, expression: str, names: Iterable[str], features: Mapping[str, FeatureDef], subject: str, what: str, unknown: str
) -> None:
    """Check a `when` condition: each name a feature of the same subject type (`unknown` is the
    message for one that is not, with `{name!r}` in it), and an expression ZEN can read."""
    for name in names:
        feature = features.get(name)
        if feature is None:
            check.add(("when",), unknown.format(name=name))
        elif feature.subject != subject:
            check.add(("when",), f"feature {name!r} is about a {feature.subject}, this {what} about a {subject}")
    if expression and not check.issues:
        problem = check_expression(expression)
        if problem:
            check.add(("when",), f"the expression cannot be read: {problem}")


def load_features(path: Path = FEATURES_FILE, ontology: Ontology | None = None) -> dict[str, FeatureDef]:
    """Read and check the feature catalogue; `SchemaInvalid` lists every problem with its line."""
    ontology = ontology or default_ontology()
    data, lines, duplicates = load_yaml_with_lines(path)
    check = DefinitionChecker(path, lines, ontology)
    for where, _line in duplicates:
        check.add(where, "key given twice")
    entries = data.get("features") if isinstance(data, Mapping) else None
    if not isinstance(entries, Mapping):
        check.add(("features",), "expected a mapping from feature name to its definition")
        raise SchemaInvalid(check.issues)
    out: dict[str, FeatureDef] = {}
    for name, raw in entries.items():
        at = ("features", str(name))
        if not _NAME.fullmatch(str(name)):
            check.add(at, "a feature name is lower case letters, digits and underscores")
            continue
        if not isinstance(raw, Mapping):
            check.add(at, "expected {subject, path, aggregate, ...}")
            continue
        feature = _feature(check, str(name), raw, at)
        if feature is not None:
            out[feature.name] = feature
    if check.issues:
        raise SchemaInvalid(check.issues)
    return out


def _feature(check: DefinitionChecker, name: str, raw: Mapping[str, Any], at: tuple[str, ...]) -> FeatureDef | None:
    subject = str(raw.get("subject", ""))
    if subject not in SUBJECT_LABELS:
        check.add((*at, "subject"), f"the subject is one of {', '.join(SUBJECT_LABELS)}, got {subject!r}")
        return None
    steps = check.steps(subject, raw.get("path"), (*at, "path"))
    label = steps[-1].node if steps else subject
    aggregate = str(raw.get("aggregate", ""))
    if aggregate not in AGGREGATES:
        check.add((*at, "aggregate"), f"one of {', '.join(AGGREGATES)}, got {aggregate!r}")
        return None
    prop = raw.get("property")
    props = check.properties(label)
    if aggregate in NEEDS_PROPERTY and not prop:
        check.add((*at, "property"), f"{aggregate} needs the property of {label} to aggregate")
        return None
    if prop is not None and prop not in props:
        check.add((*at, "property"), f"{label} has no property {prop!r}")
        return None
    time = raw.get("time")
    if time is not None and time not in props:
        check.add((*at, "time"), f"{label} has no property {time!r}")
        return None
    if (aggregate == "days_since_last" or raw.get("window_days") is not None) and time is None:
        check.add((*at, "time"), f"{'days_since_last' if aggregate == 'days_since_last' else 'a window'} needs the time property of {label}")
        return None
    window = check.number(raw, "window_days", at, 0.01, 36500) if raw.get("window_days") is not None else None
    scale = check.number(raw, "scale", at, -1e9, 1e9, 1.0)
    default = check.number(raw, "default", at, -1e12, 1e12) if raw.get("default") is not None else None
    pattern = PathPattern(subject, steps, time_property=time, return_props=(str(prop),) if prop else ())
    return FeatureDef(name, subject, pattern, aggregate, str(prop) if prop else None, window, scale, default, str(raw.get("describe", "")))


def parse_concept(path: Path, features: Mapping[str, FeatureDef], ontology: Ontology | None = None) -> tuple[ConceptDef | None, list[SchemaIssue]]:
    """Read one concept file; the definition (None when unusable) and every problem found."""
    data, check = DefinitionChecker.read(path, ontology or default_ontology(), "a concept file", ("id", "subject", "when"))
    if data is None:
        return None, check.issues
    concept_id, subject, when = str(data.get("id", "")), str(data.get("subject", "")), str(data.get("when", ""))
    if concept_id and not _NAME.fullmatch(concept_id):
        check.add(("id",), "a concept id is lower case letters, digits and underscores")
    if subject not in SUBJECT_LABELS:
        check.add(("subject",), f"the subject is one of {', '.join(SUBJECT_LABELS)}, got {subject!r}")
    names = expression_names(when)
    known = ", ".join(sorted(f for f, d in features.items() if d.subject == subject))
    check_condition(check, when, names, features, subject, "concept", f"unknown feature {{name!r}} (known for {subject}: {known})")
    description = data.get("description") or {}
    concept = ConceptDef(
        concept_id,
        subject,
        when,
        tuple(names),
        str(description.get("en", "")) if isinstance(description, Mapping) else str(description),
        str(description.get("zh", "")) if isinstance(description, Mapping) else "",
        str(path),
    )
    return (concept if not check.issues else None), check.issues


def load_concepts(paths: Iterable[Path] | None = None, features: Mapping[str, FeatureDef] | None = None, ontology: Ontology | None = None) -> list[ConceptDef]:
    """Load and check concept files (default: every `ontology/concepts/*.yaml`); `SchemaInvalid` lists every problem."""
    features = features if features is not None else default_features()
    files = sorted(paths) if paths is not None else sorted(CONCEPT_DIR.glob("*.yaml"))
    concepts, issues = [], []
    for file in files:
        concept, problems = parse_concept(file, features, ontology)
        issues += problems
        if concept is not None:
            concepts.append(concept)
    ids = [c.id for c in concepts]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        issues.append(SchemaIssue(str(CONCEPT_DIR), 1, dup, "two concepts have this id"))
    if issues:
        raise SchemaInvalid(issues)
    return concepts


@lru_cache(maxsize=1)
def default_features() -> dict[str, FeatureDef]:
    """The shipped feature catalogue, loaded once."""
    return load_features()


@lru_cache(maxsize=1)
def default_concepts() -> dict[str, ConceptDef]:
    """The shipped concepts by id, loaded once (with the shipped features)."""
    return {c.id: c for c in load_concepts(features=default_features())}
