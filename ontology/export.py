"""Export the ontology as OWL 2 (Turtle), SHACL shapes (Turtle) or JSON Schema 2020-12.

These exporters read khub's typed ontology, not the LinkML metamodel, so they describe the
property graph khub stores:

- `owl`: an `owl:Class` per node type (all subclasses of `khub:Entity`), an
  `owl:DatatypeProperty` per scalar slot (its domain is the union of the node types that use
  it, its range an XSD datatype or an enum datatype), an `owl:ObjectProperty` per edge type
  (domain and range, unions when several; cardinality as functional / inverse functional),
  keys as `owl:hasKey`, the privacy category as the annotation `khub:privacyCategory`;
- `shacl`: a `sh:NodeShape` per node type with a property shape per property (datatype,
  counts, enum values, bounds) and, for each edge type, a property shape on its domain types
  (`sh:class` of the range, `sh:maxCount 1` for a functional side);
- `jsonschema`: `$defs` per node type and edge type (an edge as its two ends plus its
  properties), typed properties, enums and required properties.

Edge properties (provenance, valid time, `job_title` on WORKS_AT, ...) have no place on an
OWL object property or a SHACL path; OWL lists them with `khub:usedOnEdge`, JSON Schema has them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDF, RDFS, SH, XSD

from ontology.model import ANY_NODE, NODE_KEY, EdgeType, Ontology, Property

#: The formats `export_ontology` writes.
EXPORT_FORMATS = ("owl", "shacl", "jsonschema")

#: LinkML built-in ranges as XSD datatypes (LinkML's own mapping).
XSD_TYPES: dict[str, URIRef] = {
    "string": XSD.string,
    "integer": XSD.integer,
    "float": XSD.float,
    "double": XSD.double,
    "boolean": XSD.boolean,
    "date": XSD.date,
    "datetime": XSD.dateTime,
    "uri": XSD.anyURI,
}

#: LinkML built-in ranges as JSON Schema types.
JSON_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "uri": {"type": "string", "format": "uri"},
}

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def export_ontology(ontology: Ontology, fmt: str) -> str:
    """The ontology as text in `fmt`: `owl` (Turtle), `shacl` (Turtle) or `jsonschema` (JSON).

    Raises `ValueError` for another format.
    """
    if fmt == "owl":
        return owl_graph(ontology).serialize(format="turtle")
    if fmt == "shacl":
        return shacl_graph(ontology).serialize(format="turtle")
    if fmt == "jsonschema":
        return json.dumps(json_schema(ontology), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")


# ---------------------------------------------------------------------------------- naming
def namespace(ontology: Ontology) -> tuple[str, Namespace]:
    """The prefix and namespace of the ontology's terms (`default_prefix` in `prefixes`)."""
    raw = ontology.raw
    prefix = str(raw.get("default_prefix") or "khub")
    base = (raw.get("prefixes") or {}).get(prefix)
    if isinstance(base, dict):  # LinkML's long form {prefix_prefix, prefix_reference}
        base = base.get("prefix_reference")
    if not base:
        schema_id = str(raw.get("id") or "https://khub.dev/ontology/")
        base = schema_id if schema_id.endswith(("/", "#")) else schema_id + "/"
    return prefix, Namespace(str(base))


def _ontology_iri(ontology: Ontology, ns: Namespace) -> URIRef:
    return URIRef(str(ontology.raw.get("id") or ns))


def _new_graph(ontology: Ontology) -> tuple[Graph, Namespace]:
    prefix, ns = namespace(ontology)
    g = Graph()
    g.bind(prefix, ns)
    for name in ("owl", "rdf", "rdfs", "xsd", "sh"):
        g.bind(name, {"owl": OWL, "rdf": RDF, "rdfs": RDFS, "xsd": XSD, "sh": SH}[name])
    return g, ns


def _rdf_list(g: Graph, items: Iterable[Any]) -> BNode:
    head = BNode()
    Collection(g, head, list(items))
    return head


def _class_or_union(g: Graph, ns: Namespace, ontology: Ontology, names: Sequence[str]) -> URIRef | BNode:
    """One class, `khub:Entity` for every node type, or an `owl:unionOf` class."""
    if len(names) == 1:
        return ns[names[0]]
    if set(names) == set(ontology.node_types):
        return ns[ANY_NODE]
    union = BNode()
    g.add((union, RDF.type, OWL.Class))
    g.add((union, OWL.unionOf, _rdf_list(g, (ns[n] for n in sorted(names)))))
    return union


def _slot_usage(ontology: Ontology) -> tuple[dict[str, list[tuple[str, Property]]], dict[str, list[str]]]:
    """slot name -> [(node type, property)], and slot name -> edge types that carry it."""
    on_nodes: dict[str, list[tuple[str, Property]]] = {}
    on_edges: dict[str, list[str]] = {}
    for node in ontology.node_types.values():
        for prop in node.properties.values():
            on_nodes.setdefault(prop.name, []).append((node.name, prop))
    for edge in ontology.edge_types.values():
        for prop in edge.properties.values():
            on_edges.setdefault(prop.name, []).append(edge.name)
    return on_nodes, on_edges


def _edge_properties(ontology: Ontology) -> dict[str, Property]:
    out: dict[str, Property] = {}
    for edge in ontology.edge_types.values():
        for prop in edge.properties.values():
            out.setdefault(prop.name, prop)
    return out


# ---------------------------------------------------------------------------------- OWL
def owl_graph(ontology: Ontology) -> Graph:
    """The ontology as an OWL 2 graph (see the module docstring for the mapping)."""
    g, ns = _new_graph(ontology)
    onto = _ontology_iri(ontology, ns)
    g.add((onto, RDF.type, OWL.Ontology))
    g.add((onto, OWL.versionInfo, Literal(ontology.version)))
    g.add((onto, RDFS.label, Literal(str(ontology.raw.get("title") or ontology.name))))
    privacy = ns["privacyCategory"]
    used_on_edge = ns["usedOnEdge"]
    g.add((privacy, RDF.type, OWL.AnnotationProperty))
    g.add((privacy, RDFS.comment, Literal("How sensitive a property is (khub privacy category).")))
    g.add((used_on_edge, RDF.type, OWL.AnnotationProperty))
    g.add((used_on_edge, RDFS.comment, Literal("An edge type that carries this property.")))

    entity = ns[ANY_NODE]
    g.add((entity, RDF.type, OWL.Class))
    g.add((entity, RDFS.label, Literal(ANY_NODE)))
    g.add((entity, RDFS.comment, Literal("Anything stored as a node.")))
    for node in ontology.node_types.values():
        cls = ns[node.name]
        g.add((cls, RDF.type, OWL.Class))
        g.add((cls, RDFS.subClassOf, entity))
        g.add((cls, RDFS.label, Literal(node.name)))
        if node.annotations.get("label_zh"):
            g.add((cls, RDFS.label, Literal(str(node.annotations["label_zh"]), lang="zh")))
        if node.description:
            g.add((cls, RDFS.comment, Literal(node.description)))
        if node.deprecated:
            g.add((cls, OWL.deprecated, Literal(True)))
        for key in [NODE_KEY] + [p.name for p in node.properties.values() if p.unique and p.name != NODE_KEY]:
            g.add((cls, OWL.hasKey, _rdf_list(g, [ns[key]])))

    for enum_name, values in ontology.enums.items():
        dt = ns[enum_name]
        g.add((dt, RDF.type, RDFS.Datatype))
        g.add((dt, RDFS.label, Literal(enum_name)))
        description = ((ontology.raw.get("enums") or {}).get(enum_name) or {}).get("description")
        if description:
            g.add((dt, RDFS.comment, Literal(description)))
        one_of = BNode()
        g.add((one_of, RDF.type, RDFS.Datatype))
        g.add((one_of, OWL.oneOf, _rdf_list(g, (Literal(v) for v in values))))
        g.add((dt, OWL.equivalentClass, one_of))

    on_nodes, on_edges = _slot_usage(ontology)
    edge_props = _edge_properties(ontology)
    for name in sorted(set(on_nodes) | set(on_edges)):
        uses = on_nodes.get(name, [])
        props = [p for _, p in uses] or [edge_props[name]]
        first = props[0]
        prop_iri = ns[name]
        ranges = sorted({p.range for p in props})
        is_object = all(r in ontology.node_types for r in ranges)
        g.add((prop_iri, RDF.type, OWL.ObjectProperty if is_object else OWL.DatatypeProperty))
        g.add((prop_iri, RDFS.label, Literal(name)))
        if first.description:
            g.add((prop_iri, RDFS.comment, Literal(first.description)))
        g.add((prop_iri, privacy, Literal(first.privacy.value)))
        if uses:
            g.add((prop_iri, RDFS.domain, _class_or_union(g, ns, ontology, sorted({n for n, _ in uses}))))
        if is_object:
            g.add((prop_iri, RDFS.range, _class_or_union(g, ns, ontology, ranges)))
        else:
            g.add((prop_iri, RDFS.range, _datatype_or_union(g, ns, ontology, ranges)))
        if not any(p.multivalued for p in props):
            g.add((prop_iri, RDF.type, OWL.FunctionalProperty))
        if any(p.deprecated for p in props):
            g.add((prop_iri, OWL.deprecated, Literal(True)))
        for edge_name in sorted(on_edges.get(name, [])):
            g.add((prop_iri, used_on_edge, ns[edge_name]))

    for edge in ontology.edge_types.values():
        _owl_edge(g, ns, ontology, edge)
    return g


def _datatype(ns: Namespace, ontology: Ontology, rng: str) -> URIRef:
    if rng in ontology.enums:
        return ns[rng]
    return XSD_TYPES.get(rng, XSD.string)


def _datatype_or_union(g: Graph, ns: Namespace, ontology: Ontology, ranges: Sequence[str]) -> URIRef | BNode:
    if len(ranges) == 1:
        return _datatype(ns, ontology, ranges[0])
    union = BNode()
    g.add((union, RDF.type, RDFS.Datatype))
    g.add((union, OWL.unionOf, _rdf_list(g, (_datatype(ns, ontology, r) for r in ranges))))
    return union


def _owl_edge(g: Graph, ns: Namespace, ontology: Ontology, edge: EdgeType) -> None:
    iri = ns[edge.name]
    g.add((iri, RDF.type, OWL.ObjectProperty))
    g.add((iri, RDFS.label, Literal(edge.name)))
    comment = edge.description or f"{edge.name} edge"
    g.add((iri, RDFS.comment, Literal(f"{comment} (cardinality {edge.cardinality})")))
    g.add((iri, RDFS.domain, _class_or_union(g, ns, ontology, edge.domain)))
    g.add((iri, RDFS.range, _class_or_union(g, ns, ontology, edge.range)))
    if edge.functional_subject:
        g.add((iri, RDF.type, OWL.FunctionalProperty))
    if edge.functional_object:
        g.add((iri, RDF.type, OWL.InverseFunctionalProperty))
    if edge.deprecated:
        g.add((iri, OWL.deprecated, Literal(True)))


# ---------------------------------------------------------------------------------- SHACL
def shapes_namespace(ontology: Ontology) -> Namespace:
    """Where the SHACL shapes live: `<namespace>shapes/`."""
    return Namespace(str(namespace(ontology)[1]) + "shapes/")


def shacl_graph(ontology: Ontology) -> Graph:
    """SHACL shapes for the node types and their edges (see the module docstring)."""
    g, ns = _new_graph(ontology)
    shapes = shapes_namespace(ontology)
    g.bind(f"{namespace(ontology)[0]}sh", shapes)
    shape_of = {name: shapes[name] for name in ontology.node_types}
    for node in ontology.node_types.values():
        shape = shape_of[node.name]
        g.add((shape, RDF.type, SH.NodeShape))
        g.add((shape, SH.targetClass, ns[node.name]))
        g.add((shape, RDFS.label, Literal(f"{node.name} shape")))
        if node.description:
            g.add((shape, RDFS.comment, Literal(node.description)))
        for prop in node.properties.values():
            g.add((shape, SH.property, _property_shape(g, ns, ontology, prop)))
    for edge in ontology.edge_types.values():
        for label in edge.domain:
            pshape = BNode()
            g.add((shape_of[label], SH.property, pshape))
            g.add((pshape, SH.path, ns[edge.name]))
            g.add((pshape, SH.name, Literal(edge.name)))
            _class_constraint(g, ns, pshape, edge.range)
            if edge.functional_subject:
                g.add((pshape, SH.maxCount, Literal(1)))
        if edge.functional_object:
            for label in edge.range:
                pshape = BNode()
                inverse = BNode()
                g.add((inverse, SH.inversePath, ns[edge.name]))
                g.add((shape_of[label], SH.property, pshape))
                g.add((pshape, SH.path, inverse))
                g.add((pshape, SH.name, Literal(f"inverse {edge.name}")))
                g.add((pshape, SH.maxCount, Literal(1)))
    return g


def _class_constraint(g: Graph, ns: Namespace, pshape: BNode, classes: Sequence[str]) -> None:
    if len(classes) == 1:
        g.add((pshape, SH["class"], ns[classes[0]]))
        return
    alternatives = []
    for name in sorted(classes):
        alt = BNode()
        g.add((alt, SH["class"], ns[name]))
        alternatives.append(alt)
    g.add((pshape, SH["or"], _rdf_list(g, alternatives)))


def _property_shape(g: Graph, ns: Namespace, ontology: Ontology, prop: Property) -> BNode:
    pshape = BNode()
    g.add((pshape, SH.path, ns[prop.name]))
    g.add((pshape, SH.name, Literal(prop.name)))
    if prop.description:
        g.add((pshape, SH.description, Literal(prop.description)))
    if prop.range in ontology.node_types:
        g.add((pshape, SH["class"], ns[prop.range]))
    else:
        g.add((pshape, SH.datatype, XSD_TYPES.get(prop.scalar_range if prop.enum_values is not None else prop.range, XSD.string)))
    if prop.enum_values is not None:
        g.add((pshape, SH["in"], _rdf_list(g, (Literal(v) for v in prop.enum_values))))
    if not prop.multivalued:
        g.add((pshape, SH.maxCount, Literal(1)))
    if prop.required or prop.name == NODE_KEY:
        g.add((pshape, SH.minCount, Literal(1)))
    if prop.minimum is not None:
        g.add((pshape, SH.minInclusive, _bound(prop, prop.minimum)))
    if prop.maximum is not None:
        g.add((pshape, SH.maxInclusive, _bound(prop, prop.maximum)))
    return pshape


def _bound(prop: Property, value: float) -> Literal:
    if prop.range == "integer":
        return Literal(int(value))
    return Literal(float(value), datatype=XSD_TYPES.get(prop.range, XSD.double))


# ---------------------------------------------------------------------------------- JSON Schema
def _json_property(ontology: Ontology, prop: Property) -> dict[str, Any]:
    if prop.enum_values is not None:
        item: dict[str, Any] = {"type": "string", "enum": list(prop.enum_values)}
    elif prop.range in ontology.node_types:
        item = {"type": "string", "description": f"id of a {prop.range}"}
    else:
        item = dict(JSON_TYPES.get(prop.range, {"type": "string"}))
    if prop.minimum is not None:
        item["minimum"] = prop.minimum
    if prop.maximum is not None:
        item["maximum"] = prop.maximum
    if prop.name == NODE_KEY:
        item["minLength"] = 1
    schema: dict[str, Any] = item
    if prop.multivalued:
        schema = {"type": "array", "items": item}
        if prop.embedding_dim is not None:
            schema["minItems"] = schema["maxItems"] = prop.embedding_dim
    if prop.description:
        schema["description"] = prop.description
    if prop.deprecated:
        schema["deprecated"] = True
    schema["x-khub-privacy"] = prop.privacy.value
    return schema


def _node_ref(labels: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"label": {"enum": list(labels)}, "id": {"type": "string", "minLength": 1}},
        "required": ["label", "id"],
        "additionalProperties": False,
    }


def json_schema(ontology: Ontology) -> dict[str, Any]:
    """A JSON Schema 2020-12 document with one `$defs` entry per node type and edge type.

    A node is an object of its properties (`id` required); an edge is an object with
    `subject` and `object` ({label, id}, labels limited to the domain and range) and its
    properties. Names never collide: node types are CamelCase, edge types UPPER_SNAKE_CASE.
    """
    defs: dict[str, Any] = {}
    for node in ontology.node_types.values():
        required = [p.name for p in node.properties.values() if p.required or p.name == NODE_KEY]
        entry: dict[str, Any] = {
            "type": "object",
            "title": node.name,
            "properties": {p.name: _json_property(ontology, p) for p in node.properties.values()},
            "required": required,
            "additionalProperties": False,
        }
        if node.description:
            entry["description"] = node.description
        if node.deprecated:
            entry["deprecated"] = True
        defs[node.name] = entry
    for edge in ontology.edge_types.values():
        properties: dict[str, Any] = {"subject": _node_ref(edge.domain), "object": _node_ref(edge.range)}
        properties.update({p.name: _json_property(ontology, p) for p in edge.properties.values()})
        entry = {
            "type": "object",
            "title": edge.name,
            "properties": properties,
            "required": ["subject", "object"] + [p.name for p in edge.properties.values() if p.required],
            "additionalProperties": False,
            "x-khub-cardinality": edge.cardinality,
        }
        if edge.identity:
            entry["x-khub-identity"] = list(edge.identity)
        if edge.description:
            entry["description"] = edge.description
        if edge.deprecated:
            entry["deprecated"] = True
        defs[edge.name] = entry
    _, ns = namespace(ontology)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{_ontology_iri(ontology, ns)}.schema.json",
        "title": str(ontology.raw.get("title") or ontology.name),
        "description": f"{ontology.name} {ontology.version}: one $defs entry per node type and edge type.",
        "x-khub-version": ontology.version,
        "$defs": defs,
    }
