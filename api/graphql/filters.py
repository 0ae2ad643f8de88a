"""Filter and order inputs: eq, ne, in, contains, ranges and time windows on ontology properties.

A filter names an ontology property of the listed type; values are checked and normalised by the
ontology (dates and times to the stored UTC form, enums against their values), so a time window
is `{property: "occurred_at", gte: "2026-11-01", lt: "2026-12-01"}`. Filtering or sorting on a
property the caller's role may not see is refused (it would leak the value).
"""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.scalars import JSON

from api.context import Principal
from api.graphql.auth import check_visible
from graph.reads import Condition, Related, SortKey
from graph.store import NodeRef
from graph.values import ValueRejected, normalise_datetime
from ontology.errors import BadInput, OntologyViolation
from ontology.model import NODE_KEY, Ontology, PrivacyCategory


@strawberry.enum(description="Sort order.")
class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(description="A test on one property; give one operator (several are ANDed). Lists match when any item does.")
class PropertyFilter:
    property: str = strawberry.field(description="An ontology property of the listed type (snake_case, as in the ontology).")
    eq: JSON | None = None
    ne: JSON | None = None
    in_: list[JSON] | None = strawberry.field(name="in", default=None)
    contains: str | None = strawberry.field(default=None, description="Case-insensitive substring.")
    gte: JSON | None = None
    gt: JSON | None = None
    lte: JSON | None = None
    lt: JSON | None = None
    exists: bool | None = strawberry.field(default=None, description="true: the property is set; false: it is not.")


@strawberry.input(description="Order a list by one property (then by id).")
class OrderBy:
    property: str
    direction: SortDirection = SortDirection.ASC


@strawberry.enum(description="What intents are ordered by.")
class IntentOrderField(Enum):
    SCORE = "confidence_score"
    CALIBRATED_SCORE = "calibrated_score"
    DETECTED_AT = "detected_at"
    LAST_SEEN = "last_seen"


@strawberry.input(description="Order of an intent list.")
class IntentOrder:
    field: IntentOrderField = IntentOrderField.SCORE
    direction: SortDirection = SortDirection.DESC


@strawberry.input(description="Which intents: by type, status, score range, subject and detection time window.")
class IntentFilter:
    types: list[str] | None = strawberry.field(default=None, description="Intent definition ids (replacement_anxiety, ...).")
    statuses: list[str] | None = strawberry.field(default=None, description="new, active, acted, expired, dismissed.")
    min_score: float | None = None
    max_score: float | None = None
    subject: str | None = strawberry.field(default=None, description="The subject as Type:id (Account:renji-hospital).")
    since: str | None = strawberry.field(default=None, description="Detected at or after this time (ISO-8601).")
    until: str | None = strawberry.field(default=None, description="Detected before this time (ISO-8601).")


def parse_ref(text: str, ontology: Ontology) -> NodeRef:
    """A node reference written `Type:id`."""
    label, sep, key = text.partition(":")
    if not sep or not key:
        raise BadInput(f"a node reference is written Type:id, got {text!r}")
    ontology.node_type(label)
    return NodeRef(label, key)


def time_value(text: str | None, what: str) -> str | None:
    """An ISO-8601 time in the stored UTC form."""
    if text is None:
        return None
    try:
        return normalise_datetime(text)
    except ValueRejected as exc:
        raise BadInput(f"{what}: {exc}") from None


def _privacies(ontology: Ontology, label: str | None, prop: str) -> set[PrivacyCategory]:
    """The privacy categories of `prop` on `label` (on every type that has it, when label is None)."""
    if prop == NODE_KEY:
        return {PrivacyCategory.NONE}
    types = [ontology.node_type(label)] if label else list(ontology.node_types.values())
    found = {t.properties[prop].privacy for t in types if prop in t.properties}
    if not found:
        raise OntologyViolation(f"unknown property {prop!r}" + (f" for {label}" if label else ""))
    return found


def conditions(principal: Principal, ontology: Ontology, label: str | None, filters: list[PropertyFilter] | None) -> tuple[Condition, ...]:
    """The store conditions of a list of filters, after the privacy check."""
    out: list[Condition] = []
    for f in filters or []:
        for category in _privacies(ontology, label, f.property):
            check_visible(principal, category, f"filtering on {f.property}")
        given = {
            "eq": f.eq,
            "ne": f.ne,
            "in": f.in_,
            "contains": f.contains,
            "gte": f.gte,
            "gt": f.gt,
            "lte": f.lte,
            "lt": f.lt,
            "exists": f.exists,
        }
        ops = [(op, value) for op, value in given.items() if value is not None]
        if not ops:
            raise BadInput(f"the filter on {f.property} has no operator (eq, ne, in, contains, gte, gt, lte, lt, exists)")
        out += [Condition(f.property, op, value) for op, value in ops]  # type: ignore[arg-type]
    return tuple(out)


def sort_key(principal: Principal, ontology: Ontology, label: str, order: OrderBy | None) -> SortKey:
    """The store sort key of an OrderBy (default: by id)."""
    if order is None or order.property == NODE_KEY:
        return SortKey(None, desc=order is not None and order.direction == SortDirection.DESC)
    node_type = ontology.node_type(label)
    prop = node_type.properties.get(order.property)
    if prop is None:
        raise OntologyViolation(f"unknown property {order.property!r} for {label}")
    if prop.multivalued or prop.is_vector:
        raise BadInput(f"cannot order by the list property {order.property}")
    check_visible(principal, prop.privacy, f"ordering by {order.property}")
    return SortKey(order.property, desc=order.direction == SortDirection.DESC)


def intent_query(ontology: Ontology, filt: IntentFilter | None) -> tuple[tuple[Condition, ...], tuple[Related, ...]]:
    """Conditions and relations of an intent filter."""
    if filt is None:
        return (), ()
    conds: list[Condition] = []
    related: list[Related] = []
    if filt.statuses:
        conds.append(Condition("intent_status", "in", list(filt.statuses)))
    if filt.min_score is not None:
        conds.append(Condition("confidence_score", "gte", filt.min_score))
    if filt.max_score is not None:
        conds.append(Condition("confidence_score", "lte", filt.max_score))
    if filt.since is not None:
        conds.append(Condition("detected_at", "gte", time_value(filt.since, "since")))
    if filt.until is not None:
        conds.append(Condition("detected_at", "lt", time_value(filt.until, "until")))
    if filt.types:
        related.append(Related("OF_TYPE", "out", "IntentType", tuple(filt.types)))
    if filt.subject:
        ref = parse_ref(filt.subject, ontology)
        related.append(Related("OF", "out", ref.label, (ref.id,)))
    return tuple(conds), tuple(related)
