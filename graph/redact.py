"""Masking text: a person's names, e-mail or phone in a passage, one block character per character.

Offsets stay valid (a masked span keeps its length), so the other mentions of a passage still point
at their words; whitespace is kept. Used where a passage leaves the graph for a purpose that may not
use a person's identity (`graph.reads`), and where a person is erased (`reasoning.erasure`) or comes
back in a re-ingested source (`ingest.suppression`).
"""

from __future__ import annotations

from collections.abc import Iterable

#: What a masked character becomes.
MASK = "█"
#: The privacy categories that identify or reach a person (names, e-mail, phone): what is masked.
IDENTIFYING = frozenset({"identity", "contact"})


def mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with each (start, end) span replaced by as many `MASK` characters (whitespace kept)."""
    chars = list(text)
    for start, end in spans:
        for i in range(max(0, start), min(len(chars), end)):
            if not chars[i].isspace():
                chars[i] = MASK
    return "".join(chars)


def occurrences(text: str, values: Iterable[str]) -> list[tuple[int, int]]:
    """Spans of every case-insensitive occurrence of each value (two characters or more) in `text`."""
    spans: list[tuple[int, int]] = []
    lowered = text.lower()
    for value in {v.lower() for v in values if v and len(v.strip()) >= 2}:
        start = lowered.find(value)
        while start >= 0:
            spans.append((start, start + len(value)))
            start = lowered.find(value, start + 1)
    return spans
