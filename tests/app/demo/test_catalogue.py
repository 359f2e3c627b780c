import io
import re
from typing import cast

import pytest
from PIL import Image

from app.demo.catalogue import (
    COLOUR_RGB,
    GENERIC_COLOURS,
    GENERIC_MATERIALS,
    GENERIC_PATTERNS,
    KINDS,
    MATERIAL_PATTERNS,
    STYLEGUIDE_PATH,
    Product,
    catalogue,
    combinations,
    product_render,
)
from app.styleguides.terms import Term, terms_parse

ALL = catalogue(len(combinations()))


@pytest.fixture(scope="module")
def guide() -> list[Term]:
    return terms_parse(STYLEGUIDE_PATH.read_text(encoding="utf-8"))


def mentions(text: str, phrase: str) -> bool:
    """Whether the phrase occurs in the text as whole words."""
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text, re.IGNORECASE) is not None


def rgb(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    return cast(tuple[int, int, int], image.getpixel(xy))


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# The catalogue ---------------------------------------------------------------------------------


def test_catalogue_is_deterministic() -> None:
    assert catalogue(30, seed=3) == catalogue(30, seed=3)
    assert catalogue(30, seed=3) != catalogue(30, seed=4)


def test_a_longer_catalogue_extends_a_shorter_one() -> None:
    assert catalogue(40)[:12] == catalogue(12)


def test_catalogue_is_varied() -> None:
    products = catalogue(48)
    assert len({p.kind for p in products}) >= 6
    assert len({p.colour for p in products}) >= 6
    assert len({p.kind for p in products[: len(KINDS)]}) == len(KINDS)
    # Each kind shows different colours before any colour repeats within it.
    tote_colours = [p.colour for p in products if p.kind == "tote"]
    assert len(set(tote_colours)) == len(tote_colours)


def test_no_duplicate_products_until_every_combination_is_used() -> None:
    assert len({p.attributes for p in ALL}) == len(ALL)
    longer = catalogue(len(ALL) + 5)
    assert len({p.attributes for p in longer}) == len(ALL)
    assert len({p.seed for p in longer}) == len(longer)


def test_every_kind_colour_material_and_pattern_occurs() -> None:
    assert {p.kind for p in ALL} == set(KINDS)
    assert {p.colour for p in ALL} == set(GENERIC_COLOURS)
    assert {p.material for p in ALL} == set(GENERIC_MATERIALS)
    assert {p.pattern for p in ALL} == set(GENERIC_PATTERNS)


def test_attributes_make_sense_for_the_kind() -> None:
    for p in ALL:
        spec = KINDS[p.kind]
        assert p.material in spec.materials
        assert p.pattern in spec.patterns
        assert p.pattern in MATERIAL_PATTERNS[p.material]
        assert p.line == spec.line


def test_tags_are_the_attributes() -> None:
    p = Product("tote", "burgundy", "calfskin", "plain", "Camille", 1)
    assert p.tags == ("tote", "burgundy", "calfskin", "plain")
    assert all(q.tags == (q.kind, q.colour, q.material, q.pattern) for q in ALL)


# Captions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "generic", "brand"),
    [
        (
            Product("tote", "burgundy", "calfskin", "plain", "Camille", 1),
            "a dark red leather handbag with two short handles",
            "Camille tote in burgundy calfskin",
        ),
        (
            Product("scarf", "ivory", "silk twill", "houndstooth", "Margaux", 1),
            "a white checked satin scarf with a border",
            "Margaux silk twill scarf, ivory houndstooth",
        ),
        (
            Product("scarf", "noir", "cashmere", "plain", "Margaux", 1),
            "a black wool scarf with a fringe",
            "Margaux cashmere scarf in noir",
        ),
        (
            Product("wallet", "cognac", "canvas", "monogram", "Anouk", 1),
            "a brown logo-print cloth wallet with a zip",
            "Anouk wallet in cognac monogram canvas",
        ),
    ],
)
def test_caption_examples(product: Product, generic: str, brand: str) -> None:
    assert product.generic_caption == generic
    assert product.brand_caption == brand


def test_captions_follow_the_attributes() -> None:
    for p in ALL:
        generic, brand = p.generic_caption, p.brand_caption
        assert mentions(generic, GENERIC_COLOURS[p.colour])
        assert mentions(generic, GENERIC_MATERIALS[p.material])
        assert mentions(generic, KINDS[p.kind].generic)
        for word in (p.line, p.kind, p.colour, p.material):
            assert mentions(brand, word), (word, brand)
        if p.pattern != "plain":
            assert mentions(generic, GENERIC_PATTERNS[p.pattern])
            assert mentions(brand, p.pattern)


def test_captions_tell_products_apart() -> None:
    assert len({p.brand_caption for p in ALL}) == len(ALL)
    assert len({p.generic_caption for p in ALL}) == len(ALL)


def test_generic_captions_use_no_brand_term(guide: list[Term]) -> None:
    brand_words = {t.term for t in guide if t.kind == "prefer"} | {k.line for k in KINDS.values()}
    for p in ALL:
        used = [w for w in brand_words if mentions(p.generic_caption, w)]
        assert not used, (p.generic_caption, used)


def test_brand_captions_use_no_replaced_or_banned_word(guide: list[Term]) -> None:
    replaced = {w for t in guide for w in t.instead_of}
    banned = {t.term for t in guide if t.kind == "avoid"}
    for p in ALL:
        used = [w for w in replaced | banned if mentions(p.brand_caption, w)]
        assert not used, (p.brand_caption, used)


# The style guide -------------------------------------------------------------------------------


def test_styleguide_terms(guide: list[Term]) -> None:
    preferred = {t.term for t in guide if t.kind == "prefer"}
    assert preferred == (
        set(GENERIC_COLOURS)
        | set(GENERIC_MATERIALS)
        | {"tote", "clutch", "pump", "loafer"}
        | {"monogram", "houndstooth", "polka dot", "chevron"}
    )
    banned = {t.term for t in guide if t.kind == "avoid"}
    assert {"cheap", "bargain", "knock-off", "trendy"} <= banned
    assert Term("prefer", "calfskin", ("leather", "cowhide")) in guide
    assert Term("prefer", "burgundy", ("dark red", "maroon", "wine")) in guide


def test_every_generic_word_is_replaced_by_its_house_word(guide: list[Term]) -> None:
    instead_of = {t.term: t.instead_of for t in guide if t.kind == "prefer"}
    pairs = [
        *GENERIC_COLOURS.items(),
        *GENERIC_MATERIALS.items(),
        *((p, g) for p, g in GENERIC_PATTERNS.items() if g and g != p),
        *((kind, spec.generic) for kind, spec in KINDS.items() if spec.generic != kind),
    ]
    for house_word, generic in pairs:
        assert generic in instead_of[house_word], (house_word, generic)


# Rendering -------------------------------------------------------------------------------------

SAMPLE = catalogue(16, seed=5)


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
