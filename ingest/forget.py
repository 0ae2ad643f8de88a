"""`khub forget SOURCE`: remove what only one source (a document, an event) supported.

A document's own nodes go (the Document, its chunks and their mentions, by cascade); every
other edge and node loses that source from its `supported_by`; what no other source supports
is deleted. What another source also asserted stays, with its remaining provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from graph.store import GraphStore, NodeRef
from ingest.pipeline import document_id

#: Source ids khub writes itself: documents (`doc-…`) and events (`event:…`).
_SOURCE_ID_PREFIXES = ("doc-", "event:")


@dataclass
class ForgetReport:
    """What forgetting one source removed."""

    source: str
    source_id: str
    document_deleted: bool = False
    nodes_deleted: list[NodeRef] = field(default_factory=list)
    edges_deleted: int = 0
    edges_kept: int = 0

    def summary(self) -> dict[str, object]:
        """The report as plain data (for `--json`)."""
        labels: dict[str, int] = {}
        for ref in self.nodes_deleted:
            labels[ref.label] = labels.get(ref.label, 0) + 1
        return {
            "source": self.source,
            "source_id": self.source_id,
            "document_deleted": self.document_deleted,
            "nodes_deleted": labels,
            "edges_deleted": self.edges_deleted,
            "edges_kept_with_other_support": self.edges_kept,
        }


def source_id_of(source: str) -> str:
    """The source id khub recorded for `source`: a source id as is, else the document id of a
    URI or of a path (resolved as ingest resolved it; the file itself may be gone)."""
    if source.startswith(_SOURCE_ID_PREFIXES):
        return source
    if "://" in source:
        return document_id(source)
    return document_id(str(Path(source).expanduser().resolve()))


def forget(store: GraphStore, source: str) -> ForgetReport:
    """Remove `source`'s document and everything only it supported; keep what others support."""
    report = ForgetReport(source, source_id_of(source))
    doc = NodeRef("Document", report.source_id)
    if store.get(doc) is not None:
        deleted = store.delete(doc)
        report.document_deleted = True
        report.nodes_deleted += deleted.nodes_deleted
        report.edges_deleted += deleted.edges_deleted
    released = store.release_source(report.source_id, forget=True)
    report.edges_deleted += released.edges_deleted
    report.edges_kept = released.edges_released - released.edges_deleted
    report.nodes_deleted += released.nodes_deleted
    return report
