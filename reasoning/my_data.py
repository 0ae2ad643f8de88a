"""The data subject's own view: what khub collected about them lately, for which uses, shared with whom, and their consents.

`my_data(store, audit, purposes, ref, days)` answers GraphQL `myData` for a subject token:

- **profile**: their own properties (all of them: it is their data);
- **collected**: what arrived about them in the last `days` days: the events they performed (type,
  when, channel or page) and the documents that mention them (title, when ingested);
- **uses**: the audit entries naming them in that window: when, for which purpose, what (a read, an
  inference, an export, a consent decision) and by whom (an API key id or a process);
- **shared with**: each purpose of the catalogue that shares data with named third parties
  (`Purpose -[:SHARED_WITH]-> ThirdParty`), and which of their data categories it may use now;
- **consents**: every decision they made, newest first, and how to change one (the GraphQL
  mutation `decideConsent`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from graph.audit import AuditLog
from graph.consent import subject_decisions
from graph.store import GraphStore, NodeRef
from ontology.errors import NotFound
from ontology.purposes import PurposeCatalogue

LIMIT = 2000
HOW_TO_REVOKE = 'mutation { decideConsent(purpose: "<purpose>", decision: REVOKED) { receipt } }  (your receipt proves it; keep it)'


def _plain(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(props.items()) if not k.startswith("_") and k != "embedding" and not k.endswith("__ft")}


def my_data(store: GraphStore, audit: AuditLog, purposes: PurposeCatalogue, ref: NodeRef, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """The subject's own view (see the module doc); `NotFound` when khub holds nothing about `ref`."""
    subject = store.get(ref)
    if subject is None:
        raise NotFound(f"khub holds no data about {ref}")
    moment = now or datetime.now(UTC)
    since = (moment - timedelta(days=days)).isoformat(timespec="seconds")
    around = store.neighbourhood(ref, hops=1, limit=LIMIT)
    nodes = {n.ref: n for n in around.nodes}
    edges = [e for e in around.edges if ref in (e.src, e.dst)]

    collected: list[dict[str, Any]] = []
    for e in edges:
        node = nodes.get(e.src)
        if e.type == "PERFORMED_BY" and node is not None and str(node.props.get("occurred_at") or "") >= since:
            what = node.props.get("url") or node.props.get("subject_line") or node.props.get("channel")
            collected.append({"kind": f"event: {node.props.get('event_type')}", "at": node.props.get("occurred_at"), "what": what})
    chunks = [e.src for e in edges if e.type == "MENTIONS"]
    documents = {}
    for chunk in chunks:
        for e in store.neighbourhood(chunk, hops=1, edge_types=["HAS_CHUNK"], limit=5).edges:
            if e.dst == chunk:
                documents[e.src] = None
    for doc in store.get_many(list(documents)).values():
        if str(doc.props.get("ingested_at") or "") >= since:
            collected.append({"kind": "document mentioning you", "at": doc.props.get("ingested_at"), "what": doc.props.get("title")})
    collected.sort(key=lambda c: str(c["at"]), reverse=True)

    me = str(ref)
    uses = [{"at": e["at"], "purpose": e["purpose"], "action": e["action"], "by": e["actor"]} for e in audit.about(me) if str(e.get("at", "")) >= since]
    uses.reverse()

    categories = {p.privacy.value for p in store.ontology.node_types[ref.label].properties.values()} - {"none"}
    recipients: dict[str, list[str]] = {}
    for e in store.edges_from([NodeRef("Purpose", name) for name in purposes.names], "SHARED_WITH"):
        recipients.setdefault(e.src.id, []).append(e.dst.id)
    names = {n.ref: str(n.props.get("name") or n.id) for n in store.get_many([NodeRef("ThirdParty", i) for ids in recipients.values() for i in ids]).values()}
    shared = []
    for purpose, ids in sorted(recipients.items()):
        decision = subject_decisions(store, purposes.purposes[purpose], [ref], moment.isoformat(timespec="seconds"), lambda _label: categories)[ref]
        allowed = sorted(c for c in decision.allowed if c != "none")
        shared.append(
            {
                "purpose": purpose,
                "recipients": sorted(names.get(NodeRef("ThirdParty", i), i) for i in ids),
                "categories": allowed,
                "why": {c: decision.reasons.get(c, "") for c in sorted(categories)},
            }
        )

    consent_refs = [e.dst for e in edges if e.type == "GAVE_CONSENT"]
    purpose_of = {e.src: e.dst.id for e in store.edges_from(consent_refs, "FOR_PURPOSE")} if consent_refs else {}
    covers: dict[NodeRef, list[str]] = {}
    for e in store.edges_from(consent_refs, "COVERS") if consent_refs else []:
        covers.setdefault(e.src, []).append(e.dst.id)
    consents = []
    for c in consent_refs:
        node = nodes.get(c)
        if node is None:
            continue
        props = node.props
        consents.append(
            {
                "id": c.id,
                "purpose": purpose_of.get(c),
                "decision": props.get("consent_status"),
                "categories": sorted(covers.get(c, [])),
                "at": props.get("revoked_at") or props.get("granted_at"),
                "legal_basis": props.get("legal_basis"),
                "notice_version": props.get("notice_version"),
            }
        )
    consents.sort(key=lambda c: str(c["at"] or ""), reverse=True)
    return {
        "subject": me,
        "days": days,
        "profile": _plain(subject.props),
        "collected": collected,
        "uses": uses,
        "shared_with": shared,
        "consents": consents,
        "how_to_revoke": HOW_TO_REVOKE,
    }
