"""The ontology validator names the file, line and element of every problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from linkml_runtime.utils.schemaview import SchemaView

from ontology.errors import SchemaInvalid
from ontology.model import DEFAULT_SCHEMA, PrivacyCategory, default_ontology, load_ontology
from ontology.validate import validate_file


def write_variant(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    text = DEFAULT_SCHEMA.read_text(encoding="utf-8")
    assert old in text, old
    text = text.replace(old, new, 1)
    path = tmp_path / "variant.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line and not line.lstrip().startswith("#"))


def test_shipped_ontology_is_valid_and_complete():
    assert validate_file(DEFAULT_SCHEMA) == []
    onto = default_ontology()
    for label in (
        "Account",
        "Contact",
        "Opportunity",
        "Product",
        "Device",
        "Policy",
        "Clause",
        "Document",
        "Chunk",
        "Event",
        "Region",
        "IntentType",
        "Intent",
        "Task",
        "Purpose",
        "Consent",
        "DataCategory",
    ):
        assert label in onto.node_types
    roles = onto.edge_type("HAS_ROLE").properties["role"].enum_values
    assert set(roles) == {"decision_maker", "budget_holder", "technical_evaluator", "user", "influencer", "procurement", "legal", "gatekeeper"}
    assert set(onto.edge_type("HAS_ROLE").range) == {"Account", "Opportunity"}
    events = onto.node_type("Event").properties["event_type"].enum_values
    assert {"web_view", "telemetry", "erp_signal", "survey"} <= set(events)
    for node in onto.node_types.values():
        for prop in node.properties.values():
            assert isinstance(prop.privacy, PrivacyCategory)
    assert onto.node_type("Contact").properties["email"].privacy == PrivacyCategory.CONTACT
    assert onto.node_type("Contact").properties["home_address"].privacy == PrivacyCategory.LOCATION
    for edge in onto.edge_types.values():
        assert edge.cardinality in {"many_to_many", "many_to_one", "one_to_many", "one_to_one"}
        assert {"source_id", "extractor", "confidence", "valid_from", "valid_to", "recorded_at"} <= set(edge.properties)


def test_our_reading_agrees_with_linkml_runtime():
    view = SchemaView(str(DEFAULT_SCHEMA))
    onto = default_ontology()
    for name, node in onto.node_types.items():
        induced = {s.name for s in view.class_induced_slots(name)}
        assert set(node.properties) == induced, name
    for name, edge in onto.edge_types.items():
        induced = {s.name for s in view.class_induced_slots(name)} - {"subject", "object"}
        assert set(edge.properties) == induced, name
        assert view.get_class(name).annotations["khub_kind"].value == "edge"


@pytest.mark.parametrize(
    ("old", "new", "fragment", "element", "message"),
    [
        ("  email: {range: string,", "  email: {range: strng,", "email: {range: strng", "slot email", "unknown range 'strng'"),
        (
            "annotations: {privacy: contact, unique: true}}",
            "annotations: {privacy: secret, unique: true}}",
            "privacy: secret",
            "slot email",
            "privacy 'secret'",
        ),
        ("  industry: {range: string, annotations: {privacy: none}}", "  industry: {range: string}", "  industry:", "slot industry", "has no privacy category"),
        (
            "    annotations: {khub_kind: edge, cardinality: many_to_one}\n  HAS_ROLE:",
            "    annotations: {khub_kind: edge, cardinality: few_to_one}\n  HAS_ROLE:",
            "few_to_one",
            "edge WORKS_AT",
            "cardinality 'few_to_one'",
        ),
        (
            "    slot_usage: {subject: {range: Contact}, object: {range: Account}}\n    annotations: {khub_kind: edge, cardinality: many_to_one}\n  HAS_ROLE:",
            "    slot_usage: {subject: {range: Contact}, object: {range: Acount}}\n    annotations: {khub_kind: edge, cardinality: many_to_one}\n  HAS_ROLE:",
            "range: Acount",
            "edge WORKS_AT",
            "object range 'Acount' is not a node type",
        ),
        (
            "slots: [name, legal_name, alias_names, domain,",
            "slots: [name, legal_nme, alias_names, domain,",
            "legal_nme",
            "class Account",
            "undefined slot 'legal_nme'",
        ),
        (
            "    annotations: {khub_kind: node, label_zh: 客户}",
            "    annotations: {khub_kind: nod, label_zh: 客户}",
            "khub_kind: nod",
            "class Account",
            "khub_kind 'nod'",
        ),
        (
            "  embedding: {range: float, multivalued: true,",
            "  embedding: {range: float, multivalued: false,",
            "  embedding:",
            "slot embedding",
            "multivalued float",
        ),
        (
            "  score_history: {range: string, multivalued: true, maximum_cardinality: 200,",
            "  score_history: {range: string, multivalued: false, maximum_cardinality: 200,",
            "  score_history:",
            "slot score_history",
            "maximum_cardinality is a positive integer on a multivalued slot",
        ),
    ],
)
def test_each_error_names_file_line_and_element(tmp_path, old, new, fragment, element, message):
    path, text = write_variant(tmp_path, old, new)
    issues = validate_file(path)
    matching = [i for i in issues if i.element == element and message in i.message]
    assert matching, issues
    assert matching[0].file == str(path)
    assert matching[0].line == line_of(text, fragment)
    with pytest.raises(SchemaInvalid) as info:
        load_ontology(path)
    assert message in str(info.value)


def test_every_error_is_reported_not_just_the_first(tmp_path):
    path, _ = write_variant(
        tmp_path, "  email: {range: string, annotations: {privacy: contact, unique: true}}", "  email: {range: strng, annotations: {privacy: secret}}"
    )
    text = path.read_text(encoding="utf-8").replace("  phone: {range: string,", "  phone: {range: nope,")
    path.write_text(text, encoding="utf-8")
    messages = [i.message for i in validate_file(path)]
    assert any("'strng'" in m for m in messages) and any("'secret'" in m for m in messages) and any("'nope'" in m for m in messages)


def test_not_yaml_and_duplicate_keys_are_reported(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [unclosed\n", encoding="utf-8")
    issues = validate_file(bad)
    assert issues and issues[0].element == "yaml" and issues[0].line >= 1
    path, _ = write_variant(
        tmp_path,
        "  title: {range: string, annotations: {privacy: none}}",
        "  title: {range: string, annotations: {privacy: none}}\n  title: {range: string, annotations: {privacy: none}}",
    )
    issues = validate_file(path)
    assert any("defined twice" in i.message and i.element == "slots.title" for i in issues)
    assert validate_file(tmp_path / "missing.yaml")[0].message == "does not exist"
