"""Decision chains: who plays which role in an account's buying process, and how that changes.

A contact's role comes, strongest first, from an explicit HAS_ROLE edge (CRM, a tender, a
steward), from the job title (EN and ZH gazetteer `ontology/gazetteers/roles.yaml`, on the
WORKS_AT edge or the contact), and from behaviour: people who report to the decision maker or
budget holder and attend the account's meetings and calls are influencers, and so are people
who keep being on the same e-mails as them (sender, recipient or cc: the importer gives each
participant a PERFORMED_BY edge, so the three are not told apart). Departures are
WORKS_AT edges that ended. `apply_chain` writes the inferred roles as HAS_ROLE edges (with
their confidence and provenance), so the `decision_chain_change` intent sees new decision
roles and departures like any other fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from graph.store import EdgeRecord, GraphStore, Node, NodeRef, WriteResult
from graph.values import normalise_datetime
from ontology.gazetteers import Gazetteers, default_gazetteers
from ontology.intents import Condition, PathPattern, Step

EXTRACTOR = "khub.decision_chain/1"
#: Confidence of a role by where it came from.
CONFIDENCE = {"explicit": 0.95, "title": 0.75, "behaviour": 0.5}
#: Roles whose direct reports who also show up in meetings count as influencers.
LEADING_ROLES = ("decision_maker", "budget_holder")
MEETING_TYPES = ("meeting", "call")
EMAIL_TYPES = ("email",)
#: E-mails a contact must share with a decision maker or budget holder to count as an influencer.
MIN_SHARED_EMAILS = 2


@dataclass
class Member:
    """A contact in an account's decision chain."""

    contact: NodeRef
    name: str
    role: str | None
    confidence: float
    basis: str
    reasons: list[str] = field(default_factory=list)
    since: str | None = None
    until: str | None = None


@dataclass
class DecisionChain:
    """The current members of an account's buying group and those who left."""

    account: NodeRef
    members: list[Member]
    departed: list[Member]

    def by_role(self) -> dict[str, list[Member]]:
        """Members grouped by role (None: no role found)."""
        out: dict[str, list[Member]] = {}
        for member in self.members:
            out.setdefault(member.role or "unknown", []).append(member)
        return out


def _name(node: Node | None, ref: NodeRef) -> str:
    return str(node.props.get("full_name") or ref.id) if node else ref.id


def infer_chain(
    store: GraphStore, account: NodeRef, now: datetime | None = None, gazetteers: Gazetteers | None = None, meeting_window_days: int = 90
) -> DecisionChain:
    """The decision chain of `account` at `now` (see the module docstring)."""
    now = now or datetime.now(UTC)
    gaz = gazetteers or default_gazetteers()
    around = store.neighbourhood(account, hops=2, edge_types=["WORKS_AT", "HAS_ROLE", "REPORTS_TO"], labels=["Contact", "Opportunity"], limit=5000)
    nodes = {n.ref: n for n in around.nodes}
    stamp = normalise_datetime(now)
    current: dict[NodeRef, Member] = {}
    departed: list[Member] = []
    for edge in around.edges:
        if edge.type != "WORKS_AT" or edge.dst != account:
            continue
        valid_to, valid_from = edge.props.get("valid_to"), edge.props.get("valid_from")
        member = Member(edge.src, _name(nodes.get(edge.src), edge.src), None, 0.0, "none", since=valid_from, until=valid_to)
        title = edge.props.get("job_title") or (nodes[edge.src].props.get("job_title") if edge.src in nodes else None)
        if title:
            role = gaz.role_for_title(str(title))
            if role:
                member.role, member.confidence, member.basis = role, CONFIDENCE["title"], "title"
                member.reasons.append(f"title {title!r} → {role}")
        if valid_to and valid_to <= stamp:
            departed.append(member)
        elif not valid_from or valid_from <= stamp:
            current[edge.src] = member
    for edge in around.edges:  # explicit roles at the account or in its opportunities win
        if edge.type == "HAS_ROLE" and edge.src in current and (edge.props.get("valid_to") is None or edge.props["valid_to"] > stamp):
            member = current[edge.src]
            if edge.props.get("extractor") == EXTRACTOR:
                continue  # our own earlier inference is not evidence for itself
            role = edge.props.get("role")
            member.role, member.confidence, member.basis = role, float(edge.props.get("confidence") or CONFIDENCE["explicit"]), "explicit"
            member.reasons.append(f"recorded as {role} ({edge.props.get('source_id') or 'unknown source'}) for {edge.dst}")
    events = _events_by_contact(store, list(current), now, meeting_window_days)
    meetings = {ref: len(ids) for ref, (ids, _mails) in events.items()}
    leaders = {ref for ref, m in current.items() if m.role in LEADING_ROLES}
    for edge in around.edges:
        if edge.type == "REPORTS_TO" and edge.src in current and edge.dst in leaders:
            member = current[edge.src]
            member.reasons.append(f"reports to {current[edge.dst].name} ({current[edge.dst].role})")
            if member.role is None and meetings.get(edge.src.id, 0) >= 2:
                member.role, member.confidence, member.basis = "influencer", CONFIDENCE["behaviour"], "behaviour"
    for ref, count in meetings.items():
        member = current.get(NodeRef("Contact", ref))
        if member is not None and count:
            member.reasons.append(f"{count} meeting(s) or call(s) in {meeting_window_days} days")
    _influencers_by_email(current, leaders, events, meeting_window_days)
    members = sorted(current.values(), key=lambda m: (m.role is None, m.role or "", m.name))
    return DecisionChain(account, members, sorted(departed, key=lambda m: m.until or ""))


def _events_by_contact(store: GraphStore, contacts: list[NodeRef], now: datetime, days: int) -> dict[str, tuple[set[str], set[str]]]:
    """Per contact id: the meetings or calls, and the e-mails, it took part in within `days`."""
    if not contacts:
        return {}
    pattern = PathPattern(
        "Contact",
        (Step("PERFORMED_BY", "in", "Event", (Condition("event_type", "in", [*MEETING_TYPES, *EMAIL_TYPES]),)),),
        time_property="occurred_at",
        return_props=("event_type",),
    )
    out: dict[str, tuple[set[str], set[str]]] = {}
    for match in store.match_pattern(pattern, now, now - timedelta(days=days), [c.id for c in contacts]):
        meetings, mails = out.setdefault(match.subject, (set(), set()))
        (mails if match.props.get("event_type") in EMAIL_TYPES else meetings).add(match.evidence)
    return out


def _influencers_by_email(current: dict[NodeRef, Member], leaders: set[NodeRef], events: dict[str, tuple[set[str], set[str]]], days: int) -> None:
    """E-mail patterns: someone without a role who keeps being on the same e-mails as a decision
    maker or budget holder (sender, recipient or cc: one PERFORMED_BY each) influences them."""
    leader_mails = {ref: events.get(ref.id, (set(), set()))[1] for ref in leaders}
    for ref, member in current.items():
        if ref in leaders:
            continue
        mails = events.get(ref.id, (set(), set()))[1]
        for leader, theirs in leader_mails.items():
            shared = len(mails & theirs)
            if shared >= MIN_SHARED_EMAILS:
                member.reasons.append(f"on {shared} e-mail(s) with {current[leader].name} ({current[leader].role}) in {days} days")
                if member.role is None:
                    member.role, member.confidence, member.basis = "influencer", CONFIDENCE["behaviour"], "behaviour"


def apply_chain(store: GraphStore, chain: DecisionChain, now: datetime | None = None) -> WriteResult:
    """Record inferred roles (from titles and behaviour) as HAS_ROLE edges to the account."""
    stamp = normalise_datetime(now or datetime.now(UTC))
    edges = [
        EdgeRecord(
            "HAS_ROLE",
            m.contact,
            chain.account,
            {"role": m.role},
            source_id=f"decision-chain:{chain.account.id}",
            extractor=EXTRACTOR,
            confidence=m.confidence,
            valid_from=m.since or stamp,
        )
        for m in chain.members
        if m.role and m.basis in ("title", "behaviour")
    ]
    return store.upsert(edges=edges)
