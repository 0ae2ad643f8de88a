"""Batch reads for the API: many parents in one query, keyset pages, counts.

The GraphQL layer (`api/graphql/loaders.py`) asks for "the WORKS_AT edges of these 40 accounts",
not "the edges of this account" 40 times, so a nested query costs a bounded number of store
calls whatever the size of its result. Every query here is portable Cypher that both stores run
through `GraphStore.read_query` (read-only, with a server-side timeout); labels, edge types and
property names are ontology names checked before they reach the text (`graph.dialect.quote`),
values are parameters.

`Reads` is the one door the API reads through, and it knows the caller's declared purpose:
consent enforcement (issue 6) plugs in at `Reads._rows` and the wrappers below it (every read of
this module and every store read the API makes passes there), so filtering by purpose needs no
change in the API.

Pages are keyset pages: rows are ordered by a sort value then a unique tie-breaker (the node id
for node lists, the edge key `ek` for edge lists), and `after` is the (sort value, tie-breaker)
of the last row seen, so a page never skips or repeats rows when others are added before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from graph import cypher
from graph.consent import FREE_CATEGORY, SUBJECT_LABELS, Decision, subject_decisions, withholds
from graph.dialect import quote
from graph.redact import IDENTIFYING, mask, occurrences
from graph.store import Edge, GraphStore, Hit, Node, NodeRef, Path, Subgraph
from graph.text_index import shadow_name
from graph.values import ValueRejected, normalise_value, now_iso
from ontology.errors import ConsentDenied, OntologyViolation, QueryRefused
from ontology.model import NODE_KEY, Ontology, Property
from ontology.purposes import Purpose, PurposeCatalogue, default_purposes

Direction = Literal["out", "in", "both"]
Op = Literal["eq", "ne", "in", "contains", "gte", "gt", "lte", "lt", "exists"]
OPS: tuple[str, ...] = ("eq", "ne", "in", "contains", "gte", "gt", "lte", "lt", "exists")
#: The categories of personal data (a passthrough needs a basis for all of them without consent).
PERSONAL_CATEGORIES = ("identity", "contact", "location", "behavioural", "financial")
#: The edge from an event to who performed it: the event's data is that person's.
PERFORMED_BY = "PERFORMED_BY"
#: Read timeout of the API's own queries, in seconds.
READ_TIMEOUT = 10.0
#: The sort value of a missing number (sorts first ascending, last descending).
MISSING_NUMBER = -1.0e18
_COMPARE = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


@dataclass(frozen=True)
class Condition:
    """One test on a property: `prop op value` (case-insensitive `contains`; lists: any item)."""

    prop: str
    op: Op
    value: Any = None


@dataclass(frozen=True)
class SortKey:
    """What a list is ordered by: a property of the listed node (or of the edge that reached it),
    or, with `prop` None, the tie-breaker alone (node id, edge key)."""

    prop: str | None = None
    desc: bool = False
    on_edge: bool = False


@dataclass(frozen=True)
class Related:
    """A node list restricted to nodes with a current `edge_type` edge to one of `ids` (of `label`)."""

    edge_type: str
    direction: Literal["out", "in"]
    label: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class EdgeSpec:
    """Which edges of a parent to list: type (None: any), direction, far label (None: any),
    conditions on the far node and on the edge, the order, and the valid time (`as_of`; else the
    edges that hold now, or every edge with `include_ended`)."""

    label: str
    edge_type: str | None
    direction: Direction
    far_label: str | None = None
    far_where: tuple[Condition, ...] = ()
    edge_where: tuple[Condition, ...] = ()
    sort: SortKey = field(default_factory=SortKey)
    as_of: str | None = None
    include_ended: bool = False


@dataclass(frozen=True)
class EdgeHit:
    """One edge of a parent and the node at its far end, with its keyset position."""

    edge: Edge
    node: Node
    outgoing: bool
    key: tuple[Any, str]


@dataclass(frozen=True)
class NodeHit:
    """One node of a list, with its keyset position (and, in a timeline, how it is linked)."""

    node: Node
    key: tuple[Any, str]
    via: tuple[str, ...] = ()


def _visible(props: dict[str, Any], vectors: frozenset[str]) -> dict[str, Any]:
    out = {}
    for key, value in (props or {}).items():
        if value is None or key in cypher.HIDDEN_PROPERTIES or key.endswith(cypher.HIDDEN_PROPERTY_SUFFIXES) or key in vectors:
            continue
        out[key] = value.tolist() if hasattr(value, "tolist") else value
    return out


#: "N found (caption, caption and M more)" in an intent's explanation: the quotes of its evidence.
QUOTED_EVIDENCE = re.compile(r"(\d+ found) \((?:[^()]|\([^()]*\))*\)")


class Reads:
    """The API's reads on one store, on behalf of one declared purpose.

    Consent: the properties of a data subject (`graph.consent.SUBJECT_LABELS`) whose privacy
    category the purpose may not use for that subject (`graph.consent.decide`) are left out of
    every node a read returns (`withheld` says which and why). Filtering or sorting subjects on a
    category the purpose may only use with each person's consent is refused (`ConsentDenied`):
    the answer would reveal it for those who gave none. On a category the purpose uses by
    legitimate interest, a person who objected does not match a filter on it (a page leaves them
    out, and `node_count` leaves them out too). The Cypher passthrough runs only for purposes that need
    no one's consent (`passthrough`).
    """

    def __init__(self, store: GraphStore, purpose: str, timeout: float = READ_TIMEOUT, purposes: PurposeCatalogue | None = None):
        self.store = store
        self.purpose = purpose
        self.timeout = timeout
        self.ontology: Ontology = store.ontology
        self._vectors = frozenset(p.name for _, p in self.ontology.vector_properties())
        self._heavy = sorted(self._vectors | {shadow_name(p.name) for _, p in self.ontology.fulltext_properties()})
        catalogue = purposes or default_purposes()
        self.purposes_catalogue = catalogue
        #: the declared purpose's defaults (an unknown purpose has none: only `none` data and consents)
        self.purpose_spec = catalogue.purposes.get(purpose) or Purpose(purpose, "", "")
        self._decisions: dict[NodeRef, Decision] = {}
        self.withheld: dict[NodeRef, dict[str, str]] = {}
        #: the subjects whose personal data this request returned (for the audit log)
        self.used: set[NodeRef] = set()

    # ------------------------------------------------------------------ consent
    def _subject_categories(self, label: str) -> set[str]:
        """The categories to decide on for a subject of `label`: its own properties', and those of the events it performs."""
        kinds = [self.ontology.node_types[label]] + ([self.ontology.node_types["Event"]] if "Event" in self.ontology.node_types else [])
        return {p.privacy.value for kind in kinds for p in kind.properties.values()} - {FREE_CATEGORY}

    def decisions(self, refs: Sequence[NodeRef]) -> dict[NodeRef, Decision]:
        """What the purpose may use of each subject in `refs` (kept for the request)."""
        missing = [r for r in refs if r not in self._decisions]
        if missing:
            self._decisions.update(subject_decisions(self.store, self.purpose_spec, missing, now_iso(), self._subject_categories, self.timeout))
        return {ref: self._decisions[ref] for ref in refs if ref in self._decisions}

    def _guard(self, nodes: Iterable[Node]) -> None:
        """Leave out of the nodes the properties the purpose may not use (in place): a subject's own
        (Contact, Account), and an Event's when the person who performed it (PERFORMED_BY) gave no
        basis for them; mask in passages (Chunk text) the people they mention whose identity the
        purpose may not use. One consent query per subject label, one PERFORMED_BY read for the
        events, one MENTIONS read per subject label for the passages."""
        nodes = list(nodes)
        self._guard_subjects(nodes)
        self._guard_passages([n for n in nodes if n.label == "Chunk" and isinstance(n.props.get("text"), str)])
        self._guard_explanations([n for n in nodes if n.label == "Intent" and isinstance(n.props.get("explanation"), str)])

    def _guard_explanations(self, intents: list[Node]) -> None:
        """An intent's explanation quotes its evidence (captions of events, passages): when some of
        that evidence was performed by someone whose behaviour the purpose may not use, the quotes
        are taken out of the explanation (the counts, strengths and score stay)."""
        if not intents or PERFORMED_BY not in self.ontology.edge_types or "SUPPORTED_BY" not in self.ontology.edge_types:
            return
        if self._binding("behavioural"):
            return  # a contract or a legal obligation: no one's behaviour is withheld from this purpose
        query = (
            f"MATCH (i:Intent)-[:SUPPORTED_BY]->(e:Event)-[r:{PERFORMED_BY}]->(p) WHERE i.{NODE_KEY} IN $ids "
            f"RETURN DISTINCT i.{NODE_KEY} AS iid, labels(p)[0] AS label, p.{NODE_KEY} AS pid"
        )
        owners: dict[str, set[NodeRef]] = {}
        for row in self._rows(query, {"ids": sorted({n.id for n in intents})}):
            if row["label"] in SUBJECT_LABELS:
                owners.setdefault(str(row["iid"]), set()).add(NodeRef(str(row["label"]), str(row["pid"])))
        if not owners:
            return
        decided = self.decisions(list(dict.fromkeys(ref for refs in owners.values() for ref in refs)))
        for intent in intents:
            withheld = [ref for ref in owners.get(intent.id, ()) if ref in decided and withholds(ref, decided[ref], "behavioural")]
            if withheld:
                intent.props["explanation"] = QUOTED_EVIDENCE.sub(r"\1 (quotes withheld for this purpose)", intent.props["explanation"])
                self.withheld.setdefault(intent.ref, {})["explanation"] = "quotes evidence of " + ", ".join(sorted(str(r) for r in withheld))

    def _guard_passages(self, chunks: list[Node]) -> None:
        """Mask in each passage the names (as mentioned, and the person's stored names), e-mails and
        phones of the people and organisations it mentions, category by category, where the purpose
        may not use that category of theirs (in place; `withheld` records it)."""
        if not chunks or "MENTIONS" not in self.ontology.edge_types:
            return
        if all(self._binding(c) for c in IDENTIFYING):
            return  # no one's identity or contact data is withheld from this purpose
        ids = sorted({n.id for n in chunks})
        found: dict[str, list[tuple[NodeRef, str, list[tuple[str, Any]]]]] = {}
        for label in SUBJECT_LABELS:
            if label not in self.ontology.node_types:
                continue
            props = [p for p in self.ontology.node_types[label].properties.values() if p.privacy.value in IDENTIFYING and not p.is_vector]
            columns = ", ".join(f"p.{quote(p.name)} AS {quote('v_' + p.name)}" for p in props)
            query = (
                f"MATCH (c:Chunk)-[r:MENTIONS]->(p:{quote(label)}) WHERE c.{NODE_KEY} IN $ids "
                f"RETURN c.{NODE_KEY} AS cid, p.{NODE_KEY} AS pid, r.mention_text AS mention{', ' + columns if columns else ''}"
            )
            for row in self._rows(query, {"ids": ids}):
                values = [(p.privacy.value, row.get("v_" + p.name)) for p in props]
                found.setdefault(str(row["cid"]), []).append((NodeRef(label, str(row["pid"])), str(row.get("mention") or ""), values))
        if not found:
            return
        decided = self.decisions(list(dict.fromkeys(ref for rows in found.values() for ref, _, _ in rows)))
        for chunk in chunks:
            hidden: list[str] = []
            reasons: list[str] = []
            for ref, mention, values in found.get(chunk.id, []):
                decision = decided.get(ref)
                if decision is None:
                    continue
                texts = [mention] if withholds(ref, decision, "identity") else []
                for category, value in values:
                    if value is not None and withholds(ref, decision, category):
                        texts += [str(v) for v in (value if isinstance(value, list) else [value])]
                if texts:
                    hidden += texts
                    reasons.append(f"{ref}: {decision.reasons.get('identity', 'no consent')}")
            spans = occurrences(chunk.props["text"], hidden)
            if spans:
                chunk.props["text"] = mask(chunk.props["text"], spans)
                self.withheld.setdefault(chunk.ref, {})["text"] = "people mentioned: " + "; ".join(sorted(set(reasons)))

    def _binding(self, category: str) -> bool:
        """True when the purpose uses `category` on a contract or a legal obligation: no one's word withholds it."""
        return self.purpose_spec.default_basis().get(category) in ("contract", "legal_obligation") and not self.purpose_spec.requires

    def _guard_subjects(self, nodes: list[Node]) -> None:
        """The subjects' and events' part of `_guard`."""
        owners: dict[NodeRef, NodeRef] = {n.ref: n.ref for n in nodes if n.label in SUBJECT_LABELS}
        events = [n.ref for n in nodes if n.label == "Event"]
        if events and PERFORMED_BY in self.ontology.edge_types:
            query = (
                f"MATCH (e:Event)-[r:{PERFORMED_BY}]->(p) WHERE e.{NODE_KEY} IN $ids AND (r.valid_to IS NULL OR r.valid_to > $now) "
                f"RETURN e.{NODE_KEY} AS eid, labels(p)[0] AS label, p.{NODE_KEY} AS pid"
            )
            for row in self._rows(query, {"ids": sorted({ref.id for ref in events}), "now": now_iso()}):
                owners.setdefault(NodeRef("Event", str(row["eid"])), NodeRef(str(row["label"]), str(row["pid"])))
        if not owners:
            return
        decided = self.decisions(list(dict.fromkeys(owners.values())))
        for node in nodes:
            owner = owners.get(node.ref)
            decision = decided.get(owner) if owner is not None else None
            if decision is None:
                continue
            spec = self.ontology.node_types[node.label].properties
            for name in [k for k in node.props if k in spec and withholds(owner, decision, spec[k].privacy.value)]:
                del node.props[name]
                self.withheld.setdefault(node.ref, {})[name] = decision.reasons.get(spec[name].privacy.value, "no consent")
            if any(k in spec and spec[k].privacy.value != FREE_CATEGORY for k in node.props):
                self.used.add(owner)  # their personal data leaves the graph for this purpose (graph.audit)

    def _guard_hits(self, hits: list[Hit], label: str, text: str) -> list[Hit]:
        """Full-text hits, masked; a hit whose matching text was withheld (a person's, an event they
        performed) is dropped, else the hit itself would reveal the withheld value."""
        self._guard(h.node for h in hits)
        spec = self.ontology.node_types[label].properties
        words = [w for w in re.findall(r"\w+", text.lower()) if w]
        kept = []
        for hit in hits:
            searchable = " ".join(str(v).lower() for k, v in hit.node.props.items() if k in spec and spec[k].fulltext)
            if not words or any(w in searchable for w in words) or not self.withheld.get(hit.node.ref):
                kept.append(hit)
        return kept

    def _serves(self, var: str, label: str | None, params: dict[str, Any]) -> str:
        """The condition that an Intent node (`var`, of `label`, None: any label) serves the purpose
        (`Intent.purposes`): an intent is not shown to a purpose it may not serve. Empty when `label` is
        another type."""
        if label not in (None, "Intent"):
            return ""
        params["serves"] = self.purpose
        test = f"$serves IN coalesce({var}.purposes, [])"
        return test if label == "Intent" else f"(labels({var})[0] <> 'Intent' OR {test})"

    def _drop_unserved(self, nodes: Iterable[Node]) -> set[NodeRef]:
        """The Intent nodes among `nodes` that do not serve the purpose."""
        return {n.ref for n in nodes if n.label == "Intent" and self.purpose not in (n.props.get("purposes") or [])}

    def _check_usable(self, label: str | None, prop: Property | None, what: str) -> None:
        """Refuse to filter or sort subjects on a category the purpose cannot use for everyone."""
        if label != "Contact" or prop is None or prop.privacy.value == FREE_CATEGORY:  # an organisation's data needs no consent
            return
        basis = self.purpose_spec.default_basis().get(prop.privacy.value)
        if basis is None:
            raise ConsentDenied(
                f"{what} on {label}.{prop.name} ({prop.privacy.value} data) is refused for the purpose {self.purpose}: "
                "it needs each person's consent, and the answer would reveal it for those who gave none"
            )

    # ------------------------------------------------------------------ the door
    def _rows(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every query of this module runs here. Consent enforcement for `self.purpose` (issue 6)
        filters what comes back at this point."""
        return self.store.read_query(query, params, self.timeout)

    def _node(self, label: str, props: dict[str, Any]) -> Node:
        visible = _visible(props, self._vectors)
        return Node(label=label, id=str(visible.get(NODE_KEY)), props=visible)

    def _edge(self, type_: str, src: NodeRef, dst: NodeRef, props: dict[str, Any]) -> Edge:
        return Edge(type=type_, src=src, dst=dst, props=_visible(props, frozenset()))

    # ------------------------------------------------------------------ checks
    def _property(self, label: str | None, name: str, edge_type: str | None = None) -> Property | None:
        """The property `name` of a node type (or of an edge type); None when the type is open (any label)."""
        if edge_type is not None:
            kind = self.ontology.edge_type(edge_type)
            if name not in kind.properties:
                raise OntologyViolation(f"unknown property {name!r} for edge type {edge_type}")
            return kind.properties[name]
        if label is None:
            if name != NODE_KEY and not any(name in t.properties for t in self.ontology.node_types.values()):
                raise OntologyViolation(f"unknown property {name!r}")
            return None
        node_type = self.ontology.node_type(label)
        if name not in node_type.properties:
            raise OntologyViolation(f"unknown property {name!r} for {label}")
        return node_type.properties[name]

    def _value(self, prop: Property | None, value: Any, where: str) -> Any:
        if prop is None or value is None:
            return value
        try:
            if prop.multivalued:
                return normalise_value(replace(prop, multivalued=False), value)
            return normalise_value(prop, value)
        except ValueRejected as exc:
            raise OntologyViolation(f"{where}: {exc}") from None

    def _sort_default(self, prop: Property | None) -> Any:
        if prop is not None and prop.scalar_range in ("integer", "float"):
            return MISSING_NUMBER
        if prop is not None and prop.scalar_range == "boolean":
            return False
        return ""

    def _conditions(
        self, var: str, label: str | None, conds: Sequence[Condition], params: dict[str, Any], prefix: str, edge_type: str | None = None
    ) -> list[str]:
        out = []
        for i, cond in enumerate(conds):
            if cond.op not in OPS:
                raise OntologyViolation(f"unknown filter operator {cond.op!r}")
            prop = self._property(label, cond.prop, edge_type)
            if edge_type is None:
                self._check_usable(label, prop, "filtering")
            key = f"{prefix}{i}"
            ref = f"{var}.{quote(cond.prop)}"
            multivalued = prop is not None and prop.multivalued
            if cond.op == "exists":
                out.append(f"{ref} IS NOT NULL" if cond.value in (None, True) else f"{ref} IS NULL")
                continue
            if cond.op == "contains":
                params[key] = str(cond.value)
                if multivalued:
                    out.append(f"any(x IN coalesce({ref}, []) WHERE toLower(toString(x)) CONTAINS toLower(${key}))")
                else:
                    out.append(f"toLower(toString({ref})) CONTAINS toLower(${key})")
                continue
            if cond.op == "in":
                values = cond.value if isinstance(cond.value, (list, tuple)) else [cond.value]
                params[key] = [self._value(prop, v, f"filter {cond.prop}") for v in values]
                out.append(f"any(x IN coalesce({ref}, []) WHERE x IN ${key})" if multivalued else f"{ref} IN ${key}")
                continue
            params[key] = self._value(prop, cond.value, f"filter {cond.prop}")
            if cond.op == "eq":
                out.append(f"${key} IN coalesce({ref}, [])" if multivalued else f"{ref} = ${key}")
            elif cond.op == "ne":
                out.append(f"NOT ${key} IN coalesce({ref}, [])" if multivalued else f"({ref} IS NULL OR {ref} <> ${key})")
            else:
                if multivalued:
                    raise OntologyViolation(f"filter {cond.prop}: {cond.op} does not apply to a list property")
                out.append(f"{ref} {_COMPARE[cond.op]} ${key}")
        return out

    def _time(self, var: str, as_of: str | None, include_ended: bool, params: dict[str, Any]) -> str:
        if as_of is not None:
            params["as_of"] = as_of
            return cypher.valid_at(var, "$as_of")
        if include_ended:
            return ""
        params["now"] = now_iso()
        return f"({var}.valid_to IS NULL OR {var}.valid_to > $now)"

    @staticmethod
    def _keyset(sort_expr: str, tie_expr: str, desc: bool, after: tuple[Any, str] | None, params: dict[str, Any]) -> str:
        if after is None:
            return ""
        params["after_sort"], params["after_tie"] = after
        cmp = "<" if desc else ">"
        return f"({sort_expr} {cmp} $after_sort OR ({sort_expr} = $after_sort AND {tie_expr} > $after_tie))"

    # ------------------------------------------------------------------ nodes
    def nodes_by_ids(self, label: str, ids: Sequence[str]) -> dict[str, Node]:
        """The nodes of `label` with these ids (missing ones left out), in one query."""
        self.ontology.node_type(label)
        if not ids:
            return {}
        query = f"MATCH (n:{quote(label)}) WHERE n.{NODE_KEY} IN $ids RETURN {cypher.light('n', self._heavy)} AS props"
        rows = self._rows(query, {"ids": list(dict.fromkeys(ids))})
        found = {str(r["props"][NODE_KEY]): self._node(label, r["props"]) for r in rows}
        unserved = self._drop_unserved(found.values())
        found = {k: v for k, v in found.items() if v.ref not in unserved}
        self._guard(found.values())
        return found

    def _node_match(self, label: str, where: Sequence[Condition], related: Sequence[Related], params: dict[str, Any]) -> list[str]:
        self.ontology.node_type(label)
        lines = [f"MATCH (n:{quote(label)})"]
        conds = self._conditions("n", label, where, params, "w")
        serves = self._serves("n", label, params)
        if serves:
            conds.append(serves)
        if conds:
            lines.append("WHERE " + " AND ".join(conds))
        params["now"] = now_iso()
        for i, rel in enumerate(related):
            self.ontology.edge_type(rel.edge_type)
            self.ontology.node_type(rel.label)
            arrow = f"-[r{i}:{quote(rel.edge_type)}]->" if rel.direction == "out" else f"<-[r{i}:{quote(rel.edge_type)}]-"
            params[f"rel{i}"] = list(rel.ids)
            lines.append(f"MATCH (n){arrow}(x{i}:{quote(rel.label)}) WHERE x{i}.{NODE_KEY} IN $rel{i} AND (r{i}.valid_to IS NULL OR r{i}.valid_to > $now)")
        if related:
            lines.append("WITH DISTINCT n")
        return lines

    def node_page(
        self,
        label: str,
        where: Sequence[Condition] = (),
        sort: SortKey = SortKey(),
        after: tuple[Any, str] | None = None,
        limit: int = 20,
        related: Sequence[Related] = (),
    ) -> list[NodeHit]:
        """Up to `limit` nodes of `label` matching `where` (and `related`), after the keyset `after`."""
        params: dict[str, Any] = {"limit": int(limit)}
        lines = self._node_match(label, where, related, params)
        prop = self._property(label, sort.prop) if sort.prop else None
        self._check_usable(label, prop, "sorting")
        params["sort_default"] = self._sort_default(prop)
        sort_expr = f"coalesce(n.{quote(sort.prop)}, $sort_default)" if sort.prop else f"n.{NODE_KEY}"
        lines.append(f"WITH n, {sort_expr} AS sk, n.{NODE_KEY} AS tk")
        keyset = self._keyset("sk", "tk", sort.desc, after, params)
        if keyset:
            lines.append(f"WHERE {keyset}")
        lines.append(f"RETURN sk, tk, {cypher.light('n', self._heavy)} AS props ORDER BY sk {'DESC' if sort.desc else 'ASC'}, tk LIMIT $limit")
        rows = self._rows("\n".join(lines), params)
        hits = [NodeHit(self._node(label, r["props"]), (r["sk"], str(r["tk"]))) for r in rows]
        self._guard(h.node for h in hits)
        filtered = {c.prop for c in where}
        # a subject whose filtered property is withheld (an objection) does not match: it has no such value for this purpose
        return [h for h in hits if not filtered & set(self.withheld.get(h.node.ref, {}))]

    def node_count(self, label: str, where: Sequence[Condition] = (), related: Sequence[Related] = ()) -> int:
        """How many nodes of `label` match `where` (and `related`)."""
        params: dict[str, Any] = {}
        lines = self._node_match(label, where, related, params)
        categories = self._filtered_categories(label, where)
        if not categories:
            lines.append("RETURN count(n) AS c")
            rows = self._rows("\n".join(lines), params)
            return int(rows[0]["c"]) if rows else 0
        # a filter on a subject's personal data: those who objected do not match (as in `node_page`), so count them out
        lines.append(f"RETURN n.{NODE_KEY} AS id")
        refs = [NodeRef(label, str(r["id"])) for r in self._rows("\n".join(lines), params)]
        decided = self.decisions(refs)
        return sum(1 for ref in refs if not (ref in decided and any(withholds(ref, decided[ref], c) for c in categories)))

    def _filtered_categories(self, label: str, where: Sequence[Condition]) -> set[str]:
        """The personal categories a subject list is filtered on (empty for other labels)."""
        if label not in SUBJECT_LABELS or not where:
            return set()
        spec = self.ontology.node_types[label].properties
        return {spec[c.prop].privacy.value for c in where if c.prop in spec} - {FREE_CATEGORY}

    # ------------------------------------------------------------------ edges
    def _edge_match(self, spec: EdgeSpec, params: dict[str, Any]) -> tuple[list[str], str]:
        self.ontology.node_type(spec.label)
        if spec.edge_type is not None:
            self.ontology.edge_type(spec.edge_type)
        if spec.far_label is not None:
            self.ontology.node_type(spec.far_label)
        rel = f"[r:{quote(spec.edge_type)}]" if spec.edge_type else "[r]"
        pattern = {"out": f"-{rel}->", "in": f"<-{rel}-", "both": f"-{rel}-"}[spec.direction]
        far = f"(m:{quote(spec.far_label)})" if spec.far_label else "(m)"
        conds = [f"n.{NODE_KEY} IN $ids"]
        conds.append(self._time("r", spec.as_of, spec.include_ended, params))
        conds += self._conditions("m", spec.far_label, spec.far_where, params, "fw")
        conds.append(self._serves("m", spec.far_label, params))
        conds += self._conditions("r", None, spec.edge_where, params, "ew", spec.edge_type) if spec.edge_type else []
        if spec.edge_where and not spec.edge_type:
            raise OntologyViolation("conditions on an edge need its edge type")
        lines = [f"MATCH (n:{quote(spec.label)}){pattern}{far}", "WHERE " + " AND ".join(c for c in conds if c)]
        return lines, "r"

    def edges(self, spec: EdgeSpec, ids: Sequence[str], after: tuple[Any, str] | None = None, limit: int = 20) -> dict[str, list[EdgeHit]]:
        """For each parent id, its first `limit` edges of `spec` after the keyset `after`, with the far nodes."""
        return {parent: hits for parent, (hits, _) in self.edge_pages(spec, ids, after, limit).items()}

    def edge_pages(self, spec: EdgeSpec, ids: Sequence[str], after: tuple[Any, str] | None = None, limit: int = 20) -> dict[str, tuple[list[EdgeHit], int]]:
        """`edges`, and for each parent how many edges of `spec` it has after `after` (its
        `edge_counts` when `after` is None), from the same query: the rows are collected before
        the page is cut, so the count costs nothing more. Parents with no edge are left out."""
        if not ids:
            return {}
        params: dict[str, Any] = {"ids": list(dict.fromkeys(ids)), "limit": int(limit)}
        lines, _ = self._edge_match(spec, params)
        sort = spec.sort
        if sort.prop:
            prop = self._property(None if sort.on_edge else spec.far_label, sort.prop, spec.edge_type if sort.on_edge else None)
            if not sort.on_edge:
                self._check_usable(spec.far_label, prop, "sorting")
            params["sort_default"] = self._sort_default(prop)
            sort_expr = f"coalesce({'r' if sort.on_edge else 'm'}.{quote(sort.prop)}, $sort_default)"
        else:
            sort_expr = f"m.{NODE_KEY}"
        lines.append(f"WITH n, r, m, {sort_expr} AS sk, r.ek AS tk")
        keyset = self._keyset("sk", "tk", sort.desc, after, params)
        if keyset:
            lines.append(f"WHERE {keyset}")
        lines.append(f"WITH n, r, m, sk, tk ORDER BY n.{NODE_KEY}, sk {'DESC' if sort.desc else 'ASC'}, tk")
        lines.append(
            f"WITH n.{NODE_KEY} AS id, collect([sk, tk, type(r), startNode(r) = n, properties(r), labels(m)[0], {cypher.light('m', self._heavy)}]) AS items"
        )
        lines.append("RETURN id, size(items) AS total, items[0..$limit] AS items")
        out: dict[str, tuple[list[EdgeHit], int]] = {}
        for row in self._rows("\n".join(lines), params):
            parent = NodeRef(spec.label, str(row["id"]))
            hits = []
            for sk, tk, type_, outgoing, props, far_label, far_props in row["items"]:
                far = self._node(far_label, far_props)
                src, dst = (parent, far.ref) if outgoing else (far.ref, parent)
                hits.append(EdgeHit(self._edge(type_, src, dst, props), far, bool(outgoing), (sk, str(tk))))
            out[parent.id] = (hits, int(row["total"]))
        self._guard(h.node for hits, _ in out.values() for h in hits)
        return out

    def edge_counts(self, spec: EdgeSpec, ids: Sequence[str]) -> dict[str, int]:
        """For each parent id, how many edges of `spec` it has (parents with none are left out)."""
        if not ids:
            return {}
        params: dict[str, Any] = {"ids": list(dict.fromkeys(ids))}
        lines, _ = self._edge_match(spec, params)
        lines.append(f"RETURN n.{NODE_KEY} AS id, count(r) AS c")
        return {str(r["id"]): int(r["c"]) for r in self._rows("\n".join(lines), params)}

    # ------------------------------------------------------------------ timelines
    def _timeline_match(self, ref: NodeRef, times: dict[str, Sequence[str]], since: str | None, until: str | None, params: dict[str, Any]) -> list[str]:
        self.ontology.node_type(ref.label)
        names: list[str] = []
        for label, props in times.items():
            for name in props:
                self._property(label, name)
                if name not in names:
                    names.append(name)
        params.update({"id": ref.id, "labels": sorted(times), "now": now_iso()})
        at = "coalesce(" + ", ".join(f"m.{quote(n)}" for n in names) + ")" if len(names) > 1 else f"m.{quote(names[0])}"
        conds = ["sk IS NOT NULL"]
        if since is not None:
            params["since"] = since
            conds.append("sk >= $since")
        if until is not None:
            params["until"] = until
            conds.append("sk < $until")
        return [
            f"MATCH (s:{quote(ref.label)} {{{NODE_KEY}: $id}})-[r]-(m)",
            f"WHERE labels(m)[0] IN $labels AND (r.valid_to IS NULL OR r.valid_to > $now) AND {self._serves('m', None, params)}",
            "WITH m, collect(DISTINCT type(r)) AS via",
            f"WITH m, via, {at} AS sk, labels(m)[0] + ':' + m.{NODE_KEY} AS tk",
            "WHERE " + " AND ".join(conds),
        ]

    def timeline(
        self,
        ref: NodeRef,
        times: dict[str, Sequence[str]],
        after: tuple[Any, str] | None = None,
        limit: int = 20,
        since: str | None = None,
        until: str | None = None,
    ) -> list[NodeHit]:
        """The nodes linked to `ref` (one hop, edges that hold now) whose label is a key of `times`,
        dated by the first of its time properties that is set, newest first."""
        params: dict[str, Any] = {"limit": int(limit)}
        lines = self._timeline_match(ref, times, since, until, params)
        keyset = self._keyset("sk", "tk", True, after, params)
        if keyset:
            lines.append(f"WITH m, via, sk, tk WHERE {keyset}")
        lines.append(f"RETURN sk, tk, via, labels(m)[0] AS label, {cypher.light('m', self._heavy)} AS props ORDER BY sk DESC, tk LIMIT $limit")
        rows = self._rows("\n".join(lines), params)
        hits = [NodeHit(self._node(r["label"], r["props"]), (r["sk"], str(r["tk"])), tuple(sorted(r["via"]))) for r in rows]
        self._guard(h.node for h in hits)
        return hits

    def timeline_count(self, ref: NodeRef, times: dict[str, Sequence[str]], since: str | None = None, until: str | None = None) -> int:
        """How many items `timeline` has in all."""
        params: dict[str, Any] = {}
        lines = self._timeline_match(ref, times, since, until, params)
        lines.append("RETURN count(m) AS c")
        rows = self._rows("\n".join(lines), params)
        return int(rows[0]["c"]) if rows else 0

    # ------------------------------------------------------------------ the store's own reads, through the same door
    def get(self, ref: NodeRef) -> Node | None:
        """One node by key (vectors left out)."""
        node = self.store.get(ref)
        if node is None:
            return None
        found = Node(node.label, node.id, _visible(node.props, self._vectors))
        if self._drop_unserved([found]):
            return None
        self._guard([found])
        return found

    def neighbourhood(self, ref: NodeRef, hops: int, labels: Sequence[str] | None, edge_types: Sequence[str] | None, as_of: str | None, limit: int) -> Subgraph:
        """`GraphStore.neighbourhood` for this purpose."""
        found = self.store.neighbourhood(ref, hops=hops, labels=labels, edge_types=edge_types, as_of=as_of, limit=limit)
        unserved = self._drop_unserved(found.nodes)
        if unserved:
            found = Subgraph([n for n in found.nodes if n.ref not in unserved], [e for e in found.edges if e.src not in unserved and e.dst not in unserved])
        self._guard(found.nodes)
        return found

    def paths(self, a: NodeRef, b: NodeRef, max_length: int, edge_types: Sequence[str] | None, as_of: str | None, limit: int) -> list[Path]:
        """`GraphStore.paths` for this purpose."""
        found = self.store.paths(a, b, max_length=max_length, edge_types=edge_types, as_of=as_of, limit=limit)
        found = [p for p in found if not self._drop_unserved(p.nodes)]
        self._guard(n for path in found for n in path.nodes)
        return found

    def fulltext_search(self, label: str, text: str, k: int) -> list[Hit]:
        """`GraphStore.fulltext_search` for this purpose (a subject is found only by what the purpose may use of it)."""
        hits = self.store.fulltext_search(label, text, k=k)
        unserved = self._drop_unserved(h.node for h in hits)
        return self._guard_hits([h for h in hits if h.node.ref not in unserved], label, text)

    def vector_search(self, label: str, vector: Sequence[float], k: int) -> list[Hit]:
        """`GraphStore.vector_search` for this purpose."""
        hits = self.store.vector_search(label, vector, k=k)
        unserved = self._drop_unserved(h.node for h in hits)
        hits = [h for h in hits if h.node.ref not in unserved]
        self._guard(h.node for h in hits)
        return hits

    def passthrough(self, query: str, params: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        """A caller's read-only Cypher (the analyst's `cypher` query) for this purpose. Its rows cannot
        be masked person by person (a column may be any expression), so it runs only for a purpose
        that needs no one's consent: one that uses every personal category on a contract or a legal
        obligation (service, legal); `ConsentDenied` otherwise."""
        default = self.purpose_spec.default_basis()
        missing = [c for c in PERSONAL_CATEGORIES if default.get(c) not in ("contract", "legal_obligation")]
        if missing:
            raise ConsentDenied(
                f"the Cypher passthrough cannot apply each person's consent, and the purpose {self.purpose} needs it for "
                f"{', '.join(missing)} data: use the typed queries, which do, or a purpose that rests on a contract or a legal obligation"
            )
        return self.store.read_query(query, params, timeout)

    # ------------------------------------------------------------------ one hop from nodes of several labels
    def neighbours(self, refs: Sequence[NodeRef], far_labels: Sequence[str] | None = None, per_node: int = 20) -> dict[NodeRef, list[Node]]:
        """For each of `refs` (of any labels), up to `per_node` distinct nodes one hop away (either
        direction, over edges that hold now), of `far_labels` when given, ordered by (label, id);
        nodes with none are left out. One query whatever the number of refs: a UNION ALL branch
        per label of `refs`, each with its ids as a parameter."""
        by_label: dict[str, list[str]] = {}
        for ref in refs:
            self.ontology.node_type(ref.label)
            by_label.setdefault(ref.label, [])
            if ref.id not in by_label[ref.label]:
                by_label[ref.label].append(ref.id)
        if not by_label or per_node <= 0:
            return {}
        params: dict[str, Any] = {"limit": int(per_node)}
        far = ""
        if far_labels is not None:
            for label in far_labels:
                self.ontology.node_type(label)
            params["far"] = list(far_labels)
            far = " AND labels(m)[0] IN $far"
        time = self._time("r", None, False, params)
        serves = self._serves("m", None, params)
        branches = []
        for i, (label, ids) in enumerate(sorted(by_label.items())):
            params[f"ids{i}"], params[f"label{i}"] = ids, label
            branches.append(
                "\n".join(
                    [
                        f"MATCH (n:{quote(label)})-[r]-(m) WHERE n.{NODE_KEY} IN $ids{i} AND {time}{far} AND {serves}",
                        "WITH DISTINCT n, m",
                        f"WITH n, m, labels(m)[0] AS ml ORDER BY n.{NODE_KEY}, ml, m.{NODE_KEY}",
                        f"WITH n.{NODE_KEY} AS id, collect(m) AS ms",
                        "UNWIND ms[0..$limit] AS m",
                        f"RETURN $label{i} AS label, id, labels(m)[0] AS far_label, {cypher.light('m', self._heavy)} AS props",
                    ]
                )
            )
        out: dict[NodeRef, list[Node]] = {}
        for row in self._rows("\nUNION ALL\n".join(branches), params):
            out.setdefault(NodeRef(str(row["label"]), str(row["id"])), []).append(self._node(str(row["far_label"]), row["props"]))
        self._guard(n for nodes in out.values() for n in nodes)
        return out


def json_safe(value: Any) -> Any:
    """A value of a passthrough row as plain JSON (store objects become their properties)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items() if not str(k).endswith(cypher.HIDDEN_PROPERTY_SUFFIXES) and k != "_khub_lock"}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    props = getattr(value, "properties", None)
    if isinstance(props, dict):  # FalkorDB nodes and edges
        return {str(k): json_safe(v) for k, v in props.items() if not str(k).endswith(cypher.HIDDEN_PROPERTY_SUFFIXES)}
    if hasattr(value, "items") and callable(value.items):  # Neo4j nodes and relationships
        return {str(k): json_safe(v) for k, v in value.items() if not str(k).endswith(cypher.HIDDEN_PROPERTY_SUFFIXES)}
    return str(value)


#: Clauses and commands that change data or the database, refused in a caller's query.
WRITE_WORDS = frozenset(
    {"CREATE", "MERGE", "SET", "DELETE", "DETACH", "REMOVE", "DROP", "FOREACH", "LOAD", "USE", "ALTER", "GRANT", "REVOKE", "DENY", "RENAME", "TERMINATE"}
)
_CODE_TOKEN = re.compile(
    r"""(?P<skip>//[^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`]|``)*`)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>\S)""",
    re.DOTALL,
)


def refuse_writes(query: str) -> None:
    """Refuse (QueryRefused) a caller's Cypher that holds a writing clause or command outside
    strings, comments and quoted names; property names (`n.set`), map keys (`{set: 1}`),
    labels and parameters are not clauses. Both stores also run the query read-only."""
    previous = ""
    tokens = list(_CODE_TOKEN.finditer(query))
    for i, match in enumerate(tokens):
        if match.lastgroup == "skip":
            previous = "name"
            continue
        text = match.group(0)
        if match.lastgroup == "word":
            following = tokens[i + 1].group(0) if i + 1 < len(tokens) else ""
            upper = text.upper()
            if upper in WRITE_WORDS and previous not in (".", ":", "$") and following != ":":
                raise QueryRefused(f"{upper} is not allowed: the cypher query is read-only")
            if upper == "TRANSACTIONS" and previous.upper() == "IN":
                raise QueryRefused("CALL ... IN TRANSACTIONS is not allowed: the cypher query is read-only")
        previous = text
