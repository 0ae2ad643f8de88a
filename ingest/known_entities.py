"""Candidates for entity resolution from the graph: the entity nodes already stored.

Each resolvable label's nodes are read once per process (paged, in id order) the first time a
mention of that label needs candidates, indexed by `ingest.resolve.candidate_keys` (keys,
model codes, normalised names, words), and kept current with the nodes and aliases this
process writes. Another process's nodes written after the load are not seen until the next
load: deterministic ids still keep exact names together, only fuzzy merges are missed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from graph.store import GraphStore, Node
from ingest.resolve import EntityCandidate, candidate_keys

#: The labels mentions are resolved for, the property holding each one's name, and the
#: properties that identify it (keys) or name its model (codes).
NAME_PROPERTY = {"Account": "name", "Contact": "full_name", "Product": "name"}
KEY_PROPERTIES = {"Account": ("domain", "tax_id"), "Contact": ("email", "phone"), "Product": ("sku",)}
CODE_PROPERTIES = {"Product": ("model_number",)}
#: At most this many candidates (those sharing the most blocking keys) go to the resolver.
MAX_CANDIDATES = 50


def candidate_of(label: str, props: Mapping[str, Any]) -> EntityCandidate:
    """A stored node as a resolution candidate."""
    return EntityCandidate(
        node_id=props.get("id"),
        label=label,
        name=props.get(NAME_PROPERTY[label]) or "",
        aliases=tuple(props.get("alias_names") or ()),
        keys={k: props[k] for k in KEY_PROPERTIES.get(label, ()) if props.get(k)},
        codes=tuple(str(props[k]) for k in CODE_PROPERTIES.get(label, ()) if props.get(k)),
    )


class KnownEntities:
    """The entity nodes of the graph, as resolution candidates (see the module docstring)."""

    def __init__(self, store: GraphStore, page: int = 5000):
        self.store = store
        self.page = page
        self._loaded: set[str] = set()
        self._entities: dict[tuple[str, str], EntityCandidate] = {}
        self._distinct: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._index: dict[tuple[str, str], set[str]] = defaultdict(set)

    def _load(self, label: str) -> None:
        if label in self._loaded:
            return
        self._loaded.add(label)
        after: str | None = None
        while True:
            nodes: list[Node] = self.store.scan_nodes(label, after, self.page)
            for node in nodes:
                self.remember(candidate_of(label, node.props))
                self._distinct[(label, node.id)].update(node.props.get("distinct_from") or ())
            if len(nodes) < self.page:
                return
            after = nodes[-1].id

    def has(self, label: str, node_id: str) -> bool:
        """True when a node of `label` with this id is known."""
        if label in NAME_PROPERTY:
            self._load(label)
        return (label, node_id) in self._entities

    def get(self, label: str, node_id: str) -> EntityCandidate | None:
        """The known entity with this id, if any."""
        return self._entities.get((label, node_id))

    def remember(self, entity: EntityCandidate) -> None:
        """Add a node, or new aliases of a known one, to the index."""
        if entity.node_id is None or entity.label not in NAME_PROPERTY:
            return
        key = (entity.label, entity.node_id)
        known = self._entities.get(key)
        if known is not None:
            aliases = [a for a in entity.aliases if a not in known.aliases and a != known.name]
            entity = EntityCandidate(known.node_id, known.label, known.name, (*known.aliases, *aliases), {**entity.keys, **known.keys}, known.codes)
        self._entities[key] = entity
        for block in candidate_keys(entity):
            self._index[(entity.label, block)].add(entity.node_id)

    def distinct_from(self, label: str, node_id: str) -> set[str]:
        """Ids a steward split from this node (never merged with it again)."""
        return self._distinct.get((label, node_id), set())

    def candidates(self, mention: EntityCandidate, exclude_merging: str | None = None) -> list[EntityCandidate]:
        """Stored entities of the mention's label sharing blocking keys with it, most shared first;
        nodes split from `exclude_merging` (an id) are left out."""
        self._load(mention.label)
        shared: Counter[str] = Counter()
        for block in candidate_keys(mention):
            shared.update(self._index.get((mention.label, block), ()))
        out: list[EntityCandidate] = []
        for node_id, _ in sorted(shared.items(), key=lambda item: (-item[1], item[0]))[:MAX_CANDIDATES]:
            if exclude_merging is not None and exclude_merging in self._distinct.get((mention.label, node_id), ()):
                continue
            out.append(self._entities[(mention.label, node_id)])
        return out
