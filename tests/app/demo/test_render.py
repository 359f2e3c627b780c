import io
from typing import cast

import pytest
from PIL import Image

from app.demo.catalogue import COLOUR_RGB, KINDS, Product, catalogue
from app.demo.render import product_render

SAMPLE = catalogue(16, seed=5)


def rgb(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    return cast(tuple[int, int, int], image.getpixel(xy))


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_render_is_an_rgb_image_of_the_size() -> None:
    image = product_render(SAMPLE[0])
    assert image.mode == "RGB"
    assert image.size == (256, 256)
    assert product_render(SAMPLE[0], size=96).size == (96, 96)


def test_render_is_byte_identical_for_the_same_product() -> None:
    for product in SAMPLE[:8]:
        assert png(product_render(product)) == png(product_render(product))


def test_render_differs_with_the_seed() -> None:
    p = SAMPLE[0]
    other = Product(p.kind, p.colour, p.material, p.pattern, p.line, p.seed + 1)
    assert png(product_render(p, size=64)) != png(product_render(other, size=64))


@pytest.mark.parametrize("product", SAMPLE, ids=lambda p: p.brand_caption)
def test_render_looks_like_a_product_shot(product: Product) -> None:
    image = product_render(product, size=96)
    # A light studio backdrop at the corners...
    for corner in ((0, 0), (95, 0), (0, 95), (95, 95)):
        assert min(rgb(image, corner)) > 200
    # ...and a subject that fills a fair share of the frame, not the whole of it.
    backdrop = rgb(image, (2, 2))
    pixels = cast(list[tuple[int, int, int]], list(image.get_flattened_data()))
    subject = [
        px for px in pixels if sum(abs(a - b) for a, b in zip(px, backdrop, strict=True)) > 60
    ]
    assert 0.04 < len(subject) / len(pixels) < 0.7, product.brand_caption


def test_a_plain_product_renders_in_its_colour() -> None:
    for colour in COLOUR_RGB:
        image = product_render(Product("tote", colour, "calfskin", "plain", "Camille", 11), size=64)
        # The middle of the tote's body: no seam, no hardware, lit straight on.
        middle = image.crop((26, 36, 38, 44)).resize((1, 1), Image.Resampling.BOX)
        assert nearest_colour(rgb(middle, (0, 0))) == colour


def nearest_colour(pixel: tuple[int, int, int]) -> str:
    def distance(colour: str) -> int:
        return sum((a - b) ** 2 for a, b in zip(COLOUR_RGB[colour], pixel, strict=True))

    return min(COLOUR_RGB, key=distance)


@pytest.mark.parametrize(
    ("kind", "material", "low", "high"),
    [
        ("belt", "calfskin", 3.0, 12.0),
        ("pump", "calfskin", 1.2, 2.4),
        ("loafer", "calfskin", 2.0, 5.0),
        ("hat", "cashmere", 1.3, 2.6),
        ("tote", "calfskin", 0.8, 1.3),
        ("clutch", "calfskin", 1.6, 2.6),
        ("wallet", "calfskin", 1.3, 2.0),
        ("scarf", "silk twill", 0.8, 1.25),
        ("scarf", "cashmere", 0.3, 0.6),
    ],
)
def test_silhouette_proportions(kind: str, material: str, low: float, high: float) -> None:
    pattern = "plain" if kind != "scarf" or material == "cashmere" else "striped"
    image = product_render(Product(kind, "noir", material, pattern, KINDS[kind].line, 3), size=96)
    box = image.convert("L").point(lambda v: 255 if v < 150 else 0).getbbox()
    assert box is not None
    left, top, right, bottom = box
    assert low < (right - left) / (bottom - top) < high
