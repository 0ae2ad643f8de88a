"""Turn node and edge records into checked, grouped rows ready for one UNWIND query each.

Every write passes here: unknown types or properties and ill-typed values are refused with a
reason naming the item, valid items go on. No Cypher here; `graph.cypher` writes the queries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graph.store import EdgeRecord, NodeRecord, Rejected
from graph.text_index import index_tokens, shadow_name
from graph.values import ValueRejected, normalise_datetime, normalise_value
from ontology.errors import UnknownType
from ontology.model import NODE_KEY, EdgeType, NodeType, Ontology, Property

#: Edge properties the store maintains itself; callers pass them as EdgeRecord fields.
EDGE_MANAGED = frozenset({"recorded_at", "closed_at", "supported_by", "source_id", "valid_from", "valid_to"})
MAX_ID_LENGTH = 512


@dataclass(frozen=True)
class NodeShape:
    """Rows of one label with the same list and vector properties share one query."""

    label: str
    lists: tuple[str, ...]
    vectors: tuple[str, ...]


@dataclass(frozen=True)
class EdgeShape:
    """Rows of one edge type between the same labels share one query."""

    type: str
    src_label: str
    dst_label: str
    lists: tuple[str, ...]


@dataclass
class PreparedBatch:
    """Grouped rows plus what was refused and what deserves a warning."""

    nodes: dict[NodeShape, list[dict[str, Any]]] = field(default_factory=dict)
    edges: dict[EdgeShape, list[dict[str, Any]]] = field(default_factory=dict)
    edge_records: dict[int, EdgeRecord] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def edge_key(edge: EdgeType, rec: EdgeRecord, identity_values: list[Any]) -> str:
    """The key that makes an edge unique: type, both ends and the identity properties."""
    raw = json.dumps([edge.name, rec.src.label, rec.src.id, rec.dst.label, rec.dst.id, identity_values], ensure_ascii=False)
    return hashlib.blake2b(raw.encode("utf-8"), digest_size=12).hexdigest()


def _resolve_property(kind: NodeType | EdgeType, name: str, warnings: list[str], item: str) -> Property:
    prop = kind.properties.get(name)
    if prop is None:
        for candidate in kind.properties.values():
            if name in candidate.aliases:
                warnings.append(f"{item}: property {name!r} is now called {candidate.name!r}")
                prop = candidate
                break
    if prop is None:
        raise ValueRejected(f"unknown property {name!r} for {kind.name}")
    if prop.deprecated:
        warnings.append(f"{item}: property {name!r} is deprecated: {prop.deprecated}")
    return prop


def _check_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueRejected(f"the key 'id' must be non-empty text, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise ValueRejected(f"the key 'id' is longer than {MAX_ID_LENGTH} characters")
    return value


def _node_row(node_type: NodeType, rec: NodeRecord, warnings: list[str]) -> tuple[NodeShape, dict[str, Any]]:
    item = f"{rec.label}:{rec.id}"
    row: dict[str, Any] = {"id": _check_id(rec.id), "props": {}, "lists": {}, "vecs": {}, "defaults": {}}
    for name, value in getattr(rec, "defaults", {}).items():
        if value is None or name == NODE_KEY:
            continue
        prop = _resolve_property(node_type, name, warnings, item)
        if prop.multivalued or prop.is_vector:
            raise ValueRejected(f"default {prop.name!r}: lists and vectors cannot be create-only defaults")
        try:
            row["defaults"][prop.name] = normalise_value(prop, value)
        except ValueRejected as exc:
            raise ValueRejected(f"default {prop.name!r}: {exc}") from None
        if prop.fulltext:
            row["defaults"][shadow_name(prop.name)] = index_tokens(row["defaults"][prop.name])
    for name, value in rec.props.items():
        if value is None or name == NODE_KEY:
            continue
        prop = _resolve_property(node_type, name, warnings, item)
        try:
            norm = normalise_value(prop, value)
        except ValueRejected as exc:
            raise ValueRejected(f"property {prop.name!r}: {exc}") from None
        if prop.is_vector:
            row["vecs"][prop.name] = norm
        elif prop.multivalued:
            row["lists"][prop.name] = norm
        else:
            row["props"][prop.name] = norm
            if prop.fulltext:
                row["props"][shadow_name(prop.name)] = index_tokens(norm)
    shape = NodeShape(rec.label, tuple(sorted(row["lists"])), tuple(sorted(row["vecs"])))
    return shape, row


def _merge_rows(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = {
        "id": old["id"],
        "props": {**old["props"], **new["props"]},
        "vecs": {**old["vecs"], **new["vecs"]},
        "lists": dict(old["lists"]),
        "defaults": {**new["defaults"], **old["defaults"]},  # the first default wins
    }
    for name, values in new["lists"].items():
        merged["lists"][name] = old["lists"].get(name, []) + [v for v in values if v not in old["lists"].get(name, [])]
    return merged


def prepare_nodes(ontology: Ontology, records: Iterable[NodeRecord], batch: PreparedBatch) -> None:
    """Check node records and group their rows by shape; duplicates in a batch are merged."""
    by_key: dict[tuple[str, str], tuple[NodeShape, dict[str, Any]]] = {}
    for rec in records:
        item = f"{getattr(rec, 'label', '?')}:{getattr(rec, 'id', '?')}"
        try:
            node_type = ontology.node_type(rec.label)
            if node_type.deprecated:
                batch.warnings.append(f"{item}: node type {rec.label} is deprecated: {node_type.deprecated}")
            shape, row = _node_row(node_type, rec, batch.warnings)
        except (UnknownType, ValueRejected) as exc:
            batch.rejected.append(Rejected(item, str(exc)))
            continue
        key = (rec.label, rec.id)
        if key in by_key:
            merged = _merge_rows(by_key[key][1], row)
            shape = NodeShape(rec.label, tuple(sorted(merged["lists"])), tuple(sorted(merged["vecs"])))
            row = merged
        by_key[key] = (shape, row)
    for shape, row in by_key.values():
        batch.nodes.setdefault(shape, []).append(row)
    for rows in batch.nodes.values():
        rows.sort(key=lambda r: r["id"])  # one lock order for every writer: no deadlocks


def _edge_row(edge: EdgeType, rec: EdgeRecord, index: int, warnings: list[str]) -> tuple[EdgeShape, dict[str, Any]]:
    item = rec.describe()
    if rec.src.label not in edge.domain:
        raise ValueRejected(f"{edge.name} cannot start at a {rec.src.label} (allowed: {', '.join(edge.domain)})")
    if rec.dst.label not in edge.range:
        raise ValueRejected(f"{edge.name} cannot end at a {rec.dst.label} (allowed: {', '.join(edge.range)})")
    _check_id(rec.src.id)
    _check_id(rec.dst.id)
    props: dict[str, Any] = {}
    lists: dict[str, Any] = {}
    given = dict(rec.props)
    for name in ("extractor", "confidence"):
        if getattr(rec, name) is not None:
            given[name] = getattr(rec, name)
    for name, value in given.items():
        if value is None:
            continue
        if name in EDGE_MANAGED:
            raise ValueRejected(f"property {name!r} is set through the record's own field or by the store")
        prop = _resolve_property(edge, name, warnings, item)
        try:
            norm = normalise_value(prop, value)
        except ValueRejected as exc:
            raise ValueRejected(f"property {prop.name!r}: {exc}") from None
        (lists if prop.multivalued else props)[prop.name] = norm
    identity = []
    for name in edge.identity:
        if name not in props:
            raise ValueRejected(f"{edge.name} needs its identity property {name!r}")
        identity.append(props[name])
    for prop in edge.properties.values():
        if prop.required and prop.name not in props and prop.name not in lists:
            raise ValueRejected(f"{edge.name} needs property {prop.name!r}")
    valid_from = normalise_datetime(rec.valid_from) if rec.valid_from is not None else None
    valid_to = normalise_datetime(rec.valid_to) if rec.valid_to is not None else None
    if valid_from and valid_to and valid_to < valid_from:
        raise ValueRejected(f"valid_to {valid_to} is before valid_from {valid_from}")
    if valid_to:
        props["valid_to"] = valid_to
    if rec.source_id is not None and not isinstance(rec.source_id, str):
        raise ValueRejected(f"source_id must be text, got {rec.source_id!r}")
    row = {
        "i": index,
        "src": rec.src.id,
        "dst": rec.dst.id,
        "ek": edge_key(edge, rec, identity),
        "props": props,
        "lists": lists,
        "valid_from": valid_from,
        "source_id": rec.source_id,
        "sup": [rec.source_id] if rec.source_id else [],
    }
    return EdgeShape(edge.name, rec.src.label, rec.dst.label, tuple(sorted(lists))), row


def prepare_edges(ontology: Ontology, records: Iterable[EdgeRecord], batch: PreparedBatch) -> None:
    """Check edge records (types, ends, properties, times) and group their rows by shape."""
    for index, rec in enumerate(records):
        try:
            edge = ontology.edge_type(rec.type)
            if edge.deprecated:
                batch.warnings.append(f"{rec.describe()}: edge type {rec.type} is deprecated: {edge.deprecated}")
            shape, row = _edge_row(edge, rec, index, batch.warnings)
        except (UnknownType, ValueRejected, AttributeError) as exc:
            batch.rejected.append(Rejected(_describe(rec), str(exc)))
            continue
        batch.edges.setdefault(shape, []).append(row)
        batch.edge_records[index] = rec
    for rows in batch.edges.values():
        rows.sort(key=lambda r: (r["src"], r["dst"]))


def _describe(rec: Any) -> str:
    try:
        return rec.describe()
    except Exception:  # a malformed record: say what it is
        return repr(rec)[:200]
