"""Image validation: what an uploaded file is, whether we take it, and its RGB pixels."""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from PIL import Image, ImageFile, ImageMath, ImageOps

if TYPE_CHECKING:
    from app.config import Settings


@dataclass(frozen=True)
class Limits:
    """How much one upload may cost us: bytes, pixels, archive members, thumbnail size."""

    max_file_bytes: int = 50 * 1024**2
    max_pixels: int = 40_000_000
    max_archive_members: int = 10_000
    max_archive_uncompressed_bytes: int = 4 * 1024**3
    max_request_unpacked_bytes: int = 4 * 1024**3
    thumbnail_size: int = 320

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits the settings name (a request's, the CLI's, a worker's)."""
        return cls(
            max_file_bytes=settings.MAX_FILE_BYTES,
            max_pixels=settings.MAX_IMAGE_PIXELS,
            max_archive_members=settings.MAX_ARCHIVE_MEMBERS,
            max_archive_uncompressed_bytes=settings.MAX_ARCHIVE_UNCOMPRESSED_BYTES,
            max_request_unpacked_bytes=settings.MAX_REQUEST_UNPACKED_BYTES,
            thumbnail_size=settings.THUMBNAIL_SIZE,
        )


class Rejected(Exception):
    """A file refused, with a reason a person understands (str(exc))."""


@dataclass(frozen=True)
class CheckedImage:
    """An image that passed image_check, with what we learned decoding it. `source` is the
    file it was read from (seek to 0 to store it): the bytes are never held whole here."""

    source: IO[bytes]
    size: int
    sha256: str
    format: str
    mode: str
    width: int
    height: int
    thumbnail: bytes


# Pillow registry names, tried in this order; the name tried is the format we report, so a JPEG
# that Pillow reads as MPO (a phone's multi-picture JPEG) is still "JPEG".
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
_ACCEPTED = "we accept JPEG, PNG, WebP, GIF, TIFF and BMP"

# What Pillow's readers raise on damaged or hostile input (its own fuzzing treats these as
# expected); anything else is a bug worth seeing.
_CORRUPT = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    struct.error,
)

_TIMES = "\N{MULTIPLICATION SIGN}"
_OTHER_KINDS = (
    (b"%PDF", "it is a PDF document"),
    (b"PK\x03\x04", "it is a zip archive"),
    (b"\x1f\x8b", "it is a gzip file"),
    (b"8BPS", "it is a Photoshop file"),
    (b"<svg", "it is an SVG drawing"),
    (b"<?xml", "it is an XML file"),
)


def image_check(source: bytes | IO[bytes], *, limits: Limits) -> CheckedImage:
    """Decode an uploaded file (its bytes, or a seekable file of them) fully and describe it,
    or raise Rejected saying why not."""
    fileobj = io.BytesIO(source) if isinstance(source, bytes) else source
    size = _check_size(fileobj, limits=limits)
    sha256 = _sha256(fileobj)
    with _bomb_guard():
        image, format_name = _decoded(fileobj, max_pixels=limits.max_pixels)
        mode = image.mode
        _orient(image)
        rgb = _to_rgb(image)
    width, height = rgb.size  # before the thumbnail shrinks rgb in place
    return CheckedImage(
        source=fileobj,
        size=size,
        sha256=sha256,
        format=format_name,
        mode=mode,
        width=width,
        height=height,
        thumbnail=_thumbnail(rgb, size=limits.thumbnail_size),
    )


def image_to_rgb(data: bytes, *, limits: Limits = Limits()) -> Image.Image:
    """Decode an accepted file to upright RGB pixels (first frame; alpha laid on white)."""
    fileobj = io.BytesIO(data)
    _check_size(fileobj, limits=limits)
    with _bomb_guard():
        image, _ = _decoded(fileobj, max_pixels=limits.max_pixels)
        _orient(image)
        return _to_rgb(image)


def is_zip(data_head: bytes) -> bool:
    """Whether these first bytes start a zip archive (a member or an empty one)."""
    return data_head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def readable_size(size: int) -> str:
    """Format a byte count for people: "50 MB", "0.3 MB", "12 KB", "900 bytes"."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024**2 // 10:
        return f"{size / 1024:.0f} KB"
    return f"{round(size / 1024**2, 1):g} MB"


def _check_size(fileobj: IO[bytes], *, limits: Limits) -> int:
    """Refuse empty files and files over the byte limit before any parsing; the size."""
    size = fileobj.seek(0, io.SEEK_END)
    if not size:
        raise Rejected("the file is empty")
    if size > limits.max_file_bytes:
        said, limit = readable_size(size), readable_size(limits.max_file_bytes)
        raise Rejected(f"the file is {said}, over the {limit} limit")
    return size


def _sha256(fileobj: IO[bytes]) -> str:
    """The file's sha256, read a chunk at a time."""
    fileobj.seek(0)
    digest = hashlib.sha256()
    while chunk := fileobj.read(1024**2):
        digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _bomb_guard() -> Iterator[None]:
    """Turn Pillow's own decompression-bomb warning or error into a refusal."""
    # Pillow still checks frame and tile sizes while parsing and loading (GIF, TIFF, WebP), and
    # below twice its global limit it only warns, letting the decode go on: make that an error.
    # catch_warnings swaps process-wide filters (not thread-safe before Python 3.14); a racing
    # thread can leave the filter on (stricter) or drop it early, when the warning is only a
    # warning and _check_pixels on the grown size is still the gate.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise Rejected("the image is too large to decode safely") from exc


def _decoded(fileobj: IO[bytes], *, max_pixels: int) -> tuple[ImageFile.ImageFile, str]:
    """Identify, size-check and fully decode the first frame."""
    image, format_name = _parsed(fileobj)
    _check_pixels(image.size, max_pixels=max_pixels)
    try:
        image.load()
    except _CORRUPT as exc:
        raise Rejected("the image is truncated or corrupt") from exc
    return image, format_name


def _parsed(fileobj: IO[bytes]) -> tuple[ImageFile.ImageFile, str]:
    """Read only the header, with Pillow's readers for the formats we accept."""
    # Not Image.open: it refuses very large images itself, against its global MAX_IMAGE_PIXELS
    # and without saying the dimensions. Calling the same registered readers lets
    # Limits.max_pixels decide, with a message a person can act on, and leaves the global alone.
    Image.init()
    fileobj.seek(0)
    head = fileobj.read(512)
    for name in FORMATS:
        reader, accept = Image.OPEN[name]
        verdict = accept(head[:16]) if accept else True
        if verdict is not True:
            continue
        try:
            fileobj.seek(0)
            return reader(fileobj, ""), name
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue  # what Image.open also takes to mean "not this format"
        except _CORRUPT as exc:
            raise Rejected("the image is truncated or corrupt") from exc
    raise Rejected(f"not an image we accept ({_describe(head)}; {_ACCEPTED})")


def _check_pixels(size: tuple[int, int], *, max_pixels: int) -> None:
    """Refuse a decompression bomb from its header, before a pixel is decoded."""
    width, height = size
    if width * height > max_pixels:
        raise Rejected(
            f"image is {width}{_TIMES}{height} pixels ({width * height / 1e6:.1f} MP); "
            f"the limit is {max_pixels / 1e6:.1f} MP"
        )


def _orient(image: Image.Image) -> None:
    """Turn the image upright as its EXIF orientation says, in place."""
    # A broken EXIF block should not cost a picture whose pixels decode fine.
    with contextlib.suppress(*_CORRUPT):
        ImageOps.exif_transpose(image, in_place=True)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Normalise any decoded mode to 8-bit RGB; transparency is laid on white."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        image = _grey_to_8_bits(image)
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, "white")
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    if image.mode == "RGB":
        return image  # already what we want: convert() would copy every pixel
    return image.convert("RGB")


def _grey_to_8_bits(image: Image.Image) -> Image.Image:
    """Scale 16-bit greyscale down to L, or to LA when the file names a transparent grey."""
    wide = image.convert("I")
    # convert("L") would clip everything above 255 to white; divide instead.
    grey = wide.point(lambda value: value / 256).convert("L")
    key = grey.info.pop("transparency", None)
    if not isinstance(key, int):
        return grey
    # Pillow would cut the 16-bit transparency key to 8 bits; match it at full depth.
    alpha = ImageMath.lambda_eval(lambda args: (args["image"] != key) * 255, image=wide)
    return Image.merge("LA", (grey, alpha.convert("L")))


def _thumbnail(rgb: Image.Image, *, size: int) -> bytes:
    """Shrink (never enlarge) to fit a size-by-size box and encode as WebP."""
    rgb.thumbnail((size, size))
    out = io.BytesIO()
    rgb.save(out, "WEBP", quality=80)
    return out.getvalue()


def _describe(head: bytes) -> str:
    """Say in a few words what a file we could not read as an image seems to be, from its
    first 512 bytes."""
    for magic, what in _OTHER_KINDS:
        if head.lstrip().startswith(magic):
            return what
    if head[4:8] == b"ftyp":
        return "it is a HEIC, AVIF or video file"
    if _looks_like_text(head):
        return "it is text, not an image"
    return "the format is not one we recognise"


def _looks_like_text(head: bytes) -> bool:
    """Whether these bytes read as UTF-8 text without control bytes."""
    try:
        # An incremental decoder forgives a character cut in half at the end of the sample.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return not any(ord(char) < 32 and char not in "\t\r\n\f" for char in text)
