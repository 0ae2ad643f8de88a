"""OWL, SHACL and JSON Schema exports of the shipped ontology."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from pyshacl import validate
from rdflib import Graph, Literal, Namespace
from rdflib import namespace as rdfns
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDF, RDFS, SH

from ontology.export import EXPORT_FORMATS, export_ontology
from ontology.model import default_ontology

KHUB = Namespace("https://khub.dev/ontology/")

PREFIXES = """
@prefix khub: <https://khub.dev/ontology/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix d: <urn:khub:data:> .
"""

CONFORMING = """
d:acme a khub:Account ; khub:id "acme" ; khub:name "ACME" ; khub:tax_id "91310000" .
d:bob a khub:Contact ; khub:id "bob" ; khub:full_name "Bob" ; khub:WORKS_AT d:acme .
d:e1 a khub:Event ; khub:id "e1" ; khub:event_type "web_view" ;
    khub:occurred_at "2024-05-01T10:00:00Z"^^xsd:dateTime ; khub:PERFORMED_BY d:bob .
d:dev1 a khub:Device ; khub:id "dev1" ; khub:serial "SN-1" .
d:acme khub:OWNS d:dev1 .
d:opp a khub:Opportunity ; khub:id "opp" ; khub:probability "0.5"^^xsd:float .
"""


def owl() -> Graph:
    return Graph().parse(data=export_ontology(default_ontology(), "owl"), format="turtle")


def shapes() -> Graph:
    return Graph().parse(data=export_ontology(default_ontology(), "shacl"), format="turtle")


def conforms(extra: str = "", base: str = CONFORMING) -> tuple[bool, str]:
    data = Graph().parse(data=PREFIXES + base + extra, format="turtle")
    ok, _, text = validate(data, shacl_graph=shapes())
    return bool(ok), str(text)


def union_members(g: Graph, node: Any) -> set[Any]:
    return set(Collection(g, g.value(node, OWL.unionOf)))


# ---------------------------------------------------------------------------------- OWL
def test_owl_classes_and_datatype_properties() -> None:
    g = owl()
    assert (KHUB.Account, RDF.type, OWL.Class) in g
    assert (KHUB.Account, RDFS.subClassOf, KHUB.Entity) in g
    assert (KHUB.Account, RDFS.label, Literal("客户", lang="zh")) in g
    assert g.value(KHUB.Contact, RDFS.comment) == Literal("A person at an account.")
    assert (KHUB.email, RDF.type, OWL.DatatypeProperty) in g
    assert (KHUB.email, RDF.type, OWL.FunctionalProperty) in g
    assert g.value(KHUB.email, KHUB.privacyCategory) == Literal("contact")
    assert g.value(KHUB.annual_revenue, KHUB.privacyCategory) == Literal("financial")
    assert g.value(KHUB.email, RDFS.domain) == KHUB.Contact
    assert g.value(KHUB.occurred_at, RDFS.range) == rdfns.XSD.dateTime
    # a slot shared by several classes has a union domain; a slot on every node type, Entity
    assert union_members(g, g.value(KHUB.alias_names, RDFS.domain)) == {KHUB.Account, KHUB.Contact, KHUB.Product, KHUB.Region}
    assert (KHUB.alias_names, RDF.type, OWL.FunctionalProperty) not in g  # multivalued
    assert g.value(KHUB.id, RDFS.domain) == KHUB.Entity
    # unique properties are keys
    keys = {tuple(Collection(g, k)) for k in g.objects(KHUB.Account, OWL.hasKey)}
    assert keys == {(KHUB.id,), (KHUB.domain,), (KHUB.tax_id,)}


def test_owl_enums_are_datatypes_with_one_of() -> None:
    g = owl()
    assert g.value(KHUB.event_type, RDFS.range) == KHUB.EventType
    assert (KHUB.EventType, RDF.type, RDFS.Datatype) in g
    values = {str(v) for v in Collection(g, g.value(g.value(KHUB.EventType, OWL.equivalentClass), OWL.oneOf))}
    assert values == set(default_ontology().enums["EventType"])


def test_owl_edge_types_are_object_properties() -> None:
    g = owl()
    assert (KHUB.WORKS_AT, RDF.type, OWL.ObjectProperty) in g
    assert g.value(KHUB.WORKS_AT, RDFS.domain) == KHUB.Contact
    assert g.value(KHUB.WORKS_AT, RDFS.range) == KHUB.Account
    assert (KHUB.WORKS_AT, RDF.type, OWL.FunctionalProperty) in g  # many_to_one
    assert (KHUB.WORKS_AT, RDF.type, OWL.InverseFunctionalProperty) not in g
    assert (KHUB.OWNS, RDF.type, OWL.InverseFunctionalProperty) in g  # one_to_many
    assert (KHUB.OWNS, RDF.type, OWL.FunctionalProperty) not in g
    assert union_members(g, g.value(KHUB.HAS_ROLE, RDFS.range)) == {KHUB.Account, KHUB.Opportunity}
    assert union_members(g, g.value(KHUB.LOCATED_IN, RDFS.domain)) == {KHUB.Account, KHUB.Contact, KHUB.Device}
    assert g.value(KHUB.SUPPORTED_BY, RDFS.range) == KHUB.Entity
    # edge properties are declared and point at the edge types that carry them
    assert (KHUB.job_title, KHUB.usedOnEdge, KHUB.WORKS_AT) in g
    assert g.value(KHUB.confidence, RDFS.domain) is None


# ---------------------------------------------------------------------------------- SHACL
def test_shacl_shapes_parse_and_target_classes() -> None:
    g = shapes()
    targets = set(g.objects(None, SH.targetClass))
    assert targets == {KHUB[n] for n in default_ontology().node_types}
    shape = next(g.subjects(SH.targetClass, KHUB.Event))
    by_path = {g.value(p, SH.path): p for p in g.objects(shape, SH.property)}
    occurred = by_path[KHUB.occurred_at]
    assert g.value(occurred, SH.datatype) == rdfns.XSD.dateTime
    assert g.value(occurred, SH.maxCount).toPython() == 1
    assert g.value(occurred, SH.minCount).toPython() == 1


def test_shacl_conforming_data() -> None:
    ok, text = conforms()
    assert ok, text


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ('d:e1 khub:occurred_at "2024-05-02T10:00:00Z"^^xsd:dateTime .', "two values of a single-valued property"),
        ('d:e2 a khub:Event ; khub:id "e2" ; khub:event_type "web_view" ; khub:occurred_at "yesterday" .', "wrong datatype"),
        ('d:e3 a khub:Event ; khub:id "e3" ; khub:event_type "web_view" .', "missing required property"),
        ('d:e4 a khub:Event ; khub:id "e4" ; khub:event_type "bogus" ; khub:occurred_at "2024-05-01T10:00:00Z"^^xsd:dateTime .', "enum"),
        ('d:opp2 a khub:Opportunity ; khub:id "opp2" ; khub:probability "1.5"^^xsd:float .', "above maximum"),
        ('d:x a khub:Account ; khub:id "x" . d:bob khub:WORKS_AT d:x .', "many_to_one: two employers"),
        ('d:p a khub:Product ; khub:id "p" . d:bob2 a khub:Contact ; khub:id "bob2" ; khub:WORKS_AT d:p .', "edge to the wrong class"),
        ('d:beta a khub:Account ; khub:id "beta" ; khub:OWNS d:dev1 .', "one_to_many: two owners of one device"),
        ('d:acme2 a khub:Account ; khub:name "no id" .', "missing key"),
    ],
)
def test_shacl_violations(extra: str, why: str) -> None:
    ok, text = conforms(extra)
    assert not ok, f"expected a violation ({why})"
    assert "Constraint Violation" in text


# ---------------------------------------------------------------------------------- JSON Schema
def json_schema() -> dict[str, Any]:
    return json.loads(export_ontology(default_ontology(), "jsonschema"))


def validator(schema: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{name}"})


def test_jsonschema_document() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    account = schema["$defs"]["Account"]
    assert account["required"] == ["id"]
    assert account["properties"]["annual_revenue"] == {"type": "number", "x-khub-privacy": "financial"}
    assert account["properties"]["embedding"]["maxItems"] == 384
    assert schema["$defs"]["Event"]["required"] == ["id", "event_type", "occurred_at"]
    assert schema["$defs"]["Event"]["properties"]["event_type"]["enum"] == list(default_ontology().enums["EventType"])
    works_at = schema["$defs"]["WORKS_AT"]
    assert works_at["properties"]["subject"]["properties"]["label"] == {"enum": ["Contact"]}
    assert "job_title" in works_at["properties"] and "valid_from" in works_at["properties"]
    assert set(schema["$defs"]) == set(default_ontology().node_types) | set(default_ontology().edge_types)


def test_jsonschema_validates_instances() -> None:
    schema = json_schema()
    event = validator(schema, "Event")
    good = {"id": "e1", "event_type": "call", "occurred_at": "2024-05-01T10:00:00Z", "duration_seconds": 30.5}
    assert event.is_valid(good)
    assert not event.is_valid({"id": "e1", "event_type": "call"})
    assert not event.is_valid({**good, "event_type": "bogus"})
    assert not event.is_valid({**good, "unknown": 1})
    assert not validator(schema, "Opportunity").is_valid({"id": "o", "probability": 2})
    works_at = validator(schema, "WORKS_AT")
    assert works_at.is_valid({"subject": {"label": "Contact", "id": "bob"}, "object": {"label": "Account", "id": "acme"}, "job_title": "CTO"})
    assert not works_at.is_valid({"subject": {"label": "Product", "id": "p"}, "object": {"label": "Account", "id": "acme"}})
    has_role = validator(schema, "HAS_ROLE")
    assert not has_role.is_valid({"subject": {"label": "Contact", "id": "b"}, "object": {"label": "Account", "id": "a"}})  # role required


def test_every_format_and_unknown_format() -> None:
    for fmt in EXPORT_FORMATS:
        assert export_ontology(default_ontology(), fmt).strip()
    with pytest.raises(ValueError, match="unknown export format"):
        export_ontology(default_ontology(), "graphml")
