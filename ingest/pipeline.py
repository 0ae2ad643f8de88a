"""Documents in, graph out: parse → chunk → extract → link entities → embed → one upsert.

Safe to re-run and to kill: a document's identity is its source URI; its `content_hash`
decides whether it is unchanged (skipped), new, or changed (its chunks and mentions are
replaced, and facts only the old version supported are closed). The Document node is written last, so a run killed half-way through a document
leaves no hash behind and the next run redoes that document; every write is an idempotent
upsert, so nothing is duplicated. Failures go to the dead-letter record; the batch goes on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.consent import SUBJECT_LABELS
from graph.redact import mask
from graph.store import EdgeRecord, GraphStore, NodeRecord, NodeRef
from graph.values import now_iso
from ingest.chunk import chunk_elements, document_text
from ingest.deadletter import DeadLetter
from ingest.doc_facts import facts_to_records
from ingest.doc_rules import extract_facts
from ingest.embed import Embedder
from ingest.entities import EntityLinker, entity_id
from ingest.known_entities import KnownEntities
from ingest.nlp.extract import Extractor, Mention
from ingest.outbox import Outbox
from ingest.parse import ParsedDocument, discover, parse_file
from ingest.suppression import SuppressionList
from ontology.errors import BadInput, KhubError

EXTRACTOR_NAME = "khub.ingest/1"


@dataclass
class FileResult:
    """What happened to one input."""

    source: str
    status: str  # added, updated, unchanged, failed
    document_id: str | None = None
    chunks: int = 0
    mentions: int = 0
    relations: int = 0
    error: str | None = None
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class IngestReport:
    """The outcome of a batch: per-file results and totals."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """How many inputs ended with `status`."""
        return sum(1 for f in self.files if f.status == status)

    def summary(self) -> dict[str, Any]:
        """Totals for `--json` and the progress footer."""
        stages: dict[str, float] = {}
        for f in self.files:
            for stage, secs in f.stages.items():
                stages[stage] = stages.get(stage, 0.0) + secs
        return {
            "files": len(self.files),
            **{s: self.count(s) for s in ("added", "updated", "unchanged", "failed")},
            "chunks": sum(f.chunks for f in self.files),
            "mentions": sum(f.mentions for f in self.files),
            "relations": sum(f.relations for f in self.files),
            "seconds": round(self.seconds, 3),
            "documents_per_second": round(len(self.files) / self.seconds, 2) if self.seconds else None,
            "stage_seconds": {k: round(v, 3) for k, v in stages.items()},
            "failures": [{"source": f.source, "error": f.error} for f in self.files if f.status == "failed"],
        }


def document_id(source: str) -> str:
    """The stable id of the document at `source` (a path or URI)."""
    return "doc-" + hashlib.sha1(source.encode("utf-8")).hexdigest()[:16]


def context_around(text: str, start: int, end: int, width: int = 160) -> str:
    """The words around a mention, cut at word boundaries."""
    left = text.rfind(" ", 0, max(0, start - width)) + 1 if start > width else 0
    right = text.find(" ", min(len(text), end + width))
    return " ".join(text[left : right if right != -1 else len(text)].split())


def entity_text(name: str, context: str) -> str:
    """What an entity node's embedding encodes: its name, then where it was seen."""
    return f"{name}: {context}" if context else name


def content_hash(data: bytes) -> str:
    """The hash that tells whether a document changed."""
    return hashlib.sha256(data).hexdigest()


class IngestPipeline:
    """Ingests documents into a `GraphStore`; one per process (models load once)."""

    def __init__(
        self,
        store: GraphStore,
        embedder: Embedder | None,
        deadletter: DeadLetter,
        extractor: Extractor | None = None,
        max_bytes: int = 100 * 1024 * 1024,
        max_chunk_chars: int = 1200,
        outbox: Outbox | None = None,
    ):
        self.store = store
        self.embedder = embedder
        self.deadletter = deadletter
        self.extractor = extractor or Extractor()
        self.linker = EntityLinker(KnownEntities(store))
        self.suppression = SuppressionList(store)
        self.max_bytes = max_bytes
        self.max_chunk_chars = max_chunk_chars
        self.outbox = outbox

    # ------------------------------------------------------------------ batch
    def ingest(
        self,
        inputs: Sequence[str | Path],
        forced_type: str | None = None,
        on_file: Callable[[FileResult], None] | None = None,
    ) -> IngestReport:
        """Ingest every file under `inputs` (files, folders, globs); bad files are recorded, not fatal."""
        started = time.perf_counter()
        report = IngestReport()
        paths, missing = discover(inputs)
        for item in missing:
            result = FileResult(item, "failed", error=f"{item}: no such file, folder or matching glob")
            self.deadletter.record_failure(item, "document", result.error or "")
            report.files.append(result)
            if on_file:
                on_file(result)
        for path in paths:
            result = self.ingest_file(path, forced_type)
            report.files.append(result)
            if on_file:
                on_file(result)
        report.seconds = time.perf_counter() - started
        return report

    def ingest_file(self, path: Path, forced_type: str | None = None) -> FileResult:
        """Ingest one file; never raises for bad input (the result says what went wrong)."""
        source = str(path.resolve())
        started = time.perf_counter()
        try:
            result = self._ingest(path, source, forced_type)
        except KhubError as exc:
            result = FileResult(source, "failed", error=str(exc))
        except Exception as exc:  # a parser crash on hostile input must not stop the batch
            result = FileResult(source, "failed", error=f"{source}: {type(exc).__name__}: {exc}")
        result.seconds = time.perf_counter() - started
        if result.status == "failed":
            self.deadletter.record_failure(source, "document", result.error or "unknown error")
        else:
            self.deadletter.record_success(source)
        return result

    # ------------------------------------------------------------------ one document
    def _ingest(self, path: Path, source: str, forced_type: str | None) -> FileResult:
        stages: dict[str, float] = {}
        tick = time.perf_counter()
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise BadInput(f"{source}: cannot read: {exc.strerror}") from exc
        if size == 0:
            raise BadInput(f"{source}: the file is empty")
        if size > self.max_bytes:
            raise BadInput(f"{source}: {size / 1e6:.0f} MB is over the limit of {self.max_bytes / 1e6:.0f} MB (KHUB_MAX_DOCUMENT_MB)")
        data = path.read_bytes()
        digest = content_hash(data)
        doc_id = document_id(source)
        existing = self.store.get(NodeRef("Document", doc_id))
        if existing is not None and existing.props.get("content_hash") == digest:
            return FileResult(source, "unchanged", doc_id)
        parsed = parse_file(path, data, forced_type)
        stages["parse"] = time.perf_counter() - tick
        self.suppression.refresh()  # an erasure in another process counts from the next document on
        if existing is not None:
            self.store.delete(NodeRef("Document", doc_id))  # its chunks and their mentions go with it
        result = self._write(parsed, doc_id, digest, stages, replacing=existing is not None)
        result.status = "updated" if existing is not None else "added"
        return result

    def _erased_mention(self, mention: Mention) -> bool:
        """True when a mention names an erased person or organisation (on the suppression list)."""
        if not len(self.suppression) or mention.label not in SUBJECT_LABELS:
            return False
        if mention.node_id:
            return self.suppression.node(NodeRef(mention.label, str(mention.node_id)))
        return self.suppression.name(mention.label, mention.text) or self.suppression.node(NodeRef(mention.label, entity_id(mention.label, mention.text)))

    def _erased_record(self, record: NodeRecord) -> bool:
        """True when a node a document's facts would write is an erased subject (by id, name or e-mail)."""
        return self.suppression.erased(record.label, record.id, {**getattr(record, "defaults", {}), **record.props}) is not None

    def _embed_entities(self, nodes: list[NodeRecord], context: dict[NodeRef, tuple[str, str]]) -> None:
        """Give new entity nodes an embedding of their name in the context they were first seen
        in (only when khub creates the node: later mentions do not move its vector)."""
        records = [n for n in nodes if NodeRef(n.label, n.id) in context and "embedding" in self.store.ontology.node_types[n.label].properties]
        if not records or self.embedder is None:
            return
        texts = [entity_text(*context[NodeRef(n.label, n.id)]) for n in records]
        for record, vector in zip(records, self.embedder.embed(texts, "passage"), strict=True):
            record.props["embedding"] = vector.tolist()

    def _write(self, parsed: ParsedDocument, doc_id: str, digest: str, stages: dict[str, float], replacing: bool = False) -> FileResult:
        tick = time.perf_counter()
        chunks = chunk_elements(parsed.elements, self.max_chunk_chars)
        if not chunks:
            raise BadInput(f"{parsed.source}: no text found (an image-only file without OCR, or an empty document)")
        stages["chunk"] = time.perf_counter() - tick
        tick = time.perf_counter()
        nodes: list[NodeRecord] = []
        edges: list[EdgeRecord] = []
        doc_ref = NodeRef("Document", doc_id)
        mention_count = relation_count = 0
        entity_context: dict[NodeRef, tuple[str, str]] = {}  # new entities: name and where first seen
        languages: dict[str, int] = {}
        extractions = self.extractor.extract_many([c.text for c in chunks], parsed.language)
        for chunk, extraction in zip(chunks, extractions, strict=True):
            languages[extraction.language] = languages.get(extraction.language, 0) + len(chunk.text)
        facts = extract_facts(document_text(parsed.elements), parsed.doc_type if parsed.doc_type != "transcript" else None)
        fact_records = facts_to_records(facts, doc_ref, parsed.title, self.linker)
        erased = {NodeRef(n.label, n.id) for n in fact_records.nodes if self._erased_record(n)}
        nodes.extend(n for n in fact_records.nodes if NodeRef(n.label, n.id) not in erased)
        edges.extend(e for e in fact_records.edges if e.src not in erased and e.dst not in erased)
        stages["nlp"] = time.perf_counter() - tick
        tick = time.perf_counter()
        texts: list[str] = []
        for chunk, extraction in zip(chunks, extractions, strict=True):
            chunk_ref = NodeRef("Chunk", f"{doc_id}#{chunk.position}")
            hidden = {i for i, m in enumerate(extraction.mentions) if self._erased_mention(m)}
            text = chunk.text
            if hidden or len(self.suppression):  # erased people stay erased: their mentions and e-mails are masked
                text = mask(text, [(m.start, m.end) for i, m in enumerate(extraction.mentions) if i in hidden] + self.suppression.text_spans(text))
            texts.append(text)
            nodes.append(NodeRecord("Chunk", chunk_ref.id, {"text": text, "position": chunk.position, "page": chunk.page, "language": extraction.language}))
            edges.append(EdgeRecord("HAS_CHUNK", doc_ref, chunk_ref, source_id=doc_id, extractor=EXTRACTOR_NAME))
            kept = iter(self.linker.link([m for i, m in enumerate(extraction.mentions) if i not in hidden], nodes))
            links = [None if i in hidden else next(kept) for i in range(len(extraction.mentions))]
            for mention, link in zip(extraction.mentions, links, strict=True):
                if link is None:
                    continue
                mention_count += 1
                props: dict[str, Any] = {"char_start": chunk.start + mention.start, "char_end": chunk.start + mention.end, "mention_text": mention.text}
                if link.marker:
                    props["merged_from"] = [link.marker]
                if link.new and link.ref not in entity_context:
                    entity_context[link.ref] = (mention.text, context_around(text, mention.start, mention.end))
                edges.append(
                    EdgeRecord(
                        "MENTIONS",
                        chunk_ref,
                        link.ref,
                        props=props,
                        source_id=doc_id,
                        extractor=f"{EXTRACTOR_NAME}:{mention.method}",
                        confidence=mention.confidence if link.score is None else round(mention.confidence * link.score, 4),
                    )
                )
            for relation in extraction.relations:
                subject, obj = links[relation.subject], links[relation.object]
                if subject is None or obj is None:
                    continue
                relation_count += 1
                props = dict(relation.props)
                merged = [m for m in (subject.marker, obj.marker) if m]
                if merged:
                    props["merged_from"] = merged
                edges.append(
                    EdgeRecord(
                        relation.type,
                        subject.ref,
                        obj.ref,
                        props=props,
                        source_id=doc_id,
                        extractor=f"{EXTRACTOR_NAME}:pattern",
                        confidence=relation.confidence,
                        valid_from=parsed.date,
                    )
                )
        stages["resolve"] = time.perf_counter() - tick
        tick = time.perf_counter()
        if self.embedder is not None:
            vectors = self.embedder.embed(texts, "passage")
            for node, vector in zip((n for n in nodes if n.label == "Chunk"), vectors, strict=True):
                node.props["embedding"] = vector.tolist()
            self._embed_entities(nodes, entity_context)
        stages["embed"] = time.perf_counter() - tick
        tick = time.perf_counter()
        language = max(languages, key=languages.get) if languages else None
        document = NodeRecord(
            "Document",
            doc_id,
            {
                "title": parsed.title,
                "source_uri": parsed.source,
                "mime_type": parsed.mime_type,
                "language": language,
                "doc_type": fact_records.document_props.get("doc_type") or parsed.doc_type,
                "document_date": parsed.date or fact_records.document_props.get("document_date"),
                "ingested_at": now_iso(),
            },
        )
        for node in nodes:
            node.props["supported_by"] = [doc_id]
        written = self.store.upsert([document, *nodes], edges)
        refused = written.rejected
        if replacing:  # facts only the old version supported are closed
            self.store.release_source(doc_id, keep_edges=written.edge_keys, keep_nodes=[NodeRef(n.label, n.id) for n in nodes])
        if self.outbox is not None:  # the intent worker re-scores what these nodes and both ends of these edges can change
            ends = (ref for e in edges for ref in (e.src, e.dst))
            self.outbox.append([NodeRef("Document", doc_id), *(NodeRef(n.label, n.id) for n in nodes), *ends], doc_id)
        # the hash goes on last: only a fully written document counts as ingested
        self.store.upsert([NodeRecord("Document", doc_id, {"content_hash": digest})])
        stages["write"] = time.perf_counter() - tick
        if refused:
            problems = "; ".join(f"{r.item}: {r.reason}" for r in refused[:5])
            self.deadletter.record_failure(f"{parsed.source}#items", "document-items", f"{len(refused)} item(s) refused: {problems}")
        return FileResult(parsed.source, "added", doc_id, len(chunks), mention_count, relation_count, stages=stages)
