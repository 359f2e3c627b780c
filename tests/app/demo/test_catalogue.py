import re

import pytest

from app.demo.catalogue import (
    GENERIC_COLOURS,
    GENERIC_MATERIALS,
    GENERIC_PATTERNS,
    KINDS,
    MATERIAL_PATTERNS,
    STYLEGUIDE_PATH,
    Product,
    catalogue,
    combinations,
)
from app.styleguides.terms import Term, terms_parse

ALL = catalogue(len(combinations()))


@pytest.fixture(scope="module")
def guide() -> list[Term]:
    return terms_parse(STYLEGUIDE_PATH.read_text(encoding="utf-8"))


def mentions(text: str, phrase: str) -> bool:
    """Whether the phrase occurs in the text as whole words."""
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text, re.IGNORECASE) is not None


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
    assert p.tags == ("tote", "burgundy", "calfskin")  # "plain" is never said, so never a tag
    q = Product("scarf", "ivory", "silk twill", "houndstooth", "Margaux", 1)
    assert q.tags == ("scarf", "ivory", "silk twill", "houndstooth")
    for r in ALL:
        assert all(mentions(r.brand_caption, tag) for tag in r.tags), r


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
