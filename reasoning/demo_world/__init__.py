"""A small fictional world (medical-device distributor, Shanghai) for `khub demo` and tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml

from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef, WriteResult

WORLD_FILE = Path(__file__).with_name("world.yaml")


def demo_records(path: Path = WORLD_FILE) -> tuple[list[NodeRecord], list[EdgeRecord]]:
    """The nodes and edges of the demo world."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    nodes = [NodeRecord(n["label"], n["id"], n.get("props", {})) for n in data["nodes"]]
    edges = [
        EdgeRecord(
            e["type"],
            NodeRef(*e["src"]),
            NodeRef(*e["dst"]),
            props=e.get("props", {}),
            source_id=e.get("source_id", "demo-world"),
            extractor=e.get("extractor", "demo"),
            confidence=e.get("confidence"),
            valid_from=e.get("valid_from"),
            valid_to=e.get("valid_to"),
        )
        for e in data["edges"]
    ]
    return nodes, edges


def demo_as_of(path: Path = WORLD_FILE) -> datetime:
    """The demo world's "now" (its events are dated relative to it)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return datetime.fromisoformat(str(data.get("as_of", "2026-12-01T00:00:00Z")))


def load_demo_world(store: GraphStore) -> WriteResult:
    """Upsert the demo world (idempotent: loading twice changes nothing)."""
    nodes, edges = demo_records()
    return store.upsert(nodes, edges)
