"""The typed view of the ontology that every other room of khub reads.

The ontology is a LinkML schema (`ontology/schema/khub.yaml` by default). Node types are
classes annotated `khub_kind: node`; edge types are classes annotated `khub_kind: edge`
(reified associations with `subject` and `object`). See the header of the YAML file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from ontology.errors import SchemaInvalid, UnknownType
from ontology.yamlsource import load_yaml_with_lines

DEFAULT_SCHEMA = Path(__file__).resolve().parent / "schema" / "khub.yaml"

#: Scalar ranges a property may have, besides enums.
BUILTIN_RANGES = frozenset({"string", "integer", "float", "double", "boolean", "date", "datetime", "uri"})

#: The key property every node has.
NODE_KEY = "id"

#: Edge slots that are the edge's ends, not stored properties.
EDGE_END_SLOTS = frozenset({"subject", "object"})

#: Base classes that mean "any node" and "the provenance of every edge".
ANY_NODE = "Entity"
EDGE_BASE = "EdgeBase"

CARDINALITIES = frozenset({"many_to_many", "many_to_one", "one_to_many", "one_to_one"})


class PrivacyCategory(StrEnum):
    """How sensitive a property is (see the PrivacyCategory enum of the schema)."""

    NONE = "none"
    IDENTITY = "identity"
    CONTACT = "contact"
    LOCATION = "location"
    BEHAVIOURAL = "behavioural"
    FINANCIAL = "financial"
    SENSITIVE = "sensitive"


@dataclass(frozen=True)
class Property:
    """One property of a node or edge type."""

    name: str
    range: str
    privacy: PrivacyCategory
    multivalued: bool = False
    required: bool = False
    unique: bool = False
    indexed: bool = False
    fulltext: bool = False
    embedding_dim: int | None = None
    enum_values: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    aliases: tuple[str, ...] = ()
    deprecated: str | None = None
    description: str = ""
    #: multivalued: at most this many values are kept, the most recent (LinkML `maximum_cardinality`)
    max_items: int | None = None

    @property
    def is_vector(self) -> bool:
        """True for an embedding property (stored as a vector, indexed for k-NN)."""
        return self.embedding_dim is not None

    @property
    def scalar_range(self) -> str:
        """The range with enums reported as `string` (how the value is stored)."""
        return "string" if self.enum_values is not None else ("float" if self.range == "double" else self.range)


@dataclass(frozen=True)
class NodeType:
    """A node type: its label is its name; `id` is its key."""

    name: str
    properties: dict[str, Property]
    description: str = ""
    aliases: tuple[str, ...] = ()
    deprecated: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The property that identifies a node of this type."""
        return NODE_KEY

    def properties_where(self, **flags: Any) -> list[Property]:
        """Properties whose attributes equal the given values, e.g. `unique=True`."""
        return [p for p in self.properties.values() if all(getattr(p, k) == v for k, v in flags.items())]

    @property
    def vector_properties(self) -> list[Property]:
        """Embedding properties of this type."""
        return [p for p in self.properties.values() if p.is_vector]


@dataclass(frozen=True)
class EdgeType:
    """An edge type with its domain, range, cardinality and identity properties."""

    name: str
    domain: tuple[str, ...]
    range: tuple[str, ...]
    cardinality: str
    properties: dict[str, Property]
    identity: tuple[str, ...] = ()
    cascade_delete: bool = False
    description: str = ""
    aliases: tuple[str, ...] = ()
    deprecated: str | None = None

    @property
    def functional_subject(self) -> bool:
        """A subject has at most one valid edge of this type (many_to_one, one_to_one)."""
        return self.cardinality in ("many_to_one", "one_to_one")

    @property
    def functional_object(self) -> bool:
        """An object has at most one valid edge of this type (one_to_many, one_to_one)."""
        return self.cardinality in ("one_to_many", "one_to_one")


@dataclass(frozen=True)
class Ontology:
    """The whole ontology: node types, edge types and enums, with its version."""

    name: str
    version: str
    node_types: dict[str, NodeType]
    edge_types: dict[str, EdgeType]
    enums: dict[str, tuple[str, ...]]
    source: Path
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def node_type(self, label: str) -> NodeType:
        """The node type called `label`; `UnknownType` names it if there is none."""
        try:
            return self.node_types[label]
        except KeyError:
            raise UnknownType(f"unknown node type {label!r}; known: {', '.join(sorted(self.node_types))}") from None

    def edge_type(self, name: str) -> EdgeType:
        """The edge type called `name`; `UnknownType` names it if there is none."""
        try:
            return self.edge_types[name]
        except KeyError:
            raise UnknownType(f"unknown edge type {name!r}; known: {', '.join(sorted(self.edge_types))}") from None

    def fulltext_properties(self) -> list[tuple[str, Property]]:
        """(label, property) for every full-text indexed property."""
        return [(n.name, p) for n in self.node_types.values() for p in n.properties.values() if p.fulltext]

    def vector_properties(self) -> list[tuple[str, Property]]:
        """(label, property) for every embedding property."""
        return [(n.name, p) for n in self.node_types.values() for p in n.vector_properties]

    def cascade_edges_from(self, label: str) -> list[EdgeType]:
        """Edge types whose objects are deleted with a subject of type `label`."""
        return [e for e in self.edge_types.values() if e.cascade_delete and label in e.domain]


def class_slot_names(classes: dict[str, Any], name: str, seen: Iterable[str] = ()) -> list[str]:
    """The slots of class `name` including inherited ones (is_a chain), parents first."""
    cls = classes.get(name) or {}
    parent = cls.get("is_a")
    inherited: list[str] = []
    if parent and parent in classes and parent not in seen:
        inherited = class_slot_names(classes, parent, (*seen, name))
    own = [s for s in (cls.get("slots") or []) if s not in inherited]
    return inherited + own


def class_kind(classes: dict[str, Any], name: str) -> str | None:
    """`node`, `edge` or None (abstract helpers) for class `name`."""
    return ((classes.get(name) or {}).get("annotations") or {}).get("khub_kind")


def range_names(usage: dict[str, Any] | None) -> list[str]:
    """The class names a `subject`/`object` slot_usage allows (`range` or `any_of`)."""
    if not usage:
        return []
    if "any_of" in usage:
        return [alt.get("range") for alt in usage["any_of"] if isinstance(alt, dict) and alt.get("range")]
    return [usage["range"]] if usage.get("range") else []


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _build_property(name: str, slot: dict[str, Any], usage: dict[str, Any], enums: dict[str, tuple[str, ...]]) -> Property:
    merged = {**slot, **usage, "annotations": {**(slot.get("annotations") or {}), **(usage.get("annotations") or {})}}
    ann = merged["annotations"]
    rng = merged.get("range") or "string"
    return Property(
        name=name,
        range=rng,
        privacy=PrivacyCategory(ann.get("privacy", "none")),
        multivalued=bool(merged.get("multivalued", False)),
        required=bool(merged.get("required", False)),
        unique=bool(ann.get("unique", False)),
        indexed=bool(ann.get("indexed", False)),
        fulltext=bool(ann.get("fulltext", False)),
        embedding_dim=int(ann["embedding_dim"]) if ann.get("embedding_dim") is not None else None,
        enum_values=enums.get(rng),
        minimum=merged.get("minimum_value"),
        maximum=merged.get("maximum_value"),
        aliases=_as_tuple(merged.get("aliases")),
        deprecated=merged.get("deprecated"),
        description=merged.get("description") or "",
        max_items=int(merged["maximum_cardinality"]) if merged.get("maximum_cardinality") else None,
    )


def _edge_ends(usage: dict[str, Any] | None, node_names: list[str]) -> tuple[str, ...]:
    names = range_names(usage)
    return tuple(node_names) if names == [ANY_NODE] else tuple(names)


def build_ontology(data: dict[str, Any], source: Path) -> Ontology:
    """Build the typed ontology from already validated schema data."""
    enums = {name: tuple((e.get("permissible_values") or {}).keys()) for name, e in (data.get("enums") or {}).items()}
    slots = data.get("slots") or {}
    classes = data.get("classes") or {}
    node_names = [n for n in classes if class_kind(classes, n) == "node"]
    node_types: dict[str, NodeType] = {}
    edge_types: dict[str, EdgeType] = {}
    for name, cls in classes.items():
        kind = class_kind(classes, name)
        if kind is None:
            continue
        usage_all = cls.get("slot_usage") or {}
        props = {
            s: _build_property(s, slots.get(s) or {}, usage_all.get(s) or {}, enums)
            for s in class_slot_names(classes, name)
            if not (kind == "edge" and s in EDGE_END_SLOTS)
        }
        ann = cls.get("annotations") or {}
        common = {
            "description": cls.get("description") or "",
            "aliases": _as_tuple(cls.get("aliases")),
            "deprecated": cls.get("deprecated"),
        }
        if kind == "node":
            node_types[name] = NodeType(name=name, properties=props, annotations=dict(ann), **common)
        else:
            edge_types[name] = EdgeType(
                name=name,
                domain=_edge_ends(usage_all.get("subject"), node_names),
                range=_edge_ends(usage_all.get("object"), node_names),
                cardinality=ann.get("cardinality", "many_to_many"),
                properties=props,
                identity=_as_tuple(ann.get("identity")),
                cascade_delete=bool(ann.get("cascade_delete", False)),
                **common,
            )
    return Ontology(
        name=str(data.get("name")),
        version=str(data.get("version")),
        node_types=node_types,
        edge_types=edge_types,
        enums=enums,
        source=source,
        raw=data,
    )


def load_ontology(path: Path | str | None = None) -> Ontology:
    """Load, validate and build the ontology at `path` (default: the shipped schema).

    Raises `SchemaInvalid` listing every error with file, line and element.
    """
    from ontology.validate import validate_schema_data  # validate imports this module

    source = Path(path) if path else DEFAULT_SCHEMA
    data, lines, duplicates = load_yaml_with_lines(source)
    issues = validate_schema_data(data, lines, duplicates, str(source))
    if issues:
        raise SchemaInvalid(issues)
    return build_ontology(data, source)


@lru_cache(maxsize=1)
def default_ontology() -> Ontology:
    """The shipped ontology, loaded once per process."""
    return load_ontology(DEFAULT_SCHEMA)
