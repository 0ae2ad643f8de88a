"""Sample input files, generated with real tools (reportlab, python-docx, Pillow, e-mail)."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from bench import data as shared_data

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
ZH_NOTICE = "招标公告：上海交通大学医学院附属仁济医院采购超声设备，预算金额为人民币120万元。"
EN_NOTICE = "Acme Medical Inc. appointed John Smith, Chief Financial Officer of Beta Hospital GmbH, to the board."


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared real-data folder (KHUB_SHARED_DATA, else ../shared/data beside the repository)."""
    return shared_data.shared_data_dir()


def _scan_image(lines: list[str]):
    from PIL import Image, ImageDraw, ImageFont

    if not CJK_FONT.exists():
        pytest.fail(f"{CJK_FONT} is missing: apt-get install fonts-wqy-zenhei (bash .ci/system-deps.sh)")
    image = Image.new("RGB", (1654, 120 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(CJK_FONT), 48)
    for i, line in enumerate(lines):
        draw.text((80, 60 + 90 * i), line, font=font, fill="black")
    return image


def _text_pdf(path: Path, scan) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("WQY", str(CJK_FONT), subfontIndex=0))
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("WQY", 12)
    c.drawString(72, 780, ZH_NOTICE[:30])
    c.drawString(72, 760, EN_NOTICE)
    c.drawString(72, 740, "Bids are due on 31 December 2026. The maintenance contract runs three years.")
    c.showPage()
    c.drawImage(ImageReader(scan), 40, 500, width=515, height=int(515 * scan.height / scan.width))
    c.showPage()
    c.save()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of good inputs in every supported format."""
    import docx

    root = tmp_path_factory.mktemp("samples")
    scan = _scan_image(["投标截止日期：2026年12月31日", "Tender notice: budget RMB 1.2 million."])
    scan.save(root / "scan.png")
    _text_pdf(root / "notice.pdf", scan)
    document = docx.Document()
    document.add_heading("招标公告 Tender Notice", 1)
    document.add_paragraph(ZH_NOTICE)
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "评分项", (0, 1): "权重", (1, 0): "价格", (1, 1): "40%"}.items():
        table.cell(r, c).text = text
    document.save(root / "notice.docx")
    (root / "page.html").write_text(
        f"<html><head><meta charset='utf-8'><title>Tender</title></head><body><h1>招标公告</h1><p>{ZH_NOTICE}</p>"
        f"<p>{EN_NOTICE}</p><table><tr><th>Item</th><th>Weight</th></tr><tr><td>Price</td><td>40%</td></tr></table></body></html>",
        encoding="utf-8",
    )
    (root / "notes.md").write_text(f"# Meeting notes\n\n{EN_NOTICE}\n\n- follow up on the maintenance contract\n", encoding="utf-8")
    (root / "gbk.txt").write_bytes(f"{ZH_NOTICE}\n\n仁济医院设备科科长李明负责技术评估。\n".encode("gb18030"))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Li Ming <li.ming@renji.example>", "sales@medisupply.example", "超声设备维保 renewal"
    message["Date"] = "Tue, 24 Nov 2026 10:00:00 +0800"
    message.set_content(f"{EN_NOTICE}\n\nPlease find the scanned notice attached.\n")
    message.add_attachment((root / "scan.png").read_bytes(), maintype="image", subtype="png", filename="scan.png")
    message.add_attachment("附件说明：维保服务三年。".encode(), maintype="text", subtype="plain", filename="readme.txt")
    (root / "mail.eml").write_bytes(bytes(message))
    (root / "call.json").write_text(
        json.dumps(
            {
                "turns": [
                    {"speaker": "Li Ming", "timestamp": "00:00:05", "text": "We are worried the old ultrasound will fail before the tender closes."},
                    {"speaker": "Sales", "timestamp": "00:00:12", "text": "We can offer an extended warranty."},
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (root / "call.csv").write_text("speaker,timestamp,text\n王芳,00:01,预算已经批准。\nSales,00:02,好的。\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def bad_dir(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """A folder of inputs that must each fail with a clear message."""
    import pikepdf

    root = tmp_path_factory.mktemp("bad")
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<< broken >>>\n%%EOF")
    with pikepdf.open(sample_dir / "notice.pdf") as pdf:
        pdf.save(root / "encrypted.pdf", encryption=pikepdf.Encryption(owner="owner", user="secret"))
    (root / "empty.txt").write_bytes(b"")
    (root / "unknown-encoding.txt").write_bytes(bytes(range(0x80, 0x100)) * 4)
    with (root / "huge.txt").open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: 200 MB on paper, nothing on disk
    (root / "slides.pptx").write_bytes(b"PK\x03\x04not really")
    (root / "broken.json").write_text('{"turns": [ {"speaker": "A", ', encoding="utf-8")
    return root
