"""`khub unmerge`: undo an entity-resolution merge.

When resolution links a mention to a node of another name, the mention's edges record the id
the mention would have had on its own and the node's id (`merged_from`: "own-id>node-id"). Unmerging that id gives it back: a node
with that id and the merged names is created, the edges move to it (type, direction, far end,
provenance and valid time kept), the names leave the original node's aliases, and both nodes
record that they are distinct (`distinct_from`) so resolution never merges them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.store import GraphStore, NodeRecord, NodeRef
from ingest.entities import NAME_PROPERTY, entity_id, merge_marker, parse_merge_marker
from ontology.errors import BadInput, NotFound


@dataclass
class Merge:
    """Names merged into a node from one would-be node id, and the edges that carry them."""

    merged_from: str
    names: list[str] = field(default_factory=list)
    edges: int = 0
    sources: list[str] = field(default_factory=list)


@dataclass
class UnmergeReport:
    """What an unmerge did."""

    node: NodeRef
    split_off: NodeRef
    names: list[str]
    edges_moved: int


def merges_of(store: GraphStore, ref: NodeRef) -> dict[str, Merge]:
    """The merges into `ref` by would-be id, with the names seen and how many edges carry them."""
    if store.get(ref) is None:
        raise NotFound(f"no node {ref}")
    merges: dict[str, Merge] = {}
    for edge in store.merged_edges(ref):
        for marker in edge.props.get("merged_from") or ():
            own_id, node_id = parse_merge_marker(marker)
            if node_id != ref.id:
                continue  # the other end's merge
            merge = merges.setdefault(own_id, Merge(own_id))
            merge.edges += 1
            text = edge.props.get("mention_text")
            if text and text not in merge.names:
                merge.names.append(text)
            for source in edge.props.get("supported_by") or ():
                if source not in merge.sources:
                    merge.sources.append(source)
    return merges


def unmerge(store: GraphStore, ref: NodeRef, alias: str) -> UnmergeReport:
    """Split the names merged into `ref` from `alias` (a merged name or its would-be id) off
    into a node of their own."""
    merges = merges_of(store, ref)
    marker = alias if alias in merges else entity_id(ref.label, alias)
    if marker not in merges:
        known = "; ".join(f"{m.merged_from} ({', '.join(m.names) or 'no names'})" for m in merges.values()) or "none"
        raise BadInput(f"{ref} has no merge from {alias!r}; its merges: {known}")
    merge = merges[marker]
    name_prop = NAME_PROPERTY[ref.label]
    split = NodeRef(ref.label, marker)
    written = store.upsert(
        [
            NodeRecord(
                ref.label,
                marker,
                {"alias_names": merge.names, "distinct_from": [ref.id], "supported_by": merge.sources},
                defaults={name_prop: merge.names[0] if merge.names else marker},
            ),
            NodeRecord(ref.label, ref.id, {"distinct_from": [marker]}),
        ]
    )
    if written.rejected:
        raise BadInput(f"cannot split {marker} off {ref}: {written.rejected[0].reason}")
    moved = store.move_merged_edges(ref, split, merge_marker(marker, ref.id))
    if merge.names:
        store.remove_list_values(ref, "alias_names", merge.names)
    return UnmergeReport(ref, split, merge.names, moved)
