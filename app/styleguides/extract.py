"""Turn an uploaded style guide (PDF, Markdown or plain text) into text.

The format is sniffed from the bytes, never trusted from the name: `%PDF-` near the start
means a PDF (its text layer is read with pypdf); anything else must decode as text. Text is
read as UTF-8 (with or without a BOM), as UTF-16 when it starts with a UTF-16 BOM, and
otherwise as Windows-1252 (a superset of Latin-1 that older Word exports use) provided it has
no control bytes other than tab, CR, LF and form feed. NUL bytes always mean binary. The file
name only tells Markdown (`.md`, `.markdown`) from plain text once the bytes are known to be
text.

A PDF is read within a budget: at most `max_pages` pages and `max_seconds` of work, checked
between pages and between the drawing commands of a page. pypdf parses a page's content
stream in one uninterruptible step, so a page whose content stream unpacks to more than
`_MAX_PAGE_CONTENT_BYTES` is refused before it is parsed.
"""

import codecs
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError

PDF = "application/pdf"
MARKDOWN = "text/markdown"
PLAIN = "text/plain"

_MARKDOWN_SUFFIXES = {".md", ".markdown"}
# The PDF spec lets readers accept a header anywhere in the first 1024 bytes.
_PDF_HEADER_WINDOW = 1024
# C0 control bytes that no legible 8-bit text contains (tab, LF, FF and CR are allowed).
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NOT_TEXT = "not a PDF, Markdown or text file"
# About 4 s of parsing on a slow core; a page of text is tens of kilobytes.
_MAX_PAGE_CONTENT_BYTES = 2 * 1024**2
_TOO_SLOW = "reading the PDF's text took longer than {:g} s; upload it as text or Markdown"


class Unreadable(Exception):
    """str(exc) is a reason a person understands."""


class _OutOfTime(Exception):
    """The PDF's time budget ran out (raised from inside pypdf's page walk)."""


@dataclass(frozen=True)
class ExtractedText:
    """The text of a style guide and the media type it was read as."""

    text: str
    media_type: str  # "application/pdf" | "text/markdown" | "text/plain"


def styleguide_extract(
    data: bytes,
    *,
    filename: str,
    max_bytes: int,
    max_pages: int = 500,
    max_seconds: float = 20.0,
) -> ExtractedText:
    """Read the text of an uploaded style guide or raise Unreadable with the reason."""
    if len(data) > max_bytes:
        raise Unreadable(f"the file is larger than the {_size(max_bytes)} limit")
    if _is_pdf(data):
        text, media_type = _pdf_text(data, max_pages=max_pages, max_seconds=max_seconds), PDF
    else:
        text, media_type = _decode_text(data), _text_media_type(filename)
    text = _normalise_newlines(text)
    if not text.strip():
        raise Unreadable("the style guide is empty")
    return ExtractedText(text=text, media_type=media_type)


def _is_pdf(data: bytes) -> bool:
    """True when the bytes carry a PDF header."""
    return b"%PDF-" in data[:_PDF_HEADER_WINDOW]


def _size(n: int) -> str:
    """A byte count for people: `5 MB`, `2.5 MB`, `512 KB` (binary units)."""
    if n >= 2**20:
        return f"{n / 2**20:.3g} MB"
    return f"{max(n, 1) / 2**10:.3g} KB"


def _text_media_type(filename: str) -> str:
    """Markdown for `.md`/`.markdown` names, plain text otherwise."""
    return MARKDOWN if PurePath(filename).suffix.lower() in _MARKDOWN_SUFFIXES else PLAIN


def _normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_text(data: bytes) -> str:
    """Decode text bytes by BOM, then UTF-8, then Windows-1252; reject binary."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data, "utf-16")
    if b"\x00" in data:
        raise Unreadable(_NOT_TEXT)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Not UTF-8: accept it as legacy 8-bit text only if it looks like text at all.
    if _CONTROL_BYTES.search(data):
        raise Unreadable(_NOT_TEXT)
    return _decode(data, "cp1252")


def _decode(data: bytes, encoding: str) -> str:
    """Decode strictly, turning failure into Unreadable."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise Unreadable(_NOT_TEXT) from None
    if "\x00" in text:
        raise Unreadable(_NOT_TEXT)
    return text.removeprefix("\ufeff")


def _pdf_text(data: bytes, *, max_pages: int, max_seconds: float) -> str:
    """The text of every page, pages separated by a blank line, within the budget."""
    deadline = time.monotonic() + max_seconds

    def on_time(*_: object) -> None:
        if time.monotonic() > deadline:
            raise _OutOfTime

    reader = _pdf_open(data)
    try:
        if len(reader.pages) > max_pages:
            raise Unreadable(
                f"the PDF has {len(reader.pages):,} pages, over the limit of {max_pages:,}"
            )
        pages = [_page_text(page, number, on_time) for number, page in enumerate(reader.pages, 1)]
    except _OutOfTime:
        raise Unreadable(_TOO_SLOW.format(max_seconds)) from None
    except Unreadable:
        raise
    # pypdf raises many exception types on damaged content streams; any of them means the
    # upload is unreadable, and the person needs that answer rather than a 500.
    except Exception as exc:
        raise Unreadable("the PDF is damaged and its text cannot be read") from exc
    text = "\n\n".join(page for page in pages if page)
    if not text:
        raise Unreadable("the PDF has no text layer (scanned?)")
    return text


def _page_text(page: PageObject, number: int, on_time: Callable[..., None]) -> str:
    """One page's text, refusing a page too big to parse and checking the clock as it goes."""
    on_time()
    contents = page.get_contents()
    if contents is not None and len(contents.get_data()) > _MAX_PAGE_CONTENT_BYTES:
        raise Unreadable(f"page {number} of the PDF is too complex to read its text")
    return (page.extract_text(visitor_operand_before=on_time) or "").strip()


def _pdf_open(data: bytes) -> PdfReader:
    """Open a PDF, decrypting it with the empty password when it is encrypted."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise Unreadable("the PDF is password-protected")
    except DependencyError as exc:
        # AES needs a crypto library the server may lack; the owner can re-save unencrypted.
        raise Unreadable("the PDF is encrypted in a way that cannot be read here") from exc
    except Unreadable:
        raise
    except Exception as exc:  # see _pdf_text: pypdf's failures are not one type
        raise Unreadable("the PDF is damaged and cannot be opened") from exc
    return reader
