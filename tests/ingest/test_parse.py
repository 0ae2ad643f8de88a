"""Parsing every supported format offline, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.parse import decode_text, discover, parse_file, remove_cjk_spaces
from ontology.errors import BadInput


def texts(parsed) -> str:
    return "\n".join(e.text for e in parsed.elements)


def test_pdf_text_layer_and_ocr_of_the_scanned_page(sample_dir: Path):
    parsed = parse_file(sample_dir / "notice.pdf")
    assert parsed.mime_type == "application/pdf"
    assert parsed.metadata["ocr_pages"] == [2]
    page1 = " ".join(e.text for e in parsed.elements if e.page == 1)
    page2 = " ".join(e.text for e in parsed.elements if e.page == 2)
    assert "John Smith" in page1 and "上海交通大学医学院附属仁济医院" in page1  # the top line too, though laid out like a header
    assert "2026年12月31日" in page2  # OCR, with the spaces between Chinese characters removed


def test_image_ocr_in_chinese_and_english(sample_dir: Path):
    text = texts(parse_file(sample_dir / "scan.png"))
    assert "投标截止日期" in text and "2026年12月31日" in text
    assert "budget RMB 1.2 million" in text


def test_docx_html_markdown_keep_structure(sample_dir: Path):
    docx = parse_file(sample_dir / "notice.docx")
    assert docx.elements[0].kind == "title" and "Tender Notice" in docx.elements[0].text
    assert [e.text for e in docx.elements if e.kind == "table_row"] == ["评分项 | 权重", "价格 | 40%"]
    html = parse_file(sample_dir / "page.html")
    assert [e.text for e in html.elements if e.kind == "table_row"] == ["Item | Weight", "Price | 40%"]
    assert any(e.kind == "title" and e.text == "招标公告" for e in html.elements)
    md = parse_file(sample_dir / "notes.md")
    assert md.title == "Meeting notes" and any(e.kind == "list_item" for e in md.elements)


def test_gb18030_text_is_decoded(sample_dir: Path):
    assert "设备科科长李明" in texts(parse_file(sample_dir / "gbk.txt"))


def test_email_with_attachments_including_a_scan(sample_dir: Path):
    parsed = parse_file(sample_dir / "mail.eml")
    assert parsed.title == "超声设备维保 renewal" and parsed.date == "2026-11-24"
    body = texts(parsed)
    assert "John Smith" in body
    assert "Attachment: scan.png" in body and "投标截止日期" in body
    assert "Attachment: readme.txt" in body and "维保服务三年" in body


def test_transcripts_json_and_csv(sample_dir: Path):
    call = parse_file(sample_dir / "call.json")
    assert call.doc_type == "transcript"
    assert call.elements[0].text == "[00:00:05] Li Ming: We are worried the old ultrasound will fail before the tender closes."
    assert [e.text for e in parse_file(sample_dir / "call.csv").elements] == ["[00:01] 王芳: 预算已经批准。", "[00:02] Sales: 好的。"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("corrupt.pdf", "corrupt PDF"),
        ("encrypted.pdf", "encrypted"),
        ("empty.txt", "the file is empty"),
        ("unknown-encoding.txt", "unknown text encoding"),
        ("slides.pptx", "not DOCX is not supported"),
        ("broken.json", "malformed JSON at line 1"),
    ],
)
def test_bad_files_fail_with_a_message_naming_them(bad_dir: Path, name: str, message: str):
    with pytest.raises(BadInput) as info:
        parse_file(bad_dir / name)
    assert str(bad_dir / name) in str(info.value) and message in str(info.value)


def test_discover_files_folders_globs_and_missing(sample_dir: Path, tmp_path: Path):
    (sample_dir / ".hidden").mkdir(exist_ok=True)
    (sample_dir / ".hidden" / "secret.txt").write_text("x")
    found, missing = discover([sample_dir, str(sample_dir / "*.pdf"), tmp_path / "nope.txt"])
    names = [p.name for p in found]
    assert "notice.pdf" in names and names.count("notice.pdf") == 1
    assert "secret.txt" not in names
    assert missing == [str(tmp_path / "nope.txt")]


def test_text_helpers():
    assert remove_cjk_spaces("招 标 公 告 : ABC 预 算") == "招标公告 : ABC 预算"
    assert decode_text("\ufeffhello".encode(), "x") == "hello"
    with pytest.raises(BadInput, match="binary data"):
        decode_text(b"\x00\x01\x02binary", "x")
