"""The intent engine: definitions + graph evidence → scored Intent nodes with evidence and words.

For each intent definition (`ontology.intents`), every signal's pattern runs on the store
(compiled by `graph.patterns`); subjects with any positive evidence are scored
(`reasoning.scoring`: decay, strength, noisy-OR). A subject at or over the threshold gets an
Intent node `intent-<type>-<subject>`:

    (Intent)-[:OF]->(subject)   (Intent)-[:OF_TYPE]->(IntentType)
    (Intent)-[:SUPPORTED_BY {weight, contribution, signal}]->(evidence)

with status new (first crossing) → active (still over on a later refresh) → expired (fell
under); dismissed and acted are set by people and kept. Evidence that no longer supports the
intent has its SUPPORTED_BY edge closed (valid time), so history stays queryable. The
explanation (one sentence per signal) is stored on the node and returned by `explain`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from graph.patterns import CAPTION_PROPERTIES, watched_positions
from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef, PatternMatch
from graph.values import normalise_datetime
from ontology.intents import IntentDefinition, Signal, default_intents, load_semantic_background
from reasoning import scoring
from reasoning.calibration import Calibration
from reasoning.purposes import purpose_verdicts

ENGINE = "khub.reasoning/1"
#: A semantic match is compared with the mean similarity of this many nearest background sentences.
BACKGROUND_NEIGHBOURS = 3
#: Statuses people set; a refresh updates the score but keeps them.
PEOPLE_STATUSES = ("dismissed", "acted")


def intent_node_id(intent_type: str, subject_id: str) -> str:
    """The id of the Intent node of an intent type about a subject (one per type and subject)."""
    return f"intent-{intent_type}-{subject_id}"


@dataclass
class Evidence:
    """A piece of evidence of one signal, with its decayed weight and its share of the score."""

    ref: NodeRef
    caption: str
    at: str | None
    weight: float
    contribution: float = 0.0


@dataclass
class SignalScore:
    """How one signal did for one subject."""

    signal: Signal
    strength: float
    contribution: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)

    def sentence(self) -> str:
        """The signal's part of the explanation, in words."""
        what = self.signal.describe or self.signal.id.replace("_", " ")
        if self.signal.absent:
            found = f"none in the last {self.signal.window_days} days" if self.signal.window_days else "none found"
        else:
            shown = ", ".join(e.caption for e in self.evidence[:3]) + (f" and {len(self.evidence) - 3} more" if len(self.evidence) > 3 else "")
            found = f"{len(self.evidence)} found ({shown})"
        return f"{what}: {found}; strength {self.strength:.2f} × weight {self.signal.weight:.2f} gives {self.contribution:.2f} of the score"


@dataclass
class IntentScore:
    """One definition scored for one subject."""

    definition: IntentDefinition
    subject: NodeRef
    score: float
    signals: list[SignalScore]
    #: The purposes it serves, set when it is written (None before: every purpose of its definition).
    served: list[str] | None = None

    @property
    def intent_id(self) -> str:
        """The id of the Intent node for this type and subject."""
        return intent_node_id(self.definition.id, self.subject.id)

    @property
    def fires(self) -> bool:
        """True at or over the definition's threshold."""
        return self.score >= self.definition.threshold

    def explanation(self) -> list[str]:
        """One sentence per signal that counted, strongest first, then the verdict."""
        lines = [s.sentence() for s in sorted(self.signals, key=lambda s: -s.contribution) if s.strength > 0]
        verdict = "over" if self.fires else "under"
        lines.append(f"score {self.score:.2f} is {verdict} the threshold {self.definition.threshold:.2f} of {self.definition.id}")
        return lines


@dataclass
class RefreshReport:
    """What a refresh did."""

    scored: int = 0
    fired: list[IntentScore] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class IntentEngine:
    """Scores intent definitions on a store and keeps Intent nodes up to date."""

    def __init__(
        self,
        store: GraphStore,
        definitions: Sequence[IntentDefinition] | None = None,
        embedder: Any | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_fired: Callable[[IntentScore, str], None] | None = None,
        calibration: Calibration | None = None,
        background: Sequence[str] | None = None,
        classifier: Any | None = None,
        audit: Any | None = None,
    ):
        """embedder: for semantic signals (`ingest.embed.Embedder`); on_fired(score, status) is
        called for every intent written at or over its threshold (actions hook in here);
        calibration: maps scores to `Intent.calibrated_score` (`reasoning.calibration`);
        background: the sentences semantic matches are contrasted with (default: the ontology's);
        classifier: a trained `reasoning.classifier.IntentClassifier` for `classifier_label` signals."""
        self.store = store
        #: a `graph.audit.AuditLog`: each batch of intents written is an inference about their subjects
        self.audit = audit
        self.calibration = calibration or Calibration({})
        self.definitions = list(definitions if definitions is not None else default_intents())
        self.embedder = embedder
        self.classifier = classifier
        #: Everyday sentences a semantic match must beat (`ontology/semantic_background.yaml`).
        self.background: tuple[str, ...] = tuple(background) if background is not None else load_semantic_background()
        self.clock = clock
        self.on_fired = on_fired
        self._example_vectors: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ scoring
    def score(self, definition: IntentDefinition, subjects: Sequence[str] | None = None, warnings: list[str] | None = None) -> list[IntentScore]:
        """Score one definition for the given subject ids (default: every subject with evidence)."""
        now = self.clock()
        found: dict[str, list[PatternMatch]] = {}
        candidates: set[str] = set()
        for signal in definition.signals:
            if signal.absent:
                continue
            matches = self._matches(definition, signal, now, subjects, warnings)
            found[signal.id] = matches
            candidates |= {m.subject for m in matches}
        if not candidates:
            return []
        ordered = sorted(candidates)
        for signal in definition.signals:
            if signal.absent:
                found[signal.id] = self._matches(definition, signal, now, ordered, warnings)
        by_subject: dict[str, dict[str, list[PatternMatch]]] = {}  # signal -> subject -> its matches, in order
        for signal_id, matches in found.items():
            grouped = by_subject.setdefault(signal_id, defaultdict(list))
            for m in matches:
                grouped[m.subject].append(m)
        results = []
        for subject in ordered:
            signal_scores = []
            for signal in definition.signals:
                evidence = [
                    Evidence(m.evidence, m.caption, m.at, 1.0 if signal.concept else scoring.decay(scoring.age_days(m.at, now), definition.half_life_days))
                    for m in by_subject[signal.id].get(subject, ())
                ]
                value = scoring.strength([e.weight for e in evidence], signal.at_least, signal.saturation, signal.absent)
                signal_scores.append(SignalScore(signal, value, evidence=[] if signal.absent else evidence))
            terms = [s.signal.weight * s.strength for s in signal_scores]
            total = scoring.noisy_or(terms)
            for signal_score, share in zip(signal_scores, scoring.contributions(terms), strict=True):
                signal_score.contribution = share
                weight_sum = sum(e.weight for e in signal_score.evidence)
                for e in signal_score.evidence:
                    e.contribution = share * e.weight / weight_sum if weight_sum else 0.0
            results.append(IntentScore(definition, NodeRef(definition.subject, subject), total, signal_scores))
        return results

    def _matches(
        self, definition: IntentDefinition, signal: Signal, now: datetime, subjects: Sequence[str] | None, warnings: list[str] | None
    ) -> list[PatternMatch]:
        if signal.kind == "concept":
            return self._concept_matches(definition, signal, now, subjects)
        window = signal.window_days or definition.window_days
        since = now - timedelta(days=window) if signal.pattern.time_property else None
        matches = self.store.match_pattern(signal.pattern, now, since, subjects)
        if signal.kind == "semantic":
            matches = self._semantic_filter(signal, matches, warnings)
        return matches

    def _concept_matches(self, definition: IntentDefinition, signal: Signal, now: datetime, subjects: Sequence[str] | None) -> list[PatternMatch]:
        """A concept signal: the subjects in the concept now, each with what its features read as the
        evidence (the subject itself when they read nothing, e.g. an absence)."""
        import zen

        from ontology.concepts import default_concepts, default_features
        from reasoning.concepts import aggregate, feature_matches, satisfies, subject_ids

        concept = default_concepts()[signal.concept or ""]
        features = [default_features()[name] for name in concept.features]
        ids = list(subjects) if subjects is not None else subject_ids(self.store, definition.subject)  # a default may satisfy it: everyone
        found = feature_matches(self.store, features, now, ids)
        compiled = zen.compile_expression(concept.when)
        stamp = normalise_datetime(now)
        out: list[PatternMatch] = []
        for subject in sorted(set(ids)):
            values = {f.name: aggregate(f, per.get(subject, []), now) for f, per in zip(features, found, strict=True)}
            if not satisfies(concept, values, compiled):
                continue
            evidence = {m.evidence: m for per in found for m in per.get(subject, [])}
            shown = ", ".join(f"{k} {round(v, 2) if isinstance(v, float) else v}" for k, v in values.items())
            own = PatternMatch(subject, NodeRef(definition.subject, subject), stamp, f"in {concept.id}: {shown}", {})
            out += list(evidence.values()) or [own]
        return out

    def _semantic_filter(self, signal: Signal, matches: list[PatternMatch], warnings: list[str] | None) -> list[PatternMatch]:
        """Keep the matches whose text the message-intent classifier labels with the signal's
        `classifier_label` (when a classifier is loaded), or else whose text is close to the
        signal's example phrases."""
        if signal.classifier_label and self.classifier is not None:
            return self._classified(signal, matches)
        if not signal.examples:
            if warnings is not None:
                warnings.append(f"signal {signal.id}: needs a trained message-intent classifier (khub intents train); skipped")
            return []
        if self.embedder is None:
            if warnings is not None:
                warnings.append(f"signal {signal.id}: semantic signals need an embedder; skipped")
            return []
        with_text, texts = _texts(matches)
        if not texts:
            return []
        examples = self._phrase_vectors(signal.examples)
        background = self._phrase_vectors(self.background)
        vectors = np.asarray(self.embedder.embed(texts, "passage"), dtype=np.float32)
        best = (vectors @ examples.T).max(axis=1)
        # closer to the examples than to everyday text (the mean of the 3 nearest background
        # sentences): raw cosine alone means different things per embedder (ontology/semantic_background.yaml)
        if len(background):
            nearest = np.sort(vectors @ background.T, axis=1)[:, -BACKGROUND_NEIGHBOURS:]
            margin = best - nearest.mean(axis=1)
        else:
            margin = np.full_like(best, np.inf)
        return [match for match, sim, m in zip(with_text, best, margin, strict=True) if sim >= signal.min_similarity and m >= signal.min_margin]

    def _classified(self, signal: Signal, matches: list[PatternMatch]) -> list[PatternMatch]:
        """The matches whose text the classifier gives the signal's label (out of scope: no label)."""
        with_text, texts = _texts(matches)
        if not texts:
            return []
        predictions = self.classifier.predict(texts)
        return [match for match, p in zip(with_text, predictions, strict=True) if p.label == signal.classifier_label]

    def _phrase_vectors(self, phrases: Sequence[str]) -> np.ndarray:
        """Embeddings of example or background phrases, computed once per engine."""
        key = "\x00".join(phrases)
        if key not in self._example_vectors:
            self._example_vectors[key] = np.asarray(self.embedder.embed(list(phrases), "query"), dtype=np.float32).reshape(len(phrases), -1)
        return self._example_vectors[key]

    # ------------------------------------------------------------------ writing
    def refresh(self, subjects: dict[str, Sequence[str]] | None = None, definitions: Iterable[str] | None = None) -> RefreshReport:
        """Re-score (all definitions, or those named) for the given subjects per label (default:
        every subject) and write the Intent nodes; returns what changed.

        Per definition, the store sees a fixed number of round trips whatever the number of
        subjects: one read of the existing intents' statuses, one write of every changed intent
        with its edges, one read of their evidence edges and one write closing the stale ones
        (the actions of fired intents come after, one intent at a time)."""
        report = RefreshReport()
        wanted = set(definitions) if definitions is not None else None
        for definition in self.definitions:
            if wanted is not None and definition.id not in wanted:
                continue
            ids = None if subjects is None else list(subjects.get(definition.subject, []))
            if ids is not None and not ids:
                continue
            scores = self.score(definition, ids, report.warnings)
            report.scored += len(scores)
            scored = {s.subject.id for s in scores}
            # the real-time path also looks up the given subjects without evidence (they may expire)
            asked = [r.intent_id for r in scores] + [intent_node_id(definition.id, s) for s in dict.fromkeys(ids or ()) if s not in scored]
            existing = self.store.get_many((NodeRef("Intent", i) for i in asked), ["intent_status"]) if asked else {}
            statuses = {ref.id: node.props.get("intent_status") for ref, node in existing.items()}
            written = self._write(scores, statuses, report)
            for result, status in zip(scores, written, strict=True):
                if result.fires:
                    report.fired.append(result)
                    if self.on_fired is not None:
                        self.on_fired(result, status)
            self._expire_unscored(definition, scored, ids, statuses, report)
        return report

    def _write(self, results: Sequence[IntentScore], statuses: dict[str, Any], report: RefreshReport) -> list[str]:
        """Write the Intent nodes of `results` (one definition's) in one batch, given the stored
        statuses by intent id; returns each result's status."""
        now = normalise_datetime(self.clock())
        nodes: list[NodeRecord] = []
        edges: list[EdgeRecord] = []
        evidence_of: dict[NodeRef, set[NodeRef]] = {}
        out: list[str] = []
        verdicts = purpose_verdicts(self.store, [r for r in results if r.fires], now)
        for result in results:
            ref = NodeRef("Intent", result.intent_id)
            old_status = statuses.get(result.intent_id)
            if not result.fires:
                if old_status in ("new", "active"):
                    nodes.append(self._expired(ref, result, now))
                    report.expired.append(result.intent_id)
                out.append(old_status or "none")
                continue
            if old_status in PEOPLE_STATUSES:
                status = old_status
            elif old_status in ("new", "active"):
                status = "active"
            else:
                status = "new"
                report.new.append(result.intent_id)
            out.append(status)
            definition = result.definition
            result.served = verdicts[result.intent_id].served
            type_ref = NodeRef("IntentType", definition.id)
            props = {
                "confidence_score": round(result.score, 4),
                "calibrated_score": self.calibration.apply(definition.id, result.score),
                "intent_status": status,
                "last_seen": now,
                "purposes": verdicts[result.intent_id].served,  # (also kept on the result: actions run for these)
                "purpose_notes": "\n".join(verdicts[result.intent_id].notes),
                "explanation": "\n".join(result.explanation()),
                "score_history": [f"{now}={result.score:.4f}"],
            }
            defaults = {"first_seen": now, "detected_at": now}
            if status == "new" and old_status is not None:  # crossed again after expiring
                props["detected_at"] = now
            if not evidence_of:  # the first intent written: its type node too
                type_props = {"name": definition.id, "description": definition.description_en, "label_zh": definition.description_zh}
                nodes.append(NodeRecord("IntentType", definition.id, type_props))
            nodes.append(NodeRecord("Intent", ref.id, props, defaults=defaults))
            by_evidence: dict[NodeRef, dict[str, Any]] = defaultdict(lambda: {"weight": 0.0, "contribution": 0.0, "signals": []})
            for signal_score in result.signals:
                for e in signal_score.evidence:
                    entry = by_evidence[e.ref]
                    entry["weight"] = max(entry["weight"], signal_score.signal.weight)
                    entry["contribution"] += e.contribution
                    entry["signals"].append(signal_score.signal.id)
            edges.append(EdgeRecord("OF", ref, result.subject, source_id=ref.id, extractor=ENGINE))
            edges.append(EdgeRecord("OF_TYPE", ref, type_ref, source_id=ref.id, extractor=ENGINE))
            for evidence_ref, entry in by_evidence.items():
                props_e = {"weight": entry["weight"], "contribution": round(entry["contribution"], 4), "signal": ",".join(dict.fromkeys(entry["signals"]))}
                edges.append(EdgeRecord("SUPPORTED_BY", ref, evidence_ref, props_e, source_id=ref.id, extractor=ENGINE, confidence=round(result.score, 4)))
            evidence_of[ref] = set(by_evidence)
        if nodes or edges:
            written = self.store.upsert(nodes, edges)
            for rejected in written.rejected:
                owner = next((r.intent_id for r in results if f"Intent:{r.intent_id})" in f"{rejected.item})"), None)
                report.warnings.append(f"{owner}: {rejected.item}: {rejected.reason}" if owner else f"{rejected.item}: {rejected.reason}")
        fired = [r for r in results if r.fires]
        if self.audit is not None and fired:
            self.audit.record(
                actor=ENGINE,
                purpose=",".join(sorted({p for r in fired for p in (r.served or [])})) or "none",
                action="inference",
                subjects=[str(r.subject) for r in fired],
                details={"intent_type": fired[0].definition.id, "intents": {r.intent_id: r.served or [] for r in fired}},
            )
        for result in results:  # lists are unioned on upsert: take out the purposes no longer served
            verdict = verdicts.get(result.intent_id)
            if verdict is not None and len(verdict.served) < len(result.definition.purposes):
                withheld = [p for p in result.definition.purposes if p not in verdict.served]
                self.store.remove_list_values(NodeRef("Intent", result.intent_id), "purposes", withheld)
        self._close_stale_evidence(evidence_of, now)
        return out

    def _expired(self, ref: NodeRef, result: IntentScore, now: str) -> NodeRecord:
        """The update of an intent that fell under its threshold."""
        props = {
            "confidence_score": round(result.score, 4),
            "calibrated_score": self.calibration.apply(result.definition.id, result.score),
            "intent_status": "expired",
            "explanation": "\n".join(result.explanation()),
            "score_history": [f"{now}={result.score:.4f}"],
        }
        return NodeRecord("Intent", ref.id, props)

    def _close_stale_evidence(self, evidence_of: dict[NodeRef, set[NodeRef]], now: str) -> None:
        """Close the SUPPORTED_BY edges of the given intents that lead to evidence no longer in their set."""
        if not evidence_of:
            return
        held = self.store.edges_from(evidence_of, "SUPPORTED_BY", as_of=now)
        stale = [e for e in held if e.src in evidence_of and e.dst not in evidence_of[e.src]]
        if stale:
            self.store.upsert(edges=[EdgeRecord("SUPPORTED_BY", e.src, e.dst, source_id=e.src.id, extractor=ENGINE, valid_to=now) for e in stale])

    def _expire_unscored(
        self, definition: IntentDefinition, scored: set[str], subjects: Sequence[str] | None, statuses: dict[str, Any], report: RefreshReport
    ) -> None:
        """Intents of this type whose subject has no evidence at all any more expire too (with
        given subjects, their statuses were read with the scored ones)."""
        if subjects is not None:  # the real-time path: just these subjects' intents, not every live one
            gone = [intent_node_id(definition.id, s) for s in dict.fromkeys(subjects) if s not in scored]
        else:
            live = self.store.find("Intent", "intent_status", "new", limit=100_000) + self.store.find("Intent", "intent_status", "active", limit=100_000)
            prefix = f"intent-{definition.id}-"
            gone = [node.id for node in live if node.id.startswith(prefix) and node.id[len(prefix) :] not in scored]
            statuses = {node.id: node.props.get("intent_status") for node in live}
        gone = [i for i in gone if statuses.get(i) in ("new", "active")]
        if gone:
            self.store.upsert([NodeRecord("Intent", i, {"intent_status": "expired", "confidence_score": 0.0}) for i in gone])
            report.expired += gone

    def affected(self, touched: Iterable[NodeRef]) -> dict[str, dict[str, list[str]]]:
        """For nodes a write touched: per intent definition, the subjects (per label) to re-score.
        Only definitions whose patterns pass through a touched label are asked (graph locality),
        and only at the path positions where a change can matter (`graph.patterns.watched_positions`:
        not a node in the middle of a path without conditions of its own, whose edges' changes
        are seen from their other ends)."""
        by_label: dict[str, dict[str, None]] = defaultdict(dict)  # label -> ids, deduplicated in order
        for ref in touched:
            by_label[ref.label][ref.id] = None
        out: dict[str, dict[str, list[str]]] = {}
        # `subjects_touched` follows only the path's labels, edge types and directions (no conditions),
        # so signals sharing that shape (e.g. every `Account <-PERFORMED_BY- Event` signal) share one answer
        seen: dict[tuple[Any, ...], list[str]] = {}
        for definition in self.definitions:
            subjects: set[str] = set()
            for signal in definition.signals:
                for pattern in signal.concept_patterns or (signal.pattern,):  # a concept changes with its features
                    label_at = [pattern.subject, *(step.node for step in pattern.steps)]
                    watched = watched_positions(pattern, self.store.ontology)
                    for label in {label_at[i] for i in watched} & set(by_label):
                        positions = tuple(i for i in watched if label_at[i] == label)
                        key = (pattern.subject, tuple((step.edge, step.direction, step.node) for step in pattern.steps), label, positions)
                        if key not in seen:
                            seen[key] = self.store.subjects_touched(pattern, label, list(by_label[label]), positions)
                        subjects.update(seen[key])
            if subjects:
                out[definition.id] = {definition.subject: sorted(subjects)}
        return out

    def refresh_touched(self, touched: Iterable[NodeRef]) -> RefreshReport:
        """Re-score only what the touched nodes can change (the real-time path)."""
        report = RefreshReport()
        for definition_id, subjects in self.affected(touched).items():
            part = self.refresh(subjects, definitions=[definition_id])
            report.scored += part.scored
            report.fired += part.fired
            report.new += part.new
            report.expired += part.expired
            report.warnings += part.warnings
        return report

    # ------------------------------------------------------------------ reading
    def explain(self, intent_id: str) -> dict[str, Any]:
        """The intent's score, status, sentences, and each piece of evidence with its contribution."""
        ref = NodeRef("Intent", intent_id)
        node = self.store.get(ref)
        if node is None:
            from ontology.errors import NotFound

            raise NotFound(f"no intent {intent_id}")
        around = self.store.neighbourhood(ref, hops=1, edge_types=["SUPPORTED_BY", "OF", "OF_TYPE"], as_of=normalise_datetime(self.clock()), limit=10_000)
        nodes = {n.ref: n for n in around.nodes}
        evidence = []
        subject = None
        for edge in around.edges:
            if edge.type == "OF":
                subject = str(edge.dst)
            elif edge.type == "SUPPORTED_BY":
                target = nodes.get(edge.dst)
                captions = [str(target.props[p]) for p in CAPTION_PROPERTIES if target and target.props.get(p)]
                evidence.append(
                    {
                        "node": str(edge.dst),
                        "caption": captions[0] if captions else edge.dst.id,
                        "signal": edge.props.get("signal"),
                        "contribution": edge.props.get("contribution"),
                        "weight": edge.props.get("weight"),
                    }
                )
        evidence.sort(key=lambda e: -(e["contribution"] or 0))
        return {
            "intent": intent_id,
            "subject": subject,
            "score": node.props.get("confidence_score"),
            "status": node.props.get("intent_status"),
            "purposes": node.props.get("purposes"),
            "explanation": (node.props.get("explanation") or "").splitlines(),
            "evidence": evidence,
            "score_history": node.props.get("score_history") or [],
        }


def _texts(matches: Sequence[PatternMatch]) -> tuple[list[PatternMatch], list[str]]:
    """The matches that carry text (their first non-empty returned property) and those texts."""
    with_text, texts = [], []
    for match in matches:
        text = next((str(v) for v in match.props.values() if v), "")
        if text:
            with_text.append(match)
            texts.append(text)
    return with_text, texts
