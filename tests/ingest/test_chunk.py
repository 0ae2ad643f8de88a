"""Structure-aware chunking with bounded size and exact offsets."""

from __future__ import annotations

from ingest.chunk import Element, chunk_elements, document_text


def test_titles_open_chunks_rows_stay_whole_and_offsets_are_exact():
    elements = [
        Element("title", "招标公告", 1),
        Element("text", "采购人：仁济医院。预算金额：人民币120万元。" * 3, 1),
        Element("title", "Technical requirements", 2),
        Element("text", "Probe frequency 2-5 MHz. " * 4, 2),
        Element("table_row", "| price | 40% |", 2),
        Element("text", "Sentence one is here. " * 100, 3),
        Element("text", "   ", 3),
    ]
    chunks = chunk_elements(elements, max_chars=300)
    full = document_text(elements)
    assert chunks[0].text.startswith("招标公告") and chunks[0].page == 1
    assert chunks[1].text.startswith("Technical requirements") and "| price | 40% |" in chunks[1].text
    assert all(len(c.text) <= 300 for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert full[c.start : c.end] == c.text
    tail = [c for c in chunks if c.page == 3]
    assert len(tail) >= 7 and all(c.text.endswith(".") for c in tail)


def test_unbroken_text_is_cut_hard():
    chunks = chunk_elements([Element("text", "维" * 1000)], max_chars=400)
    assert [len(c.text) for c in chunks] == [400, 400, 200]
