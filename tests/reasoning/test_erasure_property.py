"""Property (issue 6.7): over generated graphs, erasing one person leaves no trace of their identifiers
anywhere in the store (properties, full-text copies, the full-text index) but the tombstone, and
touches nothing of anyone else but what was built on the erased person's data; both stores."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.audit import AuditLog
from graph.store import EdgeRecord, NodeRecord, NodeRef
from reasoning.subject_requests import run_erasure
from tests.reasoning.test_erasure import traces

FIRST = ("Anna", "Boris", "Carmen", "Dmitri", "Elif", "Farid", "Greta", "Hiroshi")
LAST = ("Keller", "Novak", "Okafor", "Silva", "Tanaka", "Umarov")


@dataclass
class World:
    """A generated graph and what the oracle needs to know about it."""

    people: list[tuple[str, str, str]]  # (id, full name, email)
    chunks: dict[str, list[int]] = field(default_factory=dict)  # chunk id -> people it mentions (by index)
    events: dict[str, list[int]] = field(default_factory=dict)  # event id -> performers
    intents: dict[str, tuple[NodeRef, list[NodeRef]]] = field(default_factory=dict)  # intent id -> (about, evidence)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, int]:
    names = draw(st.lists(st.tuples(st.sampled_from(FIRST), st.sampled_from(LAST)), min_size=2, max_size=5, unique=True))
    people = [(f"p{i}", f"{a} {b}", f"{a}.{b}@corp{i}.example".lower()) for i, (a, b) in enumerate(names)]
    world = World(people)
    n = len(people)
    for c in range(draw(st.integers(1, 4))):
        world.chunks[f"doc-1#{c}"] = draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=3, unique=True))
    for e in range(draw(st.integers(0, 5))):
        world.events[f"ev-{e}"] = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2, unique=True))
    evidence = [NodeRef("Chunk", c) for c in world.chunks] + [NodeRef("Event", e) for e in world.events]
    for i in range(draw(st.integers(0, 3))):
        about = draw(st.sampled_from([NodeRef("Contact", p[0]) for p in people] + [NodeRef("Account", "acme")]))
        world.intents[f"intent-{i}"] = (about, draw(st.lists(st.sampled_from(evidence), max_size=3, unique=True)))
    return world, draw(st.integers(0, n - 1))


def load(store, world: World) -> None:
    nodes = [NodeRecord("Account", "acme", {"name": "Acme Trading"}), NodeRecord("Document", "doc-1", {"title": "Notes"})]
    edges = []
    for pid, name, email in world.people:
        nodes.append(NodeRecord("Contact", pid, {"full_name": name, "email": email, "phone": f"+1 555 010 {pid[1:]:0>4}"}))
        edges.append(EdgeRecord("WORKS_AT", NodeRef("Contact", pid), NodeRef("Account", "acme")))
    for cid, mentioned in world.chunks.items():
        text, spans = "Meeting notes.", []
        for i in mentioned:
            start = len(text) + 1
            text += f" {world.people[i][1]} asked about the budget (write to {world.people[i][2]})."
            spans.append((i, start))
        nodes.append(NodeRecord("Chunk", cid, {"text": text, "position": int(cid.split("#")[1])}))
        edges.append(EdgeRecord("HAS_CHUNK", NodeRef("Document", "doc-1"), NodeRef("Chunk", cid)))
        for i, start in spans:
            name = world.people[i][1]
            props = {"char_start": start, "char_end": start + len(name), "mention_text": name}
            edges.append(EdgeRecord("MENTIONS", NodeRef("Chunk", cid), NodeRef("Contact", world.people[i][0]), props=props))
    for eid, performers in world.events.items():
        content = "Call with " + " and ".join(world.people[i][1] for i in performers)
        nodes.append(NodeRecord("Event", eid, {"event_type": "call", "occurred_at": "2026-11-01T10:00:00Z", "content": content}))
        edges += [EdgeRecord("PERFORMED_BY", NodeRef("Event", eid), NodeRef("Contact", world.people[i][0])) for i in performers]
    for iid, (about, evidence) in world.intents.items():
        nodes.append(NodeRecord("Intent", iid, {"confidence_score": 0.7}))
        edges.append(EdgeRecord("OF", NodeRef("Intent", iid), about))
        edges += [EdgeRecord("SUPPORTED_BY", NodeRef("Intent", iid), ref) for ref in evidence]
    assert not store.upsert(nodes, edges).rejected


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=worlds())
def test_erasing_one_person_leaves_no_trace_and_spares_everyone_else(store, tmp_path: Path, case: tuple[World, int]) -> None:
    world, target = case
    store.clear()
    load(store, world)
    pid, name, email = world.people[target]
    run_erasure(store, NodeRef("Contact", pid), "test", AuditLog(tmp_path / "audit"))

    assert traces(store, [name, email, f"555 010 {pid[1:]:0>4}"]) == []
    # the index finds their name only where other people's words make it up ("Anna Novak ... Boris Keller")
    hits = store.fulltext_search("Chunk", name) + store.fulltext_search("Event", name)
    assert all(name.lower() not in str(h.node.props.get("text") or h.node.props.get("content")).lower() for h in hits)
    assert store.fulltext_search("Chunk", email) == []
    others = [p for i, p in enumerate(world.people) if i != target]
    for opid, oname, oemail in others:
        kept = store.get(NodeRef("Contact", opid)).props
        assert (kept["full_name"], kept["email"]) == (oname, oemail)
    # passages keep everyone else's names; events stay for their other performers
    for cid, mentioned in world.chunks.items():
        text = store.get(NodeRef("Chunk", cid)).props["text"]
        assert all(world.people[i][1] in text for i in mentioned if i != target), (cid, text)
    own_events = {e for e, performers in world.events.items() if performers == [target]}
    for eid in world.events:
        assert (store.get(NodeRef("Event", eid)) is None) == (eid in own_events)
    # inferences built on their data go, the others stay
    used = {NodeRef("Contact", pid)} | {NodeRef("Event", e) for e in own_events} | {NodeRef("Chunk", c) for c, m in world.chunks.items() if target in m}
    for iid, (about, evidence) in world.intents.items():
        gone = about == NodeRef("Contact", pid) or bool(used & set(evidence))
        assert (store.get(NodeRef("Intent", iid)) is None) == gone, (iid, about, evidence, json.dumps(world.people))
