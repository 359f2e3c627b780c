"""image_check and image_to_rgb against real files, good, bad and odd, made by tests.corpus."""

import hashlib
import io
import warnings
from collections.abc import Callable

import pytest
from PIL import Image

from app.assets.images import Limits, Rejected, image_check, image_to_rgb, is_zip
from app.config import Settings
from app.deps import get_limits
from tests import corpus

LIMITS = Limits()
TIMES = "\N{MULTIPLICATION SIGN}"


def close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    """Whether two RGB pixels match within lossy-compression slack."""
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


@pytest.mark.parametrize(
    ("make", "format", "colour"),
    [
        (corpus.jpeg, "JPEG", corpus.RED),
        (corpus.png, "PNG", corpus.GREEN),
        (corpus.webp, "WEBP", corpus.BLUE),
        (corpus.tiff, "TIFF", corpus.RED),
        (corpus.bmp, "BMP", corpus.GREEN),
        (corpus.animated_gif, "GIF", corpus.RED),
    ],
)
def test_accepted_formats_are_described_and_thumbnailed(
    make: Callable[[], bytes], format: str, colour: tuple[int, int, int]
) -> None:
    data = make()
    checked = image_check(data, limits=LIMITS)
    checked.source.seek(0)
    assert (checked.format, checked.source.read(), checked.size) == (format, data, len(data))
    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    thumbnail = Image.open(io.BytesIO(checked.thumbnail))
    assert (thumbnail.format, thumbnail.mode) == ("WEBP", "RGB")
    assert thumbnail.size == (checked.width, checked.height)  # small images are not enlarged
    assert close(thumbnail.getpixel((4, 4)), colour, tolerance=20)  # type: ignore[arg-type]


def test_thumbnail_fits_the_box_and_keeps_the_aspect_ratio() -> None:
    checked = image_check(corpus.jpeg(size=(1000, 500)), limits=Limits(thumbnail_size=200))
    assert (checked.width, checked.height) == (1000, 500)
    assert Image.open(io.BytesIO(checked.thumbnail)).size == (200, 100)


def test_format_comes_from_the_bytes_not_the_name() -> None:
    assert image_check(corpus.png(), limits=LIMITS).format == "PNG"


def test_empty_file_is_refused() -> None:
    with pytest.raises(Rejected, match="the file is empty"):
        image_check(b"", limits=LIMITS)


def test_file_over_the_byte_limit_is_refused_in_mb() -> None:
    data = corpus.noisy_png((400, 400))
    with pytest.raises(Rejected, match=r"the file is 0\.4 MB, over the 0\.2 MB limit"):
        image_check(data, limits=Limits(max_file_bytes=200 * 1024))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (corpus.text_file(), "it is text"),
        (corpus.pdf_file(), "it is a PDF document"),
        (corpus.zip_archive([("a.jpg", corpus.jpeg())]), "it is a zip archive"),
        (b"\x00\x01\x02\x03" * 40, "not one we recognise"),
        (corpus.encoded(Image.new("RGB", (8, 8)), "ICO"), "not one we recognise"),
    ],
)
def test_other_files_are_not_images_we_accept(data: bytes, says: str) -> None:
    with pytest.raises(Rejected, match="not an image we accept") as refused:
        image_check(data, limits=LIMITS)
    assert says in str(refused.value)


@pytest.mark.parametrize("make", [corpus.noisy_jpeg, corpus.noisy_png])
def test_truncated_images_are_refused(make: Callable[[], bytes]) -> None:
    with pytest.raises(Rejected, match="the image is truncated or corrupt"):
        image_check(corpus.truncated(make()), limits=LIMITS)


def test_truncated_header_is_refused() -> None:
    with pytest.raises(Rejected, match="truncated or corrupt"):
        image_check(corpus.truncated(corpus.exif_rotated_jpeg(), keep=0.05), limits=LIMITS)


def test_decompression_bomb_is_refused_from_its_header_with_its_size() -> None:
    bomb = corpus.png_bomb(30000, 30000)
    assert len(bomb) < 200
    with pytest.raises(Rejected) as refused:
        image_check(bomb, limits=LIMITS)
    assert (
        str(refused.value) == f"image is 30000{TIMES}30000 pixels (900.0 MP); the limit is 40.0 MP"
    )


def test_pixel_limit_comes_from_limits() -> None:
    with pytest.raises(Rejected, match=rf"image is 64{TIMES}48 pixels \(0\.0 MP\)"):
        image_check(corpus.jpeg(), limits=Limits(max_pixels=1000))


@pytest.mark.parametrize(
    ("side", "says"), [(7000, f"7000{TIMES}7000 pixels"), (10000, "too large")]
)
def test_gif_frames_that_grow_the_canvas_are_refused_without_a_warning(
    side: int, says: str
) -> None:
    # 10000² is over Pillow's own warning threshold: that warning must become a refusal.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(Rejected, match=says):
            image_check(corpus.gif_frame_bomb(side, side), limits=LIMITS)
    assert not [warning for warning in caught if "decompression" in str(warning.message)]


def test_cmyk_jpeg_keeps_its_mode_and_turns_red() -> None:
    data = corpus.cmyk_jpeg()
    assert image_check(data, limits=LIMITS).mode == "CMYK"
    rgb = image_to_rgb(data)
    assert rgb.mode == "RGB"
    assert close(rgb.getpixel((5, 5)), (255, 0, 0))  # type: ignore[arg-type]


def test_16_bit_greyscale_is_scaled_down_not_clipped() -> None:
    data = corpus.png_16bit((0, 256, 0x8000, 0xFFFF))
    assert image_check(data, limits=LIMITS).mode == "I;16"
    assert list(image_to_rgb(data).get_flattened_data()) == [
        (0, 0, 0),
        (1, 1, 1),
        (128, 128, 128),
        (255, 255, 255),
    ]


def test_16_bit_transparent_grey_is_matched_at_full_depth() -> None:
    data = corpus.png_16bit((0, 256, 0x8000, 0xFFFF), transparent=0x8000)
    assert list(image_to_rgb(data).get_flattened_data()) == [
        (0, 0, 0),
        (1, 1, 1),
        (255, 255, 255),  # the transparent one, on white
        (255, 255, 255),
    ]


def test_animated_gif_uses_the_first_frame() -> None:
    data = corpus.animated_gif((corpus.BLUE, corpus.RED, corpus.GREEN))
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    assert close(image_to_rgb(data).getpixel((10, 10)), corpus.BLUE)  # type: ignore[arg-type]


def test_exif_orientation_turns_the_image_upright() -> None:
    data = corpus.exif_rotated_jpeg()  # stored 60x40: red left, blue right; orientation 6
    checked = image_check(data, limits=LIMITS)
    assert (checked.width, checked.height) == (40, 60)
    rgb = image_to_rgb(data)
    assert rgb.size == (40, 60)
    assert close(rgb.getpixel((20, 5)), corpus.RED)  # type: ignore[arg-type]
    assert close(rgb.getpixel((20, 55)), corpus.BLUE)  # type: ignore[arg-type]
    assert Image.open(io.BytesIO(checked.thumbnail)).size == (40, 60)


def test_palette_transparency_is_laid_on_white() -> None:
    data = corpus.palette_png_transparent()
    assert image_check(data, limits=LIMITS).mode == "P"
    rgb = image_to_rgb(data)
    assert rgb.getpixel((4, 4)) == (255, 255, 255)
    assert rgb.getpixel((28, 4)) == corpus.BLUE


def test_alpha_is_laid_on_white() -> None:
    data = corpus.rgba_png()
    assert image_check(data, limits=LIMITS).mode == "RGBA"
    rgb = image_to_rgb(data)
    assert rgb.getpixel((4, 4)) == (255, 255, 255)
    assert rgb.getpixel((28, 4)) == corpus.RED


@pytest.mark.parametrize(
    ("mode", "pixel"), [("1", (255, 255, 255)), ("L", (128, 128, 128)), ("LA", (128, 128, 128))]
)
def test_greyscale_modes_become_rgb(mode: str, pixel: tuple[int, int, int]) -> None:
    data = corpus.grey_png(mode)
    assert image_check(data, limits=LIMITS).mode == mode
    rgb = image_to_rgb(data)
    assert (rgb.mode, rgb.getpixel((3, 3))) == ("RGB", pixel)


def test_image_to_rgb_refuses_what_image_check_refuses() -> None:
    with pytest.raises(Rejected, match="pixels"):
        image_to_rgb(corpus.png_bomb())


def test_is_zip_sniffs_magic_bytes() -> None:
    assert is_zip(corpus.zip_archive([("a.jpg", b"x")])[:4])
    assert is_zip(corpus.zip_archive([])[:4])
    assert not is_zip(corpus.png()[:4])
    assert not is_zip(b"")


def test_exactly_the_pixel_limit_is_accepted_and_one_pixel_more_is_refused() -> None:
    limits = get_limits(Settings(MAX_IMAGE_PIXELS=10_000))  # the setting, as requests get it
    assert image_check(corpus.png((100, 100)), limits=limits).width == 100
    assert image_check(corpus.png((10_000, 1)), limits=limits).width == 10_000
    for size in [(100, 101), (10_001, 1)]:
        with pytest.raises(Rejected, match=rf"image is {size[0]}{TIMES}{size[1]} pixels"):
            image_check(corpus.png(size), limits=limits)
