"""Mentions land on one node per normalised name: no duplicates across documents or runs."""

from __future__ import annotations

from graph.store import NodeRecord
from ingest.entities import EntityLinker, entity_id
from ingest.nlp.extract import Mention


def mention(label: str, text: str, node_id: str | None = None) -> Mention:
    return Mention(label, text, 0, len(text), 0.8, "ner", node_id)


def test_name_variants_share_one_node_and_keep_their_aliases():
    assert entity_id("Account", "Acme Medical, Inc.") == entity_id("Account", "ACME MEDICAL GmbH")
    assert entity_id("Account", "上海仁濟醫院有限公司") == entity_id("Account", "上海仁济医院")
    assert entity_id("Contact", "Smith, John") == entity_id("Contact", "John Smith")
    assert entity_id("Account", "Acme Medical") != entity_id("Contact", "Acme Medical")
    nodes: list[NodeRecord] = []
    links = EntityLinker().link(
        [
            mention("Account", "Acme Medical, Inc."),
            mention("Account", "ACME MEDICAL"),
            mention("Product", "X100", "us-900"),
            mention("Event", "not a linkable type"),
        ],
        nodes,
    )
    assert links[0].ref == links[1].ref and links[2].ref.id == "us-900" and links[3] is None
    assert links[0].new and not links[1].new and not links[0].merged_from
    (acme,) = nodes
    assert acme.defaults == {"name": "Acme Medical, Inc."}
    assert acme.props["alias_names"] == ["Acme Medical, Inc.", "ACME MEDICAL"]
