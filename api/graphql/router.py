"""The FastAPI router of the GraphQL API: `/graphql` (HTTP and graphql-transport-ws) and GraphiQL.

`graphql_router(context_dependency)` takes the app's dependency that authenticates a request
and returns its `RequestContext` (`api/context.py`); the app mounts the router with
`app.include_router(graphql_router(request_context), prefix="/graphql")`. For WebSocket
subscriptions the same dependency runs on the handshake, so it must accept a
`starlette.requests.HTTPConnection` (headers work on both), not only a `Request`. A WebSocket whose
handshake carries no key (a browser cannot set WebSocket headers) authenticates in its
`connection_init` payload instead (`{"Authorization": "Bearer <key>", "X-Khub-Purpose": "sales"}`):
the dependency then runs on the handshake's scope with those headers; a refusal closes the socket
with 4403, and nothing can be subscribed before the connection is acknowledged.

The schema follows the store's ontology: it is built for it on the first request and rebuilt on
the first request after it changed (a steward's `applyOntology`, which switches the store to the
new ontology), so node types added to the ontology get their typed class and Query fields
(`api.graphql.dynamic`). Requests already running finish on the schema they started with.

GraphiQL is served from files shipped in the package (`api/static/graphiql/`: GraphiQL 3 and
React 18 UMD builds with their licences), never from a CDN: a customer's closed network reaches
none. The page is `GET /graphql` (no key needed: it holds no data, the queries it sends carry the
key and the purpose); its assets are `/graphql/static/graphiql/*`. Subscriptions in GraphiQL go
over the same path as a WebSocket: GraphiQL sends its Headers tab as the `connection_init` payload,
which authenticates the socket.
"""

from __future__ import annotations

import html
import inspect
import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection, Request
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter

from api.context import PURPOSE_HEADER, RequestContext
from api.errors import ApiError
from api.graphql.context import GraphQLContext
from api.graphql.limits import Limits
from api.graphql.schema import build_schema
from api.security import API_KEY_HEADER
from ontology.errors import KhubError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "graphiql"
#: The files GraphiQL needs, in load order (scripts) and the stylesheet.
SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js")
STYLESHEET = "graphiql.min.css"
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>khub GraphQL</title>
<link rel="stylesheet" href="{static}/{stylesheet}">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
{scripts}
<script>
// subscriptions go over graphql-transport-ws; the Headers tab (key, purpose) is sent in connection_init
const subscriptionUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + {endpoint};
const fetcher = GraphiQL.createFetcher({{ url: {endpoint}, subscriptionUrl }});
const root = ReactDOM.createRoot(document.getElementById("graphiql"));
root.render(React.createElement(GraphiQL, {{
  fetcher,
  defaultEditorToolsVisibility: true,
  headers: {headers},
  shouldPersistHeaders: true,
}}));
</script>
</body>
</html>
"""


def graphiql_page(base_path: str) -> str:
    """The GraphiQL page for the endpoint at `base_path`, loading only local assets."""
    static = html.escape(f"{base_path}/static/graphiql", quote=True)
    scripts = "\n".join(f'<script src="{static}/{name}"></script>' for name in SCRIPTS)
    headers = json.dumps(json.dumps({"Authorization": "Bearer <your API key>", PURPOSE_HEADER: "sales"}, indent=2))
    return _PAGE.format(static=static, stylesheet=STYLESHEET, scripts=scripts, endpoint=json.dumps(base_path or "/"), headers=headers)


_CREDENTIAL_HEADERS = ("authorization", API_KEY_HEADER.lower())


def _has_credentials(headers: Mapping[str, str]) -> bool:
    return any(headers.get(name) for name in _CREDENTIAL_HEADERS)


async def _call(dependency: Callable[..., Any], connection: HTTPConnection) -> RequestContext:
    found = dependency(connection)
    return await found if inspect.isawaitable(found) else found


class _Router(GraphQLRouter):  # type: ignore[misc]
    """Strawberry's router, authenticating a WebSocket in its connection_init message when its
    handshake carried no key (browsers cannot set WebSocket headers): the payload holds the same
    fields as the HTTP headers (`Authorization` or `X-Api-Key`, and `X-Khub-Purpose`)."""

    def __init__(self, context_dependency: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._context_dependency = context_dependency

    async def on_ws_connect(self, context: Any) -> Any:
        """Authenticate a pending connection from its connection_init payload; refuse it (close 4403) when that fails."""
        if not isinstance(context, GraphQLContext) or context.pending is None:
            return await super().on_ws_connect(context)
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        given = {str(k).lower(): v for k, v in params.items() if isinstance(v, str)}
        scope = dict(context.pending.scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        headers.update({k: v for k, v in given.items() if k in (*_CREDENTIAL_HEADERS, PURPOSE_HEADER.lower())})
        scope["headers"] = [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in headers.items()]
        scope["state"] = {}
        try:
            context.rc = await _call(self._context_dependency, HTTPConnection(scope))
        except (ApiError, KhubError) as exc:
            raise ConnectionRejectionError({"code": getattr(exc, "code", "UNAUTHENTICATED"), "message": str(exc)}) from None
        context.pending = None
        return await super().on_ws_connect(context)


def graphql_router(
    context_dependency: Callable[..., Any],
    limits: Limits | None = None,
    introspection: bool | None = None,
    graphiql: bool = True,
) -> APIRouter:
    """The `/graphql` router: queries and mutations over HTTP, subscriptions over
    graphql-transport-ws, GraphiQL on GET from a browser.

    context_dependency: a FastAPI dependency returning the request's `RequestContext` (it
    authenticates the caller and reads the declared purpose). limits: `api.graphql.limits.Limits`
    (default ones when None). introspection: force it on or off; None decides per request from
    `settings.graphql_introspection` (on when the setting does not exist).
    """

    built_for: list[Any] = [None]
    rebuild_lock = threading.Lock()

    def use_ontology(ontology: Any) -> None:
        # the schema follows the store's ontology: built on the first request, rebuilt after an apply
        if built_for[0] is ontology:
            return
        with rebuild_lock:
            if built_for[0] is not ontology:
                router.schema = build_schema(limits, introspection, ontology=ontology)
                built_for[0] = ontology

    async def get_context(connection: HTTPConnection) -> GraphQLContext:
        if connection.scope["type"] == "websocket" and not _has_credentials(connection.headers):
            # a browser cannot set headers on a WebSocket: it authenticates in connection_init
            return GraphQLContext(None, pending=connection)
        rc = await _call(context_dependency, connection)
        ontology = getattr(rc.store, "ontology", None)
        if ontology is not None and built_for[0] is not ontology:
            await anyio.to_thread.run_sync(use_ontology, ontology)
        return GraphQLContext(rc)

    router = _Router(context_dependency, build_schema(limits, introspection), context_getter=get_context, graphql_ide=None, allow_queries_via_get=False)
    # Strawberry's GET route authenticates before it serves its IDE page: replace it with a page
    # that needs no key (it holds no data; the queries it sends carry the key and purpose).
    router.routes[:] = [r for r in router.routes if not (isinstance(r, APIRoute) and r.path == "" and "GET" in r.methods)]

    @router.get("", include_in_schema=False)
    async def graphiql_ide(request: Request) -> HTMLResponse:
        if not graphiql:
            raise HTTPException(status_code=404, detail="GraphiQL is switched off")
        base = request.url.path.rstrip("/")
        return HTMLResponse(graphiql_page(base))

    @router.get("/static/graphiql/{name}", include_in_schema=False)
    async def graphiql_asset(name: str) -> FileResponse:
        allowed = {*SCRIPTS, STYLESHEET}
        if name not in allowed:
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(STATIC_DIR / name, media_type=_MEDIA[Path(name).suffix], headers={"Cache-Control": "public, max-age=86400"})

    return router
