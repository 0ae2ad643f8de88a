"""`search(text, types, mode)`: full-text and vector search fused by reciprocal rank fusion.

FULLTEXT asks each type's full-text index (EN and ZH tokens, `graph.text_index`); VECTOR embeds
the text once (`ingest.embed.load_embedder`, the configured model, as a query) and asks each
type's vector index; HYBRID does both. Each (type, mode) answer is one ranked list, and a node's
fused score is the sum of `1 / (RRF_K + rank)` over the lists it is in. FULLTEXT never loads the
embedder; HYBRID without a loadable embedder falls back to full-text and says so in `warnings`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum

import strawberry

from api.graphql.context import GraphQLContext
from graph.store import Hit, Node
from ingest.embed import Embedder, EmbedderUnavailable, load_embedder
from ontology.errors import BadInput

RRF_K = 60
#: Each list is asked for this many times the requested hits, so fusion has room to reorder.
OVERFETCH = 2
#: Where a test or an embedding service can hand the request its own embedder.
EMBEDDER_KEY = "embedder"

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
    """Reciprocal rank fusion of ranked lists (named by their source), best first."""
    fused: dict[tuple[str, str], Fused] = {}
    for source, hits in lists.items():
        for rank, hit in enumerate(hits, start=1):
            item = fused.setdefault((hit.node.label, hit.node.id), Fused(hit.node))
            item.score += 1.0 / (k + rank)
            item.ranks[source] = rank
    return sorted(fused.values(), key=lambda f: (-f.score, f.node.label, f.node.id))


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


def run_search(ctx: GraphQLContext, text: str, types: list[str] | None, mode: SearchMode, first: int) -> tuple[list[Fused], list[str]]:
    """The fused hits of a search and its warnings (synchronous: run it in a worker thread)."""
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
    return fuse(lists)[:first], warnings


def rank_in(ranks: dict[str, int], mode: str) -> int | None:
    """The best rank a node had in the lists of one mode (fulltext or vector)."""
    found = [r for source, r in ranks.items() if source.startswith(mode + ":")]
    return min(found) if found else None
