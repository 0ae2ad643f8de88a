"""The GraphQL schema: queries, mutations and subscriptions over the graph.

Queries: each built-in type by key (`account(id:)`) and as a filtered, ordered Relay list
(`accounts(where:, orderBy:, first:, after:)`); `node(type, id)` and `nodes(type, ...)` for any
type; `neighbourhood`, `paths`, `decisionChain`, `intents`, `timeline`, `ontology`, `search`, and
`cypher` (analysts). Mutations: `intentFeedback` (anyone), `upsertNode` and `link` (stewards).
Subscriptions: `intentDetected`, `jobProgress`.

Every resolver reads through `GraphQLContext` (`api.graphql.context`), which carries the caller,
the declared purpose and the purpose-bound `graph.reads.Reads`. Two resolvers hand the raw store
to the reasoning room instead: `decisionChain` (`reasoning.decision_chain.infer_chain`) and
`intentFeedback` (`reasoning.feedback.give_feedback`); consent enforcement (issue 6) must wrap the
store there too, or give those functions the purpose.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.scalars import JSON

from api.graphql.audit import AuditReads
from api.graphql.auth import VISIBLE, IsAnalyst, IsEventWriter, IsSteward, can_see
from api.graphql.concepts import ConceptQueries
from api.graphql.context import context_of
from api.graphql.dynamic import generated_types, is_generated
from api.graphql.filters import (
    IntentFilter,
    IntentOrder,
    OrderBy,
    PropertyFilter,
    SortDirection,
    conditions,
    intent_query,
    parse_ref,
    sort_key,
    time_value,
)
from api.graphql.limits import Limits, QueryGuard
from api.graphql.ontology_edits import OntologyMutations, OntologyQueries
from api.graphql.pagination import DEFAULT_PAGE, Connection, Edge, PageInfo, Relation, check_first, decode_cursor, encode_cursor, page_info
from api.graphql.scenarios import ScenarioGovernanceMutations, ScenarioGovernanceQueries
from api.graphql.search import SearchMode, rank_in, run_search
from api.graphql.subject import SubjectMutations, SubjectQueries
from api.graphql.types import (
    ALL_TYPES,
    TYPED,
    Account,
    Contact,
    Intent,
    IntentDefinitionInfo,
    Node,
    definitions,
    relation_of,
    to_object,
)
from graph.audit import AuditLog
from graph.reads import Condition, NodeHit, Related, SortKey, json_safe, refuse_writes
from graph.store import EdgeRecord, NodeRecord, NodeRef
from graph.store import Node as StoreNode
from graph.values import ValueRejected, normalise_value
from ontology.errors import BadInput, NotFound
from ontology.model import NODE_KEY, Ontology, PrivacyCategory

#: How a Cypher passthrough may run, and how many rows it returns.
CYPHER_TIMEOUT = 5.0
CYPHER_MAX_ROWS = 1000
#: What `timeline` lists, and the property that dates each.
TIMELINE_TIMES: dict[str, tuple[str, ...]] = {
    "Event": ("occurred_at",),
    "Document": ("document_date", "ingested_at"),
    "Intent": ("detected_at",),
    "Task": ("due_at",),
}
#: How often `intentDetected` looks for new intents, in seconds (setting graphql_subscription_poll_seconds).
POLL_SECONDS = 2.0
_STEWARD_EXTRACTOR = "khub.api.graphql/1"
_FIELD_IN_REASON = re.compile(r"property '([^']+)'")


# ---------------------------------------------------------------------- result types
@strawberry.type(description="Nodes around a start node and the edges among them.")
class Subgraph:
    nodes: list[Node]
    relations: list[Relation]

    @strawberry.field
    def node_count(self) -> int:
        return len(self.nodes)

    @strawberry.field
    def relation_count(self) -> int:
        return len(self.relations)


@strawberry.type(description="A path: nodes in order and the edges between them.")
class GraphPath:
    length: int
    nodes: list[Node]
    relations: list[Relation]


@strawberry.type(description="Paths between two nodes, shortest first.")
class PathList:
    paths: list[GraphPath]

    @strawberry.field
    def total_count(self) -> int:
        return len(self.paths)


@strawberry.type(description="A member of an account's decision chain, and why they have their role.")
class ChainMember:
    contact: Contact
    role: str | None
    confidence: float
    basis: str = strawberry.field(description="explicit (a HAS_ROLE record), title (job title gazetteer), behaviour, or none.")
    reasons: list[str]
    since: str | None
    until: str | None


@strawberry.type(description="Who plays which role in an account's buying process, and who left.")
class DecisionChainInfo:
    account: Account
    members: list[ChainMember]
    departed: list[ChainMember]

    @strawberry.field
    def total_count(self) -> int:
        return len(self.members)


@strawberry.type(description="An item of a timeline: a node linked to the subject, dated.")
class TimelineEdge:
    cursor: str
    node: Node
    at: str = strawberry.field(description="Its time (occurred_at, document_date, detected_at, due_at).")
    via: list[str] = strawberry.field(description="The edge types that link it to the subject.")


@strawberry.type(description="What happened around a subject, newest first.")
class TimelineConnection:
    edges: list[TimelineEdge]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count()

    @strawberry.field
    def nodes(self) -> list[Node]:
        return [e.node for e in self.edges]


@strawberry.type(description="A property of an ontology type, with its privacy category.")
class PropertyInfo:
    name: str
    range: str
    privacy: str
    multivalued: bool
    required: bool
    unique: bool
    indexed: bool
    fulltext: bool
    embedding_dim: int | None
    enum_values: list[str] | None
    description: str
    visible: bool = strawberry.field(description="Whether the caller's role may read it.")


@strawberry.type(description="A node type of the ontology.")
class NodeTypeInfo:
    name: str
    description: str
    label_zh: str | None
    properties: list[PropertyInfo]
    typed: bool = strawberry.field(description="Whether it has a typed GraphQL class (else it is a GenericNode).")


@strawberry.type(description="An edge type of the ontology.")
class EdgeTypeInfo:
    name: str
    description: str
    domain: list[str]
    range: list[str]
    cardinality: str
    properties: list[PropertyInfo]


@strawberry.type(description="The ontology the graph runs on.")
class OntologyInfo:
    name: str
    version: str
    applied_version: str | None = strawberry.field(description="The version recorded in the graph (khub init / ontology apply).")
    types: list[NodeTypeInfo]
    edge_types: list[EdgeTypeInfo]
    intent_definitions: list[IntentDefinitionInfo]
    privacy_categories: list[str]


@strawberry.type(description="A search hit with its fused score and its rank in each kind of list.")
class SearchHit:
    node: Node
    score: float = strawberry.field(description="Reciprocal rank fusion score (sum of 1/(60 + rank)).")
    fulltext_rank: int | None
    vector_rank: int | None
    graph_rank: int | None = strawberry.field(description="Rank in the graph expansion list (HYBRID): nodes linked to the best hits.")


@strawberry.type(description="Search results, best first.")
class SearchResults:
    mode: SearchMode
    hits: list[SearchHit]
    warnings: list[str]

    @strawberry.field
    def total_count(self) -> int:
        return len(self.hits)


@strawberry.type(description="The rows of a Cypher passthrough query.")
class CypherResult:
    columns: list[str]
    rows: JSON = strawberry.field(description="A list of rows, each a map of column to value.")
    row_count: int
    truncated: bool = strawberry.field(description=f"True when more than {CYPHER_MAX_ROWS} rows came back (the rest are left out).")


@strawberry.type(description="How the consents for one purpose stand (aggregates: no person).")
class ConsentStat:
    purpose: str
    granted: int = strawberry.field(description="Consents granted and in force.")
    refused: int = strawberry.field(description="Consents refused or revoked.")
    subjects_granting: int = strawberry.field(description="People and accounts with a consent in force.")
    subjects: int = strawberry.field(description="People and accounts in the graph.")
    active_rate: float = strawberry.field(description="subjectsGranting / subjects.")


@strawberry.type(description="Who is asking, for what.")
class Me:
    key_id: str
    name: str
    role: str
    purpose: str
    visible_privacy_categories: list[str]


@strawberry.enum(description="What a person says of an intent.")
class FeedbackOutcome(Enum):
    ACKNOWLEDGED = "acknowledged"
    ACTED = "acted"
    DISMISSED = "dismissed"


@strawberry.type(description="Feedback recorded on an intent (kept for calibration).")
class FeedbackResult:
    intent: Intent | None
    outcome: FeedbackOutcome
    reason_stored: bool = strawberry.field(description="True when a reason was given and kept (Intent.feedbackReason).")


@strawberry.type(description="A property a write refused, and why.")
class FieldError:
    field: str | None
    message: str


@strawberry.type(description="What upsertNode did.")
class UpsertNodeResult:
    ok: bool
    node: Node | None
    errors: list[FieldError]
    warnings: list[str]


@strawberry.type(description="What link did.")
class LinkResult:
    ok: bool
    relation: Relation | None
    errors: list[FieldError]
    warnings: list[str]


# ---------------------------------------------------------------------- helpers
def _node_connection(hits: list[NodeHit], has_next: bool, after: str | None, count: Callable[[], Awaitable[int]]) -> Connection[Any]:
    edges = [Edge(cursor=encode_cursor(h.key), node=to_object(h.node)) for h in hits]
    return Connection(edges=edges, page_info=page_info([e.cursor for e in edges], has_next, after), count=count)


async def _list_nodes(
    info: strawberry.Info,
    label: str,
    where: tuple[Condition, ...],
    sort: SortKey,
    first: int,
    after: str | None,
    related: tuple[Related, ...] = (),
) -> Connection[Any]:
    ctx = context_of(info)
    check_first(first)
    key = decode_cursor(after)
    hits = await ctx.run(ctx.reads.node_page, label, where, sort, key, first + 1, related)

    async def count() -> int:
        return await ctx.run(ctx.reads.node_count, label, where, related)

    return _node_connection(hits[:first], len(hits) > first, after, count)


def _by_key(label: str, cls: type | None = None) -> Any:
    async def resolve(info: strawberry.Info, id: strawberry.ID) -> Any:
        node = await context_of(info).loaders.nodes.load(NodeRef(label, str(id)))
        return to_object(node) if node is not None else None

    resolve.__annotations__ = {"info": strawberry.Info, "id": strawberry.ID, "return": (cls or TYPED[label]) | None}
    return strawberry.field(resolver=resolve, description=f"One {label} by its id (null when there is none).")


def _list_of(label: str, cls: type | None = None) -> Any:
    async def resolve(
        info: strawberry.Info,
        where: list[PropertyFilter] | None = None,
        order_by: OrderBy | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Any:
        ctx = context_of(info)
        ontology = ctx.reads.ontology
        return await _list_nodes(
            info, label, conditions(ctx.principal, ontology, label, where), sort_key(ctx.principal, ontology, label, order_by), first, after
        )

    resolve.__annotations__ = {
        "info": strawberry.Info,
        "where": list[PropertyFilter] | None,
        "order_by": OrderBy | None,
        "first": int,
        "after": str | None,
        "return": Connection[cls or TYPED[label]],  # type: ignore[misc]
    }
    return strawberry.field(
        resolver=resolve, description=f"{label} nodes matching every filter of `where`, ordered by `orderBy` (default: id), a page at a time."
    )


def _property_info(ctx_principal: Any, p: Any) -> PropertyInfo:
    return PropertyInfo(
        name=p.name,
        range=p.range,
        privacy=p.privacy.value,
        multivalued=p.multivalued,
        required=p.required,
        unique=p.unique,
        indexed=p.indexed,
        fulltext=p.fulltext,
        embedding_dim=p.embedding_dim,
        enum_values=list(p.enum_values) if p.enum_values is not None else None,
        description=p.description,
        visible=can_see(ctx_principal, p.privacy),
    )


def _member(m: Any, found: dict[NodeRef, Any]) -> ChainMember:
    node = found.get(m.contact) or StoreNode(m.contact.label, m.contact.id, {NODE_KEY: m.contact.id, "full_name": m.name})
    return ChainMember(contact=to_object(node), role=m.role, confidence=m.confidence, basis=m.basis, reasons=list(m.reasons), since=m.since, until=m.until)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- queries
@strawberry.type(description="Read the knowledge graph.")
class Query(OntologyQueries, SubjectQueries, ConceptQueries, ScenarioGovernanceQueries):
    account = _by_key("Account")
    contact = _by_key("Contact")
    opportunity = _by_key("Opportunity")
    product = _by_key("Product")
    device = _by_key("Device")
    policy = _by_key("Policy")
    clause = _by_key("Clause")
    document = _by_key("Document")
    chunk = _by_key("Chunk")
    event = _by_key("Event")
    region = _by_key("Region")
    intent_type = _by_key("IntentType")
    intent = _by_key("Intent")
    task = _by_key("Task")

    accounts = _list_of("Account")
    contacts = _list_of("Contact")
    opportunities = _list_of("Opportunity")
    products = _list_of("Product")
    devices = _list_of("Device")
    policies = _list_of("Policy")
    clauses = _list_of("Clause")
    documents = _list_of("Document")
    chunks = _list_of("Chunk")
    events = _list_of("Event")
    regions = _list_of("Region")
    tasks = _list_of("Task")

    @strawberry.field(description="Who is asking (the API key's name and role) and for what purpose.")
    def me(self, info: strawberry.Info) -> Me:
        ctx = context_of(info)
        p = ctx.principal
        visible = sorted(c.value for c in (PrivacyCategory if p.role == "admin" else VISIBLE.get(p.role, frozenset())))
        return Me(key_id=p.key_id, name=p.name, role=p.role, purpose=ctx.purpose, visible_privacy_categories=visible)

    @strawberry.field(description="Any node by type and id, typed when its type has a class (else GenericNode).")
    async def node(self, info: strawberry.Info, type: str, id: strawberry.ID) -> Node | None:
        ctx = context_of(info)
        ctx.reads.ontology.node_type(type)
        found = await ctx.loaders.nodes.load(NodeRef(type, str(id)))
        return to_object(found) if found is not None else None

    @strawberry.field(description="Nodes of any type (also types a steward added), filtered and ordered like the typed lists.")
    async def nodes(
        self,
        info: strawberry.Info,
        type: str,
        where: list[PropertyFilter] | None = None,
        order_by: OrderBy | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Node]:
        ctx = context_of(info)
        ontology = ctx.reads.ontology
        return await _list_nodes(info, type, conditions(ctx.principal, ontology, type, where), sort_key(ctx.principal, ontology, type, order_by), first, after)

    @strawberry.field(description="Intents, filtered by type, status, score range, subject and detection time; highest score first by default.")
    async def intents(
        self,
        info: strawberry.Info,
        filter: IntentFilter | None = None,
        order_by: IntentOrder | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Intent]:
        ctx = context_of(info)
        where, related = intent_query(ctx.reads.ontology, filter)
        order = order_by or IntentOrder()
        sort = SortKey(order.field.value, desc=order.direction == SortDirection.DESC)
        return await _list_nodes(info, "Intent", where, sort, first, after, related)

    @strawberry.field(description="The nodes within `depth` hops of a node (either direction) and the edges among them, at `asOf` (valid time).")
    async def neighbourhood(
        self,
        info: strawberry.Info,
        ref: str,
        depth: int = 1,
        as_of: str | None = None,
        types: list[str] | None = None,
        edge_types: list[str] | None = None,
        limit: int = 50,
    ) -> Subgraph:
        ctx = context_of(info)
        check_first(limit)
        start = parse_ref(ref, ctx.reads.ontology)
        sub = await ctx.run(ctx.reads.neighbourhood, start, depth, types, edge_types, time_value(as_of, "asOf"), limit)
        return Subgraph(nodes=[to_object(n) for n in sub.nodes], relations=[relation_of(ctx, e, True) for e in sub.edges])

    @strawberry.field(description="Simple paths between two nodes (Type:id), shortest first, at `asOf`.")
    async def paths(
        self,
        info: strawberry.Info,
        from_: Annotated[str, strawberry.argument(name="from", description="The start node, Type:id.")],
        to: Annotated[str, strawberry.argument(description="The end node, Type:id.")],
        max_length: int = 3,
        edge_types: list[str] | None = None,
        as_of: str | None = None,
        limit: int = 5,
    ) -> PathList:
        ctx = context_of(info)
        check_first(limit)
        a, b = parse_ref(from_, ctx.reads.ontology), parse_ref(to, ctx.reads.ontology)
        found = await ctx.run(ctx.reads.paths, a, b, max_length, edge_types, time_value(as_of, "asOf"), limit)
        return PathList(
            paths=[GraphPath(length=p.length, nodes=[to_object(n) for n in p.nodes], relations=[relation_of(ctx, e, True) for e in p.edges]) for p in found]
        )

    @strawberry.field(description="An account's decision chain: roles from records, titles and behaviour, and who left (reasoning.decision_chain).")
    async def decision_chain(self, info: strawberry.Info, account_id: strawberry.ID, as_of: str | None = None) -> DecisionChainInfo | None:
        from reasoning.decision_chain import infer_chain

        ctx = context_of(info)
        ref = NodeRef("Account", str(account_id))
        account = await ctx.loaders.nodes.load(ref)
        if account is None:
            return None
        at = time_value(as_of, "asOf")
        now = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
        chain = await ctx.run(infer_chain, ctx.rc.store, ref, now)
        people = [m.contact for m in (*chain.members, *chain.departed)]
        found = dict(zip(people, await ctx.loaders.nodes.load_many(people), strict=True))
        return DecisionChainInfo(
            account=to_object(account),  # type: ignore[arg-type]
            members=[_member(m, found) for m in chain.members],
            departed=[_member(m, found) for m in chain.departed],
        )

    @strawberry.field(description="What happened around a node (Type:id): events, documents, intents and tasks linked to it, newest first.")
    async def timeline(
        self,
        info: strawberry.Info,
        subject: str,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> TimelineConnection:
        ctx = context_of(info)
        check_first(first)
        ref = parse_ref(subject, ctx.reads.ontology)
        since_, until_ = time_value(since, "since"), time_value(until, "until")
        times = {label: props for label, props in TIMELINE_TIMES.items() if label in ctx.reads.ontology.node_types}
        hits = await ctx.run(ctx.reads.timeline, ref, times, decode_cursor(after), first + 1, since_, until_)
        edges = [TimelineEdge(cursor=encode_cursor(h.key), node=to_object(h.node), at=str(h.key[0]), via=list(h.via)) for h in hits[:first]]

        async def count() -> int:
            return await ctx.run(ctx.reads.timeline_count, ref, times, since_, until_)

        return TimelineConnection(edges=edges, page_info=page_info([e.cursor for e in edges], len(hits) > first, after), count=count)

    @strawberry.field(description="The ontology: types with their properties and privacy categories, edge types, intent definitions, version.")
    async def ontology(self, info: strawberry.Info) -> OntologyInfo:
        ctx = context_of(info)
        o = ctx.reads.ontology
        applied = await ctx.run(ctx.rc.store.applied_ontology_version)
        p = ctx.principal
        return OntologyInfo(
            name=o.name,
            version=o.version,
            applied_version=applied,
            types=[
                NodeTypeInfo(
                    name=t.name,
                    description=t.description,
                    label_zh=t.annotations.get("label_zh"),
                    properties=[_property_info(p, prop) for prop in t.properties.values()],
                    typed=t.name in TYPED or is_generated(info, t.name),
                )
                for t in o.node_types.values()
            ],
            edge_types=[
                EdgeTypeInfo(
                    name=e.name,
                    description=e.description,
                    domain=list(e.domain),
                    range=list(e.range),
                    cardinality=e.cardinality,
                    properties=[_property_info(p, prop) for prop in e.properties.values()],
                )
                for e in o.edge_types.values()
            ],
            intent_definitions=[IntentDefinitionInfo.of(d) for d in definitions(info).values()],
            privacy_categories=[c.value for c in PrivacyCategory],
        )

    @strawberry.field(
        description="Full-text and/or vector search over the types given (default: all that are indexed), expanded one hop through the graph "
        "in HYBRID mode, fused by reciprocal rank."
    )
    async def search(
        self,
        info: strawberry.Info,
        text: str,
        types: list[str] | None = None,
        mode: SearchMode = SearchMode.HYBRID,
        first: int = 10,
        expand: Annotated[bool, strawberry.argument(description="HYBRID only: add the nodes linked to the best hits (one hop), fused by rank.")] = True,
    ) -> SearchResults:
        ctx = context_of(info)
        check_first(first)
        fused, warnings = await ctx.run(run_search, ctx, text, types, mode, first, expand)
        hits = [
            SearchHit(
                node=to_object(f.node),
                score=round(f.score, 6),
                fulltext_rank=rank_in(f.ranks, "fulltext"),
                vector_rank=rank_in(f.ranks, "vector"),
                graph_rank=rank_in(f.ranks, "graph"),
            )
            for f in fused
        ]
        return SearchResults(mode=mode, hits=hits, warnings=warnings)

    @strawberry.field(description="Consents per purpose of the catalogue: in force, refused or revoked, and the share of people and accounts with one.")
    async def consent_stats(self, info: strawberry.Info) -> list[ConsentStat]:
        from graph.consent import consent_stats
        from graph.values import now_iso

        ctx = context_of(info)
        stats = await ctx.run(consent_stats, ctx.rc.store, list(ctx.reads.purposes_catalogue.names), now_iso())
        return [
            ConsentStat(
                purpose=s.purpose,
                granted=s.granted,
                refused=s.refused,
                subjects_granting=s.subjects_granting,
                subjects=s.subjects,
                active_rate=round(s.active_rate, 4),
            )
            for s in stats
        ]

    @strawberry.field(
        description="A data-subject access request (stewards and admins, declared purpose legal): everything held about a Contact or "
        "Account (Type:id): profile, relationships also ended, events, consents, inferences with evidence, document mentions (as JSON; "
        "khub dsr export gives the same, and an HTML report).",
        permission_classes=[IsSteward],
    )
    async def subject_export(self, info: strawberry.Info, subject: str) -> JSON:
        from reasoning.subject_requests import run_export

        ctx = context_of(info)
        _require_legal(ctx.purpose, "a data-subject export")
        ref = parse_ref(subject, ctx.reads.ontology)
        audit = AuditLog.for_data_dir(ctx.rc.settings.data_dir)
        _request, exported = await ctx.run(run_export, ctx.rc.store, ref, f"key:{ctx.principal.key_id}", audit, ctx.rc.settings.dsr_deadline_days)
        return json_safe(exported)

    @strawberry.field(
        description="Data-subject requests (stewards and admins, declared purpose legal), newest first: kind (export, erase), status, "
        "subject (a digest once erased), received, due and completed times, whether overdue, outcome as counts.",
        permission_classes=[IsSteward],
    )
    async def subject_requests(self, info: strawberry.Info, status: str | None = None) -> JSON:
        from reasoning.subject_requests import list_requests

        ctx = context_of(info)
        _require_legal(ctx.purpose, "the data-subject requests")
        return json_safe(await ctx.run(list_requests, ctx.rc.store, status))

    @strawberry.field(
        description=f"Read-only Cypher with parameters (analysts and admins): writes are refused, it stops after {CYPHER_TIMEOUT:g} s, "
        f"at most {CYPHER_MAX_ROWS} rows come back.",
        permission_classes=[IsAnalyst],
    )
    async def cypher(self, info: strawberry.Info, query: str, params: JSON | None = None) -> CypherResult:
        ctx = context_of(info)
        refuse_writes(query)
        if params is not None and not isinstance(params, dict):
            raise BadInput("params must be a JSON object")
        timeout = float(getattr(ctx.rc.settings, "graphql_cypher_timeout_seconds", CYPHER_TIMEOUT))
        rows = await ctx.run(ctx.reads.passthrough, query, dict(params or {}), timeout)
        columns = list(rows[0].keys()) if rows else []
        kept = [{k: json_safe(v) for k, v in row.items()} for row in rows[:CYPHER_MAX_ROWS]]
        return CypherResult(columns=columns, rows=kept, row_count=len(kept), truncated=len(rows) > CYPHER_MAX_ROWS)


# ---------------------------------------------------------------------- mutations
def _check_properties(kind: Any, props: dict[str, Any], reserved: tuple[str, ...] = ()) -> list[FieldError]:
    errors = []
    for name, value in props.items():
        if name in reserved:
            errors.append(FieldError(field=name, message=f"{name} is set through its own argument"))
            continue
        prop = kind.properties.get(name) or next((p for p in kind.properties.values() if name in p.aliases), None)
        if prop is None:
            errors.append(FieldError(field=name, message=f"unknown property {name!r} for {kind.name}"))
            continue
        if value is None:
            continue
        try:
            normalise_value(prop, value)
        except ValueRejected as exc:
            errors.append(FieldError(field=name, message=str(exc)))
    return errors


def _rejections(rejected: list[Any]) -> list[FieldError]:
    out = []
    for r in rejected:
        found = _FIELD_IN_REASON.search(r.reason)
        out.append(FieldError(field=found.group(1) if found else None, message=f"{r.item}: {r.reason}"))
    return out


@strawberry.type(description="An event of a recordEvents batch that did not land, and why.")
class EventRejection:
    index: int | None = strawberry.field(description="Its position in `events` (0-based), when the problem is in the event itself.")
    item: str = strawberry.field(description="'index N', or the node a store check refused (Label:id).")
    reason: str


@strawberry.type(description="What a recordEvents batch did (like POST /v1/events).")
class RecordEventsResult:
    received: int
    written: int
    rejected: int
    telemetry_new: int
    devices_updated: int
    errors: list[EventRejection] = strawberry.field(description="The events that did not land (dead-lettered), at most 1,000.")


@strawberry.input(description="A document to ingest: its file name (the extension gives the format) and its content, as text or base64.")
class DocumentUpload:
    filename: str
    text: str | None = strawberry.field(default=None, description="The content of a text format (.txt, .md, .html, .eml, ...), as UTF-8.")
    content_base64: str | None = strawberry.field(default=None, description="The content of any supported format, base64-encoded (standard alphabet).")


def _require_legal(purpose: str, what: str) -> None:
    """Data-subject requests answer a legal obligation: `ConsentDenied` for any other declared purpose."""
    if purpose != "legal":
        from ontology.errors import ConsentDenied

        raise ConsentDenied(f"{what} answers a legal obligation: declare the purpose legal (not {purpose})")


def _server_state(info: strawberry.Info) -> Any:
    """The app's `api.runtime.ServerState` (`app.state.khub`); `BadInput` when this GraphQL app has none."""
    request = getattr(info.context, "request", None)
    state = getattr(getattr(getattr(request, "app", None), "state", None), "khub", None)
    if state is None:
        raise BadInput("this endpoint takes no writes of data (no khub server state)")
    return state


def _document_bytes(index: int, doc: DocumentUpload) -> bytes:
    """The bytes of one upload; `BadInput` naming the document when its content is missing or not base64."""
    where = f"documents[{index}] ({doc.filename[:80]!r})"
    if (doc.text is None) == (doc.content_base64 is None):
        raise BadInput(f"{where}: give exactly one of text or contentBase64")
    if doc.text is not None:
        return doc.text.encode("utf-8")
    try:
        return base64.b64decode(doc.content_base64 or "", validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{where}: contentBase64 is not valid base64") from None


@strawberry.type(description="Change the knowledge graph.")
class Mutation(OntologyMutations, SubjectMutations, ScenarioGovernanceMutations):
    @strawberry.mutation(
        description="Record a batch of events (each an object like one line of POST /v1/events), idempotent by event id; a bad event comes back "
        "in `errors` with its index and is dead-lettered, the rest lands. For batches over the variables limit (64 KB), use POST /v1/events.",
        permission_classes=[IsEventWriter],
    )
    async def record_events(self, info: strawberry.Info, events: list[JSON]) -> RecordEventsResult:
        from api.writes import import_events
        from ingest.events import EventError

        ctx = context_of(info)
        state = _server_state(info)
        if not events:
            raise BadInput("events is empty")
        prefix = f"api:{ctx.rc.request_id}:index:"
        pairs = [(f"{prefix}{i}", e if isinstance(e, dict) else EventError("an event must be a JSON object")) for i, e in enumerate(events)]
        report = await ctx.run(import_events, state, pairs)
        errors = []
        for rejected in report.rejected[:1000]:
            index = int(rejected.item[len(prefix) :]) if rejected.item.startswith(prefix) and rejected.item[len(prefix) :].isdigit() else None
            errors.append(EventRejection(index=index, item=f"index {index}" if index is not None else rejected.item, reason=rejected.reason))
        return RecordEventsResult(
            received=len(pairs),
            written=report.events_written,
            rejected=len(report.rejected),
            telemetry_new=report.telemetry_new,
            devices_updated=report.devices_updated,
            errors=errors,
        )

    @strawberry.mutation(
        description="Ingest documents (stewards) in a background job, as POST /v1/documents does; answers with the job "
        "(follow it with the jobProgress subscription or GET /v1/jobs/{id}). Files over the variables limit (64 KB): POST /v1/documents.",
        permission_classes=[IsSteward],
    )
    async def ingest_documents(
        self,
        info: strawberry.Info,
        documents: list[DocumentUpload],
        type: Annotated[str | None, strawberry.argument(description="Force a document type (a parse rule, e.g. tender_notice).")] = None,
    ) -> JobProgress:
        from api.writes import check_doc_type, check_filenames, safe_filename, save_upload, start_document_job

        ctx = context_of(info)
        state = _server_state(info)
        if not documents:
            raise BadInput("documents is empty")
        if len(documents) > state.config.max_files_per_upload:
            raise BadInput(f"{len(documents)} documents in one call; at most {state.config.max_files_per_upload}")
        doc_type = check_doc_type(type)
        names = [safe_filename(d.filename) for d in documents]
        check_filenames(names)
        contents = [_document_bytes(i, d) for i, d in enumerate(documents)]
        folder = state.settings.data_dir / "uploads"
        saved = [(name, await ctx.run(save_upload, io.BytesIO(content), folder, name)) for name, content in zip(names, contents, strict=True)]
        job = start_document_job(state, ctx.principal.key_id, ctx.purpose, saved, doc_type)
        return JobProgress.of(job)

    @strawberry.mutation(
        description="Erase a Contact or Account (stewards and admins, declared purpose legal; khub dsr erase does the same): their events, "
        "the inferences built on their data, their consents, their mentions masked in documents; leaves a tombstone and a suppression list "
        "so re-ingest does not bring them back. Cannot be undone: `confirm` must be true. Answers the request, tombstone, proof and counts.",
        permission_classes=[IsSteward],
    )
    async def erase_subject(self, info: strawberry.Info, subject: str, confirm: bool) -> JSON:
        from api.writes import erase_for_server

        ctx = context_of(info)
        _require_legal(ctx.purpose, "an erasure")
        if not confirm:
            raise BadInput("an erasure cannot be undone: set confirm to true")
        ref = parse_ref(subject, ctx.reads.ontology)
        return json_safe(await ctx.run(erase_for_server, _server_state(info), ref, f"key:{ctx.principal.key_id}"))

    @strawberry.mutation(description="Say what you found of an intent: acknowledged, acted or dismissed (kept on the intent, used for calibration).")
    async def intent_feedback(self, info: strawberry.Info, intent_id: strawberry.ID, outcome: FeedbackOutcome, reason: str | None = None) -> FeedbackResult:
        from reasoning.feedback import give_feedback

        ctx = context_of(info)
        await ctx.run(give_feedback, ctx.rc.store, str(intent_id), outcome.value, ctx.principal.name, reason=reason)
        stored = bool(reason and reason.strip())
        with contextlib.suppress(KeyError):  # not loaded before
            ctx.loaders.nodes.clear(NodeRef("Intent", str(intent_id)))
        node = await ctx.loaders.nodes.load(NodeRef("Intent", str(intent_id)))
        return FeedbackResult(intent=to_object(node) if node else None, outcome=outcome, reason_stored=stored)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Create or update a node (stewards); properties are checked by the ontology, refusals name the property.", permission_classes=[IsSteward]
    )
    async def upsert_node(self, info: strawberry.Info, type: str, id: strawberry.ID, properties: JSON) -> UpsertNodeResult:
        ctx = context_of(info)
        store = ctx.rc.store
        kind = store.ontology.node_type(type)
        if not isinstance(properties, dict):
            raise BadInput("properties must be a JSON object")
        errors = _check_properties(kind, properties, reserved=(NODE_KEY,))
        if errors:
            return UpsertNodeResult(ok=False, node=None, errors=errors, warnings=[])
        from ingest.suppression import SuppressionList

        erased = await ctx.run(lambda: SuppressionList(store).erased(type, str(id), properties))
        if erased is not None:  # an erasure is final: nobody recreates the subject by hand either
            message = f"{type}:{id}: its {erased} belongs to an erased data subject (the suppression list); khub does not recreate it"
            return UpsertNodeResult(ok=False, node=None, errors=[FieldError(field=erased, message=message)], warnings=[])
        result = await ctx.run(store.upsert, [NodeRecord(type, str(id), dict(properties))])
        if result.rejected:
            return UpsertNodeResult(ok=False, node=None, errors=_rejections(result.rejected), warnings=list(result.warnings))
        ref = NodeRef(type, str(id))
        with contextlib.suppress(KeyError):
            ctx.loaders.nodes.clear(ref)
        node = await ctx.loaders.nodes.load(ref)
        return UpsertNodeResult(ok=True, node=to_object(node) if node else None, errors=[], warnings=list(result.warnings))

    @strawberry.mutation(
        description="Create or update an edge between two nodes (Type:id) (stewards), with its provenance and valid time.", permission_classes=[IsSteward]
    )
    async def link(
        self,
        info: strawberry.Info,
        type: str,
        from_: Annotated[str, strawberry.argument(name="from", description="The start node, Type:id.")],
        to: Annotated[str, strawberry.argument(description="The end node, Type:id.")],
        properties: JSON | None = None,
        valid_from: str | None = None,
        valid_to: str | None = None,
        source_id: str | None = None,
    ) -> LinkResult:
        ctx = context_of(info)
        store = ctx.rc.store
        edge_type = store.ontology.edge_type(type)
        src, dst = parse_ref(from_, store.ontology), parse_ref(to, store.ontology)
        if properties is not None and not isinstance(properties, dict):
            raise BadInput("properties must be a JSON object")
        props = dict(properties or {})
        errors = _check_properties(edge_type, props, reserved=("source_id", "extractor", "valid_from", "valid_to", "supported_by", "recorded_at"))
        if errors:
            return LinkResult(ok=False, relation=None, errors=errors, warnings=[])
        record = EdgeRecord(
            type,
            src,
            dst,
            props,
            source_id=source_id or f"steward:{ctx.principal.name}",
            extractor=_STEWARD_EXTRACTOR,
            valid_from=valid_from,
            valid_to=valid_to,
        )
        result = await ctx.run(store.upsert, (), [record])
        if result.rejected:
            return LinkResult(ok=False, relation=None, errors=_rejections(result.rejected), warnings=list(result.warnings))
        from graph.store import Edge as StoreEdge

        shown = StoreEdge(type, src, dst, {**props, "source_id": record.source_id, "valid_from": valid_from, "valid_to": valid_to})
        return LinkResult(ok=True, relation=relation_of(ctx, shown, True), errors=[], warnings=list(result.warnings))


# ---------------------------------------------------------------------- subscriptions
#: Job statuses after which a job does not change.
JOB_FINISHED = ("succeeded", "failed")


@strawberry.type(description="A background job (document ingestion) and how far it got.")
class JobProgress:
    id: str
    kind: str
    status: str = strawberry.field(description="queued, running, succeeded or failed.")
    done: int
    total: int
    started: str | None
    finished: str | None
    counts: JSON
    errors: JSON

    @staticmethod
    def of(job: Any) -> JobProgress:
        """The GraphQL view of an `api.jobs.Job`."""
        progress = dict(job.progress or {})
        return JobProgress(
            id=job.id,
            kind=job.kind,
            status=job.status,
            done=int(progress.get("done", 0)),
            total=int(progress.get("total", 0)),
            started=job.started,
            finished=job.finished,
            counts=dict(job.counts or {}),
            errors=list(job.errors or []),
        )


def _job_registry(info: strawberry.Info) -> Any:
    """The app's job registry (`api.jobs.JobRegistry` on `app.state.khub`), if this app has one."""
    request = getattr(info.context, "request", None)
    app = getattr(request, "app", None)
    return getattr(getattr(getattr(app, "state", None), "khub", None), "jobs", None)


@strawberry.type(description="Live updates.")
class Subscription:
    @strawberry.subscription(
        description="Intents as they are detected (new or re-detected after expiring), matching the filter; polls the graph "
        "(setting graphql_subscription_poll_seconds). From `since` (ISO-8601; default: now)."
    )
    async def intent_detected(self, info: strawberry.Info, filter: IntentFilter | None = None, since: str | None = None) -> AsyncGenerator[Intent, None]:
        ctx = context_of(info)
        where, related = intent_query(ctx.reads.ontology, filter)
        interval = float(ctx.rc.extras.get("subscription_poll_seconds") or getattr(ctx.rc.settings, "graphql_subscription_poll_seconds", POLL_SECONDS))
        start = time_value(since, "since") if since else time_value(datetime.now(UTC).isoformat(), "now")
        position: tuple[Any, str] = (start, "")
        sort = SortKey("detected_at")
        detected = (*where, Condition("detected_at", "exists", True))
        while True:
            hits = await ctx.run(ctx.reads.node_page, "Intent", detected, sort, position, 100, related)
            for hit in hits:
                position = hit.key
                yield to_object(hit.node)  # type: ignore[misc]
            if len(hits) < 100:
                await asyncio.sleep(interval)

    @strawberry.subscription(description="A job's progress (POST /v1/documents answers with its id): its state now, then every change until it finishes.")
    async def job_progress(self, info: strawberry.Info, id: str) -> AsyncGenerator[JobProgress, None]:
        ctx = context_of(info)
        jobs = _job_registry(info)
        job = jobs.get(id) if jobs is not None else None
        # like GET /v1/jobs/{id}: the key that started it, or a steward
        if job is None or not (job.owner == ctx.principal.key_id or ctx.principal.has_role("steward")):
            raise NotFound(f"no job {id!r} for this key")
        loop = asyncio.get_running_loop()
        changes: asyncio.Queue[Any] = asyncio.Queue()

        def listener(changed: Any) -> None:
            if changed.id == id:
                loop.call_soon_threadsafe(changes.put_nowait, changed)

        remove = jobs.add_listener(listener)
        try:
            current = jobs.get(id)  # again: a change between the first read and the listener is not lost
            yield JobProgress.of(current)
            while current.status not in JOB_FINISHED:
                try:
                    changed = await asyncio.wait_for(changes.get(), timeout=30.0)
                except TimeoutError:
                    changed = jobs.get(id)  # a job this process does not run: read it back
                if changed.to_dict() != current.to_dict():
                    current = changed
                    yield JobProgress.of(current)
        finally:
            remove()


# ---------------------------------------------------------------------- the schema
class _Schema(strawberry.Schema):
    """Strawberry's schema, without its logging of every error with a stack trace: expected errors
    (khub's, validation, limits) are answers, not incidents; `QueryGuard` logs unexpected ones."""

    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Errors are logged by `QueryGuard.coded` (unexpected ones only)."""
        return None


def build_schema(
    limits: Limits | None = None, introspection: bool | None = None, extensions: list[Any] | None = None, ontology: Ontology | None = None
) -> strawberry.Schema:
    """The khub GraphQL schema with its limits (`api.graphql.limits`) and error codes.

    introspection: force it on or off; None decides per request from `settings.graphql_introspection`.
    ontology: also give its node types without a built-in class a typed class and Query fields
    (`api.graphql.dynamic`); the router rebuilds the schema when the store's ontology changes.
    """
    chosen = limits or Limits()

    def guard() -> SchemaExtension:
        return QueryGuard(chosen, introspection)

    def schema(query: type, types: list[type]) -> strawberry.Schema:
        return _Schema(query=query, mutation=Mutation, subscription=Subscription, types=types, extensions=[guard, AuditReads, *(extensions or [])])

    base = schema(Query, ALL_TYPES)
    if ontology is None:
        return base
    graphql = base._schema
    taken_fields = set(graphql.query_type.fields) if graphql.query_type else set()
    classes, fields = generated_types(ontology, set(graphql.type_map), taken_fields, _by_key, _list_of)
    if not classes:
        return base
    query = strawberry.type(type("Query", (Query,), {"__module__": __name__, **fields}), name="Query", description=Query.__strawberry_definition__.description)
    return schema(query, [*ALL_TYPES, *classes])


__all__ = ["Mutation", "Query", "Subscription", "build_schema"]
