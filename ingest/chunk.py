"""Split a parsed document into chunks along its structure, each of bounded size.

Rules: a title starts a new chunk and stays with the text under it; paragraphs and list items
are packed together up to `max_chars`; each table row is its own unit (never cut in half
unless it alone is too long); text longer than `max_chars` is cut at sentence ends (English
and Chinese punctuation), then at spaces, then hard. Offsets refer to `document_text`, the
elements joined by blank lines, so mentions found in a chunk map back to the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_MAX_CHARS = 1200
SEPARATOR = "\n\n"
_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*")


@dataclass(frozen=True)
class Element:
    """A structural piece of a document as the parser saw it."""

    kind: str  # title, text, list_item, table_row, table, header, footer, ...
    text: str
    page: int | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: text, order, page, and offsets into the document text."""

    position: int
    text: str
    start: int
    end: int
    page: int | None
    kinds: tuple[str, ...]


def document_text(elements: Sequence[Element]) -> str:
    """The text that chunk offsets refer to."""
    return SEPARATOR.join(e.text for e in elements)


def _split_long(text: str, max_chars: int) -> Iterable[tuple[int, int]]:
    """(start, end) pieces of at most `max_chars`, preferring sentence ends, then spaces."""
    start = 0
    while len(text) - start > max_chars:
        window = text[start : start + max_chars]
        cut = 0
        for m in _SENTENCE_END.finditer(window):
            if m.end() > max_chars // 3:
                cut = m.end()
        if not cut:
            space = window.rfind(" ")
            cut = space + 1 if space > max_chars // 3 else max_chars
        yield start, start + cut
        start += cut
    if start < len(text):
        yield start, len(text)


def chunk_elements(elements: Sequence[Element], max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """Chunks of the document made of `elements` (see the module docstring for the rules)."""
    units: list[tuple[int, int, Element]] = []  # (start, end) in document_text, element
    offset = 0
    for element in elements:
        length = len(element.text)
        if element.text.strip():
            if length > max_chars:
                units.extend((offset + s, offset + e, element) for s, e in _split_long(element.text, max_chars))
            else:
                units.append((offset, offset + length, element))
        offset += length + len(SEPARATOR)
    full = document_text(elements)
    chunks: list[Chunk] = []
    current: list[tuple[int, int, Element]] = []

    def flush() -> None:
        if not current:
            return
        start, end = current[0][0], current[-1][1]
        text = full[start:end].strip()
        if text:
            lead = len(full[start:end]) - len(full[start:end].lstrip())
            chunks.append(
                Chunk(
                    position=len(chunks),
                    text=text,
                    start=start + lead,
                    end=start + lead + len(text),
                    page=next((e.page for _, _, e in current if e.page is not None), None),
                    kinds=tuple(dict.fromkeys(e.kind for _, _, e in current)),
                )
            )
        current.clear()

    for unit in units:
        start, end, element = unit
        size = end - current[0][0] if current else end - start
        starts_section = element.kind == "title" and current and current[-1][2].kind != "title"
        if current and (size > max_chars or starts_section):
            flush()
        current.append(unit)
    flush()
    return chunks
