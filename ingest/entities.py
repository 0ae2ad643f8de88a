"""Mentions → graph nodes: which node a mention stands for, and the node records to upsert.

Each label's name property comes from the ontology's conventions below. A mention that the
ruler tied to a known node keeps that node; when the mention also carries the properties of
its node (a gazetteer term, a device found by its serial), the node is created with them if it
does not exist yet (a device already stored under the same serial is used instead). Any other
mention gets a deterministic id from its label and normalised name, so the same name in
another document or another run lands on the same node (no duplicates), and its surface forms
are kept as `alias_names`. When no node has that
id yet, entity resolution (`ingest.resolve.Resolver` over `KnownEntities` candidates) may link
the mention to an existing node under another name; the link then says which id the mention
would have had (`merged_from`), so `khub unmerge` can undo it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from graph.store import NodeRecord, NodeRef
from ingest.known_entities import NAME_PROPERTY as KNOWN_LABELS
from ingest.known_entities import KnownEntities
from ingest.nlp.extract import Mention
from ingest.resolve import EntityCandidate, Resolver, normalise_name

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


def merge_marker(own_id: str, node_id: str) -> str:
    """What an edge records in `merged_from` when a mention with `own_id` was merged into `node_id`."""
    return f"{own_id}>{node_id}"


def parse_merge_marker(marker: str) -> tuple[str, str]:
    """(would-be id, node id) of a `merge_marker`."""
    own_id, _, node_id = marker.partition(">")
    return own_id, node_id


@dataclass(frozen=True)
class Link:
    """The node a mention stands for; `merged_from` is the id it would have had on its own when
    resolution merged it into a node of another name (with the score and reasons)."""

    @property
    def marker(self) -> str | None:
        """The `merged_from` entry of this link's edges, if it is a merge."""
        return merge_marker(self.merged_from, self.ref.id) if self.merged_from else None

    ref: NodeRef
    merged_from: str | None = None
    score: float | None = None
    reasons: tuple[str, ...] = ()
    #: True when this mention creates the node (no stored or earlier node had its id).
    new: bool = False


class EntityLinker:
    """Decides the node of each mention and adds the node records to the batch."""

    def __init__(self, known: KnownEntities | None = None, resolver: Resolver | None = None):
        """known: the stored entities to resolve against (None: exact names only)."""
        self.known = known
        self.resolver = resolver or Resolver()
        self._exists: set[NodeRef] = set()  # term nodes known to be stored or written by this linker
        self._devices: dict[str, NodeRef] = {}  # serial → the device node it names

    def link(self, mentions: Sequence[Mention], nodes: list[NodeRecord]) -> list[Link | None]:
        """A link per mention (None for labels that mentions cannot create)."""
        index = {(n.label, n.id): n for n in nodes}
        links: list[Link | None] = []
        for mention in mentions:
            name_prop = NAME_PROPERTY.get(mention.label)
            if mention.node_id:
                links.append(self._link_term(mention, nodes, index) if mention.node_props else Link(NodeRef(mention.label, mention.node_id)))
                continue
            if name_prop is None or not normalise_for_key(mention.label, mention.text):
                links.append(None)
                continue
            own_id = entity_id(mention.label, mention.text)
            link = Link(NodeRef(mention.label, own_id))
            if (mention.label, own_id) not in index and not (self.known and self.known.has(mention.label, own_id)):
                link = self._resolve(mention, own_id) or Link(link.ref, new=True)
            record = index.get((link.ref.label, link.ref.id))
            if record is None:
                record = NodeRecord(link.ref.label, link.ref.id, defaults={name_prop: self._name_of(link, mention)})
                nodes.append(record)
                index[(link.ref.label, link.ref.id)] = record
            if mention.label in ALIASED and mention.text not in record.props.setdefault("alias_names", []):
                record.props["alias_names"].append(mention.text)
            if self.known is not None:
                self.known.remember(EntityCandidate(link.ref.id, link.ref.label, self._name_of(link, mention), aliases=(mention.text,)))
            links.append(link)
        return links

    def _link_term(self, mention: Mention, nodes: list[NodeRecord], index: dict[tuple[str, str], NodeRecord]) -> Link:
        """The node of a mention that names its node and carries its properties (a gazetteer
        term, a device by serial): created with those properties when it does not exist."""
        props = dict(mention.node_props)
        ref = NodeRef(mention.label, str(mention.node_id))
        if mention.label == "Device" and props.get("serial"):
            ref = self._device_ref(str(props["serial"]), ref)
        record = index.get((ref.label, ref.id))
        new = False
        if record is None:
            new = not self._stored(ref)
            name_prop = NAME_PROPERTY.get(ref.label)
            if name_prop and name_prop not in props:
                props[name_prop] = mention.text
            record = NodeRecord(ref.label, ref.id, defaults=props)
            nodes.append(record)
            index[(ref.label, ref.id)] = record
        if ref.label in ALIASED and mention.text not in record.props.setdefault("alias_names", []):
            record.props["alias_names"].append(mention.text)
        if self.known is not None and ref.label in NAME_PROPERTY:
            name = str(record.defaults.get(NAME_PROPERTY[ref.label]) or mention.text)
            codes = tuple(str(record.defaults[k]) for k in ("model_number",) if record.defaults.get(k))
            self.known.remember(EntityCandidate(ref.id, ref.label, name, aliases=(mention.text,), codes=codes))
        return Link(ref, new=new)

    def _stored(self, ref: NodeRef) -> bool:
        """True when the node is in the graph already (or this linker has written it)."""
        if self.known is None:
            return False
        if ref.label in KNOWN_LABELS:
            return self.known.has(ref.label, ref.id)
        if ref in self._exists:
            return True
        self._exists.add(ref)  # from now on it is stored, or written by this batch
        return self.known.store.get(ref) is not None

    def _device_ref(self, serial: str, ref: NodeRef) -> NodeRef:
        """A device stored under this serial (e.g. by an event import) keeps its node."""
        if serial not in self._devices:
            found = self.known.store.find("Device", "serial", serial, limit=1) if self.known is not None else []
            self._devices[serial] = NodeRef("Device", found[0].id) if found else ref
        return self._devices[serial]

    def _name_of(self, link: Link, mention: Mention) -> str:
        """The display name of the linked node (the stored one after a merge)."""
        if link.merged_from and self.known is not None:
            stored = self.known.get(link.ref.label, link.ref.id)
            if stored is not None and stored.name:
                return stored.name
        return mention.text

    def _resolve(self, mention: Mention, own_id: str) -> Link | None:
        """An existing node of another name this mention denotes, if resolution finds one."""
        if self.known is None or mention.label not in NAME_KIND:
            return None
        entity = EntityCandidate(None, mention.label, mention.text)
        match = self.resolver.resolve(entity, self.known.candidates(entity, exclude_merging=own_id))
        if match is None or match.node_id is None or match.node_id == own_id:
            return None
        return Link(NodeRef(mention.label, match.node_id), merged_from=own_id, score=match.score, reasons=tuple(match.reasons))
