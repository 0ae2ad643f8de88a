"""Erasure of a data subject (right to be forgotten): cascade, redaction, tombstone, suppression.

`erase_subject(store, ref)` removes what khub holds about a Contact or an Account:

1. **events** they performed: deleted when they were the only performer; an event shared with
   others (an e-mail with several senders) loses the link to them and their identifiers in its text;
2. **inferences**: intents about them, and every intent that used their data as evidence (their
   events, the passages that mention them), with the tasks those intents triggered; what the
   intent was about (an account) goes to the outbox, so `khub worker` re-scores it on what is left;
3. **mentions**: every passage that mentions them (a MENTIONS edge) or holds one of their
   identifiers (found through the full-text index, then checked in the text) is masked
   (`ingest.suppression.mask`); other full-text properties (document titles, event texts,
   descriptions) too; masked passages get a new embedding (or lose it without an embedder), and
   their full-text copy is rebuilt;
4. **the subject**: deleted with its edges and what the ontology cascades (consents);
5. **tombstone**: a `Tombstone` node proves the erasure without keeping data: a keyed digest of
   the subject's Type:id, when, counts of what went, and a `proof` hash also written to the audit log;
6. **suppression**: each identifier becomes a `Suppression` digest, so ingesting the same source
   again does not bring them back (`ingest.suppression`).

Deleting nodes removes them from the vector and full-text indexes on both stores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graph.consent import SUBJECT_LABELS
from graph.redact import mask, occurrences
from graph.store import GraphStore, Node, NodeRecord, NodeRef
from ingest.embed import Embedder, forget_cached
from ingest.outbox import Outbox
from ingest.suppression import SuppressionList, contact_spans, identifiers
from ontology.errors import BadInput, NotFound

#: How many of each kind one erasure handles at most in one pass (a subject with more is erased in several passes).
LIMIT = 5000


@dataclass
class ErasureReport:
    """What one erasure removed, as counts and digests (never the data)."""

    subject_label: str
    subject_digest: str
    erased_at: str
    nodes_deleted: dict[str, int] = field(default_factory=dict)
    events_unlinked: int = 0
    texts_masked: dict[str, int] = field(default_factory=dict)
    embeddings_recomputed: int = 0
    embeddings_removed: int = 0
    identifiers_suppressed: int = 0
    rescore: list[str] = field(default_factory=list)
    tombstone: str = ""
    proof: str = ""

    def summary(self) -> dict[str, Any]:
        """The report as plain data (what the tombstone, the request and the audit log keep)."""
        return {
            "subject_label": self.subject_label,
            "subject_digest": self.subject_digest,
            "erased_at": self.erased_at,
            "nodes_deleted": dict(sorted(self.nodes_deleted.items())),
            "events_unlinked": self.events_unlinked,
            "texts_masked": dict(sorted(self.texts_masked.items())),
            "embeddings_recomputed": self.embeddings_recomputed,
            "embeddings_removed": self.embeddings_removed,
            "identifiers_suppressed": self.identifiers_suppressed,
            "subjects_to_rescore": len(self.rescore),
        }

    def count_deleted(self, refs: list[NodeRef]) -> None:
        """Add deleted nodes to the counts."""
        for ref in refs:
            self.nodes_deleted[ref.label] = self.nodes_deleted.get(ref.label, 0) + 1


def _intents_using(store: GraphStore, evidence: list[NodeRef]) -> set[NodeRef]:
    """Intents with any of `evidence` among their SUPPORTED_BY (read from the store itself: an
    erasure must see every intent, whichever purposes it serves)."""
    found: set[NodeRef] = set()
    for ref in evidence:
        found |= {e.src for e in store.neighbourhood(ref, hops=1, edge_types=["SUPPORTED_BY"], limit=LIMIT).edges if e.src.label == "Intent" and e.dst == ref}
    return found


def _out_edges(store: GraphStore, refs: list[NodeRef], edge_type: str) -> dict[NodeRef, list[NodeRef]]:
    out: dict[NodeRef, list[NodeRef]] = {}
    for edge in store.edges_from(refs, edge_type) if refs else []:
        out.setdefault(edge.src, []).append(edge.dst)
    return out


class Eraser:
    """Erases data subjects from one store (see the module doc)."""

    def __init__(self, store: GraphStore, embedder: Embedder | None = None, outbox: Outbox | None = None, clock: Callable[[], datetime] | None = None):
        self.store = store
        self.embedder = embedder
        self.outbox = outbox
        self.clock = clock or (lambda: datetime.now(UTC))
        self.suppression = SuppressionList(store)

    def erase(self, ref: NodeRef) -> ErasureReport:
        """Erase the Contact or Account `ref`; `NotFound` when khub holds nothing under that id."""
        if ref.label not in SUBJECT_LABELS:
            raise BadInput(f"an erasure is for a Contact or an Account, not a {ref.label}")
        subject = self.store.get(ref)
        if subject is None:
            raise NotFound(f"no {ref.label} {ref.id!r}" + (" (it was erased before: a tombstone holds its digest)" if self.tombstone_of(ref) else ""))
        now = self.clock().isoformat(timespec="seconds")
        report = ErasureReport(ref.label, self.suppression.subject_digest(ref), now)
        ids = identifiers(self.store.ontology, subject)
        texts = [i.value for i in ids if not i.kind.endswith(":id")]

        around = self.store.neighbourhood(ref, hops=1, limit=LIMIT)
        edges = [e for e in around.edges if ref in (e.src, e.dst)]
        texts += [str(e.props["mention_text"]) for e in edges if e.type == "MENTIONS" and e.props.get("mention_text")]
        events = sorted({e.src for e in edges if e.type == "PERFORMED_BY"}, key=str)
        chunks = sorted({e.src for e in edges if e.type == "MENTIONS"}, key=str)

        # 1. events: theirs alone are deleted, shared ones are unlinked and masked below
        performers = _out_edges(self.store, events, "PERFORMED_BY")
        own_events = [ev for ev in events if all(p == ref for p in performers.get(ev, [ref]))]
        shared_events = [ev for ev in events if ev not in own_events]

        # 2. inferences built on them: intents about them or using their data as evidence
        evidence = [ref, *own_events, *chunks]
        intents = {e.src for e in edges if e.type == "OF" and e.src.label == "Intent"}
        intents |= _intents_using(self.store, evidence)
        about = _out_edges(self.store, sorted(intents, key=str), "OF")
        report.rescore = sorted({str(s) for subjects in about.values() for s in subjects if s != ref})
        tasks = {e.src for e in edges if e.type in ("TASK_FOR", "ASSIGNED_TO") and e.src.label == "Task"}
        for targets in _out_edges(self.store, sorted(intents, key=str), "TRIGGERED").values():
            tasks |= set(targets)
        for doomed in [*own_events, *sorted(intents, key=str), *sorted(tasks, key=str)]:
            report.count_deleted(self.store.delete(doomed).nodes_deleted)

        # 3. texts that name them: masked, embeddings recomputed, full-text copies rebuilt
        contacts = {kind: {i.normalised for i in ids if i.kind == kind} for kind in ("email", "phone")}
        self._mask_texts(texts, set(chunks) | set(shared_events), report, contacts)
        report.events_unlinked = len(shared_events)  # their PERFORMED_BY edges go with the subject

        # 4. the subject, with what cascades from it (consents)
        report.count_deleted(self.store.delete(ref).nodes_deleted)

        # 5. and 6. tombstone and suppression list
        suppressions = [
            NodeRecord("Suppression", self.suppression.digest_of(i.kind, i.value) or "", {"identifier_kind": i.kind, "erased_at": now})
            for i in ids
            if self.suppression.digest_of(i.kind, i.value)
        ]
        report.identifiers_suppressed = len(suppressions)
        summary = report.summary()
        report.proof = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
        report.tombstone = f"tombstone-{report.subject_digest[:32]}"
        tombstone = NodeRecord(
            "Tombstone",
            report.tombstone,
            {
                "subject_label": ref.label,
                "subject_digest": report.subject_digest,
                "erased_at": now,
                "outcome": json.dumps(summary, sort_keys=True),
                "proof": report.proof,
            },
        )
        self.store.upsert([tombstone, *suppressions])
        self.suppression.refresh()
        if self.outbox is not None and report.rescore:
            self.outbox.append([NodeRef(*s.split(":", 1)) for s in report.rescore], f"erasure:{report.subject_digest[:16]}")
        return report

    def tombstone_of(self, ref: NodeRef) -> Node | None:
        """The tombstone of an erased subject, found by its digest (None if it was never erased)."""
        found = self.store.find("Tombstone", "subject_digest", self.suppression.subject_digest(ref), limit=1)
        return found[0] if found else None

    def _mask_texts(self, texts: list[str], known: set[NodeRef], report: ErasureReport, contacts: dict[str, set[str]] | None = None) -> None:
        """Mask every occurrence of the subject's identifiers in full-text properties of any node:
        the nodes in `known` (passages that mention them, shared events) and what the full-text index
        finds. Other people and organisations are left alone: a namesake's name is theirs."""
        ontology = self.store.ontology
        candidates: dict[NodeRef, None] = dict.fromkeys(sorted(known, key=str))
        for label, prop in ontology.fulltext_properties():
            for text in {t for t in texts if t.strip()}:
                if label in SUBJECT_LABELS:
                    continue
                for hit in self.store.fulltext_search(label, text, k=LIMIT, prop=prop.name):
                    candidates.setdefault(hit.node.ref, None)
        texts_of = {
            label: [p.name for p in ontology.node_types[label].properties.values() if p.range in ("string", "uri") and not p.is_vector and not p.multivalued]
            for label in {r.label for r in candidates}
        }
        nodes = self.store.get_many(list(candidates))
        changed_chunks: list[tuple[NodeRef, str]] = []
        originals: list[str] = []
        for ref, node in nodes.items():
            updates: dict[str, Any] = {}
            for name in texts_of.get(ref.label, []):
                value = node.props.get(name)
                if not isinstance(value, str):
                    continue
                spans = occurrences(value, texts) + contact_spans(value, (contacts or {}).get("email", set()), (contacts or {}).get("phone", set()))
                if spans:
                    updates[name] = mask(value, spans)
            if not updates:
                continue
            report.texts_masked[ref.label] = report.texts_masked.get(ref.label, 0) + 1
            self.store.upsert([NodeRecord(ref.label, ref.id, updates)])
            if "embedding" in ontology.node_types[ref.label].properties and "text" in updates:
                changed_chunks.append((ref, updates["text"]))
                originals.append(str(node.props["text"]))
        if not changed_chunks:
            return
        forget_cached(self.embedder, originals)  # the cache keeps no vector of the unmasked text
        if self.embedder is not None:
            vectors = self.embedder.embed([t for _, t in changed_chunks], "passage")
            self.store.upsert([NodeRecord(r.label, r.id, {"embedding": v.tolist()}) for (r, _), v in zip(changed_chunks, vectors, strict=True)])
            report.embeddings_recomputed += len(changed_chunks)
        else:
            for r, _ in changed_chunks:
                self.store.remove_properties(r, ["embedding"])
            report.embeddings_removed += len(changed_chunks)


def erase_subject(store: GraphStore, ref: NodeRef, embedder: Embedder | None = None, outbox: Outbox | None = None) -> ErasureReport:
    """Erase one subject (see `Eraser`)."""
    return Eraser(store, embedder, outbox).erase(ref)
