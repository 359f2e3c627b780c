"""Good, bad and odd upload files, made in code: each function returns the file's bytes."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable

from PIL import Image

RED = (220, 30, 30)
GREEN = (30, 200, 30)
BLUE = (30, 30, 220)

Members = Iterable[tuple[str, bytes]]


def encoded(image: Image.Image, format: str, **params: object) -> bytes:
    """Save a Pillow image to bytes in the given format."""
    out = io.BytesIO()
    image.save(out, format, **params)
    return out.getvalue()


def jpeg(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = RED) -> bytes:
    """A plain RGB JPEG of one colour."""
    return encoded(Image.new("RGB", size, colour), "JPEG", quality=95)


def png(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = GREEN) -> bytes:
    """A plain RGB PNG of one colour."""
    return encoded(Image.new("RGB", size, colour), "PNG")


def webp(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = BLUE) -> bytes:
    """A lossless RGB WebP of one colour."""
    return encoded(Image.new("RGB", size, colour), "WEBP", lossless=True)


def tiff(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = RED) -> bytes:
    """An uncompressed RGB TIFF of one colour."""
    return encoded(Image.new("RGB", size, colour), "TIFF")


def bmp(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = GREEN) -> bytes:
    """A 24-bit BMP of one colour."""
    return encoded(Image.new("RGB", size, colour), "BMP")


def grey_png(mode: str = "L", size: tuple[int, int] = (16, 16)) -> bytes:
    """A greyscale PNG in mode "1", "L" or "LA", mid-grey where the mode allows."""
    colour = {"1": 1, "L": 128, "LA": (128, 255)}[mode]
    return encoded(Image.new(mode, size, colour), "PNG")  # type: ignore[arg-type]


def animated_gif(colours: Iterable[tuple[int, int, int]] = (RED, GREEN, BLUE)) -> bytes:
    """A GIF with one frame per colour, first frame first."""
    frames = [Image.new("RGB", (32, 32), colour) for colour in colours]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def cmyk_jpeg(size: tuple[int, int] = (32, 32)) -> bytes:
    """A CMYK JPEG of pure red ink: no cyan, full magenta and yellow (Adobe, inverted)."""
    return encoded(Image.new("CMYK", size, (0, 255, 255, 0)), "JPEG", quality=95)


def png_16bit(
    values: Iterable[int] = (0, 256, 0x8000, 0xFFFF), transparent: int | None = None
) -> bytes:
    """A 16-bit greyscale PNG, one pixel per value in one row, maybe with a transparent grey."""
    values = list(values)
    image = Image.new("I;16", (len(values), 1))
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)
    if transparent is None:
        return encoded(image, "PNG")
    return encoded(image, "PNG", transparency=transparent)


def palette_png_transparent() -> bytes:
    """A palette PNG: left half transparent (index 0), right half opaque blue (index 1)."""
    image = Image.new("P", (32, 16), 0)
    image.putpalette([0, 0, 0, *BLUE] + [0, 0, 0] * 254)
    image.paste(1, (16, 0, 32, 16))
    return encoded(image, "PNG", transparency=0)


def rgba_png() -> bytes:
    """An RGBA PNG: left half fully transparent red, right half opaque red."""
    image = Image.new("RGBA", (32, 16), (*RED, 0))
    image.paste((*RED, 255), (16, 0, 32, 16))
    return encoded(image, "PNG")


def exif_rotated_jpeg() -> bytes:
    """A 60x40 JPEG, red left and blue right, tagged orientation 6 (shown turned clockwise)."""
    image = Image.new("RGB", (60, 40), RED)
    image.paste(BLUE, (30, 0, 60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(image, "JPEG", quality=95, exif=exif.tobytes())


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The first part of a file, as a broken upload leaves it."""
    return data[: int(len(data) * keep)]


def noisy_png(size: tuple[int, int] = (200, 200)) -> bytes:
    """A PNG of noise, big enough that cutting it loses real pixel data."""
    return encoded(Image.effect_noise(size, 60).convert("RGB"), "PNG")


def noisy_jpeg(size: tuple[int, int] = (200, 200)) -> bytes:
    """A JPEG of noise, big enough that cutting it loses real pixel data."""
    return encoded(Image.effect_noise(size, 60).convert("RGB"), "JPEG")


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims a huge 1-bit greyscale image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def gif_frame_bomb(width: int = 10000, height: int = 10000) -> bytes:
    """A GIF with a 1x1 screen whose first frame claims width x height (Pillow grows to it)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0x80) + b"\0" * 6
    pixels = b"\x02\x02\x44\x01\x00"  # LZW code size 2, one tiny sub-block, terminator
    return screen + frame + pixels + b";"


def text_file() -> bytes:
    """Plain text, as a mislabelled notes file would be."""
    return b"These are my product notes.\nNot a picture at all.\n"


def pdf_file() -> bytes:
    """The start of a PDF document."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"


def zip_archive(members: Members, *, compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip of (name, bytes) members, names kept exactly (even hostile ones)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compression)
    return out.getvalue()


def zip_symlink(name: str = "link.jpg", target: str = "/etc/passwd") -> bytes:
    """A zip whose one member is a Unix symbolic link to target."""
    info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(info, target)
    return out.getvalue()


def zip_encrypted(name: str = "secret.jpg", data: bytes = b"") -> bytes:
    """A zip whose central directory marks the member encrypted (the flag is what counts)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, data or jpeg())
        archive.getinfo(name).flag_bits |= 0x1  # written into the central directory on close
    return out.getvalue()


def zip_lying_size(name: str = "liar.bin", size: int = 1_000_000, declared: int = 1000) -> bytes:
    """A zip whose directory declares a member far smaller than it unpacks to."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, b"\0" * size)
        archive.getinfo(name).file_size = declared
    return out.getvalue()


def zip_of_zeros(name: str = "zeros.jpg", size: int = 20 * 1024**2) -> bytes:
    """A zip bomb in miniature: one member of zeros, a thousand times smaller packed."""
    return zip_archive([(name, b"\0" * size)], compression=zipfile.ZIP_DEFLATED)


def random_members(count: int = 100, size: int = 200_000) -> list[tuple[str, bytes]]:
    """Incompressible members, for checking that memory does not grow with the archive."""
    return [(f"photos/{index:03}.bin", os.urandom(size)) for index in range(count)]
