"""The DataLoaders of one request: nested lists cost one store call per field, not per parent.

When a query lists 20 accounts and, for each, its contacts, the 20 `contacts` resolvers each ask
the `edges` loader for their page; the loader waits for the tick to end and sends one query for
the 20 accounts (`graph.reads.Reads.edges`). Keys that differ in the edge spec or page arguments
go in separate queries, so the number of store calls follows the shape of the query (its fields
and arguments), never the size of its result. A first page (no `after`) also gives each parent's
number of edges (`Reads.edge_pages`), which primes the count loader, so `totalCount` next to a
first page costs no query. The loaders live in `RequestContext.extras`, so their caches last one
request.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from graph.reads import EdgeHit, EdgeSpec
from graph.store import Node, NodeRef

if TYPE_CHECKING:
    from api.graphql.context import GraphQLContext


@dataclass(frozen=True)
class EdgePageKey:
    """One parent's page of edges: the spec, the keyset position to start after, the row limit."""

    spec: EdgeSpec
    after: tuple[Any, str] | None
    limit: int
    parent: str


@dataclass(frozen=True)
class EdgeCountKey:
    """One parent's number of edges of a spec."""

    spec: EdgeSpec
    parent: str


class Loaders:
    """The DataLoaders of one request."""

    def __init__(self, ctx: GraphQLContext):
        self.ctx = ctx
        self.nodes: DataLoader[NodeRef, Node | None] = DataLoader(self._load_nodes)
        self.edges: DataLoader[EdgePageKey, list[EdgeHit]] = DataLoader(self._load_edges)
        self.edge_counts: DataLoader[EdgeCountKey, int] = DataLoader(self._load_edge_counts)

    async def _load_nodes(self, refs: list[NodeRef]) -> list[Node | None]:
        by_label: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            by_label[ref.label].append(ref.id)
        labels = list(by_label)
        found = await asyncio.gather(*(self.ctx.run(self.ctx.reads.nodes_by_ids, label, by_label[label]) for label in labels))
        nodes = {label: result for label, result in zip(labels, found, strict=True)}
        return [nodes[ref.label].get(ref.id) for ref in refs]

    async def _load_edges(self, keys: list[EdgePageKey]) -> list[list[EdgeHit]]:
        groups: dict[tuple[EdgeSpec, tuple[Any, str] | None, int], list[str]] = defaultdict(list)
        for key in keys:
            groups[(key.spec, key.after, key.limit)].append(key.parent)
        order = list(groups)
        results = await asyncio.gather(
            *(self.ctx.run(self.ctx.reads.edge_pages, spec, groups[(spec, after, limit)], after, limit) for spec, after, limit in order)
        )
        by_group = {group: result for group, result in zip(order, results, strict=True)}
        # a first page comes with its list's size: a totalCount asked for later needs no query of its own
        self.edge_counts.prime_many(
            {
                EdgeCountKey(spec, parent): result[parent][1] if parent in result else 0
                for (spec, after, _), result in by_group.items()
                if after is None
                for parent in groups[(spec, after, _)]
            }
        )
        empty: tuple[list[EdgeHit], int] = ([], 0)
        return [by_group[(key.spec, key.after, key.limit)].get(key.parent, empty)[0] for key in keys]

    async def _load_edge_counts(self, keys: list[EdgeCountKey]) -> list[int]:
        groups: dict[EdgeSpec, list[str]] = defaultdict(list)
        for key in keys:
            groups[key.spec].append(key.parent)
        order = list(groups)
        results = await asyncio.gather(*(self.ctx.run(self.ctx.reads.edge_counts, spec, groups[spec]) for spec in order))
        by_spec = {spec: result for spec, result in zip(order, results, strict=True)}
        return [by_spec[key.spec].get(key.parent, 0) for key in keys]
