"""The engine wired to actions: an intent that fires creates its task once per cooldown (both stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ontology.settings import Settings
from reasoning.demo_world import load_demo_world
from reasoning.runtime import ActionLog, build_engine

pytestmark = pytest.mark.usefixtures("backend")

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_fired_intents_create_tasks_once_per_cooldown(store, tmp_path: Path):
    load_demo_world(store)
    settings = Settings(data_dir=tmp_path)
    log = ActionLog()
    build_engine(store, settings, clock=lambda: NOW, log=log).refresh()
    anxious = log.results["intent-replacement_anxiety-dev-us900-0142"]
    assert [(r.kind, r.status) for r in anxious] == [("task", "done")]
    tasks = store.read_query(
        "MATCH (i:Intent)-[:TRIGGERED]->(t:Task)-[:TASK_FOR]->(d:Device {id: 'dev-us900-0142'}) RETURN t.assignee_role AS role, t.description AS text"
    )
    assert len(tasks) == 1 and tasks[0]["role"] == "service"
    assert "US900-0142 shows replacement anxiety" in tasks[0]["text"] and "maintenance-terms" in tasks[0]["text"]
    # a day later: still firing, but inside the cooldown: no second task, no second run
    later = ActionLog()
    build_engine(store, settings, clock=lambda: NOW + timedelta(days=1), log=later).refresh()
    assert [r.status for r in later.results["intent-replacement_anxiety-dev-us900-0142"]] == ["skipped"]
    assert store.stats().nodes["Task"] == sum(1 for results in log.results.values() for r in results if r.kind == "task" and r.status == "done")
