"""Declarative graph patterns (`ontology.intents.PathPattern`) compiled to Cypher.

Stewards describe a path from a subject to its evidence with typed steps and conditions;
this module turns it into one query that both stores run: every edge of the path must hold
now (no `valid_to` in the past; an `ended` step's edge must have stopped instead), the
evidence must fall in the time window when the pattern dates it, a step's `unless` paths must
not exist now (OPTIONAL MATCH + count: FalkorDB has no EXISTS subqueries), and each
(subject, evidence) pair comes back once with its latest time.
Condition values are parameters, normalised like stored values (dates, datetimes, enums).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graph.dialect import quote
from graph.values import ValueRejected, normalise_datetime, normalise_value
from ontology.errors import OntologyViolation
from ontology.intents import Condition, PathPattern, Step
from ontology.model import NODE_KEY, Ontology, Property

#: Properties tried, in order, for a human-readable caption of an evidence node.
CAPTION_PROPERTIES = ("name", "full_name", "title", "subject_line", "url", "serial", "text")


class _Params:
    def __init__(self, prefix: str = "p") -> None:
        self.values: dict[str, Any] = {}
        self.prefix = prefix

    def add(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _relative(prop: Property | None, now: datetime, days: float) -> str:
    moment = now - timedelta(days=float(days))
    if prop is not None and prop.range == "date":
        return moment.date().isoformat()
    return normalise_datetime(moment)


def _value(prop: Property | None, value: Any) -> Any:
    if prop is None:
        return value
    try:
        return normalise_value(prop, value)
    except ValueRejected as exc:
        raise OntologyViolation(f"condition on {prop.name}: {exc}") from None


def _condition(var: str, cond: Condition, props: dict[str, Property], now: datetime, params: _Params) -> str:
    prop = props.get(cond.prop)
    ref = f"{var}.{quote(cond.prop)}"
    op = cond.op
    if op == "exists":
        return f"{ref} IS NOT NULL" if cond.value in (None, True) else f"{ref} IS NULL"
    if op == "older_than_days":
        return f"{ref} <= {params.add(_relative(prop, now, cond.value))}"
    if op == "within_days":
        return f"{ref} >= {params.add(_relative(prop, now, cond.value))}"
    if op == "contains":
        return f"toLower({ref}) CONTAINS {params.add(str(cond.value).lower())}"
    if op == "contains_any":  # CONTAINS ... OR ...: FalkorDB drops rows when `any(x IN ...)` follows a WITH (FalkorDB#1987)
        terms = [f"toLower({ref}) CONTAINS {params.add(str(v).lower())}" for v in cond.value]
        return f"({' OR '.join(terms)})" if terms else "false"
    if op == "in":
        return f"{ref} IN {params.add([_value(prop, v) for v in cond.value])}"
    if op == "not_in":  # a missing value is not in the list
        return f"({ref} IS NULL OR NOT {ref} IN {params.add([_value(prop, v) for v in cond.value])})"
    if op == "ne":  # a missing value differs
        return f"({ref} IS NULL OR {ref} <> {params.add(_value(prop, cond.value))})"
    symbol = {"eq": "=", "ne": "<>", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}[op]
    return f"{ref} {symbol} {params.add(_value(prop, cond.value))}"


def compile_pattern(
    pattern: PathPattern,
    ontology: Ontology,
    now: datetime,
    since: datetime | None,
    with_subjects: bool,
    part: int | None = None,
    summary: Summary | None = None,
) -> tuple[str, dict[str, Any]]:
    """The Cypher and parameters finding (subject, evidence) pairs of `pattern`.

    With `with_subjects` the query starts from the subject ids in `$subjects`; otherwise from
    every node of the subject's label. Rows: subject, label, evidence, at, caption, props (and,
    with `part`, a column `part` holding it, its parameters named apart: see `compile_patterns`).
    With `summary`, one row per subject instead, aggregated in the store (`SUMMARY_COLUMNS`).
    """
    params = _Params("p" if part is None else f"q{part}_")
    conds: list[str] = []
    node_props = {label: dict(t.properties) for label, t in ontology.node_types.items()}
    subject_props = node_props[pattern.subject]
    anchored = with_subjects and bool(pattern.steps)
    # given subjects: find them by key first, then walk (the `WITH` keeps FalkorDB's planner from
    # starting at an indexed evidence label and scanning it for every subject)
    path = "(s)" if anchored else f"(s:{quote(pattern.subject)} {{{NODE_KEY}: sid}})" if with_subjects else f"(s:{quote(pattern.subject)})"
    conds += [_condition("s", c, subject_props, now, params) for c in pattern.subject_where]
    now_param = params.add(normalise_datetime(now))
    for i, step in enumerate(pattern.steps, start=1):
        rel = f"[r{i}:{quote(step.edge)}]"
        node = f"(n{i}:{quote(step.node)})"
        path += f"-{rel}->{node}" if step.direction == "out" else f"<-{rel}-{node}"
        conds += [_condition(f"n{i}", c, node_props[step.node], now, params) for c in step.where]
        conds += [_condition(f"r{i}", c, dict(ontology.edge_types[step.edge].properties), now, params) for c in step.edge_where]
        if step.ended:  # the fact held once and has stopped (a departure, a lapsed contract)
            conds.append(f"r{i}.valid_to IS NOT NULL AND r{i}.valid_to <= {now_param}")
        else:
            conds.append(f"(r{i}.valid_to IS NULL OR r{i}.valid_to > {now_param})")
            conds.append(f"coalesce(r{i}.valid_from, '') <= {now_param}")
    evidence = f"n{len(pattern.steps)}" if pattern.steps else "s"
    time_expr = "null"
    if pattern.time_property:
        owner = f"r{len(pattern.steps)}" if pattern.time_on_edge else evidence
        time_expr = f"{owner}.{quote(pattern.time_property)}"
        if since is not None:
            conds.append(f"{time_expr} >= {params.add(normalise_datetime(since))}")
        conds.append(f"{time_expr} <= {now_param}")  # what has not happened yet is no evidence
    evidence_props = node_props[pattern.evidence_label]
    captions = [f"e.{quote(p)}" for p in CAPTION_PROPERTIES if p in evidence_props]
    caption = f"coalesce({', '.join(captions)}, e.{NODE_KEY})" if captions else f"e.{NODE_KEY}"
    extra = ", ".join(f"{quote(p)}: e.{quote(p)}" for p in pattern.return_props if p in evidence_props)
    lines = ["UNWIND $subjects AS sid"] if with_subjects else []
    if anchored:
        lines += [f"MATCH (s:{quote(pattern.subject)} {{{NODE_KEY}: sid}})", "WITH DISTINCT s"]
    lines.append(f"MATCH {path}")
    if conds:
        lines.append("WHERE " + " AND ".join(conds))
    exclusions = [(i, sub) for i, step in enumerate(pattern.steps, start=1) for sub in step.unless]
    kept = sorted({f"n{i}" for i, _ in exclusions})
    lines.append(f"WITH {', '.join(['s', f'{evidence} AS e', f'{time_expr} AS at', *kept])}")
    for j, (i, sub) in enumerate(exclusions):
        # a step's `unless` path: OPTIONAL MATCH + count (FalkorDB has no EXISTS subqueries)
        lines += _exclusion(f"n{i}", sub, j, node_props, ontology, now, now_param, params)
        kept = [v for v in kept if any(f"n{k}" == v for k, _ in exclusions[j + 1 :])]
        lines.append(f"WITH {', '.join(['s', 'e', 'at', *kept])}, count(u{j}_{len(sub)}) AS c{j} WHERE c{j} = 0")
    tag = "" if part is None else f", {part} AS part"
    if summary is not None:
        lines += _summary(summary, evidence_props, tag)
        return "\n".join(lines), params.values
    lines.append(
        f"RETURN s.{NODE_KEY} AS subject, labels(e)[0] AS label, e.{NODE_KEY} AS evidence, max(at) AS at, {caption} AS caption, {{{extra}}} AS props{tag}"
    )
    return "\n".join(lines), params.values


@dataclass(frozen=True)
class Summary:
    """What to aggregate per subject in the store: the evidence's numeric property `prop` (or none)."""

    prop: str | None = None


#: The columns of a summary row: the subject, how many pieces of evidence, the latest time, and
#: over `prop`: its sum, how many values, min, max, and the value of the latest evidence that has one.
SUMMARY_COLUMNS = ("subject", "n", "at", "total", "values", "lo", "hi", "latest")


def _summary(summary: Summary, evidence_props: dict[str, Property], tag: str) -> list[str]:
    """The closing lines of a summary query (one row per subject, `SUMMARY_COLUMNS`)."""
    # one row per piece of evidence, latest first (undated last: Neo4j sorts nulls first when descending); collect keeps the order
    head = ["WITH s, e, max(at) AS at ORDER BY coalesce(at, '') DESC"]
    if summary.prop is None or summary.prop not in evidence_props:
        values = "null AS total, 0 AS values, null AS lo, null AS hi, null AS latest"
    else:
        v = f"e.{quote(summary.prop)}"
        values = f"sum({v}) AS total, count({v}) AS values, min({v}) AS lo, max({v}) AS hi, head(collect({v})) AS latest"
    return [*head, f"RETURN s.{NODE_KEY} AS subject, count(e) AS n, max(at) AS at, {values}{tag}"]


def compile_patterns(
    parts: Sequence[tuple[PathPattern, datetime | None]],
    ontology: Ontology,
    now: datetime,
    with_subjects: bool,
    summaries: Sequence[Summary] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Several patterns (each with its `since`) as one query: their `compile_pattern` queries joined
    by UNION ALL, each row tagged with the position of its pattern in `part`. One round trip
    instead of one per pattern (a subject's features, read when an event arrives). With
    `summaries` (one per pattern), summary rows (`SUMMARY_COLUMNS`)."""
    queries, params = [], {}
    for i, (pattern, since) in enumerate(parts):
        query, values = compile_pattern(pattern, ontology, now, since, with_subjects, part=i, summary=summaries[i] if summaries is not None else None)
        queries.append(query)
        params.update(values)
    return "\nUNION ALL\n".join(queries), params


def _exclusion(
    start: str, steps: Sequence[Step], j: int, node_props: dict[str, dict[str, Property]], ontology: Ontology, now: datetime, now_param: str, params: _Params
) -> list[str]:
    """OPTIONAL MATCH of an `unless` path from `start` (its edges holding now, its conditions met)."""
    path, conds = f"({start})", []
    for k, step in enumerate(steps, start=1):
        rel, node = f"u{j}r{k}", f"u{j}_{k}"
        hop = f"[{rel}:{quote(step.edge)}]"
        path += f"-{hop}->({node}:{quote(step.node)})" if step.direction == "out" else f"<-{hop}-({node}:{quote(step.node)})"
        conds += [_condition(node, c, node_props[step.node], now, params) for c in step.where]
        conds += [_condition(rel, c, dict(ontology.edge_types[step.edge].properties), now, params) for c in step.edge_where]
        conds.append(f"({rel}.valid_to IS NULL OR {rel}.valid_to > {now_param})")
        conds.append(f"coalesce({rel}.valid_from, '') <= {now_param}")
    return [f"OPTIONAL MATCH {path}", "WHERE " + " AND ".join(conds)]


def pattern_query_params(subjects: Sequence[str] | None) -> dict[str, Any]:
    """The `$subjects` parameter, when the query starts from given subjects."""
    return {"subjects": list(subjects)} if subjects is not None else {}


def watched_positions(pattern: PathPattern, ontology: Ontology) -> tuple[int, ...]:
    """The positions of the path (0 = the subject, the last = the evidence) whose node, when a
    write touches it, can change what the pattern finds.

    Writers list every node they create or change and both ends of every edge they write or end
    (`ingest.outbox`). So a node with no conditions of its own (no `where` or `unless`; for the
    subject, no `subject_where`) that is not the evidence needs no watching when its neighbours
    on the path are watched: nothing of it is read but its edges, and a change to one of those
    lists the edge's other end too. Unless that edge may also end implicitly on its side:
    writing a functional edge ends the older one (a device's new model ends INSTANCE_OF to the
    old model, whose node is not listed), so a node on the functional side of a path edge stays
    watched. What this spares: a view of a product page re-scores the viewer, not every device
    of that model through `Device -INSTANCE_OF-> Product <-APPLIES_TO- Policy`; an event that
    names an account re-scores the account for the definitions whose paths hold the event."""
    last = len(pattern.steps)
    if not last:
        return (0,)
    watched: list[int] = []
    for k in range(last):
        # the node's role on each of its path edges (`out`: the path runs along the edge)
        ends = [(pattern.steps[k], "src" if pattern.steps[k].direction == "out" else "dst")]
        if k:
            before = pattern.steps[k - 1]
            ends.append((before, "dst" if before.direction == "out" else "src"))
        functional = any(
            ontology.edge_types[step.edge].functional_subject if role == "src" else ontology.edge_types[step.edge].functional_object for step, role in ends
        )
        conditions = (pattern.steps[k - 1].where or pattern.steps[k - 1].unless) if k else pattern.subject_where
        if conditions or functional or (k and watched[-1:] != [k - 1]):
            watched.append(k)
    watched.append(last)
    return tuple(watched)


def compile_touched(pattern: PathPattern, position: int) -> str:
    """Cypher finding the subjects whose pattern may reach the nodes in `$ids` at `position`
    of the path (0 = the subject itself): the path's prefix up to that node, without
    conditions or times (an over-approximation: those subjects are re-scored, nothing more)."""
    if position == 0:
        return f"MATCH (s:{quote(pattern.subject)}) WHERE s.{NODE_KEY} IN $ids RETURN DISTINCT s.{NODE_KEY} AS subject"
    path = f"(s:{quote(pattern.subject)})"
    for i, step in enumerate(pattern.steps[:position], start=1):
        rel = f"[:{quote(step.edge)}]"
        node = f"(n{i}:{quote(step.node)})"
        path += f"-{rel}->{node}" if step.direction == "out" else f"<-{rel}-{node}"
    return f"MATCH {path} WHERE n{position}.{NODE_KEY} IN $ids RETURN DISTINCT s.{NODE_KEY} AS subject"
