"""`apply_migrations` on both backends: renames move the data, unsafe steps are left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graph.cypher_store import CypherGraphStore
from graph.migrations import apply_migrations
from graph.store import EdgeRecord, NodeRecord, NodeRef
from ontology.diff import (
    AddIndex,
    ChangeRange,
    OntologyDiff,
    RemoveIndex,
    RemoveProperty,
    RenameEdgeType,
    RenameNodeType,
    RenameProperty,
    diff_ontologies,
)
from ontology.errors import MigrationRefused
from ontology.model import Ontology, default_ontology
from tests.ontology.test_diff import rename_class, rename_slot, variant

NEW_VERSION = "99.0.0"


def evolve(data: dict[str, Any]) -> None:
    """The next version of these tests: three renames, a new full-text index, two unsafe changes, a deprecation."""
    rename_class(data, "Region", "Territory")
    rename_class(data, "WORKS_AT", "EMPLOYED_BY")
    rename_slot(data, "job_title", "position_title")  # on Contact and on the edge
    data["slots"]["level"]["annotations"]["fulltext"] = True  # existing values get token copies
    data["classes"]["Contact"]["slots"].remove("department")  # unsafe: reported only
    data["slots"]["page"]["range"] = "string"  # unsafe: reported only
    data["classes"]["Clause"]["deprecated"] = "use Document"


@pytest.fixture
def new_ontology(tmp_path: Path) -> Ontology:
    return variant(tmp_path, evolve, NEW_VERSION)


@pytest.fixture
def diff(new_ontology: Ontology) -> OntologyDiff:
    return diff_ontologies(default_ontology(), new_ontology)


def reopen(store: CypherGraphStore, ontology: Ontology) -> CypherGraphStore:
    """The same graph seen through another ontology (same connection)."""
    return CypherGraphStore(store.conn, store.dialect, ontology, store.backend)


def write_old_data(store: CypherGraphStore) -> None:
    result = store.upsert(
        nodes=[
            NodeRecord("Region", "cn", {"name": "China", "code": "CN", "level": "country"}),
            NodeRecord("Region", "cn-sh", {"name": "Shanghai", "code": "CN-SH", "level": "municipality"}),
            NodeRecord("Account", "acme", {"name": "ACME", "industry": "cold chain logistics"}),
            NodeRecord("Contact", "bob", {"full_name": "Bob", "job_title": "CTO", "department": "IT"}),
            NodeRecord("Policy", "p1", {"name": "Chiller subsidy", "summary": "subsidy for replacing chillers"}),
            NodeRecord("Chunk", "ch1", {"text": "page one", "page": 1}),
        ],
        edges=[
            EdgeRecord("WORKS_AT", NodeRef("Contact", "bob"), NodeRef("Account", "acme"), {"job_title": "CTO"}, source_id="crm"),
            EdgeRecord("LOCATED_IN", NodeRef("Account", "acme"), NodeRef("Region", "cn-sh"), source_id="crm"),
            EdgeRecord("PART_OF", NodeRef("Region", "cn-sh"), NodeRef("Region", "cn"), source_id="geo"),
            EdgeRecord("APPLIES_TO", NodeRef("Policy", "p1"), NodeRef("Region", "cn-sh"), source_id="gov"),
        ],
    )
    assert not result.rejected, result.rejected
    store.record_ontology_version("1.0.0", "test setup")


def test_diff_of_the_scenario(diff: OntologyDiff) -> None:
    assert diff.steps_of(RenameNodeType) == [RenameNodeType("Region", "Territory")]
    assert diff.steps_of(RenameEdgeType) == [RenameEdgeType("WORKS_AT", "EMPLOYED_BY")]
    assert set(diff.steps_of(RenameProperty)) == {
        RenameProperty("Contact", "job_title", "position_title"),
        RenameProperty("EMPLOYED_BY", "job_title", "position_title", is_edge=True),
    }
    assert set(diff.unsafe_steps) == {RemoveProperty("Contact", "department"), ChangeRange("Chunk", "page", "integer", "string")}


def test_apply_moves_data_and_is_idempotent(store: CypherGraphStore, new_ontology: Ontology, diff: OntologyDiff) -> None:
    write_old_data(store)
    new = reopen(store, new_ontology)

    report = apply_migrations(new, diff, NEW_VERSION)

    # labels, edge types and properties moved
    stats = new.stats()
    assert stats.nodes.get("Territory") == 2 and "Region" not in stats.nodes
    assert stats.edges.get("EMPLOYED_BY") == 1 and "WORKS_AT" not in stats.edges
    assert stats.edges.get("PART_OF") == 1 and stats.edges.get("LOCATED_IN") == 1
    bob = new.get(NodeRef("Contact", "bob"))
    assert bob is not None
    assert bob.props["position_title"] == "CTO" and "job_title" not in bob.props
    hood = new.neighbourhood(NodeRef("Contact", "bob"), edge_types=["EMPLOYED_BY"])
    [edge] = hood.edges
    assert edge.dst == NodeRef("Account", "acme")
    assert edge.props["position_title"] == "CTO" and "job_title" not in edge.props
    assert edge.props["source_id"] == "crm" and edge.props["recorded_at"]  # provenance kept
    # full-text: a newly indexed property got token copies for its existing values
    assert [h.node.id for h in new.fulltext_search("Territory", "municipality", prop="level")] == ["cn-sh"]
    # unsafe steps were skipped: the removed property's values and the old range stay
    assert bob.props["department"] == "IT"
    chunk = new.get(NodeRef("Chunk", "ch1"))
    assert chunk is not None and chunk.props["page"] == 1
    assert set(report.skipped) == set(diff.unsafe_steps)
    assert any("Clause is deprecated: use Document" in w for w in report.warnings)
    assert report.changed and report.recorded and report.items_changed > 0
    assert new.applied_ontology_version() == NEW_VERSION

    # edge keys were recomputed: upserting the same facts under the new names adds no edge
    again = new.upsert(
        edges=[
            EdgeRecord("EMPLOYED_BY", NodeRef("Contact", "bob"), NodeRef("Account", "acme"), {"position_title": "CTO"}, source_id="hr"),
            EdgeRecord("LOCATED_IN", NodeRef("Account", "acme"), NodeRef("Territory", "cn-sh"), source_id="hr"),
            EdgeRecord("PART_OF", NodeRef("Territory", "cn-sh"), NodeRef("Territory", "cn"), source_id="hr"),
        ]
    )
    assert not again.rejected, again.rejected
    after = new.stats()
    assert after.edges == stats.edges

    # a second apply changes nothing and records nothing
    history = new.ontology_history()
    second = apply_migrations(new, diff, NEW_VERSION)
    assert not second.changed
    assert second.items_changed == 0 and second.schema_created == [] and not second.recorded
    assert set(second.skipped) == set(diff.unsafe_steps)
    assert new.ontology_history() == history
    assert new.stats() == after


def test_dry_run_reports_and_changes_nothing(store: CypherGraphStore, new_ontology: Ontology, diff: OntologyDiff) -> None:
    write_old_data(store)
    new = reopen(store, new_ontology)
    before = store.stats()

    report = apply_migrations(new, diff, NEW_VERSION, dry_run=True)

    assert report.dry_run and not report.changed
    assert "would move 2 node(s) from label Region to Territory" in report.done
    assert "would move 1 edge(s) from type WORKS_AT to EMPLOYED_BY" in report.done
    assert "would move 1 value(s) of node property Contact.job_title to position_title" in report.done
    assert any(line.startswith("would add full-text index on node property Territory.level") for line in report.done)
    assert new.stats() == before
    assert new.applied_ontology_version() == "1.0.0"


def test_refused_with_the_old_ontology_or_a_unique_clash(store: CypherGraphStore, new_ontology: Ontology, diff: OntologyDiff) -> None:
    write_old_data(store)
    with pytest.raises(MigrationRefused, match="open the store with the new ontology"):
        apply_migrations(store, diff, NEW_VERSION)

    new = reopen(store, new_ontology)
    new.sync_schema()
    assert not new.upsert(nodes=[NodeRecord("Territory", "cn", {"name": "already here"})]).rejected
    before = new.stats()
    with pytest.raises(MigrationRefused, match=r"Territory\.id = 'cn' would be shared by 2 nodes"):
        apply_migrations(new, diff, NEW_VERSION)
    assert new.stats() == before  # nothing moved
    assert new.applied_ontology_version() == "1.0.0"


def test_new_unique_constraint_clash_is_refused(store: CypherGraphStore, tmp_path: Path) -> None:
    # (on a renamed label, so the shared test graph gets no new constraint on a label other tests use)
    store.upsert(nodes=[NodeRecord("Region", "r1", {"level": "city"}), NodeRecord("Region", "r2", {"level": "city"})])

    def unique_level(data: dict[str, Any]) -> None:
        rename_class(data, "Region", "Zone")
        data["slots"]["level"]["annotations"]["unique"] = True

    new_ontology = variant(tmp_path, unique_level, "1.0.1")
    diff = diff_ontologies(default_ontology(), new_ontology)
    assert set(diff.steps) == {RenameNodeType("Region", "Zone"), AddIndex("Zone", "level", "unique")}
    new = reopen(store, new_ontology)
    with pytest.raises(MigrationRefused, match=r"Zone\.level = 'city' would be shared by 2 nodes"):
        apply_migrations(new, diff, "1.0.1")
    assert store.stats().nodes == {"Region": 2}
    store.upsert(nodes=[NodeRecord("Region", "r2", {"level": "province"})])
    report = apply_migrations(new, diff, "1.0.1")
    assert report.recorded and new.applied_ontology_version() == "1.0.1"
    assert new.stats().nodes == {"Zone": 2}


def test_a_dropped_unique_flag_drops_the_constraint(store: CypherGraphStore, tmp_path: Path) -> None:
    # (on a label of its own, so the shared test graph keeps its other constraints)
    def unique_level(data: dict[str, Any]) -> None:
        rename_class(data, "Region", "Zone2")
        data["slots"]["level"]["annotations"]["unique"] = True

    old_ontology = variant(tmp_path, unique_level, "1.0.1", "old.yaml")
    new_ontology = variant(tmp_path, lambda d: rename_class(d, "Region", "Zone2"), "1.0.2", "new.yaml")
    old = reopen(store, old_ontology)
    old.sync_schema()
    assert not old.upsert(nodes=[NodeRecord("Zone2", "z1", {"level": "city"})]).rejected
    refused = old.upsert(nodes=[NodeRecord("Zone2", "z2", {"level": "city"})]).rejected
    assert refused and "unique" in refused[0].reason
    diff = diff_ontologies(old_ontology, new_ontology)
    assert diff.steps == (RemoveIndex("Zone2", "level", "unique"),) and diff.steps[0].safe
    new = reopen(store, new_ontology)
    assert "would drop unique constraint on node property Zone2.level" in " ".join(apply_migrations(new, diff, "1.0.2", dry_run=True).done)
    report = apply_migrations(new, diff, "1.0.2")
    assert any("drop unique constraint on node property Zone2.level" in line for line in report.done)
    assert not new.upsert(nodes=[NodeRecord("Zone2", "z2", {"level": "city"})]).rejected
    assert [n.id for n in new.find("Zone2", "level", "city")] == ["z1", "z2"]
    assert not new.drop_unique("Zone2", "level")  # already gone


def test_renamed_fulltext_property_stays_searchable(store: CypherGraphStore, tmp_path: Path) -> None:
    write_old_data(store)
    assert [h.node.id for h in store.fulltext_search("Policy", "chillers")] == ["p1"]
    new_ontology = variant(tmp_path, lambda d: rename_slot(d, "summary", "abstract"), "1.0.1")
    diff = diff_ontologies(default_ontology(), new_ontology)
    assert diff.steps == (RenameProperty("Policy", "summary", "abstract"),)
    new = reopen(store, new_ontology)

    report = apply_migrations(new, diff, "1.0.1")

    assert "moved 1 value(s) of node property Policy.summary to abstract" in report.done
    policy = new.get(NodeRef("Policy", "p1"))
    assert policy is not None and policy.props["abstract"] == "subsidy for replacing chillers" and "summary" not in policy.props
    assert [h.node.id for h in new.fulltext_search("Policy", "chillers", prop="abstract")] == ["p1"]
    assert not apply_migrations(new, diff, "1.0.1").changed
