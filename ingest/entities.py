"""Mentions → graph nodes: which node a mention stands for, and the node records to upsert.

Each label's name property comes from the ontology's conventions below. A mention that the
ruler tied to a known node keeps that node; any other gets a deterministic id from its label
and normalised name, so the same name in another document or another run lands on the same
node (no duplicates), and its surface forms are kept as `alias_names`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from graph.store import NodeRecord, NodeRef
from ingest.nlp.extract import Mention
from ingest.resolve import normalise_name

#: The property holding a node's display name, per label that mentions can create.
NAME_PROPERTY = {"Account": "name", "Contact": "full_name", "Region": "name", "Product": "name", "Policy": "name"}
#: Labels that accept `alias_names`.
ALIASED = frozenset({"Account", "Contact", "Region", "Product"})


#: How each label's names are normalised (see `ingest.resolve.normalise_name`).
NAME_KIND = {"Account": "organisation", "Contact": "person", "Product": "product"}


def normalise_for_key(label: str, text: str) -> str:
    """The normalised name that decides a mention's node (case, width, punctuation, traditional
    Chinese, legal suffixes and "Last, First" order do not matter)."""
    return normalise_name(text, NAME_KIND.get(label, "generic"))


def entity_id(label: str, text: str) -> str:
    """The deterministic node id for a name of type `label`."""
    norm = normalise_for_key(label, text)
    slug = "-".join(norm.split())[:40] or "x"
    return f"{label.lower()}-{slug}-{hashlib.sha1(f'{label}|{norm}'.encode()).hexdigest()[:8]}"


class EntityLinker:
    """Decides the node of each mention and adds the node records to the batch."""

    def link(self, mentions: Sequence[Mention], nodes: list[NodeRecord]) -> list[NodeRef | None]:
        """A node reference per mention (None for labels that mentions cannot create)."""
        index = {(n.label, n.id): n for n in nodes}
        refs: list[NodeRef | None] = []
        for mention in mentions:
            name_prop = NAME_PROPERTY.get(mention.label)
            if mention.node_id:
                refs.append(NodeRef(mention.label, mention.node_id))
                continue
            if name_prop is None or not normalise_for_key(mention.label, mention.text):
                refs.append(None)
                continue
            ref = NodeRef(mention.label, entity_id(mention.label, mention.text))
            record = index.get((ref.label, ref.id))
            if record is None:
                record = NodeRecord(ref.label, ref.id, defaults={name_prop: mention.text})
                if mention.label in ALIASED:
                    record.props["alias_names"] = [mention.text]
                nodes.append(record)
                index[(ref.label, ref.id)] = record
            elif mention.label in ALIASED and mention.text not in record.props.setdefault("alias_names", []):
                record.props["alias_names"].append(mention.text)
            refs.append(ref)
        return refs
