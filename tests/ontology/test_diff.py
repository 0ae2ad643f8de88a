"""`diff_ontologies` on modified copies of the shipped ontology."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ontology.diff import (
    AddIndex,
    AddNodeType,
    AddProperty,
    AttributeChange,
    ChangeCardinality,
    ChangeConstraint,
    ChangeEdgeEnds,
    ChangeEmbeddingDim,
    ChangeEnum,
    ChangePrivacy,
    ChangeRange,
    Deprecate,
    RemoveIndex,
    RemoveProperty,
    RemoveType,
    RenameEdgeType,
    RenameNodeType,
    RenameProperty,
    diff_files,
    diff_ontologies,
)
from ontology.errors import SchemaInvalid
from ontology.model import DEFAULT_SCHEMA, Ontology, default_ontology, load_ontology

Edit = Callable[[dict[str, Any]], None]


#: The shipped ontology's version, and the one the edited variants of these tests carry.
SHIPPED_VERSION = default_ontology().version
NEXT_VERSION = "99.0.0"


def shipped_schema() -> dict[str, Any]:
    """The shipped ontology file as plain data."""
    return yaml.safe_load(DEFAULT_SCHEMA.read_text(encoding="utf-8"))


def variant(tmp_path: Path, edit: Edit, version: str = NEXT_VERSION, name: str = "variant.yaml") -> Ontology:
    """A copy of the shipped ontology changed by `edit`, written to `tmp_path` and loaded."""
    data = shipped_schema()
    edit(data)
    data["version"] = version
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_ontology(path)


def rename_class(data: dict[str, Any], old: str, new: str) -> None:
    """Rename class `old` to `new` (keeping `old` as an alias) and every reference to it."""
    classes = data["classes"]
    data["classes"] = {(new if k == old else k): v for k, v in classes.items()}
    data["classes"][new]["aliases"] = [old]
    for cls in data["classes"].values():
        for usage in (cls.get("slot_usage") or {}).values():
            if usage.get("range") == old:
                usage["range"] = new
            for alt in usage.get("any_of") or []:
                if alt.get("range") == old:
                    alt["range"] = new


def rename_slot(data: dict[str, Any], old: str, new: str) -> None:
    """Rename slot `old` to `new` (keeping `old` as an alias) in every class that uses it."""
    data["slots"] = {(new if k == old else k): v for k, v in data["slots"].items()}
    data["slots"][new]["aliases"] = [old]
    for cls in data["classes"].values():
        cls["slots"] = [new if s == old else s for s in cls.get("slots") or []]
        usage = cls.get("slot_usage") or {}
        if old in usage:
            usage[new] = usage.pop(old)


def test_identical_ontologies_have_no_changes() -> None:
    diff = diff_ontologies(default_ontology(), default_ontology())
    assert diff.is_empty
    assert diff.steps == ()
    assert "no changes" in diff.summary()


def test_added_node_type(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["classes"]["Lead"] = {"is_a": "Entity", "slots": ["name", "email"], "annotations": {"khub_kind": "node"}}

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert diff.node_types.added == ("Lead",)
    assert diff.node_types.removed == () and diff.node_types.renamed == ()
    assert diff.steps_of(AddNodeType) == [AddNodeType("Lead")]
    # SUPPORTED_BY points at any Entity, so its range grows with the new node type
    assert diff.edge_types.changed["SUPPORTED_BY"].changes == (
        AttributeChange("range", default_ontology().edge_types["SUPPORTED_BY"].range, (*default_ontology().node_types, "Lead")),
    )
    assert diff.steps_of(ChangeEdgeEnds) == [ChangeEdgeEnds("SUPPORTED_BY", "range", ("Lead",), ())]
    assert all(s.safe for s in diff.steps)
    assert diff.old_version == SHIPPED_VERSION and diff.new_version == NEXT_VERSION


def test_added_property_with_index(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["slots"]["website"] = {"range": "uri", "annotations": {"privacy": "none", "indexed": True}}
        d["classes"]["Account"]["slots"].append("website")

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert list(diff.node_types.changed) == ["Account"]
    props = diff.node_types.changed["Account"].properties
    assert props.added == ("website",) and props.removed == () and props.renamed == () and dict(props.changed) == {}
    assert diff.steps == (AddProperty("Account", "website"), AddIndex("Account", "website", "indexed"))
    assert all(s.safe for s in diff.steps)


def test_added_required_property_is_unsafe(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["slots"]["priority"] = {"range": "integer", "annotations": {"privacy": "none"}}
        d["classes"]["Task"]["slots"].append("priority")
        d["classes"]["Task"]["slot_usage"] = {"priority": {"required": True}}

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert diff.steps == (AddProperty("Task", "priority", required=True),)
    assert diff.unsafe_steps == [AddProperty("Task", "priority", required=True)]


def test_renamed_class_through_aliases(tmp_path: Path) -> None:
    diff = diff_ontologies(default_ontology(), variant(tmp_path, lambda d: rename_class(d, "Region", "Territory")))
    assert diff.node_types.renamed == (("Region", "Territory"),)
    assert diff.node_types.added == () and diff.node_types.removed == ()
    # edges that pointed at Region now point at Territory: that is the rename, not a change
    assert diff.edge_types.is_empty
    assert diff.steps == (RenameNodeType("Region", "Territory"),)
    assert diff.steps[0].safe


def test_renamed_edge_type_through_aliases(tmp_path: Path) -> None:
    diff = diff_ontologies(default_ontology(), variant(tmp_path, lambda d: rename_class(d, "WORKS_AT", "EMPLOYED_BY")))
    assert diff.edge_types.renamed == (("WORKS_AT", "EMPLOYED_BY"),)
    assert diff.steps == (RenameEdgeType("WORKS_AT", "EMPLOYED_BY"),)


def test_renamed_slot_through_aliases(tmp_path: Path) -> None:
    diff = diff_ontologies(default_ontology(), variant(tmp_path, lambda d: rename_slot(d, "job_title", "position_title")))
    assert set(diff.node_types.changed) == {"Contact"}
    assert set(diff.edge_types.changed) == {"WORKS_AT"}
    for kind in (diff.node_types, diff.edge_types):
        for tdiff in kind.changed.values():
            assert tdiff.properties.renamed == (("job_title", "position_title"),)
            assert tdiff.properties.added == () and tdiff.properties.removed == ()
    assert set(diff.steps) == {
        RenameProperty("Contact", "job_title", "position_title", is_edge=False),
        RenameProperty("WORKS_AT", "job_title", "position_title", is_edge=True),
    }
    assert all(s.safe for s in diff.steps)


def test_alias_naming_no_old_class_is_an_addition(tmp_path: Path) -> None:
    # `Prospect` claims the alias `Lead`, which never existed: an addition, not a rename
    def edit(d: dict[str, Any]) -> None:
        d["classes"]["Prospect"] = {"is_a": "Entity", "slots": ["name"], "aliases": ["Lead"], "annotations": {"khub_kind": "node"}}

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert diff.node_types.added == ("Prospect",)
    assert diff.node_types.renamed == ()


def test_removed_property_and_type_are_unsafe(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["classes"]["Contact"]["slots"].remove("department")
        del d["classes"]["USES_DATA"]

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert diff.node_types.changed["Contact"].properties.removed == ("department",)
    assert diff.edge_types.removed == ("USES_DATA",)
    assert set(diff.steps) == {RemoveProperty("Contact", "department"), RemoveType("USES_DATA", is_edge=True)}
    assert diff.safe_steps == []
    assert diff.to_dict()["safe"] is False


def test_changed_range_is_unsafe(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["slots"]["page"]["range"] = "string"

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert diff.node_types.changed["Chunk"].properties.changed == {"page": (AttributeChange("range", "integer", "string"),)}
    assert diff.steps == (ChangeRange("Chunk", "page", "integer", "string"),)
    assert not diff.steps[0].safe


def test_deprecation_is_a_safe_warning(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["classes"]["Clause"]["deprecated"] = "use Document with doc_type clause"
        d["slots"]["size_band"]["deprecated"] = "use annual_revenue"

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert diff.node_types.changed["Clause"].changes == (AttributeChange("deprecated", None, "use Document with doc_type clause"),)
    assert diff.node_types.changed["Account"].properties.changed == {"size_band": (AttributeChange("deprecated", None, "use annual_revenue"),)}
    assert set(diff.steps) == {Deprecate("Clause", "use Document with doc_type clause"), Deprecate("Account.size_band", "use annual_revenue")}
    assert all(s.safe for s in diff.steps)


def test_index_privacy_constraint_and_enum_changes(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["slots"]["industry"]["annotations"]["fulltext"] = True  # index added: safe
        d["slots"]["sku"]["annotations"]["unique"] = False  # node constraint dropped: safe (values stay)
        d["slots"]["clause_type"]["annotations"]["indexed"] = False  # lookup index dropped: reported
        d["slots"]["channel"]["annotations"]["privacy"] = "behavioural"  # none -> personal: stricter, safe
        d["slots"]["city"]["annotations"]["privacy"] = "none"  # personal -> none: needs review
        d["slots"]["probability"]["minimum_value"] = 0.1  # tighter bound: unsafe
        d["enums"]["TaskStatus"]["permissible_values"]["blocked"] = {}  # value added: safe
        del d["enums"]["IntentStatus"]["permissible_values"]["expired"]  # value removed: unsafe

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert set(diff.safe_steps) == {
        AddIndex("Account", "industry", "fulltext"),
        RemoveIndex("Product", "sku", "unique"),
        ChangePrivacy("Event", "channel", "none", "behavioural"),
        ChangeEnum("TaskStatus", ("blocked",), ()),
    }
    assert set(diff.unsafe_steps) == {
        RemoveIndex("Clause", "clause_type", "indexed"),
        ChangePrivacy("Contact", "city", "location", "none"),
        ChangeConstraint("Opportunity", "probability", "minimum", 0, 0.1),
        ChangeEnum("IntentStatus", (), ("expired",)),
    }
    assert dict(diff.enums.changed) == {"TaskStatus": (("blocked",), ()), "IntentStatus": ((), ("expired",))}


def test_edge_cardinality_and_ends(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["classes"]["WORKS_AT"]["annotations"]["cardinality"] = "many_to_many"  # looser: safe
        d["classes"]["REPORTS_TO"]["annotations"]["cardinality"] = "one_to_one"  # object becomes functional: unsafe
        d["classes"]["HAS_ROLE"]["slot_usage"]["object"] = {"range": "Account"}  # Opportunity taken away: unsafe
        d["classes"]["OWNS"]["slot_usage"]["object"] = {"any_of": [{"range": "Device"}, {"range": "Product"}]}  # added: safe

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    assert diff.edge_types.changed["WORKS_AT"].changes == (AttributeChange("cardinality", "many_to_one", "many_to_many"),)
    assert set(diff.safe_steps) == {
        ChangeCardinality("WORKS_AT", "many_to_one", "many_to_many"),
        ChangeEdgeEnds("OWNS", "range", ("Product",), ()),
    }
    assert set(diff.unsafe_steps) == {
        ChangeCardinality("REPORTS_TO", "many_to_one", "one_to_one"),
        ChangeEdgeEnds("HAS_ROLE", "range", (), ("Opportunity",)),
    }


def test_summary_and_json(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        rename_class(d, "Region", "Territory")
        rename_slot(d, "job_title", "position_title")
        d["slots"]["page"]["range"] = "string"

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    text = diff.summary()
    assert f"khub_customer {SHIPPED_VERSION} -> khub_customer {NEXT_VERSION}" in text
    assert "~ Region -> Territory (renamed)" in text
    assert "[safe]   rename node property Contact.job_title -> position_title" in text
    assert "[UNSAFE] change range of node property Chunk.page: integer -> string" in text
    data = json.loads(json.dumps(diff.to_dict()))
    assert data["node_types"]["renamed"] == [{"old": "Region", "new": "Territory"}]
    assert data["node_types"]["changed"]["Chunk"]["properties"]["changed"]["page"] == [{"attribute": "range", "old": "integer", "new": "string"}]
    steps = {(s["step"], s["safe"]) for s in data["steps"]}
    assert ("RenameNodeType", True) in steps and ("ChangeRange", False) in steps
    # safe steps come first, renames of types before renames of properties
    kinds = [s["step"] for s in data["steps"]]
    assert kinds.index("RenameNodeType") < kinds.index("RenameProperty") < kinds.index("ChangeRange")


def test_diff_files_reports_invalid_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_SCHEMA.read_text(encoding="utf-8").replace(f"version: {SHIPPED_VERSION}", "version: one"), encoding="utf-8")
    with pytest.raises(SchemaInvalid) as err:
        diff_files(DEFAULT_SCHEMA, bad)
    assert any(i.element == "version" for i in err.value.issues)
    assert diff_files(DEFAULT_SCHEMA, DEFAULT_SCHEMA).is_empty


def test_embedding_changes_are_unsafe(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["slots"]["embedding"]["annotations"]["embedding_dim"] = 768  # other vectors
        d["slots"]["readings"] = {"range": "float", "multivalued": True, "annotations": {"privacy": "none", "embedding_dim": 3}}
        d["classes"]["Device"]["slots"].append("readings")  # a new embedding property: its index is a safe addition

    diff = diff_ontologies(default_ontology(), variant(tmp_path, edit))
    owners = [n.name for n in default_ontology().node_types.values() if "embedding" in n.properties]
    assert set(diff.unsafe_steps) == {ChangeEmbeddingDim(o, "embedding", 384, 768) for o in owners}
    assert set(diff.safe_steps) == {AddProperty("Device", "readings"), AddIndex("Device", "readings", "vector")}

    def list_to_embedding(d: dict[str, Any]) -> None:
        d["slots"]["readings"] = {"range": "float", "multivalued": True, "annotations": {"privacy": "none"}}
        d["classes"]["Device"]["slots"].append("readings")

    with_lists = variant(tmp_path, list_to_embedding, "1.0.1", "lists.yaml")
    diff = diff_ontologies(with_lists, variant(tmp_path, edit, "1.0.2", "vectors.yaml"))
    step = ChangeEmbeddingDim("Device", "readings", None, 3)
    assert step in diff.unsafe_steps
    assert "stored lists are sets, not vectors" in step.describe()
