"""Turn node and edge records into checked, grouped rows ready for one UNWIND query each.

Every write passes here: unknown types or properties and ill-typed values are refused with a
reason naming the item, valid items go on. No Cypher here; `graph.cypher` writes the queries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graph.store import EdgeRecord, NodeRecord, Rejected
from graph.text_index import index_tokens, shadow_name
from graph.values import ValueRejected, normalise_datetime, value_normaliser
from ontology.errors import UnknownType
from ontology.model import NODE_KEY, EdgeType, NodeType, Ontology, Property

#: Edge properties the store maintains itself; callers pass them as EdgeRecord fields.
EDGE_MANAGED = frozenset({"recorded_at", "closed_at", "supported_by", "source_id", "valid_from", "valid_to"})
MAX_ID_LENGTH = 512
_json_string = json.encoder.encode_basestring  # json.dumps' own quoting of one string (ensure_ascii=False)


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
    parts = (edge.name, rec.src.label, rec.src.id, rec.dst.label, rec.dst.id)
    if type(parts[2]) is str and type(parts[4]) is str and type(parts[1]) is str and type(parts[3]) is str and type(parts[0]) is str:
        # the exact text of json.dumps([*parts, identity_values], ensure_ascii=False), built faster
        idents = json.dumps(identity_values, ensure_ascii=False) if identity_values else "[]"
        raw = "[" + ", ".join(map(_json_string, parts)) + ", " + idents + "]"
    else:
        raw = json.dumps([*parts, identity_values], ensure_ascii=False)
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


class _Lookups:
    """What one batch asks the ontology again and again, asked once.

    A property name that resolves with no warning (no alias, not deprecated) is remembered with
    its value normaliser; one that warns goes through `_resolve_property` every time, so every
    record still gets its warning. Lives for one `prepare_*` call, so the ontology cannot change
    under it.
    """

    def __init__(self, warnings: list[str]):
        self.warnings = warnings
        self._known: dict[int, dict[str, tuple[Property, Callable[[Any], Any]]]] = {}
        self._required: dict[str, tuple[str, ...]] = {}

    def known(self, kind: NodeType | EdgeType) -> dict[str, tuple[Property, Callable[[Any], Any]]]:
        """The property names of `kind` resolved so far (without warnings), with their normalisers."""
        known = self._known.get(id(kind))
        if known is None:
            known = self._known[id(kind)] = {}
        return known

    def resolve(self, kind: NodeType | EdgeType, name: str, item: Callable[[], str]) -> tuple[Property, Callable[[Any], Any]]:
        """Resolve a name not in `known(kind)`: warnings, or `ValueRejected` for an unknown name."""
        prop = _resolve_property(kind, name, self.warnings, item())
        hit = (prop, value_normaliser(prop))
        if prop.name == name and not prop.deprecated:
            self.known(kind)[name] = hit
        return hit

    def required(self, edge: EdgeType) -> tuple[str, ...]:
        names = self._required.get(edge.name)
        if names is None:
            names = self._required[edge.name] = tuple(p.name for p in edge.properties.values() if p.required)
        return names


def _check_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueRejected(f"the key 'id' must be non-empty text, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise ValueRejected(f"the key 'id' is longer than {MAX_ID_LENGTH} characters")
    return value


def _node_row(node_type: NodeType, rec: NodeRecord, lookups: _Lookups) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], dict[str, Any]]:
    """The row of one node: `id`, `props`, `defaults`, and `lists` / `vecs` only when it has some
    (the query of a shape reads those maps only for the names in the shape)."""

    def item() -> str:
        return f"{rec.label}:{rec.id}"

    defaults: dict[str, Any] = {}
    props: dict[str, Any] = {}
    lists: dict[str, Any] = {}
    vecs: dict[str, Any] = {}
    row: dict[str, Any] = {"id": _check_id(rec.id), "props": props, "defaults": defaults}
    known = lookups.known(node_type)
    for name, value in getattr(rec, "defaults", {}).items():
        if value is None or name == NODE_KEY:
            continue
        prop, norm_fn = known.get(name) or lookups.resolve(node_type, name, item)
        if prop.multivalued or prop.is_vector:
            raise ValueRejected(f"default {prop.name!r}: lists and vectors cannot be create-only defaults")
        try:
            defaults[prop.name] = norm_fn(value)
        except ValueRejected as exc:
            raise ValueRejected(f"default {prop.name!r}: {exc}") from None
        if prop.fulltext:
            defaults[shadow_name(prop.name)] = index_tokens(defaults[prop.name])
    for name, value in rec.props.items():
        if value is None or name == NODE_KEY:
            continue
        prop, norm_fn = known.get(name) or lookups.resolve(node_type, name, item)
        try:
            norm = norm_fn(value)
        except ValueRejected as exc:
            raise ValueRejected(f"property {prop.name!r}: {exc}") from None
        if prop.is_vector:
            vecs[prop.name] = norm
        elif prop.multivalued:
            lists[prop.name] = norm
        else:
            props[prop.name] = norm
            if prop.fulltext:
                props[shadow_name(prop.name)] = index_tokens(norm)
    if lists:
        row["lists"] = lists
    if vecs:
        row["vecs"] = vecs
    # the fields of its NodeShape (a plain tuple until the batch is grouped: cheaper to hash)
    return (rec.label, tuple(sorted(lists)) if lists else (), tuple(sorted(vecs)) if vecs else ()), row


def _merge_rows(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = {
        "id": old["id"],
        "props": {**old["props"], **new["props"]},
        "defaults": {**new["defaults"], **old["defaults"]},  # the first default wins
    }
    vecs = {**old.get("vecs", {}), **new.get("vecs", {})}
    lists = dict(old.get("lists", {}))
    for name, values in new.get("lists", {}).items():
        lists[name] = lists.get(name, []) + [v for v in values if v not in lists.get(name, [])]
    if lists:
        merged["lists"] = lists
    if vecs:
        merged["vecs"] = vecs
    return merged


def prepare_nodes(ontology: Ontology, records: Iterable[NodeRecord], batch: PreparedBatch) -> None:
    """Check node records and group their rows by shape; duplicates in a batch are merged."""
    by_key: dict[tuple[str, str], tuple[tuple[str, tuple[str, ...], tuple[str, ...]], dict[str, Any]]] = {}
    lookups = _Lookups(batch.warnings)
    for rec in records:
        try:
            node_type = ontology.node_type(rec.label)
            if node_type.deprecated:
                batch.warnings.append(f"{_node_item(rec)}: node type {rec.label} is deprecated: {node_type.deprecated}")
            shape, row = _node_row(node_type, rec, lookups)
        except (UnknownType, ValueRejected) as exc:
            batch.rejected.append(Rejected(_node_item(rec), str(exc)))
            continue
        key = (rec.label, rec.id)
        if key in by_key:
            merged = _merge_rows(by_key[key][1], row)
            shape = (rec.label, tuple(sorted(merged.get("lists", {}))), tuple(sorted(merged.get("vecs", {}))))
            row = merged
        by_key[key] = (shape, row)
    groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
    for shape, row in by_key.values():
        rows = groups.get(shape)
        if rows is None:
            rows = groups[shape] = []
        rows.append(row)
    for shape, rows in groups.items():
        batch.nodes.setdefault(NodeShape(*shape), []).extend(rows)
    for rows in batch.nodes.values():
        rows.sort(key=_row_id)  # one lock order for every writer: no deadlocks


def _node_item(rec: Any) -> str:
    return f"{getattr(rec, 'label', '?')}:{getattr(rec, 'id', '?')}"


def _row_id(row: dict[str, Any]) -> str:
    return row["id"]


def _edge_row(edge: EdgeType, rec: EdgeRecord, index: int, lookups: _Lookups) -> tuple[tuple[str, str, str, tuple[str, ...]], dict[str, Any]]:
    """The row of one edge: `i`, `src`, `dst`, `ek`, `props`, `source_id`, `sup`; `valid_from` and
    `lists` only when set (the query reads a missing key as null, and `lists` only by name)."""
    src, dst = rec.src, rec.dst
    if src.label not in edge.domain:
        raise ValueRejected(f"{edge.name} cannot start at a {src.label} (allowed: {', '.join(edge.domain)})")
    if dst.label not in edge.range:
        raise ValueRejected(f"{edge.name} cannot end at a {dst.label} (allowed: {', '.join(edge.range)})")
    _check_id(src.id)
    _check_id(dst.id)
    props: dict[str, Any] = {}
    lists: dict[str, Any] = {}
    given = rec.props
    if rec.extractor is not None or rec.confidence is not None:
        given = dict(given)
        if rec.extractor is not None:
            given["extractor"] = rec.extractor
        if rec.confidence is not None:
            given["confidence"] = rec.confidence
    known = lookups.known(edge)
    for name, value in given.items():
        if value is None:
            continue
        if name in EDGE_MANAGED:
            raise ValueRejected(f"property {name!r} is set through the record's own field or by the store")
        prop, norm_fn = known.get(name) or lookups.resolve(edge, name, rec.describe)
        try:
            norm = norm_fn(value)
        except ValueRejected as exc:
            raise ValueRejected(f"property {prop.name!r}: {exc}") from None
        (lists if prop.multivalued else props)[prop.name] = norm
    identity = []
    for name in edge.identity:
        if name not in props:
            raise ValueRejected(f"{edge.name} needs its identity property {name!r}")
        identity.append(props[name])
    for name in lookups.required(edge):
        if name not in props and name not in lists:
            raise ValueRejected(f"{edge.name} needs property {name!r}")
    valid_from = normalise_datetime(rec.valid_from) if rec.valid_from is not None else None
    valid_to = normalise_datetime(rec.valid_to) if rec.valid_to is not None else None
    if valid_from and valid_to and valid_to < valid_from:
        raise ValueRejected(f"valid_to {valid_to} is before valid_from {valid_from}")
    if valid_to:
        props["valid_to"] = valid_to
    source_id = rec.source_id
    if source_id is not None and not isinstance(source_id, str):
        raise ValueRejected(f"source_id must be text, got {source_id!r}")
    row = {
        "i": index,
        "src": src.id,
        "dst": dst.id,
        "ek": edge_key(edge, rec, identity),
        "props": props,
        "source_id": source_id,
        "sup": [source_id] if source_id else [],
    }
    if valid_from is not None:
        row["valid_from"] = valid_from
    if lists:
        row["lists"] = lists
        return (edge.name, src.label, dst.label, tuple(sorted(lists))), row
    return (edge.name, src.label, dst.label, ()), row  # the fields of its EdgeShape


def prepare_edges(ontology: Ontology, records: Iterable[EdgeRecord], batch: PreparedBatch) -> None:
    """Check edge records (types, ends, properties, times) and group their rows by shape."""
    lookups = _Lookups(batch.warnings)
    groups: dict[tuple[str, str, str, tuple[str, ...]], list[dict[str, Any]]] = {}
    edge_records = batch.edge_records
    for index, rec in enumerate(records):
        try:
            edge = ontology.edge_type(rec.type)
            if edge.deprecated:
                batch.warnings.append(f"{rec.describe()}: edge type {rec.type} is deprecated: {edge.deprecated}")
            shape, row = _edge_row(edge, rec, index, lookups)
        except (UnknownType, ValueRejected, AttributeError) as exc:
            batch.rejected.append(Rejected(_describe(rec), str(exc)))
            continue
        rows = groups.get(shape)
        if rows is None:
            rows = groups[shape] = []
        rows.append(row)
        edge_records[index] = rec
    for shape, rows in groups.items():
        batch.edges.setdefault(EdgeShape(*shape), []).extend(rows)
    for rows in batch.edges.values():
        rows.sort(key=_row_ends)


def _row_ends(row: dict[str, Any]) -> tuple[str, str]:
    return row["src"], row["dst"]


def _describe(rec: Any) -> str:
    try:
        return rec.describe()
    except Exception:  # a malformed record: say what it is
        return repr(rec)[:200]
