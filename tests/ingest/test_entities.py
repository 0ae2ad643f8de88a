"""Mentions land on one node per normalised name: no duplicates across documents or runs."""

from __future__ import annotations

from graph.store import Node, NodeRecord, NodeRef
from ingest.entities import EntityLinker, entity_id
from ingest.known_entities import KnownEntities
from ingest.nlp.extract import Extractor, Mention, device_id


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


class _Store:
    """Just what the linker reads from a store: nodes by id, by property, and by label."""

    def __init__(self, nodes: list[NodeRecord]):
        self.nodes = {(n.label, n.id): Node(n.label, n.id, {"id": n.id, **n.props}) for n in nodes}

    def get(self, ref: NodeRef) -> Node | None:
        return self.nodes.get((ref.label, ref.id))

    def find(self, label: str, prop: str, value, limit: int = 10) -> list[Node]:
        return [n for (lab, _), n in sorted(self.nodes.items()) if lab == label and n.props.get(prop) == value][:limit]

    def scan_nodes(self, label: str, after: str | None = None, limit: int = 5000) -> list[Node]:
        return [n for (lab, i), n in sorted(self.nodes.items()) if lab == label and (after is None or i > after)][:limit]


def test_gazetteer_terms_create_their_node_once_with_their_properties():
    policy = Extractor().extract("上海市大型医疗设备更新补贴覆盖全市医院，医疗设备更新补贴今年继续。")
    product = Extractor().extract("Renji Hospital runs a US-900 and an UltraScan 900.")
    terms = [m for m in policy.mentions + product.mentions if m.method == "ruler"]
    nodes: list[NodeRecord] = []
    links = EntityLinker().link(terms, nodes)
    assert [link.ref for link in links] == [
        NodeRef("Policy", "cn-medical-equipment-renewal-subsidy"),
        NodeRef("Policy", "cn-medical-equipment-renewal-subsidy"),
        NodeRef("Product", "us-900"),
        NodeRef("Product", "us-900"),
    ]
    assert [link.new for link in links] == [True, False, True, False]
    by_id = {n.id: n for n in nodes}
    assert len(nodes) == 2
    subsidy = {"name": "Large medical equipment renewal subsidy", "policy_kind": "subsidy", "region_code": "CN"}
    assert by_id["cn-medical-equipment-renewal-subsidy"].defaults == subsidy
    assert "alias_names" not in by_id["cn-medical-equipment-renewal-subsidy"].props  # a Policy has no aliases
    us900 = by_id["us-900"]
    assert us900.defaults["name"] == "UltraScan 900" and us900.defaults["model_number"] == "US-900" and us900.defaults["is_competitor"] is False
    assert us900.props["alias_names"] == ["US-900", "UltraScan 900"]


def test_a_term_node_already_in_the_graph_is_not_new():
    store = _Store([NodeRecord("Policy", "cn-export-control-law", {"name": "出口管制法"}), NodeRecord("Product", "us-900", {"name": "UltraScan 900"})])
    mentions = [m for m in Extractor().extract("出口管制法和US-900。").mentions if m.method == "ruler"]
    nodes: list[NodeRecord] = []
    links = EntityLinker(KnownEntities(store)).link(mentions, nodes)
    assert [(link.ref.id, link.new) for link in links] == [("cn-export-control-law", False), ("us-900", False)]


def test_devices_by_serial_reuse_a_stored_device_or_get_the_serial_id():
    store = _Store([NodeRecord("Device", "dev-us900-0142", {"serial": "US900-0142", "model": "US900"})])
    text = "Renji Hospital has two UltraScan 900 systems (S/N US900-0142 and S/N US900-0377)."
    devices = [m for m in Extractor().extract(text).mentions if m.label == "Device"]
    nodes: list[NodeRecord] = []
    links = EntityLinker(KnownEntities(store)).link(devices, nodes)
    assert [link.ref.id for link in links] == ["dev-us900-0142", device_id("US900-0377")]
    assert [link.new for link in links] == [False, True]
    created = {n.id: n.defaults for n in nodes}
    assert created[device_id("US900-0377")] == {"serial": "US900-0377", "model": "US-900"}
    # without a store (no lookup possible) the serial decides the node
    alone = EntityLinker().link(devices, [])
    assert [link.ref.id for link in alone] == [device_id("US900-0142"), device_id("US900-0377")]
