"""The ontology workspace: drafts checked whole, versions kept, the active ontology and intents in force."""

from __future__ import annotations

from pathlib import Path

import pytest

from ontology.errors import BadInput, NotFound, SchemaInvalid
from ontology.model import default_ontology
from ontology.settings import Settings
from ontology.workspace import OntologyWorkspace, PropertySpec, bump_minor, configured_intents, configured_schema_path


def test_bump_minor() -> None:
    assert bump_minor("1.3.0") == "1.4.0" and bump_minor("2.19.7") == "2.20.0"
    with pytest.raises(BadInput, match=r"MAJOR\.MINOR\.PATCH"):
        bump_minor("v1")


def test_a_draft_is_checked_whole_promoted_and_kept_as_a_version(tmp_path: Path) -> None:
    ws = OntologyWorkspace(tmp_path)
    base = default_ontology().version
    assert ws.draft() is None and ws.active_schema_path() == default_ontology().source
    draft = ws.add_node_type("Kiosk", "steward-a", "A self-service kiosk.", [PropertySpec("screen_inches", "float")], label_zh="自助终端", comment="retail")
    assert (draft.base_version, draft.version) == (base, bump_minor(base))
    assert draft.ontology is not None and draft.ontology.node_types["Kiosk"].properties["screen_inches"].range == "float"
    # a refused edit leaves the draft as it was
    with pytest.raises(SchemaInvalid, match=r"draft/schema\.yaml:[0-9]+: edge PLACED_AT: object range .Nowhere. is not a node type"):
        ws.add_edge_type("PLACED_AT", "steward-a", ["Kiosk"], ["Nowhere"])
    with pytest.raises(BadInput, match="cardinality"):
        ws.add_edge_type("PLACED_AT", "steward-a", ["Kiosk"], ["Region"], cardinality="lots")
    again = ws.draft()
    assert again is not None and [e.element for e in again.edits] == ["Kiosk"]

    info = ws.promote_draft("steward-b", {"recorded": True})
    assert info.version == draft.version and ws.draft() is None
    assert ws.active_schema_path() == tmp_path / "ontology" / "active" / "schema.yaml"
    assert [(v.version, v.applied_by, [e.kind for e in v.edits]) for v in ws.versions()] == [(draft.version, "steward-b", ["add_node_type"])]
    assert (tmp_path / "ontology" / "versions" / draft.version / "schema.yaml").is_file()
    # the next draft starts from the active version
    nxt = ws.add_property("Kiosk", PropertySpec("serial_no", indexed=True), "steward-a")
    assert (nxt.base_version, nxt.version) == (draft.version, bump_minor(draft.version))
    assert configured_schema_path(Settings(data_dir=tmp_path)) == ws.active_schema_path()
    with pytest.raises(NotFound):
        OntologyWorkspace(tmp_path / "other").promote_draft("x", {})


def test_added_intents_join_the_shipped_ones_and_must_fit_the_ontology(tmp_path: Path) -> None:
    ws = OntologyWorkspace(tmp_path)
    text = "id: idle_kiosk\nsubject: Device\nthreshold: 0.5\npurposes: [service]\nsignals:\n"
    text += "  - {id: idle, kind: feature, weight: 0.8, subject_where: {device_status: idle}}\n"
    with pytest.raises(SchemaInvalid) as refused:
        ws.add_intent_definition(text, "steward-a")
    assert any(i.line == 6 and "idle" in i.message for i in refused.value.issues), refused.value.issues  # DeviceStatus has no 'idle'
    ws.add_intent_definition(text.replace("device_status: idle", "device_status: retired"), "steward-a")
    ws.promote_draft("steward-a", {})
    settings = Settings(data_dir=tmp_path)
    ids = {d.id for d in configured_intents(settings, ws.active_ontology())}
    assert "idle_kiosk" in ids and "replacement_anxiety" in ids
