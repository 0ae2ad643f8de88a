"""Scenarios, defined by business users in YAML: a trigger, a condition, a decision table, actions.

One file per scenario in `ontology/scenarios/`:

    id: refund_warning
    version: 1
    subject: Contact
    trigger: {events: [survey, app_usage, erp_signal]}      # what makes khub look again; also intents: [refund_risk],
                                                            # every: 1d (a schedule), enters / leaves: [a concept id]
    when: refund_risk_student                               # a concept id, or an expression over features
    decision:                                               # a decision table (GoRules ZEN), optional
      hit_policy: first                                     # first: the first matching row; unique: rows may not overlap; collect: every one
      inputs: [unconsumed_lessons]
      rules:
        - {if: {unconsumed_lessons: ">= 20"}, then: {refund_tier: full, refund_share: 0.8}}
        - {if: {unconsumed_lessons: ">= 10"}, then: {refund_tier: partial, refund_share: 0.5}}
        - {if: {}, then: {refund_tier: goodwill, refund_share: 0.2}}
    actions:                                                # as intent actions; ${...} also sees the outputs
      - {kind: task, role: finance, title: "Refund offer (${refund_tier}) for ${subject_name}"}
    approval: required                                      # optional: a new version goes live only once approved
    cooldown_hours: 24                                      # optional: a webhook fires once per subject in this time
    purpose: service                                        # what its actions serve (default service); an action may say its own

Row conditions are ZEN unary tests on the input (`">= 20"`, `"< 3"`, `"[1..5]"`, `'"AE"'`); an empty
`if` matches everything. The table compiles to a JDM graph (`decision_model`), the format of the
open GoRules editor, so a later web console can edit the same thing. Checked when loaded, each
problem with its file, line and element: an unknown concept or feature, a feature of another
subject type, an unreadable expression or row test, an unreachable row (after a row that matches
everything, or that earlier rows cover between them, under `first`), rows that overlap under
`unique`, an output given as two types in different rows, a template variable that is neither
built in nor an output. Versions of a scenario saved by business users are checked the same way
from their text (`parse_scenario_text`; governance in `reasoning.scenario_versions`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ontology.concepts import ConceptDef, FeatureDef, check_condition, default_features, expression_names, load_concepts, zen_message
from ontology.decision_tests import covered_by, overlap, read_test
from ontology.errors import SchemaInvalid, SchemaIssue
from ontology.intents import SUBJECT_LABELS, ActionSpec, DefinitionChecker
from ontology.model import Ontology, default_ontology
from ontology.purposes import default_purposes

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
HIT_POLICIES = ("first", "unique", "collect")
#: The longest scenario text, the most rows and inputs of a decision table (its checks compare rows pairwise).
MAX_TEXT = 256_000
MAX_RULES = 1_000
MAX_INPUTS = 20
#: What a trigger may list.
TRIGGER_KEYS = ("events", "intents", "every", "enters", "leaves")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: Variables every scenario template sees (besides the decision's outputs and the features).
SCENARIO_VARIABLES = ("scenario_id", "subject_label", "subject_id", "subject_name", "role", "due_at", "due_date")


@dataclass(frozen=True)
class DecisionTable:
    """A decision table: input features, rows of (tests, outputs), a hit policy."""

    hit_policy: str
    inputs: tuple[str, ...]
    rules: tuple[tuple[Mapping[str, str], Mapping[str, Any]], ...]

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every output name, in first-seen order."""
        return tuple(dict.fromkeys(name for _, then in self.rules for name in then))


@dataclass(frozen=True)
class ScenarioDef:
    """One scenario (see the module doc)."""

    id: str
    version: int
    subject: str
    trigger_events: tuple[str, ...]
    when: str
    features: tuple[str, ...]
    decision: DecisionTable | None
    actions: tuple[ActionSpec, ...]
    description_en: str = ""
    source: str = ""
    requires_approval: bool = False
    #: The purpose its actions serve unless one says otherwise (ontology/purposes.yaml).
    purpose: str = "service"
    #: A webhook action fires at most once per subject within this many hours (tasks are updated in place).
    cooldown_hours: float = 24.0
    #: Intent types whose firing for a subject makes khub evaluate the scenario for it.
    trigger_intents: tuple[str, ...] = ()
    #: A schedule: run for every subject of its type this often (seconds), None without one.
    every_seconds: int | None = None
    #: Concepts whose new members (`enters`) or former members (`leaves`) make khub evaluate it for them.
    trigger_enters: tuple[str, ...] = ()
    trigger_leaves: tuple[str, ...] = ()

    @property
    def trigger_keys(self) -> tuple[str, ...]:
        """What the scenario listens for: its event types, `intent:<type>` for its intent triggers,
        `concept:enter:<id>` and `concept:leave:<id>` for its concept-membership triggers."""
        return (
            self.trigger_events
            + tuple(intent_trigger(i) for i in self.trigger_intents)
            + tuple(concept_trigger(c, "enter") for c in self.trigger_enters)
            + tuple(concept_trigger(c, "leave") for c in self.trigger_leaves)
        )


def intent_trigger(intent_type: str) -> str:
    """The trigger key of an intent type firing (beside event types in the scenario index)."""
    return f"intent:{intent_type}"


def concept_trigger(concept_id: str, change: str) -> str:
    """The trigger key of subjects entering (`change` enter) or leaving (leave) a concept."""
    return f"concept:{change}:{concept_id}"


_EVERY = re.compile(r"\s*(\d+)\s*(m|h|d|w)\s*")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
#: The shortest and longest schedule.
EVERY_BOUNDS = (5 * 60, 52 * 604800)


def parse_every(text: Any) -> int | None:
    """A schedule like `15m`, `6h`, `1d`, `2w` in seconds; None when it cannot be read or is out of bounds (5m to 52w)."""
    found = _EVERY.fullmatch(str(text))
    if found is None:
        return None
    seconds = int(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    return seconds if EVERY_BOUNDS[0] <= seconds <= EVERY_BOUNDS[1] else None


def _zen_literal(value: Any) -> str:
    """A decision output as a ZEN expression: numbers and booleans as they are, text quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def decision_model(table: DecisionTable, name: str) -> dict[str, Any]:
    """The table as a JDM graph (input -> decision table -> output), as GoRules ZEN evaluates it."""
    inputs = [{"id": f"in_{i}", "name": field, "field": field} for i, field in enumerate(table.inputs)]
    outputs = [{"id": f"out_{i}", "name": field, "field": field} for i, field in enumerate(table.outputs)]
    rules = []
    for r, (tests, then) in enumerate(table.rules):
        row: dict[str, str] = {"_id": f"rule_{r}"}
        row.update({col["id"]: str(tests.get(col["field"], "")) for col in inputs})
        row.update({col["id"]: _zen_literal(then[col["field"]]) if col["field"] in then else "" for col in outputs})
        rules.append(row)
    content = {"hitPolicy": "collect" if table.hit_policy == "unique" else table.hit_policy, "inputs": inputs, "outputs": outputs, "rules": rules}
    return {
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {"id": "table", "type": "decisionTableNode", "name": name, "position": {"x": 300, "y": 0}, "content": content},
            {"id": "response", "type": "outputNode", "name": "Response", "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "request", "targetId": "table", "type": "edge"},
            {"id": "e2", "sourceId": "table", "targetId": "response", "type": "edge"},
        ],
    }


def _unary_problem(test: str) -> str | None:
    import zen

    try:
        zen.evaluate_unary_expression(test, {"$": 0})
    except Exception as exc:  # zen's parser message
        message = zen_message(exc)
        return None if "Unsupported type" in message else message  # a text test against a number: fine to read
    return None


def parse_scenario(
    path: Path, features: Mapping[str, FeatureDef], concepts: Mapping[str, ConceptDef], ontology: Ontology | None = None, text: str | None = None
) -> tuple[ScenarioDef | None, list[SchemaIssue]]:
    """Read one scenario file (or its `text`, named `path` in the problems); the definition (None
    when unusable) and every problem found."""
    ontology = ontology or default_ontology()
    try:
        data, check = DefinitionChecker.read(path, ontology, "a scenario file", ("id", "subject", "when", "actions"), text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [SchemaIssue(str(path), mark.line + 1 if mark else 1, "(file)", f"not YAML: {getattr(exc, 'problem', None) or exc}")]
    if data is None:
        return None, check.issues
    scenario_id, subject, when = str(data.get("id", "")), str(data.get("subject", "")), str(data.get("when", "")).strip()
    if scenario_id and not _NAME.fullmatch(scenario_id):
        check.add(("id",), "a scenario id is lower case letters, digits and underscores")
    if subject not in SUBJECT_LABELS:
        check.add(("subject",), f"the subject is one of {', '.join(SUBJECT_LABELS)}, got {subject!r}")
    trigger = data.get("trigger") or {}
    events = tuple(str(e) for e in (trigger.get("events") or [])) if isinstance(trigger, Mapping) else ()
    known_events = ontology.enums.get("EventType", ()) if hasattr(ontology, "enums") else ()
    for i, event in enumerate(events):
        if known_events and event not in known_events:
            check.add(("trigger", "events", str(i)), f"unknown event type {event!r}")
    trigger = trigger if isinstance(trigger, Mapping) else {}
    intents = tuple(str(e) for e in (trigger.get("intents") or []))
    unknown_keys = sorted(set(trigger) - set(TRIGGER_KEYS))
    if unknown_keys:
        check.add(("trigger",), f"a trigger has {', '.join(TRIGGER_KEYS)}, not {', '.join(unknown_keys)}")
    _check_intents(check, intents, subject, ontology)
    every = parse_every(trigger["every"]) if "every" in trigger else None
    if "every" in trigger and every is None:
        check.add(("trigger", "every"), f"a schedule is a number and a unit m, h, d or w, from 5m to 52w (15m, 6h, 1d), got {trigger['every']!r}")
    changes: dict[str, tuple[str, ...]] = {}
    for change in ("enters", "leaves"):
        changes[change] = tuple(str(c) for c in (trigger.get(change) or []))
        for i, concept_id in enumerate(changes[change]):
            known = concepts.get(concept_id)
            if known is None:
                check.add(("trigger", change, str(i)), f"unknown concept {concept_id!r} (concepts: {', '.join(sorted(concepts)) or 'none'})")
            elif known.subject != subject:
                check.add(("trigger", change, str(i)), f"concept {concept_id!r} is about a {known.subject}, this scenario about a {subject}")
    # the condition: a concept id, or an expression over features
    concept = concepts.get(when)
    if concept is not None:
        if concept.subject != subject:
            check.add(("when",), f"concept {when!r} is about a {concept.subject}, this scenario about a {subject}")
        expression, names = concept.when, list(concept.features)
    else:
        expression, names = when, expression_names(when)
    check_condition(
        check, expression, names, features, subject, "scenario", f"unknown concept or feature {{name!r}} (concepts: {', '.join(sorted(concepts)) or 'none'})"
    )
    decision = _decision(check, data.get("decision"), subject, features)
    actions = [check.action(raw, ("actions", str(i))) for i, raw in enumerate(data.get("actions") or [])]
    known = {*SCENARIO_VARIABLES, *(decision.outputs if decision else ()), *(decision.inputs if decision else ()), *names}
    for i, action in enumerate(actions):
        for field in ("title", "message"):
            text = getattr(action, field, None) if action is not None else None
            for var in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", text or ""):
                if var not in known:
                    check.add(("actions", str(i), field), f"unknown variable ${var} (known: {', '.join(sorted(known))})")
    purposes = default_purposes()
    purpose = str(data.get("purpose", "service"))
    if purpose not in purposes:
        check.add(("purpose",), f"unknown purpose {purpose!r} (one of {', '.join(purposes.names())})")
    for i, action in enumerate(actions):
        if action is not None and action.purpose is not None and action.purpose not in purposes:
            check.add(("actions", str(i), "purpose"), f"unknown purpose {action.purpose!r} (one of {', '.join(purposes.names())})")
    approval = data.get("approval", "none")
    if approval not in ("required", "none"):
        check.add(("approval",), f"approval is required or none, got {approval!r}")
    cooldown = check.number(data, "cooldown_hours", (), 0, 8760, 24)
    description = data.get("description") or {}
    scenario = ScenarioDef(
        id=scenario_id,
        version=int(data.get("version", 1)),
        subject=subject,
        trigger_events=events,
        when=expression,
        features=tuple(dict.fromkeys([*names, *(decision.inputs if decision else ())])),
        decision=decision,
        actions=tuple(a for a in actions if a),
        description_en=str(description.get("en", "")) if isinstance(description, Mapping) else str(description),
        source=str(path),
        requires_approval=approval == "required",
        purpose=purpose,
        cooldown_hours=cooldown,
        trigger_intents=intents,
        every_seconds=every,
        trigger_enters=changes["enters"],
        trigger_leaves=changes["leaves"],
    )
    return (scenario if not check.issues else None), check.issues


def _check_intents(check: DefinitionChecker, intents: tuple[str, ...], subject: str, ontology: Ontology) -> None:
    """Each intent trigger names an intent definition in force about the scenario's subject type."""
    if not intents:
        return
    from ontology.settings import Settings
    from ontology.workspace import configured_intents

    about = {d.id: d.subject for d in configured_intents(Settings(), ontology)}
    for i, intent in enumerate(intents):
        if intent not in about:
            check.add(("trigger", "intents", str(i)), f"unknown intent type {intent!r} (known: {', '.join(sorted(about))})")
        elif about[intent] != subject:
            check.add(("trigger", "intents", str(i)), f"intent {intent!r} is about a {about[intent]}, this scenario about a {subject}")


def _decision(check: DefinitionChecker, raw: Any, subject: str, features: Mapping[str, FeatureDef]) -> DecisionTable | None:
    if raw is None:
        return None
    where = ("decision",)
    if not isinstance(raw, Mapping):
        check.add(where, "expected {hit_policy, inputs, rules}")
        return None
    policy = str(raw.get("hit_policy", "first"))
    if policy not in HIT_POLICIES:
        check.add((*where, "hit_policy"), f"one of {', '.join(HIT_POLICIES)}, got {policy!r}")
    inputs = tuple(str(i) for i in raw.get("inputs") or [])
    for i, name in enumerate(inputs):
        feature = features.get(name)
        if feature is None:
            check.add((*where, "inputs", str(i)), f"unknown feature {name!r}")
        elif feature.subject != subject:
            check.add((*where, "inputs", str(i)), f"feature {name!r} is about a {feature.subject}, this scenario about a {subject}")
    raw_rules = raw.get("rules") or []
    if isinstance(raw_rules, list) and len(raw_rules) > MAX_RULES:  # the checks compare rows pairwise
        check.add((*where, "rules"), f"a decision table has at most {MAX_RULES:,} rows, this one {len(raw_rules):,}: split it, or compute the value")
        return None
    if len(inputs) > MAX_INPUTS:
        check.add((*where, "inputs"), f"a decision table has at most {MAX_INPUTS} inputs, this one {len(inputs)}")
        return None
    rules: list[tuple[Mapping[str, str], Mapping[str, Any]]] = []
    regions: list[tuple[int, dict[str, Any]]] = []
    kinds: dict[str, tuple[str, int]] = {}
    for r, row in enumerate(raw_rules):
        at = (*where, "rules", str(r))
        if not isinstance(row, Mapping) or not isinstance(row.get("then"), Mapping) or not row.get("then"):
            check.add(at, "a row is {if: {input: test}, then: {output: value}}")
            continue
        tests = row.get("if") or {}
        if not isinstance(tests, Mapping):
            check.add((*at, "if"), "expected a mapping from input to a test")
            continue
        for name, test in tests.items():
            if name not in inputs:
                check.add((*at, "if", str(name)), f"{name!r} is not an input of the table ({', '.join(inputs)})")
            elif str(test).strip():
                problem = _unary_problem(str(test))
                if problem:
                    check.add((*at, "if", str(name)), f"the test {test!r} cannot be read: {problem}")
        region = {str(k): read_test(str(v)) for k, v in tests.items()}
        if policy == "first" and (cover := covered_by(region, regions, inputs)) is not None:
            by = f"row {cover[0]} before it matches" if len(cover) == 1 else f"rows {', '.join(map(str, cover))} before it match"
            check.add(at, f"unreachable: {by} everything it matches")
        if policy == "unique":
            for other, earlier in regions:
                if overlap(region, earlier, inputs):
                    check.add(at, f"overlaps row {other}: under hit policy unique one subject may match only one row")
        regions.append((r, region))
        for name, value in row["then"].items():
            kind = "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
            if name in kinds and kinds[name][0] != kind:
                check.add((*at, "then", str(name)), f"{name} is a {kinds[name][0]} in row {kinds[name][1]}, a {kind} here")
            kinds.setdefault(name, (kind, r))
        rules.append(({str(k): str(v) for k, v in tests.items()}, dict(row["then"])))
    if not rules:
        check.add((*where, "rules"), "a decision table needs at least one row")
        return None
    return DecisionTable(policy, inputs, tuple(rules))


def load_scenarios(paths: Iterable[Path] | None = None, ontology: Ontology | None = None) -> list[ScenarioDef]:
    """Load and check scenario files (default: every `ontology/scenarios/*.yaml`); `SchemaInvalid` lists every problem."""
    features = default_features()
    concepts = {c.id: c for c in load_concepts(features=features)}
    files = sorted(paths) if paths is not None else sorted(SCENARIO_DIR.glob("*.yaml"))
    scenarios, issues = [], []
    for file in files:
        scenario, problems = parse_scenario(file, features, concepts, ontology)
        issues += problems
        if scenario is not None:
            scenarios.append(scenario)
    if issues:
        raise SchemaInvalid(issues)
    return scenarios


def parse_scenario_text(name: str, text: str, ontology: Ontology | None = None, concepts: Mapping[str, ConceptDef] | None = None) -> ScenarioDef:
    """A scenario from its text (a version a business user saves), checked against the shipped
    features and concepts (`concepts`: already loaded, when reading many) as a file is;
    `SchemaInvalid` names every problem with `name`, line and element."""
    if len(text) > MAX_TEXT:
        raise SchemaInvalid([SchemaIssue(name, 1, "(file)", f"a scenario is at most {MAX_TEXT:,} characters, this one {len(text):,}")])
    features = default_features()
    concepts = concepts if concepts is not None else {c.id: c for c in load_concepts(features=features)}
    scenario, issues = parse_scenario(Path(name), features, concepts, ontology, text=text)
    if issues or scenario is None:
        raise SchemaInvalid(issues)
    return scenario
