"""Data-subject access: everything khub holds about one person or account, as JSON and HTML.

`export_subject(store, ref)` gathers, for a Contact or an Account:

- **profile**: the subject's own properties;
- **relationships**: its edges (employer, roles, reports-to, ownership, ...) with the node at the
  other end, including those that ended (valid_to) — the history is theirs too;
- **events**: what they did (PERFORMED_BY), with every property;
- **consents**: each Consent with its purpose and the data categories it covers;
- **inferences**: the intents about them (OF) and the intents their events are evidence of
  (SUPPORTED_BY), with score, status, purposes served, explanation and evidence;
- **mentions**: the document passages (chunks) that mention them, with the document;
- **uses**: the audit log's entries about them (when, who, for which purpose, what), given the log.

It reads the store directly (a data-subject request rests on a legal obligation: nothing is
withheld from the person it is about) in a bounded number of calls. `export_html` renders the same
content as a readable, self-contained page (no script, no outside resource).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from graph.audit import AuditLog
from graph.reads import EdgeSpec, Reads
from graph.store import Edge, GraphStore, Node, NodeRef
from ontology.errors import BadInput, NotFound

SUBJECT_LABELS = ("Contact", "Account")
#: How many of each kind an export lists at most (a person with more gets a note: ask for the rest).
LIMIT = 2000


def _plain(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(props.items()) if not k.startswith("_") and k != "embedding"}


def _edge(edge: Edge, subject: NodeRef, nodes: dict[NodeRef, Node]) -> dict[str, Any]:
    other = edge.dst if edge.src == subject else edge.src
    node = nodes.get(other)
    return {
        "type": edge.type,
        "direction": "out" if edge.src == subject else "in",
        "other": str(other),
        "other_name": (node.props.get("name") or node.props.get("full_name") or node.props.get("title")) if node else None,
        "properties": _plain(edge.props),
    }


def export_subject(store: GraphStore, ref: NodeRef, clock: Any = None, audit: AuditLog | None = None) -> dict[str, Any]:
    """Everything held about the Contact or Account `ref` (see the module doc); `NotFound` when there is none."""
    if ref.label not in SUBJECT_LABELS:
        raise BadInput(f"a data-subject export is for a Contact or an Account, not a {ref.label}")
    subject = store.get(ref)
    if subject is None:
        raise NotFound(f"no {ref.label} {ref.id!r}")
    around = store.neighbourhood(ref, hops=1, limit=LIMIT)
    nodes = {n.ref: n for n in around.nodes}
    edges = [e for e in around.edges if ref in (e.src, e.dst)]
    # every edge, also those that ended (valid_to): the history is theirs too (a legal obligation: nothing is withheld)
    history = Reads(store, "legal").edge_pages(EdgeSpec(ref.label, None, "both", include_ended=True), [ref.id], limit=LIMIT).get(ref.id, ([], 0))[0]
    for hit in history:
        nodes.setdefault(hit.node.ref, hit.node)
    events = sorted((nodes[e.src] for e in edges if e.type == "PERFORMED_BY" and e.src in nodes), key=lambda n: n.id)
    consents = sorted((nodes[e.dst] for e in edges if e.type == "GAVE_CONSENT" and e.dst in nodes), key=lambda n: n.id)
    intents = {nodes[e.src].ref: nodes[e.src] for e in edges if e.type == "OF" and e.src in nodes}
    about_them = set(intents)
    chunks = sorted((nodes[e.src] for e in edges if e.type == "MENTIONS" and e.src in nodes), key=lambda n: n.id)
    relationships = [hit.edge for hit in history] + [e for e in edges if e.type == "OF"]

    consent_refs = [c.ref for c in consents]
    purposes = {e.src: e.dst.id for e in store.edges_from(consent_refs, "FOR_PURPOSE")} if consent_refs else {}
    covers: dict[NodeRef, list[str]] = {}
    for e in store.edges_from(consent_refs, "COVERS") if consent_refs else []:
        covers.setdefault(e.src, []).append(e.dst.id)
    for event in events:  # intents their events are evidence of
        for edge in store.neighbourhood(event.ref, hops=1, edge_types=["SUPPORTED_BY"], limit=LIMIT).edges:
            if edge.src.label == "Intent" and edge.src not in intents:
                found = store.get(edge.src)
                if found is not None:
                    intents[edge.src] = found
    evidence: dict[NodeRef, list[dict[str, Any]]] = {}
    for e in store.edges_from(list(intents), "SUPPORTED_BY") if intents else []:
        evidence.setdefault(e.src, []).append({"evidence": str(e.dst), "weight": e.props.get("weight"), "contribution": e.props.get("contribution")})
    documents = {e.src: e.dst for c in chunks for e in store.neighbourhood(c.ref, hops=1, edge_types=["HAS_CHUNK"], limit=5).edges if e.dst == c.ref}

    now = (clock or (lambda: datetime.now(UTC)))()
    return {
        "subject": str(ref),
        "generated_at": now.isoformat(timespec="seconds"),
        "profile": _plain(subject.props),
        "relationships": [_edge(e, ref, nodes) for e in sorted(relationships, key=lambda e: (e.type, str(e.src), str(e.dst), str(e.props.get("valid_from"))))],
        "events": [{"id": n.id, **_plain(n.props)} for n in events],
        "consents": [{"id": c.id, "purpose": purposes.get(c.ref), "categories": sorted(covers.get(c.ref, [])), **_plain(c.props)} for c in consents],
        "inferences": [
            {
                "id": i.id,
                "about": "them" if i.ref in about_them else "what they did",
                **{k: i.props.get(k) for k in ("confidence_score", "intent_status", "purposes", "purpose_notes", "detected_at", "explanation")},
                "evidence": sorted(evidence.get(i.ref, []), key=lambda x: x["evidence"]),
            }
            for i in sorted(intents.values(), key=lambda n: n.id)
        ],
        "mentions": [{"chunk": c.id, "document": str(documents[c.ref]) if c.ref in documents else None, "text": c.props.get("text")} for c in chunks],
        "uses": [{k: e.get(k) for k in ("seq", "at", "actor", "purpose", "action")} for e in audit.about(str(ref))] if audit is not None else [],
    }


def export_html(export: dict[str, Any]) -> str:
    """The export as a self-contained HTML page (escaped; no script, no outside resource)."""

    def table(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "<p>None.</p>"
        columns = list(dict.fromkeys(k for row in rows for k in row))
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_text(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    sections = [
        ("What we hold about you", [export["profile"]]),
        ("Your relationships", export["relationships"]),
        ("What you did", export["events"]),
        ("Your consents", export["consents"]),
        ("What we inferred", export["inferences"]),
        ("Documents that mention you", export["mentions"]),
        ("How your data was used", export.get("uses", [])),
    ]
    parts = "".join(f"<h2>{html.escape(title)}</h2>{table(rows)}" for title, rows in sections)
    subject = html.escape(export["subject"])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Data held about {subject}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}</style>"
        f"</head><body><h1>Data held about {subject}</h1><p>Generated {html.escape(export['generated_at'])}.</p>{parts}</body></html>"
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)
