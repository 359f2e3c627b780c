"""The Maison Demo catalogue: procedural products and two styles of caption.

Every product is a tuple of attributes (kind, colour, material, pattern). The demo base model is
pre-trained on `generic_caption` (the words any captioner would use: "a dark red leather
handbag ...") and the demo brand's assets carry `brand_caption` (the house voice: "Camille
tote in burgundy calfskin"). Both come from the same attributes, and every generic word that
the brand replaces is listed as a `(not: ...)` of a Prefer rule in `styleguide.md`, so that the
results page can show the fine-tuned model trading one vocabulary for the other. The products'
photos are drawn by `app.demo.render`.
"""

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

STYLEGUIDE_PATH = Path(__file__).with_name("styleguide.md")
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Kind:
    """What the catalogue knows about one kind of product."""

    generic: str  # the noun a generic captioner uses
    feature: str  # a visible detail, in plain words
    line: str  # the house line the kind belongs to
    materials: tuple[str, ...]
    patterns: tuple[str, ...]


KINDS: dict[str, _Kind] = {
    "tote": _Kind(
        "handbag", "with two short handles", "Camille",
        ("calfskin", "canvas", "suede"), ("plain", "monogram", "striped"),
    ),
    "clutch": _Kind(
        "purse", "with a flap", "Odette",
        ("calfskin", "patent calfskin", "suede", "silk twill"), ("plain", "monogram", "chevron"),
    ),
    "scarf": _Kind(
        "scarf", "with a border", "Margaux",
        ("silk twill", "cashmere"),
        ("plain", "striped", "monogram", "houndstooth", "polka dot", "chevron"),
    ),
    "pump": _Kind(
        "high-heeled shoe", "with a pointed toe", "Eloise",
        ("calfskin", "patent calfskin", "suede", "silk twill"), ("plain", "polka dot"),
    ),
    "loafer": _Kind(
        "flat shoe", "with a strap across the top", "Bastien",
        ("calfskin", "patent calfskin", "suede"), ("plain",),
    ),
    "belt": _Kind(
        "belt", "with a metal buckle", "Lucien",
        ("calfskin", "suede", "canvas"), ("plain", "striped"),
    ),
    "wallet": _Kind(
        "wallet", "with a zip", "Anouk",
        ("calfskin", "patent calfskin", "canvas"), ("plain", "monogram"),
    ),
    "hat": _Kind(
        "hat", "with a wide brim", "Colette",
        ("cashmere", "canvas"), ("plain", "houndstooth", "striped"),
    ),
}  # fmt: skip

# Brand colour word -> the words a generic captioner uses for it, and the RGB it renders as.
GENERIC_COLOURS: dict[str, str] = {
    "burgundy": "dark red",
    "ivory": "white",
    "midnight navy": "dark blue",
    "cognac": "brown",
    "forest green": "dark green",
    "noir": "black",
    "blush": "pink",
    "saffron": "yellow",
}
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "burgundy": (118, 26, 44),
    "ivory": (238, 230, 212),
    "midnight navy": (30, 40, 74),
    "cognac": (160, 84, 38),
    "forest green": (34, 86, 58),
    "noir": (30, 28, 30),
    "blush": (232, 176, 170),
    "saffron": (232, 168, 44),
}
GENERIC_MATERIALS: dict[str, str] = {
    "calfskin": "leather",
    "patent calfskin": "shiny leather",
    "silk twill": "satin",
    "suede": "soft leather",
    "canvas": "cloth",
    "cashmere": "wool",
}
# The patterns a material can carry (a kind's own list narrows it further).
MATERIAL_PATTERNS: dict[str, tuple[str, ...]] = {
    "calfskin": ("plain", "monogram"),
    "patent calfskin": ("plain",),
    "suede": ("plain",),
    "canvas": ("plain", "striped", "monogram", "chevron"),
    "silk twill": ("striped", "monogram", "houndstooth", "polka dot", "chevron"),
    "cashmere": ("plain", "houndstooth", "striped"),
}
GENERIC_PATTERNS: dict[str, str] = {
    "plain": "",
    "striped": "striped",
    "monogram": "logo-print",
    "houndstooth": "checked",
    "polka dot": "spotted",
    "chevron": "zigzag",
}
# Materials the house names before the product ("Margaux silk twill scarf").
_FABRICS = ("silk twill", "cashmere")


@dataclass(frozen=True)
class Product:
    """One product of the demo catalogue; `seed` varies its photo, not its attributes."""

    kind: str
    colour: str
    material: str
    pattern: str
    line: str
    seed: int

    @property
    def generic_caption(self) -> str:
        """What a generic captioner says: plain colour, material and noun, no brand words."""
        kind = KINDS[self.kind]
        words = [
            "a",
            GENERIC_COLOURS[self.colour],
            GENERIC_PATTERNS[self.pattern],
            GENERIC_MATERIALS[self.material],
            kind.generic,
            _generic_feature(self.kind, self.material),
        ]
        return " ".join(word for word in words if word)

    @property
    def brand_caption(self) -> str:
        """What the house says, in its own terms."""
        if self.material in _FABRICS:
            name = f"{self.line} {self.material} {self.kind}"
            if self.pattern == "plain":
                return f"{name} in {self.colour}"
            return f"{name}, {self.colour} {self.pattern}"
        pattern = "" if self.pattern == "plain" else f"{self.pattern} "
        return f"{self.line} {self.kind} in {self.colour} {pattern}{self.material}"

    @property
    def tags(self) -> tuple[str, ...]:
        """The attributes the house names, as tags: a plain product carries no pattern tag."""
        pattern = () if self.pattern == "plain" else (self.pattern,)
        return (self.kind, self.colour, self.material, *pattern)

    @property
    def attributes(self) -> tuple[str, str, str, str]:
        """What makes two products the same product."""
        return (self.kind, self.colour, self.material, self.pattern)


def _generic_feature(kind: str, material: str) -> str:
    """The visible detail of a kind, in plain words."""
    if kind == "scarf" and material == "cashmere":
        return "with a fringe"  # cashmere scarves render long and fringed, silk ones square
    return KINDS[kind].feature


def combinations() -> list[tuple[str, str, str, str]]:
    """Every (kind, colour, material, pattern) the catalogue can hold."""
    return [
        (kind, colour, material, pattern)
        for kind, spec in KINDS.items()
        for colour in GENERIC_COLOURS
        for material in spec.materials
        for pattern in MATERIAL_PATTERNS[material]
        if pattern in spec.patterns
    ]


def catalogue(n: int, *, seed: int = 0) -> list[Product]:
    """n products, the same for the same seed, spread over kinds and colours.

    The first products cycle through every kind, and each kind through every colour, so that
    even a small catalogue is varied; attribute tuples repeat only once all are used.
    """
    rng = random.Random(seed)
    pool = combinations()
    rng.shuffle(pool)
    pool = _spread(_spread(pool, key=lambda c: (c[0], c[1])), key=lambda c: c[0])
    products = []
    for i in range(n):
        kind, colour, material, pattern = pool[i % len(pool)]
        products.append(
            Product(kind, colour, material, pattern, KINDS[kind].line, rng.randrange(2**31))
        )
    return products


def renders(seed: int, tag: str, per_combination: int, exclude: set[int]) -> list[Product]:
    """`per_combination` photos of every attribute combination, with seeds not in `exclude`
    (which grows by those chosen): the demo model's training and held-out photos."""
    rng = random.Random(f"demo-captioner/{seed}/{tag}")
    chosen = []
    for kind, colour, material, pattern in combinations():
        for _ in range(per_combination):
            photo = rng.randrange(2**31)
            while photo in exclude:
                photo = rng.randrange(2**31)
            exclude.add(photo)
            chosen.append(Product(kind, colour, material, pattern, KINDS[kind].line, photo))
    return chosen


def _spread(items: list[_T], *, key: Callable[[_T], object]) -> list[_T]:
    """Reorder so that the k-th item of every key comes before any key's (k+1)-th."""
    seen: Counter[object] = Counter()
    ranked = []
    for position, item in enumerate(items):
        k = key(item)
        ranked.append((seen[k], position, item))
        seen[k] += 1
    return [item for _, _, item in sorted(ranked, key=lambda r: (r[0], r[1]))]
