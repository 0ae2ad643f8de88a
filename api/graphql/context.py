"""What every resolver reads its request from: the `RequestContext`, the purpose-bound reads and
the request's DataLoaders.

Strawberry's FastAPI router merges a custom context into its own only when it is a `BaseContext`,
so the `RequestContext` of `api/context.py` travels inside `GraphQLContext`. The DataLoaders live
in `RequestContext.extras` (one set per request: their caches never outlive it).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import strawberry
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from api.context import Principal, RequestContext
from graph.reads import Reads
from ontology.purposes import PurposeCatalogue

if TYPE_CHECKING:
    from api.graphql.loaders import Loaders

T = TypeVar("T")
LOADERS_KEY = "graphql.loaders"
READS_KEY = "graphql.reads"


class GraphQLContext(BaseContext):
    """The GraphQL context of one request (or one WebSocket connection)."""

    def __init__(self, request_context: RequestContext | None, pending: HTTPConnection | None = None):
        """pending: a WebSocket whose handshake had no key; `rc` is set when its connection_init authenticates it."""
        super().__init__()
        self.rc: RequestContext = request_context  # type: ignore[assignment]
        self.pending = pending

    @property
    def principal(self) -> Principal:
        """Who is asking."""
        return self.rc.principal

    @property
    def purpose(self) -> str:
        """The purpose the request declared; every read carries it (`graph.reads.Reads`)."""
        return self.rc.purpose

    @property
    def reads(self) -> Reads:
        """The store's reads on behalf of this request's purpose."""
        reads = self.rc.extras.get(READS_KEY)
        if not isinstance(reads, Reads):
            timeout = float(getattr(self.rc.settings, "graphql_read_timeout_seconds", 10.0))
            catalogue = self.rc.extras.get("purposes")  # the server's (api.security.PURPOSES_KEY); else the shipped one
            reads = Reads(self.rc.store, self.rc.purpose, timeout=timeout, purposes=catalogue if isinstance(catalogue, PurposeCatalogue) else None)
            self.rc.extras[READS_KEY] = reads
        return reads

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders (created on first use)."""
        from api.graphql.loaders import Loaders

        loaders = self.rc.extras.get(LOADERS_KEY)
        if not isinstance(loaders, Loaders):
            loaders = Loaders(self)
            self.rc.extras[LOADERS_KEY] = loaders
        return loaders

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous store call in a worker thread (the store is synchronous)."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))


def context_of(info: strawberry.Info) -> GraphQLContext:
    """The `GraphQLContext` of a resolver's `info`."""
    ctx = info.context
    if not isinstance(ctx, GraphQLContext):
        raise TypeError("the GraphQL context is not a khub GraphQLContext")
    return ctx
