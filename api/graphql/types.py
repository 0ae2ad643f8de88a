"""GraphQL types of the graph: the generic `Node` interface and typed core types.

Every node is a `Node` (id, type, ref, properties as JSON, caption, edges), so types a steward
adds to the ontology are queryable without code changes (as `GenericNode`, through `node`,
`nodes`, `neighbourhood`, `edges`, `search`). The ontology's built-in classes also get typed
fields for their slots and their relationships as fields (Account.contacts with their decision
roles, Account.devices, Intent.evidence with weight and contribution, ...).

Every slot field checks the caller's role against the slot's privacy category
(`api.graphql.auth`); every relationship is a Relay connection resolved through the request's
DataLoaders (`api.graphql.loaders`), so nesting costs one store call per field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from api.graphql.auth import can_see
from api.graphql.context import GraphQLContext, context_of
from api.graphql.filters import time_value
from api.graphql.loaders import EdgeCountKey, EdgePageKey
from api.graphql.pagination import DEFAULT_PAGE, Connection, Edge, PageInfo, Relation, check_first, decode_cursor, encode_cursor, page_info
from graph.patterns import CAPTION_PROPERTIES
from graph.reads import EdgeHit, EdgeSpec, SortKey
from graph.store import Edge as StoreEdge
from graph.store import Node as StoreNode
from ontology.intents import IntentDefinition
from ontology.model import NODE_KEY, PrivacyCategory, default_ontology
from reasoning.feedback import intent_type_of

#: Where a request keeps the intent definitions it read.
DEFINITIONS_KEY = "graphql.intent_definitions"
#: Edge properties shown as Relation fields rather than in its `properties`.
_RELATION_FIELDS = ("valid_from", "valid_to", "recorded_at", "source_id", "supported_by", "confidence", "extractor", "closed_at", "merged_from")
#: How many HAS_ROLE edges of one account are read to give its contacts their roles.
ROLE_CAP = 1000


@strawberry.enum(description="Which edges of a node: those that start there (OUT), end there (IN), or both.")
class EdgeDirection(Enum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


# ---------------------------------------------------------------------- privacy
def _node_privacy(ctx: GraphQLContext, label: str, prop: str) -> PrivacyCategory:
    if prop == NODE_KEY:
        return PrivacyCategory.NONE
    node_type = ctx.reads.ontology.node_types.get(label)
    spec = node_type.properties.get(prop) if node_type else None
    return spec.privacy if spec else PrivacyCategory.SENSITIVE  # not in the ontology: only admins see it


def _edge_privacy(ctx: GraphQLContext, type_: str, prop: str) -> PrivacyCategory:
    edge_type = ctx.reads.ontology.edge_types.get(type_)
    spec = edge_type.properties.get(prop) if edge_type else None
    return spec.privacy if spec else PrivacyCategory.SENSITIVE


def visible_node_props(ctx: GraphQLContext, node: StoreNode) -> dict[str, Any]:
    """The properties of `node` the caller's role may see."""
    return {k: v for k, v in node.props.items() if can_see(ctx.principal, _node_privacy(ctx, node.label, k))}


def visible_edge_props(ctx: GraphQLContext, edge: StoreEdge) -> dict[str, Any]:
    """The properties of `edge` the caller's role may see."""
    return {k: v for k, v in edge.props.items() if can_see(ctx.principal, _edge_privacy(ctx, edge.type, k))}


def caption_of(ctx: GraphQLContext, node: StoreNode) -> str:
    """A short human label of a node: its first visible name-like property, else its id."""
    for prop in CAPTION_PROPERTIES:
        value = node.props.get(prop)
        if value and can_see(ctx.principal, _node_privacy(ctx, node.label, prop)):
            return str(value)
    return node.id


# ---------------------------------------------------------------------- relations and pages
def relation_of(ctx: GraphQLContext, edge: StoreEdge, outgoing: bool) -> Relation:
    """The GraphQL view of a store edge, seen from the node it was reached from."""
    props = visible_edge_props(ctx, edge)
    return Relation(
        type=edge.type,
        direction="OUT" if outgoing else "IN",
        source=str(edge.src),
        target=str(edge.dst),
        valid_from=props.get("valid_from"),
        valid_to=props.get("valid_to"),
        recorded_at=props.get("recorded_at"),
        source_id=props.get("source_id"),
        supported_by=list(props.get("supported_by") or []),
        confidence=props.get("confidence"),
        extractor=props.get("extractor"),
        properties={k: v for k, v in props.items() if k not in _RELATION_FIELDS},
    )


async def related(info: strawberry.Info, parent: Node, spec: EdgeSpec, first: int, after: str | None) -> tuple[list[EdgeHit], bool]:
    """One page of `parent`'s edges of `spec`, through the request's edge loader, and whether more follow."""
    ctx = context_of(info)
    check_first(first)
    hits = await ctx.loaders.edges.load(EdgePageKey(spec, decode_cursor(after), first + 1, parent.id))
    return hits[:first], len(hits) > first


def edge_counter(info: strawberry.Info, spec: EdgeSpec, parent_id: str) -> Callable[[], Awaitable[int]]:
    """The lazy totalCount of a relationship list (batched by the count loader)."""
    ctx = context_of(info)
    return lambda: ctx.loaders.edge_counts.load(EdgeCountKey(spec, parent_id))


def edge_connection(info: strawberry.Info, hits: list[EdgeHit], has_next: bool, after: str | None, count: Callable[[], Awaitable[int]]) -> Connection[Any]:
    """A connection of the far nodes of `hits`, each with the edge that reached it."""
    ctx = context_of(info)
    edges = [Edge(cursor=encode_cursor(h.key), node=to_object(h.node), relation=relation_of(ctx, h.edge, h.outgoing)) for h in hits]
    return Connection(edges=edges, page_info=page_info([e.cursor for e in edges], has_next, after), count=count)


def to_object(node: StoreNode) -> Node:
    """The GraphQL object of a store node: its typed class, or GenericNode for other types."""
    cls = TYPED.get(node.label, GenericNode)
    return cls(id=strawberry.ID(node.id), type=node.label, store_node=node)


# ---------------------------------------------------------------------- field factories
def prop(slot: str, kind: Any, name: str | None = None) -> Any:
    """A field for ontology slot `slot` (range `kind`), null when the caller's role may not see its privacy category."""

    def resolve(root: Node, info: strawberry.Info) -> Any:
        return root.value(info, slot)

    resolve.__annotations__ = {"info": strawberry.Info, "return": kind | None}
    spec = default_ontology().node_types
    described = next((t.properties[slot] for t in spec.values() if slot in t.properties), None)
    text = (described.description + " " if described and described.description else "") + f"(ontology slot {slot}"
    text += f", privacy {described.privacy.value})" if described else ")"
    field = strawberry.field(resolver=resolve, description=text, name=name)
    field.khub_slot = slot  # type: ignore[attr-defined]
    return field


def rel_list(spec: EdgeSpec, target: str, description: str) -> Any:
    """A relationship field: a connection of the `target`-typed nodes at the far end of `spec`'s edges."""

    async def resolve(root: Node, info: strawberry.Info, first: int = DEFAULT_PAGE, after: str | None = None) -> Any:
        hits, has_next = await related(info, root, spec, first, after)
        return edge_connection(info, hits, has_next, after, edge_counter(info, spec, root.id))

    resolve.__annotations__ = {"info": strawberry.Info, "first": int, "after": str | None, "return": f"Connection[{target}]"}
    return strawberry.field(resolver=resolve, description=description)


def rel_one(spec: EdgeSpec, target: str, description: str) -> Any:
    """A to-one relationship field: the node at the far end of the first edge of `spec`."""

    async def resolve(root: Node, info: strawberry.Info) -> Any:
        hits, _ = await related(info, root, spec, 1, None)
        return to_object(hits[0].node) if hits else None

    resolve.__annotations__ = {"info": strawberry.Info, "return": f"{target} | None"}
    return strawberry.field(resolver=resolve, description=description)


def _spec(label: str, edge_type: str | None, direction: str, far: str | None = None, sort: SortKey | None = None) -> EdgeSpec:
    return EdgeSpec(label, edge_type, direction, far, sort=sort or SortKey())  # type: ignore[arg-type]


_NEWEST_EVENT = SortKey("occurred_at", desc=True)
_TOP_INTENT = SortKey("confidence_score", desc=True)
_NEWEST_DOCUMENT = SortKey("document_date", desc=True)


# ---------------------------------------------------------------------- the interface
@strawberry.interface(description="Any node of the graph. Types a steward adds to the ontology appear as GenericNode with all of this.")
class Node:
    id: strawberry.ID = strawberry.field(description="Its key, unique within its type.")
    type: str = strawberry.field(description="Its ontology type (the graph label).")
    store_node: strawberry.Private[StoreNode]

    @classmethod
    def resolve_type(cls, obj: Any, info: Any, abstract_type: Any) -> str:
        """The GraphQL type of a node: its class's; for a GenericNode, the class the schema generated
        for its ontology type when there is one (`api.graphql.dynamic`)."""
        name = obj.__strawberry_definition__.name
        if name == "GenericNode":
            found = info.schema.type_map.get(obj.type)
            definition = (getattr(found, "extensions", None) or {}).get("strawberry-definition")
            origin = getattr(definition, "origin", None)
            if isinstance(origin, type) and issubclass(origin, GenericNode) and origin is not GenericNode:
                return obj.type
        return name

    def value(self, info: strawberry.Info, slot: str) -> Any:
        """A property, or None when absent or hidden from the caller's role."""
        ctx = context_of(info)
        if not can_see(ctx.principal, _node_privacy(ctx, self.type, slot)):
            return None
        return self.store_node.props.get(slot)

    @strawberry.field(description="Type:id, the reference that node, neighbourhood, paths and timeline take.")
    def ref(self) -> str:
        return f"{self.type}:{self.id}"

    @strawberry.field(description="Every property the caller's role may see, as JSON (ontology names).")
    def properties(self, info: strawberry.Info) -> JSON:
        return visible_node_props(context_of(info), self.store_node)

    @strawberry.field(description="A short human label: its name, title, subject line, ... or its id.")
    def caption(self, info: strawberry.Info) -> str:
        return caption_of(context_of(info), self.store_node)

    @strawberry.field(description="Its edges, of one type or any, in either direction, with the nodes at their far ends (edges that hold now, or at asOf).")
    async def edges(
        self,
        info: strawberry.Info,
        type: str | None = None,
        direction: EdgeDirection = EdgeDirection.BOTH,
        far_type: str | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        as_of: str | None = None,
        include_ended: bool = False,
    ) -> Connection[Node]:
        spec = EdgeSpec(self.type, type, direction.value, far_type, as_of=time_value(as_of, "asOf"), include_ended=include_ended)
        hits, has_next = await related(info, self, spec, first, after)
        return edge_connection(info, hits, has_next, after, edge_counter(info, spec, self.id))


@strawberry.type(description="A node of a type without a typed GraphQL class (e.g. one a steward added): use properties and edges.")
class GenericNode(Node):
    pass


# ---------------------------------------------------------------------- typed edges
@strawberry.type(description="A contact's decision role, from a HAS_ROLE edge.")
class RoleAssignment:
    role: str
    confidence: float | None
    source_id: str | None
    since: str | None
    at: str = strawberry.field(description="Where the role holds, as Type:id (an account or an opportunity).")


@strawberry.type(description="A person who works at the account now, with their decision roles there.")
class AccountContactEdge:
    cursor: str
    node: Contact
    relation: Relation
    account_id: strawberry.Private[str]
    works_at: strawberry.Private[StoreEdge]

    @strawberry.field(description="Their decision roles at this account (HAS_ROLE edges that hold now).")
    async def roles(self, info: strawberry.Info) -> list[RoleAssignment]:
        ctx = context_of(info)
        hits = await ctx.loaders.edges.load(EdgePageKey(ROLES_AT_ACCOUNT, None, ROLE_CAP, self.account_id))
        out = []
        for hit in hits:
            if hit.node.id == self.node.id:
                props = hit.edge.props
                out.append(
                    RoleAssignment(
                        role=props.get("role"),
                        confidence=props.get("confidence"),
                        source_id=props.get("source_id"),
                        since=props.get("valid_from"),
                        at=str(hit.edge.dst),
                    )
                )
        return sorted(out, key=lambda r: r.role or "")

    @strawberry.field(description="Their job title here (from the WORKS_AT edge, else the contact).")
    def job_title(self, info: strawberry.Info) -> str | None:
        return self.works_at.props.get("job_title") or self.node.value(info, "job_title")

    @strawberry.field(description="Since when they work here.")
    def since(self) -> str | None:
        return self.works_at.props.get("valid_from")


@strawberry.type(description="The people at an account, with their roles.")
class AccountContactConnection:
    edges: list[AccountContactEdge]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many people work at the account now.")
    async def total_count(self) -> int:
        return await self.count()

    @strawberry.field
    def nodes(self) -> list[Contact]:
        return [e.node for e in self.edges]


@strawberry.type(description="A piece of evidence of an intent: the node, its signal's weight and its share of the score.")
class EvidenceEdge:
    cursor: str
    node: Node
    relation: Relation
    weight: float | None = strawberry.field(description="The weight of the signal it belongs to.")
    contribution: float | None = strawberry.field(description="Its share of the intent's score (the contributions add up to the score).")
    signals: list[str] = strawberry.field(description="The signals it counted for.")


@strawberry.type(description="The evidence of an intent, largest contribution first.")
class EvidenceConnection:
    edges: list[EvidenceEdge]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count()

    @strawberry.field
    def nodes(self) -> list[Node]:
        return [e.node for e in self.edges]


# ---------------------------------------------------------------------- intent definitions
@strawberry.type(description="One signal of an intent definition.")
class SignalInfo:
    id: str
    kind: str
    weight: float
    describe: str
    window_days: int | None


@strawberry.type(description="An intent definition (ontology/intents/*.yaml), as stewards wrote it.")
class IntentDefinitionInfo:
    id: str
    version: int
    subject: str
    description: str
    description_zh: str
    threshold: float
    window_days: int
    half_life_days: float
    cooldown_days: float
    purposes: list[str]
    signals: list[SignalInfo]

    @staticmethod
    def of(d: IntentDefinition) -> IntentDefinitionInfo:
        """The GraphQL view of a definition."""
        return IntentDefinitionInfo(
            id=d.id,
            version=d.version,
            subject=d.subject,
            description=d.description_en,
            description_zh=d.description_zh,
            threshold=d.threshold,
            window_days=d.window_days,
            half_life_days=d.half_life_days,
            cooldown_days=d.cooldown_days,
            purposes=list(d.purposes),
            signals=[SignalInfo(id=s.id, kind=s.kind, weight=s.weight, describe=s.describe, window_days=s.window_days) for s in d.signals],
        )


def definitions(info: strawberry.Info) -> dict[str, IntentDefinition]:
    """The intent definitions in force by id: shipped ones and those a steward applied
    (`ontology.workspace`); read once per request."""
    from ontology.workspace import configured_intents

    rc = context_of(info).rc
    found = rc.extras.get(DEFINITIONS_KEY)
    if not isinstance(found, dict):
        found = {d.id: d for d in configured_intents(rc.settings, rc.store.ontology)}
        rc.extras[DEFINITIONS_KEY] = found
    return found


# ---------------------------------------------------------------------- typed core types
ROLES_AT_ACCOUNT = _spec("Account", "HAS_ROLE", "in", "Contact")
CONTACTS_AT_ACCOUNT = _spec("Account", "WORKS_AT", "in", "Contact")
EVIDENCE = _spec("Intent", "SUPPORTED_BY", "out", None, SortKey("contribution", desc=True, on_edge=True))


@strawberry.type(description="An organisation that buys, uses or influences (customer, distributor, hospital).")
class Account(Node):
    name = prop("name", str)
    legal_name = prop("legal_name", str)
    alias_names = prop("alias_names", list[str])
    domain = prop("domain", str)
    tax_id = prop("tax_id", str)
    industry = prop("industry", str)
    size_band = prop("size_band", str)
    country = prop("country", str)
    region_code = prop("region_code", str)
    annual_revenue = prop("annual_revenue", float)

    @strawberry.field(description="The people who work here now (WORKS_AT), with their decision roles here (HAS_ROLE).")
    async def contacts(self, info: strawberry.Info, first: int = DEFAULT_PAGE, after: str | None = None) -> AccountContactConnection:
        ctx = context_of(info)
        hits, has_next = await related(info, self, CONTACTS_AT_ACCOUNT, first, after)
        edges = [
            AccountContactEdge(
                cursor=encode_cursor(h.key),
                node=to_object(h.node),  # type: ignore[arg-type]
                relation=relation_of(ctx, h.edge, h.outgoing),
                account_id=self.id,
                works_at=h.edge,
            )
            for h in hits
        ]
        info_ = page_info([e.cursor for e in edges], has_next, after)
        return AccountContactConnection(edges=edges, page_info=info_, count=edge_counter(info, CONTACTS_AT_ACCOUNT, self.id))

    devices = rel_list(_spec("Account", "OWNS", "out", "Device"), "Device", "The devices it owns now.")
    opportunities = rel_list(_spec("Account", "HAS_OPPORTUNITY", "out", "Opportunity"), "Opportunity", "Its opportunities.")
    intents = rel_list(_spec("Account", "OF", "in", "Intent", _TOP_INTENT), "Intent", "Intents inferred for it, highest score first.")
    products = rel_list(_spec("Account", "USES_PRODUCT", "out", "Product"), "Product", "Products it uses.")
    documents = rel_list(_spec("Account", "ABOUT", "in", "Document", _NEWEST_DOCUMENT), "Document", "Documents about it, newest first.")
    events = rel_list(_spec("Account", "PERFORMED_BY", "in", "Event", _NEWEST_EVENT), "Event", "Events it performed, newest first.")
    tasks = rel_list(_spec("Account", "TASK_FOR", "in", "Task"), "Task", "Tasks for it.")
    region = rel_one(_spec("Account", "LOCATED_IN", "out", "Region"), "Region", "Where it is.")


@strawberry.type(description="A person at an account.")
class Contact(Node):
    full_name = prop("full_name", str)
    alias_names = prop("alias_names", list[str])
    email = prop("email", str)
    phone = prop("phone", str)
    job_title = prop("job_title", str)
    department = prop("department", str)
    home_address = prop("home_address", str)
    city = prop("city", str)
    language = prop("language", str)
    account = rel_one(_spec("Contact", "WORKS_AT", "out", "Account"), "Account", "Where they work now.")
    roles = rel_list(_spec("Contact", "HAS_ROLE", "out"), "Node", "Their decision roles (relation.properties.role) at accounts and opportunities.")
    reports_to = rel_one(_spec("Contact", "REPORTS_TO", "out", "Contact"), "Contact", "Their manager.")
    reports = rel_list(_spec("Contact", "REPORTS_TO", "in", "Contact"), "Contact", "Who reports to them.")
    intents = rel_list(_spec("Contact", "OF", "in", "Intent", _TOP_INTENT), "Intent", "Intents inferred for them, highest score first.")
    events = rel_list(_spec("Contact", "PERFORMED_BY", "in", "Event", _NEWEST_EVENT), "Event", "What they did, newest first.")
    tasks = rel_list(_spec("Contact", "ASSIGNED_TO", "in", "Task"), "Task", "Tasks assigned to them.")


@strawberry.type(description="A potential sale to an account.")
class Opportunity(Node):
    name = prop("name", str)
    stage = prop("stage", str)
    amount = prop("amount", float)
    currency = prop("currency", str)
    close_date = prop("close_date", str)
    probability = prop("probability", float)
    submission_deadline = prop("submission_deadline", str)
    evaluation_weights = prop("evaluation_weights", list[str])
    requirements = prop("requirements", str)
    cpv_codes = prop("cpv_codes", list[str])
    account = rel_one(_spec("Opportunity", "HAS_OPPORTUNITY", "in", "Account"), "Account", "The account it is with.")
    contacts = rel_list(_spec("Opportunity", "HAS_ROLE", "in", "Contact"), "Contact", "People with a role in it (relation.properties.role).")
    documents = rel_list(_spec("Opportunity", "ABOUT", "in", "Document", _NEWEST_DOCUMENT), "Document", "Documents about it.")


@strawberry.type(description="Something sold, ours or a competitor's.")
class Product(Node):
    name = prop("name", str)
    alias_names = prop("alias_names", list[str])
    sku = prop("sku", str)
    model_number = prop("model_number", str)
    category = prop("category", str)
    vendor = prop("vendor", str)
    is_competitor = prop("is_competitor", bool)
    description = prop("description", str)
    devices = rel_list(_spec("Product", "INSTANCE_OF", "in", "Device"), "Device", "Installed instances.")
    competitors = rel_list(_spec("Product", "COMPETES_WITH", "both", "Product"), "Product", "Products it competes with.")
    policies = rel_list(_spec("Product", "APPLIES_TO", "in", "Policy"), "Policy", "Policies that apply to it.")
    accounts = rel_list(_spec("Product", "USES_PRODUCT", "in", "Account"), "Account", "Accounts that use it.")


@strawberry.type(description="An installed product instance; a device is a customer too, with a lifecycle.")
class Device(Node):
    serial = prop("serial", str)
    model = prop("model", str)
    install_date = prop("install_date", str)
    device_status = prop("device_status", str)
    operating_hours = prop("operating_hours", float)
    load_intensity = prop("load_intensity", float)
    maintenance_overdue_days = prop("maintenance_overdue_days", int)
    last_service_date = prop("last_service_date", str)
    site_location = prop("site_location", str)
    owner = rel_one(_spec("Device", "OWNS", "in", "Account"), "Account", "The account that owns it now.")
    product = rel_one(_spec("Device", "INSTANCE_OF", "out", "Product"), "Product", "Its product model.")
    intents = rel_list(_spec("Device", "OF", "in", "Intent", _TOP_INTENT), "Intent", "Intents inferred for it, highest score first.")
    events = rel_list(_spec("Device", None, "in", "Event", _NEWEST_EVENT), "Event", "Events by or about it, newest first.")
    documents = rel_list(_spec("Device", "ABOUT", "in", "Document", _NEWEST_DOCUMENT), "Document", "Documents about it.")


@strawberry.type(description="A regional subsidy, regulation, tariff or internal policy.")
class Policy(Node):
    name = prop("name", str)
    policy_kind = prop("policy_kind", str)
    region_code = prop("region_code", str)
    effective_from = prop("effective_from", str)
    effective_until = prop("effective_until", str)
    issuer = prop("issuer", str)
    summary = prop("summary", str)
    language = prop("language", str)
    applies_to = rel_list(_spec("Policy", "APPLIES_TO", "out"), "Node", "Regions, products and accounts it applies to.")
    conflicting_clauses = rel_list(_spec("Policy", "CONFLICTS_WITH", "in", "Clause"), "Clause", "Contract clauses that conflict with it.")


@strawberry.type(description="A contract clause.")
class Clause(Node):
    title = prop("title", str)
    clause_type = prop("clause_type", str)
    text = prop("text", str)
    language = prop("language", str)
    document = rel_one(_spec("Clause", "HAS_CLAUSE", "in", "Document"), "Document", "The document it is in.")
    conflicts_with = rel_list(_spec("Clause", "CONFLICTS_WITH", "out", "Policy"), "Policy", "Policies it conflicts with.")


@strawberry.type(description="A source document (tender notice, email, contract, transcript).")
class Document(Node):
    title = prop("title", str)
    content_hash = prop("content_hash", str)
    source_uri = prop("source_uri", str)
    mime_type = prop("mime_type", str)
    language = prop("language", str)
    doc_type = prop("doc_type", str)
    document_date = prop("document_date", str)
    ingested_at = prop("ingested_at", str)
    chunks = rel_list(_spec("Document", "HAS_CHUNK", "out", "Chunk", SortKey("position")), "Chunk", "Its chunks, in order.")
    clauses = rel_list(_spec("Document", "HAS_CLAUSE", "out", "Clause"), "Clause", "Its contract clauses.")
    about = rel_list(_spec("Document", "ABOUT", "out"), "Node", "What it is about.")


@strawberry.type(description="A structural piece of a document (paragraph, table row, title).")
class Chunk(Node):
    text = prop("text", str)
    position = prop("position", int)
    page = prop("page", int)
    language = prop("language", str)
    document = rel_one(_spec("Chunk", "HAS_CHUNK", "in", "Document"), "Document", "The document it belongs to.")
    mentions = rel_list(_spec("Chunk", "MENTIONS", "out"), "Node", "Entities it mentions (relation.properties has the offsets).")


@strawberry.type(description="Something a customer or device did, at a point in time.")
class Event(Node):
    event_type = prop("event_type", str)
    occurred_at = prop("occurred_at", str)
    channel = prop("channel", str)
    url = prop("url", str)
    subject_line = prop("subject_line", str)
    content = prop("content", str)
    metric = prop("metric", str)
    value_ = prop("value", float, name="value")
    duration_seconds = prop("duration_seconds", float)
    score_value = prop("score_value", float)
    source_system = prop("source_system", str)
    performed_by = rel_list(_spec("Event", "PERFORMED_BY", "out"), "Node", "Who or what it came from.")
    concerns = rel_list(_spec("Event", "CONCERNS", "out"), "Node", "What it is about.")


@strawberry.type(description="A country, province, city or economic zone.")
class Region(Node):
    name = prop("name", str)
    code = prop("code", str)
    level = prop("level", str)
    alias_names = prop("alias_names", list[str])
    parent = rel_one(_spec("Region", "PART_OF", "out", "Region"), "Region", "The region it is part of.")
    accounts = rel_list(_spec("Region", "LOCATED_IN", "in", "Account"), "Account", "Accounts located here.")


@strawberry.type(description="A kind of customer intent.")
class IntentType(Node):
    name = prop("name", str)
    label_zh = prop("label_zh", str)
    description = prop("description", str)
    intents = rel_list(_spec("IntentType", "OF_TYPE", "in", "Intent", _TOP_INTENT), "Intent", "Intents of this type, highest score first.")


@strawberry.type(description="An inferred intent of a subject, with a score, evidence and an explanation.")
class Intent(Node):
    score = prop("confidence_score", float, name="score")
    calibrated_score = prop("calibrated_score", float)
    status = prop("intent_status", str, name="status")
    detected_at = prop("detected_at", str)
    first_seen = prop("first_seen", str)
    last_seen = prop("last_seen", str)
    purposes = prop("purposes", list[str])
    score_history = prop("score_history", list[str])
    feedback = prop("feedback", str)
    feedback_at = prop("feedback_at", str)
    feedback_by = prop("feedback_by", str)
    feedback_score = prop("feedback_score", float)
    feedback_reason = prop("feedback_reason", str)
    purpose_notes = prop("purpose_notes", str)
    subject = rel_one(_spec("Intent", "OF", "out"), "Node", "What the intent is about (an account, contact or device).")
    tasks = rel_list(_spec("Intent", "TRIGGERED", "out", "Task"), "Task", "Tasks it triggered.")

    @strawberry.field(description="The intent definition id (replacement_anxiety, ...).")
    def intent_type(self, info: strawberry.Info) -> str:
        return intent_type_of(self.id, frozenset(definitions(info)))

    @strawberry.field(description="Its definition: threshold, signals with their weights, purposes.")
    def definition(self, info: strawberry.Info) -> IntentDefinitionInfo | None:
        known = definitions(info)
        found = known.get(intent_type_of(self.id, frozenset(known)))
        return IntentDefinitionInfo.of(found) if found else None

    @strawberry.field(description="Why it fired: one sentence per signal, then the verdict.")
    def explanation(self, info: strawberry.Info) -> list[str]:
        text = self.value(info, "explanation")
        return str(text).splitlines() if text else []

    @strawberry.field(description="The evidence (SUPPORTED_BY edges that hold now), largest contribution first.")
    async def evidence(self, info: strawberry.Info, first: int = DEFAULT_PAGE, after: str | None = None) -> EvidenceConnection:
        ctx = context_of(info)
        hits, has_next = await related(info, self, EVIDENCE, first, after)
        edges = []
        for h in hits:
            props = visible_edge_props(ctx, h.edge)
            signals = [s for s in str(props.get("signal") or "").split(",") if s]
            edges.append(
                EvidenceEdge(
                    cursor=encode_cursor(h.key),
                    node=to_object(h.node),
                    relation=relation_of(ctx, h.edge, h.outgoing),
                    weight=props.get("weight"),
                    contribution=props.get("contribution"),
                    signals=signals,
                )
            )
        return EvidenceConnection(edges=edges, page_info=page_info([e.cursor for e in edges], has_next, after), count=edge_counter(info, EVIDENCE, self.id))


@strawberry.type(description="An action for a person or system, triggered by an intent or a rule.")
class Task(Node):
    title = prop("title", str)
    task_status = prop("task_status", str)
    due_at = prop("due_at", str)
    action_type = prop("action_type", str)
    assignee_role = prop("assignee_role", str)
    description = prop("description", str)
    intent = rel_one(_spec("Task", "TRIGGERED", "in", "Intent"), "Intent", "The intent that triggered it.")
    assignee = rel_one(_spec("Task", "ASSIGNED_TO", "out", "Contact"), "Contact", "Who it is assigned to.")
    subject = rel_one(_spec("Task", "TASK_FOR", "out"), "Node", "Who or what it is for.")


#: The typed class of each built-in node type.
TYPED: dict[str, type[Node]] = {
    cls.__name__: cls for cls in (Account, Contact, Opportunity, Product, Device, Policy, Clause, Document, Chunk, Event, Region, IntentType, Intent, Task)
}
ALL_TYPES: list[type] = [*TYPED.values(), GenericNode]
