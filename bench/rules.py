"""Scenarios against one incoming event: 1,000 active scenarios, p50/p99 per event, against one scenario in the same run.

    python -m bench.rules [--scenarios 1000] [--events 400] [--store embedded|neo4j --neo4j-uri bolt://...]

On a fresh store holding the demo world, it registers `--scenarios` generated scenarios through
the governance path (`ScenarioRegistry.save` + `deploy`: each a live version; thresholds, trigger
types, conditions and decision tables vary, all about contacts), builds the event index
(`ScenarioIndex.of`: parse and compile once), then replays `--events` incoming events (a trigger
type and a demo-world contact, round robin) through `evaluate_event`: one read per feature the
listening scenarios need, then their conditions and decision tables. It prints, in milliseconds,
p50 and p99 of: the whole evaluation, its feature read and its in-memory part; the same for an
index holding only the shipped refund_warning (the baseline, in the same run); and the ratio.
Writing the triggered scenarios' tasks is not part of it (that is `run`, once per trigger).
Nothing is asserted: the tests prove what it computes; this measures what it costs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph.factory import open_store
from graph.store import GraphStore, NodeRef
from ontology.concepts import default_features
from ontology.settings import Settings
from reasoning.concepts import feature_values
from reasoning.demo_world import demo_as_of, load_demo_world
from reasoning.scenario_index import ScenarioIndex, evaluate_event
from reasoning.scenario_versions import ScenarioRegistry, find_scenario

TRIGGERS = ("survey", "app_usage", "erp_signal", "web_view", "download", "call")
CONDITIONS = (
    "days_since_app_use >= {a} and last_survey_score < {b}",
    "site_dwell_minutes_30d > {a} and whitepaper_downloads_30d >= 1 and missed_sales_calls_30d < {b}",
    "unconsumed_lessons >= {a} or last_survey_score <= {b}",
    "whitepaper_downloads_30d >= 1 and site_dwell_minutes_30d > {a}",
    "days_since_app_use > {a}",
)
INPUTS = ("unconsumed_lessons", "days_since_app_use", "site_dwell_minutes_30d")


def scenario_text(i: int, rng: random.Random) -> str:
    """One generated scenario: random triggers (always survey: the events replayed include surveys), condition, table."""
    triggers = sorted({"survey", *rng.sample(TRIGGERS, rng.randint(1, 3))})
    when = rng.choice(CONDITIONS).format(a=rng.randint(1, 30), b=rng.randint(1, 4))
    table_input = rng.choice(INPUTS)
    cuts = sorted(rng.sample(range(1, 40), rng.randint(2, 5)), reverse=True)
    rows = "\n".join(f'    - {{if: {{{table_input}: ">= {c}"}}, then: {{tier: t{c}, share: {round(c / 50, 2)}}}}}' for c in cuts)
    return (
        f"id: bench_{i:04d}\nsubject: Contact\ntrigger: {{events: [{', '.join(triggers)}]}}\nwhen: {when}\n"
        f"decision:\n  hit_policy: first\n  inputs: [{table_input}]\n  rules:\n{rows}\n"
        "    - {if: {}, then: {tier: none, share: 0.0}}\n"
        'actions:\n  - {kind: task, role: service, title: "Follow up ${subject_name} (${tier})"}\n'
    )


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values_ms: Sequence[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values_ms), 3), "p99": round(_pct(values_ms, 0.99), 3), "mean": round(statistics.fmean(values_ms), 3)}


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def replay(store: GraphStore, index: ScenarioIndex, events: Sequence[tuple[str, NodeRef]], now: datetime) -> dict[str, Any]:
    """Each event through `evaluate_event`, and its two parts timed apart."""
    features = default_features()
    whole, reads, memory, triggered = [], [], [], []
    for event_type, subject in events:
        ms, hits = _timed(lambda e=event_type, s=subject: evaluate_event(store, index, features, e, s, now))
        whole.append(ms)
        triggered.append(len(hits))
        names = index.needed(event_type, subject.label)
        ms, values = _timed(lambda s=subject, n=names: feature_values(store, [features[x] for x in n], now, [s.id]).get(s.id, {}))
        reads.append(ms)
        ms, _ = _timed(lambda e=event_type, s=subject, v=values: index.evaluate(e, s.label, v))
        memory.append(ms)
    return {
        "whole": _summary(whole),
        "feature_read": _summary(reads),
        "in_memory": _summary(memory),
        "triggered_per_event": round(statistics.fmean(triggered), 1),
        "features_read": len(index.needed("survey", "Contact")),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark on a fresh store; returns the figures."""
    if args.store == "neo4j":
        settings = Settings(store="neo4j", neo4j_uri=args.neo4j_uri)
    else:
        settings = Settings(store="embedded", data_dir=Path(tempfile.mkdtemp(prefix="khub-rules-", dir="/tmp")))
    store = open_store(settings)
    try:
        store.sync_schema()
        store.clear()
        load_demo_world(store)
        now = demo_as_of()
        rng = random.Random(args.seed)
        registry = ScenarioRegistry(store)
        started = time.perf_counter()
        for i in range(args.scenarios):
            version = registry.save(scenario_text(i, rng), "bench", "generated")
            registry.deploy(version.scenario_id, version.number, "bench")
        register_s = time.perf_counter() - started
        build_ms, index = _timed(lambda: ScenarioIndex.of(store))
        cached_ms, _ = _timed(lambda: ScenarioIndex.of(store))
        contacts = [NodeRef("Contact", n.id) for n in store.scan_nodes("Contact")]
        events = [(("survey", "app_usage", "erp_signal")[i % 3], contacts[i % len(contacts)]) for i in range(args.events)]
        for event_type, subject in events[:20]:  # warm the store's caches and query plans
            evaluate_event(store, index, default_features(), event_type, subject, now)
        baseline = ScenarioIndex([find_scenario(store, "refund_warning")])
        out = {
            "store": args.store,
            "scenarios": index.size,
            "listening_for_survey": len(index.candidates("survey", "Contact")),
            "events": len(events),
            "register_seconds": round(register_s, 1),
            "index_build_ms": round(build_ms, 1),
            "index_cached_ms": round(cached_ms, 1),
            "baseline": replay(store, baseline, events, now),
            "many": replay(store, index, events, now),
        }
        if not args.keep:
            store.clear()
        return out
    finally:
        store.close()


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip() or "?"
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", choices=("embedded", "neo4j"), default="embedded")
    parser.add_argument("--neo4j-uri", default="bolt://127.0.0.1:7687")
    parser.add_argument("--keep", action="store_true", help="Leave the graph in the store afterwards.")
    args = parser.parse_args(argv)
    out = run(args)
    print(f"bench.rules {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}, store {out['store']}")
    print(
        f"{out['scenarios']} active scenarios ({out['listening_for_survey']} listen for a survey), registered in {out['register_seconds']} s; "
        f"index built in {out['index_build_ms']} ms, {out['index_cached_ms']} ms when unchanged; {out['events']} events replayed"
    )
    print(f"{'per event, ms':<34}{'p50':>9}{'p99':>9}{'mean':>9}")
    for name, key in (("1 scenario (baseline)", "baseline"), (f"{out['scenarios']} scenarios", "many")):
        fig = out[key]
        for part in ("whole", "feature_read", "in_memory"):
            s = fig[part]
            print(f"{name + ': ' + part:<34}{s['p50']:>9.3f}{s['p99']:>9.3f}{s['mean']:>9.3f}")
        print(f"{name + ': triggered per event':<34}{fig['triggered_per_event']:>9}   features read: {fig['features_read']}")
    ratio = out["many"]["whole"]["p99"] / out["baseline"]["whole"]["p99"]
    print(f"p99 whole, {out['scenarios']} vs 1 scenario: {ratio:.2f}x; target p99 <= 5 ms: {'met' if out['many']['whole']['p99'] <= 5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
