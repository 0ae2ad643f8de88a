"""Property: whatever the consents and the purpose, no read path returns a person's value of a
category the purpose has no basis or consent for (hypothesis over generated consents, both stores).

The oracle is written here from docs/consent.md, independently of graph/consent.py: for each person
and purpose, a category is usable when the purpose uses it on a contract or a legal obligation, or
when the person's latest word on it (granted/refused) says yes, or, without a word, when the purpose
uses it on legitimate interest.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.cypher_store import CypherGraphStore
from graph.store import EdgeRecord, NodeRecord, NodeRef
from ontology.model import default_ontology
from ontology.purposes import default_purposes
from tests.api.test_graphql import Gql, backend, world  # noqa: F401 - the demo world fixtures (module scope, per backend)

PEOPLE = ("wang-fang", "li-ming", "zhang-wei", "chen-jing")
PURPOSES = ("marketing", "sales", "location_marketing", "service", "analytics", "operations")
CATEGORIES = ("identity", "contact", "behavioural", "location")
READS = {
    "list": "{ contacts(first: 50) { nodes { id properties } } }",
    "relation": '{ account(id: "renji-hospital") { contacts(first: 20) { nodes { id properties } } } }',
    "neighbourhood": '{ neighbourhood(ref: "Account:renji-hospital", depth: 1, types: ["Contact"]) { nodes { id type properties } } }',
    "events": '{ contact(id: "li-ming") { id properties events(first: 20) { nodes { id type properties } } } }',
    "paths": '{ paths(from: "Contact:li-ming", to: "Account:renji-hospital", maxLength: 2) { paths { nodes { id type properties } } } }',
    "search": '{ search(text: "李明", types: ["Contact"], mode: FULLTEXT) { hits { node { id type properties } } } }',
    "timeline": '{ timeline(subject: "Contact:li-ming", first: 20) { edges { node { id type properties } } } }',
}
CONTACT = default_ontology().node_types["Contact"].properties
EVENT = default_ontology().node_types["Event"].properties
DAYS = [f"2026-01-0{d}T00:00:00Z" for d in range(1, 10)]

consent_strategy = st.lists(
    st.tuples(
        st.sampled_from(PEOPLE),
        st.sampled_from(PURPOSES[:3]),
        st.sampled_from(("granted", "refused", "revoked")),
        st.sets(st.sampled_from(CATEGORIES), min_size=1),
        st.sampled_from(DAYS),
    ),
    max_size=6,
)


def usable(person: str, purpose: str, category: str, consents: list[tuple[Any, ...]]) -> bool:
    if category == "none":
        return True
    required = default_purposes().purposes[purpose].requires  # a purpose is off without what it requires
    if category not in required and not all(usable(person, purpose, r, consents) for r in required):
        return False
    basis = default_purposes().purposes[purpose].default_basis().get(category)
    if basis in ("contract", "legal_obligation"):
        return True
    words = sorted(((day, status != "granted") for who, p, status, cats, day in consents if who == person and p == purpose and category in cats))
    if words:
        return not words[-1][1]  # the latest word; on the same day the refusal sorts last and wins
    return basis == "legitimate_interest"


def _load(graph: CypherGraphStore, consents: list[tuple[Any, ...]]) -> list[NodeRef]:
    nodes, edges, made = [], [], []
    for i, (who, purpose, status, cats, day) in enumerate(consents):
        ref = NodeRef("Consent", f"zz-consent-{i}")
        made.append(ref)
        props = {"consent_status": status, "legal_basis": "consent", "granted_at": day}
        if status == "revoked":
            props["revoked_at"] = day
        nodes.append(NodeRecord(ref.label, ref.id, props))
        edges.append(EdgeRecord("GAVE_CONSENT", NodeRef("Contact", who), ref, source_id="zz-test"))
        edges.append(EdgeRecord("FOR_PURPOSE", ref, NodeRef("Purpose", purpose), source_id="zz-test"))
        edges += [EdgeRecord("COVERS", ref, NodeRef("DataCategory", c), source_id="zz-test") for c in sorted(cats)]
    nodes += [NodeRecord("DataCategory", c, {"name": c}) for c in CATEGORIES]
    nodes += [NodeRecord("Purpose", purpose, defaults={"name": purpose}) for purpose in PURPOSES[:3]]
    assert not graph.upsert(nodes, edges).rejected
    return made


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(consents=consent_strategy, purpose=st.sampled_from(PURPOSES))
def test_no_read_returns_a_value_without_a_basis(world: CypherGraphStore, consents: list[tuple[Any, ...]], purpose: str) -> None:  # noqa: F811
    existing = [n.ref for n in world.scan_nodes("Consent")]
    for ref in existing:  # this example's consents only (the demo world's come back below)
        world.delete(ref)
    made = _load(world, consents)
    gql = Gql(world)
    personal = 0  # values of a personal category that came back (the test must not pass by returning nothing)
    try:
        for name, query in READS.items():
            body = gql.post(query, role="admin", purpose=purpose)  # admin: no role rule hides anything, only consent
            assert not body.get("errors"), (name, body["errors"])
            for node in _nodes(body["data"]):
                kind = node.get("type", "Contact")
                if kind not in ("Contact", "Event"):
                    continue  # not personal data of a person (accounts, intents, documents: their own rules)
                spec = CONTACT if kind == "Contact" else EVENT
                owner = node["id"] if kind == "Contact" else "li-ming"  # the events asked for are li-ming's
                if kind == "Event" and node["id"] not in ("ev-web-1", "ev-web-2"):
                    continue
                for prop, value in node["properties"].items():
                    if prop in spec and value is not None:
                        category = spec[prop].privacy.value
                        assert usable(owner, purpose, category, consents), (name, purpose, owner, prop, category, consents)
                        personal += category != "none"
        if purpose == "service":  # the contract covers everyone's data: it all comes back
            assert personal > 0
    finally:
        for ref in made:
            world.delete(ref)
        from reasoning.demo_world import demo_records

        records, links = demo_records()
        world.upsert([r for r in records if r.label in ("Consent", "DataCategory")], [e for e in links if e.type in ("GAVE_CONSENT", "FOR_PURPOSE", "COVERS")])


def _nodes(data: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(data, dict):
        if "properties" in data and "id" in data:
            found.append(data)
        for value in data.values():
            found += _nodes(value)
    elif isinstance(data, list):
        for item in data:
            found += _nodes(item)
    return found
