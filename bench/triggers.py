"""What time-based scenario triggers cost on a large graph: a worker's tick and a batch of new events.

    python -m bench.triggers [--accounts 6420] [--events 200] [--store embedded|neo4j --neo4j-uri bolt://...]

On a fresh store holding the generated world of `khub intents evaluate --world` (`--accounts`
6,420 make about 100k nodes and 24k contacts), it deploys three scenarios through the governance
path: one for contacts entering `refund_risk_student`, one for contacts entering
`high_potential_customer`, and one every day for the members of `high_potential_customer`. Then,
timing each step (`reasoning.scenario_triggers.tick`):

- the baseline, in the same run: evaluating both concepts for every contact once
  (`reasoning.concepts.members`), what any tick must at least do;
- the first tick (records every contact's membership, runs the schedule for the first time);
- a tick right after (nothing due, nobody entered: the steady cost of a worker's tick);
- a tick two weeks later (the schedule is due again, windows slid: students who stopped using
  the app enter `refund_risk_student`);
- `on_touched` for `--events` new events of random contacts (the worker's path: event triggers
  and the membership of those performers only), per event.

It prints milliseconds, the contacts and hits of each step, and the steady tick's ratio to the
baseline. Nothing is asserted (the tests prove what it computes). The store is cleared first:
never point it at a store you need.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.api import build_world
from graph.factory import open_store
from graph.store import EdgeRecord, NodeRecord, NodeRef
from ontology.concepts import default_concepts, default_features
from ontology.settings import Settings
from reasoning.concepts import members, subject_ids
from reasoning.evaluate import DEFAULT_AS_OF
from reasoning.scenario_dispatch import on_touched
from reasoning.scenario_triggers import tick
from reasoning.scenario_versions import ScenarioRegistry

SCENARIOS = (
    "id: bench_enters_refund_risk\nsubject: Contact\ntrigger: {enters: [refund_risk_student]}\nwhen: last_survey_score < 3\n"
    'actions:\n  - {kind: task, role: service, title: "${subject_name} became a refund risk"}\n',
    "id: bench_enters_high_potential\nsubject: Contact\ntrigger: {enters: [high_potential_customer]}\nwhen: high_potential_customer\n"
    'actions:\n  - {kind: task, role: sales, title: "${subject_name} became a high-potential customer"}\n',
    "id: bench_daily_high_potential\nsubject: Contact\ntrigger: {every: 1d}\nwhen: high_potential_customer\n"
    'actions:\n  - {kind: task, role: sales, title: "Daily follow-up: ${subject_name}"}\n',
)


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=6420)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", choices=("embedded", "neo4j"), default="embedded")
    parser.add_argument("--neo4j-uri")
    args = parser.parse_args(argv)
    from datetime import datetime

    now = datetime.fromisoformat(DEFAULT_AS_OF)
    data_dir = Path(tempfile.mkdtemp(prefix="khub-bench-triggers-"))
    settings = Settings(store=args.store, neo4j_uri=args.neo4j_uri, data_dir=data_dir) if args.store == "neo4j" else Settings(data_dir=data_dir)
    store = open_store(settings)
    results: dict[str, Any] = {}
    try:
        build_world(store, args.accounts, args.seed, now)
        registry = ScenarioRegistry(store)
        for text in SCENARIOS:
            version = registry.save(text, "bench", "bench.triggers")
            registry.deploy(version.scenario_id, version.number, "bench")
        features, concepts = default_features(), default_concepts()
        contacts = subject_ids(store, "Contact")
        ms, found = _timed(lambda: {c: len(members(store, concepts[c], features, now)) for c in ("refund_risk_student", "high_potential_customer")})
        results["baseline"] = {"ms": ms, "members": found}
        steps = [("first tick", now), ("steady tick", now), ("tick two weeks later", now + timedelta(days=14))]
        for name, at in steps:
            ms, fired = _timed(lambda at=at: tick(store, features, at))
            results[name] = {"ms": ms, "hits": {sid: len(hits) for sid, hits in fired.items()}}
        rng = random.Random(args.seed)
        later = now + timedelta(days=14, hours=1)
        batch_ms = []
        for i in range(args.events):
            who = NodeRef("Contact", rng.choice(contacts))
            event = NodeRecord("Event", f"bench-ev-{i}", {"event_type": "web_view", "occurred_at": later.isoformat(), "duration_seconds": 400.0})
            store.upsert([event], [EdgeRecord("PERFORMED_BY", event.ref, who, source_id="bench")])
            ms, _ = _timed(lambda event=event, who=who: on_touched(store, [event.ref, who], features, later))
            batch_ms.append(ms)
        batch_ms.sort()
        results["on_touched"] = {"p50": batch_ms[len(batch_ms) // 2], "p99": batch_ms[min(len(batch_ms) - 1, int(len(batch_ms) * 0.99))]}
    finally:
        store.clear()
        store.close()
    print(f"bench.triggers: {args.accounts:,} accounts, {len(contacts):,} contacts, store {args.store}")
    print(f"baseline: both concepts for every contact: {results['baseline']['ms']:.0f} ms, members {results['baseline']['members']}")
    for name, _ in steps:
        print(f"{name}: {results[name]['ms']:.0f} ms, hits {results[name]['hits'] or 'none'}")
    print(f"steady tick / baseline: {results['steady tick']['ms'] / results['baseline']['ms']:.2f}x")
    touched = results["on_touched"]
    print(f"on_touched, one new event (its performer's memberships and event triggers): p50 {touched['p50']:.1f} ms, p99 {touched['p99']:.1f} ms")
    return results


if __name__ == "__main__":
    main()
