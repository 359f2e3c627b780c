import io
import time

import pytest
from fpdf import FPDF
from PIL import Image

from app.styleguides.extract import ExtractedText, Unreadable, styleguide_extract

LIMIT = 2**20


def extract(data: bytes, filename: str = "guide.txt", max_bytes: int = LIMIT) -> ExtractedText:
    return styleguide_extract(data, filename=filename, max_bytes=max_bytes)


def pdf(*pages: str, user_password: str | None = None, owner_password: str = "") -> bytes:
    doc = FPDF()
    doc.set_font("helvetica", size=12)
    for text in pages:
        doc.add_page()
        doc.multi_cell(0, 8, text)
    if user_password is not None or owner_password:
        doc.set_encryption(owner_password=owner_password or "owner", user_password=user_password)
    return bytes(doc.output())


def unreadable(data: bytes, filename: str = "guide.txt", max_bytes: int = LIMIT) -> str:
    with pytest.raises(Unreadable) as caught:
        extract(data, filename, max_bytes)
    return str(caught.value)


def test_pdf_one_page() -> None:
    result = extract(pdf("Prefer: calfskin (not: leather)"), "guide.pdf")
    assert result.media_type == "application/pdf"
    assert "Prefer: calfskin (not: leather)" in result.text


def test_pdf_pages_are_joined_with_a_blank_line() -> None:
    result = extract(pdf("Maison voice", "Avoid: cheap, bargain"), "guide.pdf")
    assert result.text == "Maison voice\n\nAvoid: cheap, bargain"


def test_pdf_is_sniffed_whatever_its_name() -> None:
    assert extract(pdf("Maison voice"), "guide.md").media_type == "application/pdf"


def test_pdf_with_owner_password_only_opens() -> None:
    result = extract(pdf("Maison voice", owner_password="secret"), "guide.pdf")
    assert result.text == "Maison voice"


def test_pdf_with_user_password_is_unreadable() -> None:
    data = pdf("Maison voice", user_password="secret")
    assert unreadable(data, "guide.pdf") == "the PDF is password-protected"


def test_pdf_without_text_layer_is_unreadable() -> None:
    doc = FPDF()
    doc.add_page()
    doc.set_fill_color(120, 20, 40)
    doc.rect(20, 20, 100, 60, style="F")
    data = bytes(doc.output())
    assert unreadable(data, "scan.pdf") == "the PDF has no text layer (scanned?)"


def test_broken_pdf_is_unreadable() -> None:
    data = pdf("Maison voice")
    assert "PDF" in unreadable(data[: len(data) // 3], "guide.pdf")
    assert "PDF" in unreadable(b"%PDF-1.7\n" + b"garbage " * 50, "guide.pdf")


def test_markdown_by_extension() -> None:
    for name in ("guide.md", "GUIDE.MARKDOWN", "dir/x.Md"):
        assert extract(b"# Voice\n", name).media_type == "text/markdown"


def test_plain_text_otherwise() -> None:
    for name in ("guide.txt", "guide", "guide.rst", "guide.md.txt"):
        assert extract(b"Voice\n", name).media_type == "text/plain"


def test_utf8_with_and_without_bom() -> None:
    text = "Prefer: crème (not: cream) — déjà vu\n"
    assert extract(text.encode()).text == text
    assert extract(b"\xef\xbb\xbf" + text.encode()).text == text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(encoding: str) -> None:
    text = "Prefer: crème (not: cream)\n"
    data = text.encode(encoding)
    if encoding != "utf-16":  # the explicit-endian codecs write no BOM
        data = "\ufeff".encode(encoding) + data
    assert extract(data, "guide.md") == ExtractedText(text, "text/markdown")


def test_latin1_falls_back_to_cp1252() -> None:
    data = "Prefer: crème brûlée (not: custard)\n".encode("latin-1") + b"\x93quoted\x94\n"
    assert extract(data).text == "Prefer: crème brûlée (not: custard)\n\u201cquoted\u201d\n"


def test_newlines_are_normalised() -> None:
    assert extract(b"one\r\ntwo\rthree\n\fpage").text == "one\ntwo\nthree\n\fpage"


@pytest.mark.parametrize("filename", ["logo.png", "guide.md", "guide.txt"])
def test_binary_is_rejected_whatever_its_name(filename: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 20, 40)).save(buffer, "PNG")
    assert unreadable(buffer.getvalue(), filename) == "not a PDF, Markdown or text file"


def test_nul_bytes_are_binary() -> None:
    assert unreadable(b"Prefer: calfskin\x00\x00") == "not a PDF, Markdown or text file"


def test_control_bytes_in_non_utf8_are_binary() -> None:
    assert unreadable(b"caf\xe9\x01\x02") == "not a PDF, Markdown or text file"


def test_bytes_undefined_in_cp1252_are_binary() -> None:
    assert unreadable(b"caf\xe9 \x81") == "not a PDF, Markdown or text file"


@pytest.mark.parametrize(
    "data", [b"", b"  \n\t\r\n", b"\xef\xbb\xbf\n", "\ufeff ".encode("utf-16")]
)
def test_empty_is_rejected(data: bytes) -> None:
    assert unreadable(data) == "the style guide is empty"


def test_too_big_is_rejected_with_the_limit() -> None:
    message = unreadable(b"a" * (5 * 2**20 + 1), max_bytes=5 * 2**20)
    assert message == "the file is larger than the 5 MB limit"


def test_small_limits_are_shown_in_kilobytes() -> None:
    assert unreadable(b"a" * 2000, max_bytes=1024) == "the file is larger than the 1 KB limit"


def test_exactly_the_limit_is_accepted() -> None:
    assert extract(b"a" * 100, max_bytes=100).text == "a" * 100


def test_pdf_over_the_page_limit_is_unreadable() -> None:
    data = pdf("Maison voice", "Prefer: calfskin", "Avoid: cheap")
    with pytest.raises(Unreadable, match=r"^the PDF has 3 pages, over the limit of 2$"):
        styleguide_extract(data, filename="guide.pdf", max_bytes=LIMIT, max_pages=2)
    assert extract(data, "guide.pdf").text.count("\n\n") == 2  # within the default: read


def test_pdf_past_its_time_budget_is_unreadable() -> None:
    data = pdf(*["Prefer: calfskin (not: leather)"] * 20)
    with pytest.raises(Unreadable, match=r"took longer than 0 s; upload it as text or Markdown"):
        styleguide_extract(data, filename="guide.pdf", max_bytes=LIMIT, max_seconds=0)


def test_pdf_page_too_big_to_parse_is_unreadable() -> None:
    # 80,000 drawing commands compress to 18 KB but unpack to 2.5 MB of content stream,
    # which pypdf would parse in one step that no budget can interrupt.
    doc = FPDF()
    doc.set_font("helvetica", size=12)
    doc.add_page()
    doc.text(10, 10, "Prefer: calfskin")
    for i in range(80_000):
        doc.line(1, 1, 2 + i % 100, 3)
    started = time.monotonic()
    assert unreadable(bytes(doc.output()), "guide.pdf") == (
        "page 1 of the PDF is too complex to read its text"
    )
    assert time.monotonic() - started < 2
