"""`search(text, types, mode)`: full-text, vector and graph search fused by reciprocal rank fusion.

FULLTEXT asks each type's full-text index (EN and ZH tokens, `graph.text_index`); VECTOR embeds
the text once (`ingest.embed.load_embedder`, the configured model, as a query) and asks each
type's vector index; HYBRID does both, then expands the result one hop through the graph. Each
(type, mode) answer is one ranked list, and a node's fused score is the sum of `1 / (RRF_K + rank)`
over the lists it is in. FULLTEXT never loads the embedder; HYBRID without a loadable embedder
falls back to full-text (and graph expansion) and says so in `warnings`.

Graph expansion (HYBRID only, `expand=True` by default; FULLTEXT and VECTOR stay pure): the first
`min(first, EXPANSION_SEEDS)` fused hits are the seeds. One read (`Reads.neighbours`, one query
whatever the number of seeds) fetches up to `EXPANSION_PER_SEED` nodes one hop from each seed,
either direction, over edges that hold now, of the requested `types` when given. Each node reached
scores the sum of the fused scores of the seeds it is linked to (`expansion_ranking`): one step of
spreading the seeds' relevance to their neighbours, so a node linked to several hits, or to a top
hit, ranks high, and a seed linked to other seeds gains their support (its link to itself does not
count). Ties go to the node reached from more seeds, then from the best-placed seed. The best
`max(first * OVERFETCH, 10)` of them form one more list, `graph:expansion`, and all the lists are
fused again, unweighted; on equal scores a direct hit goes before a node only reached through the
graph. A hub seed spreads to at most `EXPANSION_PER_SEED` neighbours (the first by type and id),
so the read, the list and the store calls stay bounded whatever the degree of the seeds.

The sources of a hit's ranks are named `fulltext:<Type>`, `vector:<Type>` and `graph:expansion`;
`rank_in(ranks, "fulltext" | "vector" | "graph")` gives its best rank in one kind of list.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import strawberry

from api.graphql.context import GraphQLContext
from graph.store import Hit, Node, NodeRef
from ingest.embed import Embedder, EmbedderUnavailable, load_embedder
from ontology.errors import BadInput

RRF_K = 60
#: Each list is asked for this many times the requested hits, so fusion has room to reorder.
OVERFETCH = 2
#: Where a test or an embedding service can hand the request its own embedder.
EMBEDDER_KEY = "embedder"
#: The name of the graph expansion's list among a hit's ranks.
EXPANSION_SOURCE = "graph:expansion"
#: At most this many of the best fused hits are expanded (fewer when fewer hits are asked for).
EXPANSION_SEEDS = 20
#: At most this many neighbours of each seed are read.
EXPANSION_PER_SEED = 20

_embedders: dict[tuple[str, str], Embedder] = {}
_lock = threading.Lock()


@strawberry.enum(description="How search matches text.")
class SearchMode(Enum):
    HYBRID = "hybrid"
    VECTOR = "vector"
    FULLTEXT = "fulltext"


@dataclass
class Fused:
    """One node of a fused result, with its RRF score and its rank in each list that had it."""

    node: Node
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)


def fuse(lists: dict[str, list[Hit]], k: int = RRF_K) -> list[Fused]:
    """Reciprocal rank fusion of ranked lists (named by their source), best first; on equal
    scores a node matched directly goes before one only reached through the graph."""
    fused: dict[tuple[str, str], Fused] = {}
    for source, hits in lists.items():
        for rank, hit in enumerate(hits, start=1):
            item = fused.setdefault((hit.node.label, hit.node.id), Fused(hit.node))
            item.score += 1.0 / (k + rank)
            item.ranks[source] = rank
    return sorted(fused.values(), key=lambda f: (-f.score, set(f.ranks) == {EXPANSION_SOURCE}, f.node.label, f.node.id))


def expansion_ranking(seeds: Sequence[Fused], neighbours: Mapping[NodeRef, Sequence[Node]], limit: int) -> list[Hit]:
    """The nodes linked to `seeds` (best first, as fused) as one ranked list of at most `limit` hits.

    `neighbours` maps a seed to the nodes one hop from it. A node's score is the sum of the fused
    scores of the distinct seeds it is linked to, itself left out; ties go to more seeds, then to
    the best (lowest) seed position, then to type and id, so the order is deterministic."""
    position = {s.node.ref: i for i, s in enumerate(seeds)}
    reached: dict[NodeRef, tuple[Node, set[NodeRef]]] = {}
    for seed_ref, nodes in neighbours.items():
        if seed_ref not in position:
            continue
        for node in nodes:
            if node.ref != seed_ref:
                reached.setdefault(node.ref, (node, set()))[1].add(seed_ref)
    scored = []
    for node, via in reached.values():
        score = sum(seeds[position[s]].score for s in via)
        scored.append((-score, -len(via), min(position[s] for s in via), node.label, node.id, Hit(node, score)))
    scored.sort(key=lambda row: row[:5])
    return [row[5] for row in scored[: max(limit, 0)]]


def embedder_for(ctx: GraphQLContext) -> Embedder:
    """The request's embedder: one handed in through `RequestContext.extras`, else the configured
    model, loaded once per process (raises `EmbedderUnavailable`)."""
    given = ctx.rc.extras.get(EMBEDDER_KEY)
    if given is not None:
        return given  # type: ignore[return-value]
    settings = ctx.rc.settings
    key = (settings.embedding_model, str(settings.embedding_cache_path))
    with _lock:
        if key not in _embedders:
            _embedders[key] = load_embedder(settings.embedding_model, settings.embedding_cache_path)
        return _embedders[key]


def run_search(ctx: GraphQLContext, text: str, types: list[str] | None, mode: SearchMode, first: int, expand: bool = True) -> tuple[list[Fused], list[str]]:
    """The fused hits of a search and its warnings (synchronous: run it in a worker thread).

    `expand` adds the graph expansion in HYBRID mode (it never applies to VECTOR or FULLTEXT)."""
    if not text.strip():
        raise BadInput("search needs some text")
    ontology = ctx.reads.ontology
    for name in types or []:
        ontology.node_type(name)
    wanted = types or sorted(ontology.node_types)
    fulltext_types = [t for t in wanted if any(p.fulltext for p in ontology.node_types[t].properties.values())]
    vector_types = [t for t in wanted if ontology.node_types[t].vector_properties]
    warnings: list[str] = []
    lists: dict[str, list[Hit]] = {}
    k = max(first * OVERFETCH, 10)
    vector: list[float] | None = None
    if mode in (SearchMode.VECTOR, SearchMode.HYBRID) and vector_types:
        try:
            vector = [float(x) for x in embedder_for(ctx).embed([text], "query")[0]]
        except EmbedderUnavailable as exc:
            if mode == SearchMode.VECTOR:
                raise
            warnings.append(f"vector search skipped: {exc}")
    if mode in (SearchMode.FULLTEXT, SearchMode.HYBRID):
        for label in fulltext_types:
            lists[f"fulltext:{label}"] = ctx.reads.fulltext_search(label, text, k)
    if vector is not None:
        for label in vector_types:
            lists[f"vector:{label}"] = ctx.reads.vector_search(label, vector, k)
    if mode == SearchMode.VECTOR and not vector_types:
        warnings.append("none of these types has an embedding")
    fused = fuse(lists)
    if mode == SearchMode.HYBRID and expand and first > 0 and fused:
        seeds = fused[: min(first, EXPANSION_SEEDS)]
        neighbours = ctx.reads.neighbours([s.node.ref for s in seeds], types, EXPANSION_PER_SEED)
        expansion = expansion_ranking(seeds, neighbours, k)
        if expansion:
            fused = fuse({**lists, EXPANSION_SOURCE: expansion})
    return fused[:first], warnings


def rank_in(ranks: dict[str, int], mode: str) -> int | None:
    """The best rank a node had in the lists of one kind: "fulltext", "vector" or "graph" (the expansion)."""
    found = [r for source, r in ranks.items() if source.startswith(mode + ":")]
    return min(found) if found else None
