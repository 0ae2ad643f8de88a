"""Intent definitions: steward-edited YAML in `ontology/intents/`, one intent per file.

An intent definition says which subject it is about (Account, Contact or Device), which
signals raise it (each with a weight), how they combine (noisy-OR), the threshold, the time
window and decay half-life of evidence, the cooldown between actions, the purposes the
inference may serve, and the actions it triggers. Signals are declarative graph patterns over
ontology types; `graph/patterns.py` compiles them to Cypher for each store, so stewards never
write Cypher. Signal kinds:

- `pattern`: evidence reached from the subject along a path of typed edges with conditions on
  the nodes (e.g. web views of warranty terms by the account's contacts in the last 14 days);
- `feature`: conditions on the subject's own properties (a device older than 8 years, a
  maintenance overdue, telemetry features such as load intensity);
- `policy`: a path to a Policy node (a subsidy in the subject's region, a tariff change), its
  time being the policy's start;
- `semantic`: chunks or events reached by a path whose text is close to the intent's example
  phrases (EN and ZH) or that the message-intent classifier labels;
- `concept`: the subject is in a business concept (`ontology/concepts`), the evidence being what
  the concept's features read.

`load_intents()` validates everything against the ontology (labels, edge types and their
direction, properties, operators, weights) and reports every problem with file, line and
element, like `khub ontology validate`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ontology.errors import SchemaInvalid, SchemaIssue
from ontology.model import NODE_KEY, Ontology, default_ontology
from ontology.yamlsource import Lines, line_of, load_yaml_with_lines

INTENT_DIR = Path(__file__).resolve().parent / "intents"
#: Everyday sentences semantic signals must be closer to their examples than to (see `Signal.min_margin`).
BACKGROUND_FILE = Path(__file__).resolve().parent / "semantic_background.yaml"
SUBJECT_LABELS = ("Account", "Contact", "Device")
SIGNAL_KINDS = ("pattern", "feature", "policy", "semantic", "concept")
DIRECTIONS = ("out", "in")
#: Condition operators: comparisons with a value, and relative times in days before now.
OPERATORS = ("eq", "ne", "in", "not_in", "gte", "gt", "lte", "lt", "contains", "contains_any", "exists", "older_than_days", "within_days")
ACTION_KINDS = ("task", "webhook")
TASK_ROLES = ("sales", "service", "finance", "legal")


@dataclass(frozen=True)
class Condition:
    """`prop op value` on a node or edge: eq, ne, in, not_in, gte, gt, lte, lt, contains,
    contains_any (case-insensitive), exists, or a relative time (`older_than_days: 2920` = at
    least 8 years before now; `within_days: 14`). A missing value fails every test except
    `ne`, `not_in` and `exists: false`."""

    prop: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Step:
    """One hop of a path: along `edge` (`out` = subject side is the edge's start) to a `node` label."""

    edge: str
    direction: str
    node: str
    where: tuple[Condition, ...] = ()
    edge_where: tuple[Condition, ...] = ()
    #: True: the edge must have ENDED (valid_to in the past), e.g. a contact who left the account.
    ended: bool = False
    #: Paths from this step's node that must NOT exist now (each a tuple of steps): e.g. a web
    #: view performed by someone employed by a competitor, a ticket about a regulation.
    unless: tuple[tuple[Step, ...], ...] = ()


@dataclass(frozen=True)
class PathPattern:
    """A path from the subject to the evidence (the last node; the subject itself when there are
    no steps), with conditions; `time_property` of the evidence dates it (window and decay),
    or of the last edge when `time_on_edge`."""

    subject: str
    steps: tuple[Step, ...] = ()
    subject_where: tuple[Condition, ...] = ()
    time_property: str | None = None
    time_on_edge: bool = False
    #: Evidence properties to return with each match (e.g. text for semantic signals).
    return_props: tuple[str, ...] = ()

    @property
    def evidence_label(self) -> str:
        """The label of the evidence nodes."""
        return self.steps[-1].node if self.steps else self.subject


@dataclass(frozen=True)
class Signal:
    """One signal of an intent: its pattern, weight, and how many matches saturate it."""

    id: str
    kind: str
    weight: float
    pattern: PathPattern
    at_least: int = 1
    saturation: int = 1
    describe: str = ""
    #: semantic signals: example phrases (EN and ZH) and the cosine they must reach, or a classifier label
    examples: tuple[str, ...] = ()
    min_similarity: float = 0.5
    #: semantic signals: how much closer to the examples than to the background sentences
    #: (`ontology/semantic_background.yaml`) a passage must be; what travels between embedders
    min_margin: float = 0.0
    classifier_label: str | None = None
    #: Evidence older than this many days does not count (default: the intent's window).
    window_days: int | None = None
    #: True: the signal holds when the path finds NO evidence in the window (e.g. no app use in 14 days).
    absent: bool = False
    #: concept signals: the business concept (ontology/concepts) the subject must be in, and its
    #: features' paths (what can change the membership: the real-time path re-scores through them)
    concept: str | None = None
    concept_patterns: tuple[PathPattern, ...] = ()


@dataclass(frozen=True)
class ActionSpec:
    """An action the intent triggers when it crosses its threshold."""

    kind: str
    role: str | None = None
    title: str = ""
    message: str = ""
    url: str | None = None
    secret_env: str | None = None
    due_in_days: int = 3
    max_attempts: int = 5
    #: The purpose the action serves (one of the definition's): it runs only when the intent serves
    #: that purpose (`reasoning.purposes`). Default: its role when that is one of the definition's
    #: purposes, else the definition's first purpose.
    purpose: str | None = None


@dataclass(frozen=True)
class IntentDefinition:
    """A steward-defined intent (see the module docstring)."""

    id: str
    version: int
    subject: str
    description_en: str
    description_zh: str
    threshold: float
    window_days: int
    half_life_days: float
    cooldown_days: float
    purposes: tuple[str, ...]
    signals: tuple[Signal, ...]
    actions: tuple[ActionSpec, ...] = ()
    suggested_actions: tuple[str, ...] = ()
    source: str = ""


@dataclass
class DefinitionChecker:
    """Reads the parts of a steward's definition file (paths of steps, conditions, numbers) against
    the ontology, and collects problems with their file, line and element (intent definitions here,
    business features in `ontology.concepts`)."""

    path: Path
    lines: Lines
    ontology: Ontology
    issues: list[SchemaIssue] = field(default_factory=list)

    def add(self, where: tuple[str, ...], message: str) -> None:
        self.issues.append(SchemaIssue(str(self.path), line_of(self.lines, where), ".".join(where) or "(file)", message))

    @classmethod
    def read(
        cls, path: Path, ontology: Ontology, what: str, required: tuple[str, ...], text: str | None = None
    ) -> tuple[Mapping[str, Any] | None, DefinitionChecker]:
        """Open a definition file holding one mapping (or read `text`, named `path`): (its data, or
        None when it holds none, and a checker that already has the duplicate keys and the
        `required` keys missing)."""
        data, lines, duplicates = load_yaml_with_lines(path, text)
        check = cls(path, lines, ontology)
        for where, _line in duplicates:
            check.add(where, "key given twice")
        if not isinstance(data, Mapping):
            check.add((), f"{what} holds one mapping ({', '.join(required)}, ...)")
            return None, check
        for key in required:
            if key not in data:
                check.add((key,), "missing")
        return data, check

    def number(self, data: Mapping[str, Any], key: str, where: tuple[str, ...], low: float, high: float, default: Any = None) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            self.add((*where, key), f"must be a number in [{low}, {high}], got {value!r}")
            return low
        return float(value)

    def properties(self, label: str) -> Mapping[str, Any]:
        return self.ontology.node_types[label].properties if label in self.ontology.node_types else {}

    def conditions(self, label: str, data: Any, where: tuple[str, ...], edge: bool = False) -> tuple[Condition, ...]:
        if data is None:
            return ()
        if not isinstance(data, Mapping):
            self.add(where, "must map property names to a value or {operator: value}")
            return ()
        out = []
        props = self.ontology.edge_types[label].properties if edge else self.properties(label)
        for prop, spec in data.items():
            at = (*where, str(prop))
            if prop != NODE_KEY and prop not in props:
                self.add(at, f"{label} has no property {prop!r}")
                continue
            ops = spec if isinstance(spec, Mapping) else {"eq": spec}
            for op, value in ops.items():
                if op not in OPERATORS:
                    self.add((*at, str(op)), f"unknown operator {op!r} (one of {', '.join(OPERATORS)})")
                elif op in ("older_than_days", "within_days") and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                    self.add((*at, str(op)), f"{op} takes a number of days, got {value!r}")
                elif op in ("in", "not_in", "contains_any") and not isinstance(value, list):
                    self.add((*at, str(op)), f"{op!r} takes a list, got {value!r}")
                elif (unknown := _not_in_enum(props.get(prop), op, value)) is not None:
                    allowed = ", ".join(props[prop].enum_values)
                    self.add((*at, str(op)), f"{unknown!r} is not a value of {label}.{prop} (one of {allowed})")
                else:
                    out.append(Condition(str(prop), str(op), value))
        return tuple(out)

    def steps(self, subject: str, data: Any, where: tuple[str, ...]) -> tuple[Step, ...]:
        if data is None:
            return ()
        if not isinstance(data, list):
            self.add(where, "must be a list of steps {edge, direction, node, where}")
            return ()
        out: list[Step] = []
        here = subject
        for i, raw in enumerate(data):
            at = (*where, str(i))
            if not isinstance(raw, Mapping) or not {"edge", "node"} <= set(raw):
                self.add(at, "a step needs at least edge and node")
                return ()
            edge_name, node, direction = str(raw["edge"]), str(raw["node"]), str(raw.get("direction", "out"))
            edge = self.ontology.edge_types.get(edge_name)
            if edge is None:
                self.add((*at, "edge"), f"unknown edge type {edge_name!r}")
                return ()
            if node not in self.ontology.node_types:
                self.add((*at, "node"), f"unknown node type {node!r}")
                return ()
            if direction not in DIRECTIONS:
                self.add((*at, "direction"), f"direction is 'out' or 'in', got {direction!r}")
                return ()
            start, end = (here, node) if direction == "out" else (node, here)
            if start not in edge.domain or end not in edge.range:
                self.add(at, f"{edge_name} does not go from {start} to {end} (it goes from {'/'.join(edge.domain)} to {'/'.join(edge.range)})")
                return ()
            edge_where = self.conditions(edge_name, raw.get("edge_where"), (*at, "edge_where"), edge=True)
            ended = bool(raw.get("ended", False))
            unless = self.unless(node, raw.get("unless"), (*at, "unless"))
            out.append(Step(edge_name, direction, node, self.conditions(node, raw.get("where"), (*at, "where")), edge_where, ended, unless))
            here = node
        return tuple(out)

    def unless(self, start: str, data: Any, where: tuple[str, ...]) -> tuple[tuple[Step, ...], ...]:
        """`unless`: one path (a list of steps) or a list of paths from `start` that must not exist."""
        if data is None:
            return ()
        if not isinstance(data, list) or not data:
            self.add(where, "must be a path (a list of steps) or a list of paths that must not exist")
            return ()
        paths = [data] if isinstance(data[0], Mapping) else data
        out = []
        for i, raw in enumerate(paths):
            steps = self.steps(start, raw, (*where, str(i)))
            if any(step.ended for step in steps):
                self.add((*where, str(i)), "an unless path cannot use ended steps")
            elif steps:
                out.append(steps)
        return tuple(out)

    def signal(self, subject: str, raw: Any, where: tuple[str, ...]) -> Signal | None:
        if not isinstance(raw, Mapping) or "id" not in raw:
            self.add(where, "a signal needs an id")
            return None
        kind = str(raw.get("kind", "pattern"))
        if kind not in SIGNAL_KINDS:
            self.add((*where, "kind"), f"unknown signal kind {kind!r} (one of {', '.join(SIGNAL_KINDS)})")
            return None
        concept_id, concept_patterns = None, ()
        if kind == "concept":
            concept_id, concept_patterns = self.concept(subject, raw.get("concept"), where)
        steps = self.steps(subject, raw.get("path"), (*where, "path"))
        if kind in ("pattern", "policy", "semantic") and not steps:
            self.add((*where, "path"), f"a {kind} signal needs a path from the {subject} to its evidence")
        if kind == "policy" and steps and steps[-1].node != "Policy":
            self.add((*where, "path"), "a policy signal's path must end at a Policy")
        evidence = steps[-1].node if steps else subject
        time_property = raw.get("time")
        time_on_edge = isinstance(time_property, str) and time_property.startswith("edge.")
        if time_on_edge:
            time_property = time_property[len("edge.") :]
            if not steps or time_property not in self.ontology.edge_types[steps[-1].edge].properties:
                self.add((*where, "time"), f"the last edge has no property {time_property!r}")
                time_property = None
        elif time_property is not None and time_property not in self.properties(evidence):
            self.add((*where, "time"), f"{evidence} has no property {time_property!r}")
            time_property = None
        examples = tuple(str(x) for x in raw.get("examples", []) or [])
        label = raw.get("classifier_label")
        if kind == "semantic" and not examples and not label:
            self.add(where, "a semantic signal needs example phrases or a classifier_label")
        text_props = ("text",) if kind == "semantic" and "text" in self.properties(evidence) else ()
        if kind == "semantic" and not text_props and "content" in self.properties(evidence):
            text_props = ("content",)
        pattern = PathPattern(
            subject,
            steps,
            self.conditions(subject, raw.get("subject_where"), (*where, "subject_where")),
            time_property,
            time_on_edge,
            text_props,
        )
        if kind == "feature" and not pattern.subject_where:
            self.add(where, "a feature signal needs subject_where conditions")
        at_least = int(raw.get("at_least", 1))
        return Signal(
            id=str(raw["id"]),
            kind=kind,
            weight=self.number(raw, "weight", where, 0.0, 1.0),
            pattern=pattern,
            at_least=at_least,
            saturation=max(int(raw.get("saturation", at_least)), at_least),
            describe=str(raw.get("describe", "")),
            examples=examples,
            min_similarity=self.number(raw, "min_similarity", where, 0.0, 1.0, 0.5),
            min_margin=self.number(raw, "min_margin", where, -1.0, 1.0, 0.0),
            classifier_label=str(label) if label else None,
            window_days=int(self.number(raw, "window_days", where, 1, 3650)) if "window_days" in raw else None,
            absent=bool(raw.get("absent", False)),
            concept=concept_id,
            concept_patterns=concept_patterns,
        )

    def concept(self, subject: str, name: Any, where: tuple[str, ...]) -> tuple[str | None, tuple[PathPattern, ...]]:
        """A concept signal's concept: shipped, about the intent's subject type; with its features' paths."""
        from ontology.concepts import default_concepts, default_features

        concepts = default_concepts()
        found = concepts.get(str(name)) if name else None
        if found is None:
            self.add((*where, "concept"), f"a concept signal names a concept (one of {', '.join(sorted(concepts))}), got {name!r}")
            return None, ()
        if found.subject != subject:
            self.add((*where, "concept"), f"concept {found.id!r} is about a {found.subject}, this intent about a {subject}")
            return None, ()
        features = default_features()
        return found.id, tuple(features[n].pattern for n in found.features)

    def action(self, raw: Any, where: tuple[str, ...]) -> ActionSpec | None:
        if not isinstance(raw, Mapping) or raw.get("kind") not in ACTION_KINDS:
            self.add(where, f"an action needs kind: {' or '.join(ACTION_KINDS)}")
            return None
        if raw["kind"] == "task" and raw.get("role") not in TASK_ROLES:
            self.add((*where, "role"), f"a task goes to one of {', '.join(TASK_ROLES)}, got {raw.get('role')!r}")
        if raw["kind"] == "webhook" and not str(raw.get("url", "")).startswith(("http://", "https://")):
            self.add((*where, "url"), f"a webhook needs an http(s) url, got {raw.get('url')!r}")
        if raw["kind"] == "webhook" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(raw.get("secret_env") or "")):
            self.add((*where, "secret_env"), f"a webhook names the setting that holds its secret (letters, digits, _), got {raw.get('secret_env')!r}")
        return ActionSpec(
            kind=str(raw["kind"]),
            role=raw.get("role"),
            title=str(raw.get("title", "")),
            message=str(raw.get("message", "")),
            url=raw.get("url"),
            secret_env=raw.get("secret_env"),
            due_in_days=int(raw.get("due_in_days", 3)),
            max_attempts=int(raw.get("max_attempts", 5)),
            purpose=str(raw["purpose"]) if raw.get("purpose") is not None else None,
        )


def _not_in_enum(prop: Any, op: str, value: Any) -> Any:
    """The first value an eq/ne/in/not_in condition compares an enum property with that the enum
    does not have (such a condition could never hold, or always would), else None."""
    if prop is None or prop.enum_values is None or op not in ("eq", "ne", "in", "not_in"):
        return None
    values = value if isinstance(value, list) else [value]
    return next((v for v in values if str(v) not in prop.enum_values), None)


def parse_intent(path: Path, ontology: Ontology | None = None) -> tuple[IntentDefinition | None, list[SchemaIssue]]:
    """Read one intent file; the definition (None when unusable) and every problem found."""
    data, check = DefinitionChecker.read(path, ontology or default_ontology(), "an intent file", ("id", "subject", "signals", "threshold"))
    if data is None:
        return None, check.issues
    subject = str(data.get("subject", ""))
    if subject not in SUBJECT_LABELS:
        check.add(("subject",), f"the subject is one of {', '.join(SUBJECT_LABELS)}, got {subject!r}")
        return None, check.issues
    raw_signals = data.get("signals") or []
    signals = [check.signal(subject, raw, ("signals", str(i))) for i, raw in enumerate(raw_signals)]
    ids = [s.id for s in signals if s]
    for dup in {i for i in ids if ids.count(i) > 1}:
        check.add(("signals",), f"signal id {dup!r} is used twice")
    actions = [check.action(raw, ("actions", str(i))) for i, raw in enumerate(data.get("actions") or [])]
    description = data.get("description") or {}
    purposes = tuple(str(p) for p in data.get("purposes", []) or [])
    if not purposes:
        check.add(("purposes",), "name the purposes this inference may serve (e.g. service, marketing)")
    for i, action in enumerate(actions):
        if action is None or not purposes:
            continue
        if action.purpose is not None and action.purpose not in purposes:
            check.add(("actions", str(i), "purpose"), f"an action serves one of the intent's purposes ({', '.join(purposes)}), got {action.purpose!r}")
        elif action.purpose is None:
            actions[i] = replace(action, purpose=action.role if action.role in purposes else purposes[0])
    definition = IntentDefinition(
        id=str(data.get("id", "")),
        version=int(data.get("version", 1)),
        subject=subject,
        description_en=str(description.get("en", "")) if isinstance(description, Mapping) else str(description),
        description_zh=str(description.get("zh", "")) if isinstance(description, Mapping) else "",
        threshold=check.number(data, "threshold", (), 0.0, 1.0),
        window_days=int(check.number(data, "window_days", (), 1, 3650, 30)),
        half_life_days=check.number(data, "half_life_days", (), 0.1, 3650, 14),
        cooldown_days=check.number(data, "cooldown_days", (), 0, 3650, 7),
        purposes=purposes,
        signals=tuple(s for s in signals if s),
        actions=tuple(a for a in actions if a),
        suggested_actions=tuple(str(a) for a in data.get("suggested_actions", []) or []),
        source=str(path),
    )
    if not definition.signals:
        check.add(("signals",), "an intent needs at least one usable signal")
    return (definition if not check.issues else None), check.issues


def load_intents(paths: Iterable[Path] | None = None, ontology: Ontology | None = None) -> list[IntentDefinition]:
    """Load and validate intent files (default: every `ontology/intents/*.yaml`); `SchemaInvalid`
    lists every problem of every file."""
    files = sorted(paths) if paths is not None else sorted(INTENT_DIR.glob("*.yaml"))
    definitions: list[IntentDefinition] = []
    issues: list[SchemaIssue] = []
    seen: dict[str, str] = {}
    for path in files:
        definition, problems = parse_intent(path, ontology)
        issues += problems
        if definition is None:
            continue
        if definition.id in seen:
            issues.append(SchemaIssue(str(path), 1, "id", f"intent {definition.id!r} is also defined in {seen[definition.id]}"))
            continue
        seen[definition.id] = str(path)
        definitions.append(definition)
    if issues:
        raise SchemaInvalid(issues)
    return definitions


@lru_cache(maxsize=8)
def load_semantic_background(path: Path = BACKGROUND_FILE) -> tuple[str, ...]:
    """The background sentences semantic signals are contrasted with (every language's list,
    in file order); `SchemaInvalid` names the file and line of anything that is not a sentence."""
    try:
        data, lines, _duplicates = load_yaml_with_lines(path)
    except (OSError, yaml.YAMLError) as exc:
        raise SchemaInvalid([SchemaIssue(str(path), getattr(getattr(exc, "problem_mark", None), "line", -1) + 1, "(file)", str(exc))]) from None
    if not isinstance(data, Mapping) or not data:
        raise SchemaInvalid([SchemaIssue(str(path), 1, "(file)", "expected a mapping from language to a list of sentences")])
    issues, sentences = [], []
    for lang, items in data.items():
        if not isinstance(items, list):
            issues.append(SchemaIssue(str(path), line_of(lines, (str(lang),)), str(lang), "expected a list of sentences"))
            continue
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item.strip():
                issues.append(SchemaIssue(str(path), line_of(lines, (str(lang), str(i))), f"{lang}.{i}", f"expected a sentence, got {item!r}"))
            else:
                sentences.append(item.strip())
    if issues:
        raise SchemaInvalid(issues)
    return tuple(sentences)


@lru_cache(maxsize=1)
def default_intents() -> tuple[IntentDefinition, ...]:
    """The shipped intent catalogue, loaded once."""
    return tuple(load_intents())
