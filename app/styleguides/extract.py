"""Turn an uploaded style guide (PDF, Markdown or plain text) into text.

The format is sniffed from the bytes, never trusted from the name: `%PDF-` near the start
means a PDF (its text layer is read with pypdf); anything else must decode as text. Text is
read as UTF-8 (with or without a BOM), as UTF-16 when it starts with a UTF-16 BOM, and
otherwise as Windows-1252 (a superset of Latin-1 that older Word exports use) provided it has
no control bytes other than tab, CR, LF and form feed. NUL bytes always mean binary. The file
name only tells Markdown (`.md`, `.markdown`) from plain text once the bytes are known to be
text.
"""

import codecs
import io
import re
from dataclasses import dataclass
from pathlib import PurePath

from pypdf import PasswordType, PdfReader
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


class Unreadable(Exception):
    """str(exc) is a reason a person understands."""


@dataclass(frozen=True)
class ExtractedText:
    """The text of a style guide and the media type it was read as."""

    text: str
    media_type: str  # "application/pdf" | "text/markdown" | "text/plain"


def styleguide_extract(data: bytes, *, filename: str, max_bytes: int) -> ExtractedText:
    """Read the text of an uploaded style guide or raise Unreadable with the reason."""
    if len(data) > max_bytes:
        raise Unreadable(f"the file is larger than the {_size(max_bytes)} limit")
    if _is_pdf(data):
        text, media_type = _pdf_text(data), PDF
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


def _pdf_text(data: bytes) -> str:
    """The text of every page, pages separated by a blank line."""
    reader = _pdf_open(data)
    try:
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    # pypdf raises many exception types on damaged content streams; any of them means the
    # upload is unreadable, and the person needs that answer rather than a 500.
    except Exception as exc:
        raise Unreadable("the PDF is damaged and its text cannot be read") from exc
    text = "\n\n".join(page for page in pages if page)
    if not text:
        raise Unreadable("the PDF has no text layer (scanned?)")
    return text


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
