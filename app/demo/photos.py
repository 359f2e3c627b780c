"""New demo photos, never seen by the demo brand nor the demo model, and their true captions.

They are what a brand's next shoot would be: plain image files to upload untagged (and have
auto-tagged), with the house captions and tags they should get kept apart in `truth.csv`.
"""

import csv
from dataclasses import replace
from pathlib import Path

from app.demo.catalogue import Product, catalogue

# Every demo photo so far draws its render seed with randrange(2**31): the demo brand's
# (`catalogue(DEMO_PRODUCTS)`) and the demo model's training and held-out photos (`renders`,
# scripts/build_demo_model.py). New photos take seeds from 2**31 up: never one of theirs.
FIRST_SEED = 2**31
# The products' attributes: a catalogue order other than the demo brand's (seed 0), spread
# over kinds and colours like it.
CATALOGUE_SEED = 1
TRUTH_COLUMNS = ("file", "caption", "tags", "seed")  # a manifest's columns, and the seed


def photos_new(count: int) -> list[Product]:
    """`count` products whose photos are new: the same for the same count, and the first of a
    larger count."""
    products = catalogue(count, seed=CATALOGUE_SEED)
    return [replace(p, seed=FIRST_SEED + i) for i, p in enumerate(products)]


def photo_name(index: int) -> str:
    """A file name that says nothing of the product (the truth is in truth.csv)."""
    return f"photo-{index + 1:04d}.png"


def truth_write(path: Path, products: list[Product]) -> None:
    """The house caption and tags of each photo, as the demo brand's manifest has them."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRUTH_COLUMNS)
        for i, product in enumerate(products):
            writer.writerow(
                (photo_name(i), product.brand_caption, ";".join(product.tags), product.seed)
            )
