"""Facts from document-type parse rules → graph records.

- contract: each party becomes an Account (named by `ingest.entities`) that the Document is
  ABOUT; the governing law becomes a Clause (HAS_CLAUSE); the agreement date dates the document.
- tender_notice: the notice becomes an Opportunity (budget, deadline, CPV codes, evaluation
  weights, deviation rules) that the buyer Account HAS and the Document is ABOUT.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graph.store import EdgeRecord, NodeRecord, NodeRef
from graph.values import ValueRejected, normalise_datetime
from ingest.doc_rules import DocFacts, FieldValue
from ingest.entities import EntityLinker, entity_id
from ingest.nlp.extract import Mention

EXTRACTOR = "khub.doc_rules/1"


@dataclass
class FactRecords:
    """What a document's facts add to its upsert batch."""

    nodes: list[NodeRecord] = field(default_factory=list)
    edges: list[EdgeRecord] = field(default_factory=list)
    document_props: dict[str, Any] = field(default_factory=dict)
    #: Resolves party and buyer names against the graph (exact names only without it).
    linker: EntityLinker | None = None
    #: Per account ref: the `merged_from` markers its edges carry (when resolution merged it).
    markers: dict[NodeRef, list[str]] = field(default_factory=dict)


def _account(name: str, aliases: Iterable[str], records: FactRecords) -> NodeRef:
    names = [name, *[a for a in aliases if a and a != name]]
    link = records.linker.link([Mention("Account", name, 0, len(name), 1.0, "rule")], records.nodes)[0] if records.linker else None
    if link is None:
        ref = NodeRef("Account", entity_id("Account", name))
        records.nodes.append(NodeRecord("Account", ref.id, {"alias_names": names}, defaults={"name": name}))
        return ref
    records.nodes.append(NodeRecord("Account", link.ref.id, {"alias_names": names}))
    if link.marker:
        records.markers.setdefault(link.ref, []).append(link.marker)
    return link.ref


def _edge(type_: str, src: NodeRef, dst: NodeRef, doc: NodeRef, value: FieldValue, records: FactRecords) -> None:
    markers = records.markers.get(src, []) + records.markers.get(dst, [])
    props = {"merged_from": markers} if markers else {}
    records.edges.append(EdgeRecord(type_, src, dst, props, source_id=doc.id, extractor=EXTRACTOR, confidence=value.confidence))


def _about(doc: NodeRef, target: NodeRef, value: FieldValue, records: FactRecords) -> None:
    _edge("ABOUT", doc, target, doc, value, records)


def _contract(facts: DocFacts, doc: NodeRef, records: FactRecords) -> None:
    for value in facts.fields.get("parties", []):
        party = value.value if isinstance(value.value, dict) else {"name": str(value.value), "aliases": []}
        _about(doc, _account(party["name"], party.get("aliases", []), records), value, records)
    if facts.first("agreement_date"):
        records.document_props["document_date"] = facts.first("agreement_date")
    law = facts.fields.get("governing_law")
    if law:
        clause = NodeRef("Clause", f"{doc.id}#governing_law")
        text = f"Governed by the laws of {law[0].value}"
        records.nodes.append(NodeRecord("Clause", clause.id, {"title": "Governing law", "clause_type": "governing_law", "text": text}))
        records.edges.append(EdgeRecord("HAS_CLAUSE", doc, clause, source_id=doc.id, extractor=EXTRACTOR, confidence=law[0].confidence))


def _weights(value: Any) -> list[str]:
    pairs = value.items() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    out = []
    for pair in pairs:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            out.append(f"{pair[0]}={pair[1]}")
    return out


def _tender(facts: DocFacts, doc: NodeRef, title: str | None, records: FactRecords) -> None:
    opportunity = NodeRef("Opportunity", f"opp-{doc.id}")
    props: dict[str, Any] = {"name": title or "Tender", "stage": "prospecting"}
    budget = facts.first("budget")
    if isinstance(budget, (list, tuple)) and len(budget) == 2:
        props["amount"], props["currency"] = float(budget[0]), str(budget[1])
    deadline = facts.first("deadline")
    if deadline:
        try:
            props["submission_deadline"] = normalise_datetime(str(deadline))
            props["close_date"] = str(deadline)[:10]
        except ValueRejected:
            pass
    codes = [str(c) for v in facts.fields.get("cpv_codes", []) for c in (v.value if isinstance(v.value, (list, tuple)) else [v.value])]
    if codes:
        props["cpv_codes"] = list(dict.fromkeys(codes))
    weights = [w for v in facts.fields.get("evaluation_weights", []) for w in _weights(v.value)]
    if weights:
        props["evaluation_weights"] = weights
    rules = [str(v.value) if not isinstance(v.value, (list, tuple)) else " ".join(map(str, v.value)) for v in facts.fields.get("deviation_rules", [])]
    if rules:
        props["requirements"] = "\n".join(rules)
    records.nodes.append(NodeRecord("Opportunity", opportunity.id, props))
    first = next(iter(facts.fields.values()))[0]
    _about(doc, opportunity, first, records)
    for value in facts.fields.get("buyer", [])[:1]:
        name = value.value["name"] if isinstance(value.value, dict) else str(value.value)
        buyer = _account(name, [], records)
        _about(doc, buyer, value, records)
        _edge("HAS_OPPORTUNITY", buyer, opportunity, doc, value, records)
    if facts.first("publication_date"):
        records.document_props["document_date"] = str(facts.first("publication_date"))[:10]


def facts_to_records(facts: DocFacts | None, doc: NodeRef, title: str | None, linker: EntityLinker | None = None) -> FactRecords:
    """The nodes, edges and Document properties that `facts` imply (none for unknown types);
    with a `linker`, account names are resolved against the graph like text mentions."""
    records = FactRecords(linker=linker)
    if facts is None or not facts.fields:
        return records
    records.document_props["doc_type"] = facts.doc_type
    if facts.doc_type == "contract":
        _contract(facts, doc, records)
    elif facts.doc_type == "tender_notice":
        _tender(facts, doc, title, records)
    return records
