"""GraphQL types for node types a steward added to the ontology, made when the schema is built.

The built-in classes (Account, Contact, ...) are written in `api.graphql.types`. A node type
that has none (one a steward added with `addNodeType`, or one of a site's own ontology file) gets,
each time the schema is built for an ontology (`api.graphql.schema.build_schema(ontology=...)`):

- an object type of the same name implementing `Node` (a subclass of `GenericNode`, so all of
  `Node` works on it) with one field per property (camelCase, typed from the property's range,
  null when the caller's role may not see its privacy category);
- on `Query`, a by-key field (`windTurbine(id:)`) and a filtered, ordered Relay list
  (`windTurbines(where:, orderBy:, first:, after:)`), like the built-in types have.

A node of such a type resolves to its class wherever a `Node` is returned (`Node.resolve_type`),
so `__typename` names it. A type whose name is already a GraphQL type, a property named like a
`Node` field, or a query field name already taken is left to `GenericNode` / `properties`, and
`OntologyInfo.types.typed` says which types got a class.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import strawberry

from api.graphql.types import TYPED, GenericNode
from ontology.model import NodeType, Ontology, Property

#: Fields of the Node interface: a property with one of these names stays in `properties` only.
NODE_FIELDS = frozenset({"id", "type", "ref", "properties", "caption", "edges"})
_SCALARS: dict[str, type] = {"integer": int, "float": float, "double": float, "boolean": bool}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def query_field_names(label: str) -> tuple[str, str]:
    """The by-key and list field names of a type on Query: `WindTurbine` -> (`windTurbine`, `windTurbines`)."""
    single = label[:1].lower() + label[1:]
    if re.search(r"(s|x|z|ch|sh)$", single):
        plural = single + "es"
    elif re.search(r"[^aeiou]y$", single):
        plural = single[:-1] + "ies"
    else:
        plural = single + "s"
    return single, plural


def _python_type(prop: Property) -> Any:
    base = _SCALARS.get(prop.range, str)
    return list[base] if prop.multivalued else base  # type: ignore[valid-type]


def _property_field(prop: Property) -> Any:
    def resolve(root: GenericNode, info: strawberry.Info) -> Any:
        value = root.value(info, prop.name)
        if value is None or not prop.multivalued:
            return value
        return value if isinstance(value, list) else [value]

    resolve.__annotations__ = {"info": strawberry.Info, "return": _python_type(prop) | None}
    text = (prop.description + " " if prop.description else "") + f"(ontology property {prop.name}, privacy {prop.privacy.value})"
    return strawberry.field(resolver=resolve, description=text, name=_camel(prop.name))


def node_class(node_type: NodeType) -> type[GenericNode]:
    """A typed GraphQL class for a node type without a built-in one."""
    namespace: dict[str, Any] = {"__module__": __name__, "__annotations__": {}}
    for prop in node_type.properties.values():
        if prop.name in NODE_FIELDS or _camel(prop.name) in NODE_FIELDS:
            continue
        namespace[f"p_{prop.name}"] = _property_field(prop)
    cls = type(node_type.name, (GenericNode,), namespace)
    description = node_type.description or f"A {node_type.name} (a type added to the ontology)."
    return strawberry.type(cls, name=node_type.name, description=description)  # type: ignore[return-value]


def generated_types(
    ontology: Ontology, taken_types: set[str], taken_fields: set[str], by_key: Callable[..., Any], list_of: Callable[..., Any]
) -> tuple[list[type], dict[str, Any]]:
    """The classes of `ontology`'s node types without a built-in class and their Query fields
    (`by_key(label, cls)`, `list_of(label, cls)` make them), leaving out names already taken."""
    classes: list[type] = []
    fields: dict[str, Any] = {}
    for node_type in ontology.node_types.values():
        if node_type.name in TYPED or node_type.name in taken_types:
            continue
        cls = node_class(node_type)
        classes.append(cls)
        single, plural = query_field_names(node_type.name)
        if single not in taken_fields:
            fields[single] = by_key(node_type.name, cls)
        if plural not in taken_fields and plural != single:
            fields[plural] = list_of(node_type.name, cls)
    return classes, fields


def is_generated(info: strawberry.Info, name: str) -> bool:
    """True when this request's schema has a generated class for node type `name`."""
    found = info.schema.get_type_by_name(name)
    origin = getattr(found, "origin", None)
    return isinstance(origin, type) and issubclass(origin, GenericNode) and origin is not GenericNode
