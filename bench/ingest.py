"""Ingestion throughput on the shared corpus and on generated events, for both stores.

    python -m bench.ingest --store embedded|neo4j|both [--docs N] [--events N] [--neo4j-uri URI] [--json out.json] [--quick]

Documents: CUAD contracts, TED notices and QMSum transcripts from ../shared/data, ingested
with embeddings (MiniLM, cache disabled) into an emptied store; documents/s, MB/s and the time
per stage (parse, chunk, nlp, resolve, embed, write). Baseline in the same run: bare spaCy
(`nlp.pipe`) plus the embedder over the very same chunk texts; the ratio baseline / khub shows
how much khub's own work (graph writing, resolution, parsing) adds.
Events: N generated events (web views, tickets, e-mails, surveys, telemetry) imported through
`EventImporter`; events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.data import shared_data_dir
from graph.factory import open_store
from ingest.chunk import chunk_elements
from ingest.deadletter import DeadLetter
from ingest.embed import load_embedder
from ingest.events import EventImporter
from ingest.parse import parse_file
from ingest.pipeline import IngestPipeline
from ingest.telemetry import TelemetryAggregator
from ontology.event_schema import default_event_schema
from ontology.settings import Settings


def corpus(limit: int) -> list[Path]:
    """Documents of the shared corpus, mixed (contracts, tender notices, transcripts)."""
    root = shared_data_dir() / "documents"
    groups = [sorted((root / "cuad" / "contracts").glob("*.txt")), sorted((root / "ted").glob("*.xml")), sorted((root / "qmsum").glob("*.json"))]
    mixed: list[Path] = []
    while any(groups) and len(mixed) < limit:
        for group in groups:
            if group and len(mixed) < limit:
                mixed.append(group.pop(0))
    return mixed


def bench_documents(store_name: str, paths: list[Path], uri: str | None) -> dict[str, Any]:
    """Ingest `paths` into an emptied store and time it, with the bare spaCy + embedding baseline."""
    with tempfile.TemporaryDirectory(prefix="khub-bench-ingest-") as tmp:
        settings = Settings(store=store_name, data_dir=Path(tmp), neo4j_uri=uri or "bolt://127.0.0.1:7687")
        store = open_store(settings)
        try:
            store.sync_schema()
            store.clear()
            embedder = load_embedder("minilm", None)
            embedder.embed(["warm up"])
            pipeline = IngestPipeline(store, embedder, DeadLetter(Path(tmp) / "dead.jsonl"))
            pipeline.extractor.extract("Warm up Acme Inc. 仁济医院。")
            started = time.perf_counter()
            report = pipeline.ingest(paths)
            khub_seconds = time.perf_counter() - started
        finally:
            store.close()
    summary = report.summary()
    texts = []
    for path in paths:
        try:
            texts += [c.text for c in chunk_elements(parse_file(path).elements)]
        except Exception:  # failed documents are not in khub's figure either
            continue
    from ingest.nlp.extract import _english_nlp

    nlp = _english_nlp()
    started = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=32):
        pass
    embedder.embed(texts)
    bare_seconds = time.perf_counter() - started
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    stages = summary["stage_seconds"]
    no_parse = khub_seconds - stages.get("parse", 0.0)
    return {
        "store": store_name,
        "documents": len(paths),
        "failed": summary["failed"],
        "megabytes": round(megabytes, 2),
        "seconds": round(khub_seconds, 2),
        "documents_per_second": round(len(paths) / khub_seconds, 2),
        "megabytes_per_second": round(megabytes / khub_seconds, 3),
        "stage_seconds": stages,
        "chunks": summary["chunks"],
        "baseline_seconds": round(bare_seconds, 2),
        "ratio_baseline_to_khub": round(bare_seconds / khub_seconds, 3),
        "ratio_baseline_to_khub_without_parse": round(bare_seconds / no_parse, 3) if no_parse > 0 else None,
    }


def generate_events(path: Path, count: int, seed: int = 7) -> None:
    """`count` realistic events in JSONL (10% telemetry)."""
    rng = random.Random(seed)
    kinds = ["web_view"] * 40 + ["email"] * 15 + ["ticket"] * 10 + ["call"] * 10 + ["survey"] * 5 + ["chat"] * 10 + ["telemetry"] * 10
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            kind = rng.choice(kinds)
            ts = f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
            event: dict[str, Any] = {"id": f"ev{i}", "type": kind, "ts": ts}
            if kind == "telemetry":
                event.update(device=f"dev{rng.randint(0, 999)}", metric=rng.choice(["load", "operating_hours", "filter_change"]), value=rng.random() * 100)
            else:
                event["contact"] = f"c{rng.randint(0, 9999)}"
                if kind == "web_view":
                    event["url"] = f"https://example.com/p/{rng.randint(0, 500)}"
                elif kind == "survey":
                    event["score"] = rng.randint(1, 5)
                elif kind == "ticket":
                    event.update(device=f"dev{rng.randint(0, 999)}", subject="noise on probe")
            out.write(json.dumps(event) + "\n")


def bench_events(store_name: str, count: int, uri: str | None) -> dict[str, Any]:
    """Import `count` generated events into an emptied store."""
    with tempfile.TemporaryDirectory(prefix="khub-bench-events-") as tmp:
        path = Path(tmp) / "events.jsonl"
        generate_events(path, count)
        settings = Settings(store=store_name, data_dir=Path(tmp), neo4j_uri=uri or "bolt://127.0.0.1:7687")
        store = open_store(settings)
        try:
            store.sync_schema()
            store.clear()
            schema = default_event_schema()
            importer = EventImporter(store, schema, TelemetryAggregator(Path(tmp) / "telemetry.sqlite", schema.telemetry), DeadLetter(Path(tmp) / "dead.jsonl"))
            started = time.perf_counter()
            report = importer.import_files([path])
            seconds = time.perf_counter() - started
        finally:
            store.close()
    return {
        "store": store_name,
        "events": count,
        "seconds": round(seconds, 2),
        "events_per_second": round(count / seconds, 1),
        "rejected": len(report.rejected),
        "telemetry_readings": report.telemetry_new,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print a table per part."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["embedded", "neo4j", "both"], default="embedded")
    parser.add_argument("--docs", type=int, default=120)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--neo4j-uri", default=os.environ.get("NEO4J_URI"))
    parser.add_argument("--quick", action="store_true", help="20 documents, 50,000 events")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.docs, args.events = 20, 50_000
    stores = ["embedded", "neo4j"] if args.store == "both" else [args.store]
    if "neo4j" in stores and not args.neo4j_uri:
        print("no Neo4j URI (--neo4j-uri or NEO4J_URI): Neo4j part skipped", file=sys.stderr)
        stores.remove("neo4j")
    paths = corpus(args.docs)
    if not paths:
        print(f"no documents under {shared_data_dir()} (set KHUB_SHARED_DATA)", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"documents": [], "events": []}
    for name in stores:
        doc = bench_documents(name, paths, args.neo4j_uri)
        results["documents"].append(doc)
        print(
            f"[{name}] {doc['documents']} documents ({doc['megabytes']} MB, {doc['failed']} failed) in {doc['seconds']} s: "
            f"{doc['documents_per_second']} docs/s, {doc['megabytes_per_second']} MB/s; stages {doc['stage_seconds']}"
        )
        print(
            f"[{name}] bare spaCy + embedding on the same {doc['chunks']} chunks: {doc['baseline_seconds']} s; "
            f"ratio baseline/khub {doc['ratio_baseline_to_khub']} (without parsing {doc['ratio_baseline_to_khub_without_parse']}; target ≥ 0.7)"
        )
        ev = bench_events(name, args.events, args.neo4j_uri)
        results["events"].append(ev)
        target = 20_000 if name == "embedded" else 10_000
        print(
            f"[{name}] {ev['events']} events in {ev['seconds']} s: {ev['events_per_second']} events/s "
            f"(target ≥ {target}: {'PASS' if ev['events_per_second'] >= target else 'MISS'})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
