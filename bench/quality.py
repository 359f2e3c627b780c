"""The demo adapter's quality: trained as the one-click trains it, measured against the base.

The demo brand's data is rebuilt without a database, as `atelier demo` seeds it and a dataset
freezes it: the catalogue's photos (`app/demo/seed.py`), the approved ones, split into train and
validation by image hash (`app/datasets/service.py`). An adapter is trained on the train split
with each setting asked for (the one-click's by default), then the base (asked the default
instruction; its tags are the brand's tags found in its caption) and the adapted model (asked
the task's instruction; its tags are those it answered) are scored on the validation split and
on new photos (`app/demo/photos.py`) against their house captions and tags:

- tag precision, recall and F1 (micro), and recall per attribute kind;
- kind: the share of captions that name the right kind of product (the house word, or the
  generic noun a generic captioner uses for it) and no other;
- name: the share that start with the house's product name ("Camille tote");
- unparsed: the share of answers not in the task's form (their caption and tags count empty).
"""

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from app.basemodels.models import DEMO_MODEL_SOURCE
from app.config import ROOT, settings
from app.datasets.models import Split
from app.datasets.service import split_of
from app.demo.catalogue import KINDS, Product, catalogue
from app.demo.photos import photos_new
from app.demo.render import product_render
from app.demo.seed import DEMO_PRODUCTS
from app.runs.answers import answer_format, answer_parse
from app.runs.settings import DEFAULT_INSTRUCTION, TrainSettings, settings_resolve
from app.styleguides.glossary import phrases_in

if TYPE_CHECKING:
    from worker.train import TrainResult

ATTRIBUTES = ("kind", "colour", "material", "pattern")
# Each kind of product by the words that name it: the house's and the generic captioner's.
KIND_WORDS = {word: kind for kind, spec in KINDS.items() for word in (kind, spec.generic)}


@dataclass(frozen=True)
class Photo:
    """One photo with its product (which knows its house caption and tags)."""

    image: Image.Image
    product: Product


def demo_brand(products: int) -> tuple[list[Photo], list[Photo]]:
    """The demo brand's approved photos, split (train, validation) as a frozen dataset is."""
    train: list[Photo] = []
    validation: list[Photo] = []
    for n, product in enumerate(catalogue(products)):
        if n % 6 == 5:  # left pending by demo_seed, so never in a dataset
            continue
        image = product_render(product)
        png = io.BytesIO()
        image.save(png, format="PNG")  # the uploaded bytes, which the split hashes
        sha256 = hashlib.sha256(png.getvalue()).hexdigest()
        split = split_of(sha256, settings.RUN_VALIDATION_FRACTION)
        (validation if split == Split.validation else train).append(Photo(image, product))
    return train, validation


def house_name(p: Product) -> str:
    """The product's name as its house caption starts: line, fabric if named, kind."""
    caption = p.brand_caption
    return caption[: caption.index(p.kind) + len(p.kind)]


def tag_kinds(p: Product) -> dict[str, str]:
    """Each of the product's tags with the attribute it names."""
    return dict(zip(p.tags, ATTRIBUTES[: len(p.tags)], strict=True))


@dataclass
class Scores:
    """One system on one set of photos."""

    precision: float
    recall: float
    f1: float
    recall_by: dict[str, float]
    right_kind: float
    exact_name: float
    unparsed: float


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def scores_of(
    photos: Sequence[Photo], captions: Sequence[str], tags: Sequence[set[str]], unparsed: int
) -> Scores:
    """Tag P/R/F1 (micro), recall per attribute kind, right kind and exact name shares."""
    tp = fp = fn = 0
    hit = dict.fromkeys(ATTRIBUTES, 0)
    total = dict.fromkeys(ATTRIBUTES, 0)
    kind_ok = name_ok = 0
    for photo, caption, predicted in zip(photos, captions, tags, strict=True):
        p = photo.product
        truth = tag_kinds(p)
        tp += len(predicted & truth.keys())
        fp += len(predicted - truth.keys())
        fn += len(truth.keys() - predicted)
        for tag, attribute in truth.items():
            total[attribute] += 1
            hit[attribute] += tag in predicted
        named = {KIND_WORDS[w.lower()] for w in phrases_in(caption, KIND_WORDS)}
        kind_ok += named == {p.kind}
        name_ok += caption.lower().startswith(house_name(p).lower())
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return Scores(
        precision=precision,
        recall=recall,
        f1=_ratio(2 * precision * recall, precision + recall),
        recall_by={a: _ratio(hit[a], total[a]) for a in ATTRIBUTES},
        right_kind=kind_ok / len(photos),
        exact_name=name_ok / len(photos),
        unparsed=unparsed / len(photos),
    )


def _train(
    train: Sequence[Photo], validation: Sequence[Photo], s: TrainSettings, out: Path
) -> "TrainResult":
    from worker.data import Example
    from worker.train import qlora_train

    def examples(photos: Sequence[Photo]) -> list[Example]:
        # A dataset's tags come sorted by name (Asset.tags), and so does the answer.
        return [
            Example(p.image, answer_format(s.task, p.product.brand_caption, sorted(p.product.tags)))
            for p in photos
        ]

    return qlora_train(
        base=str(ROOT / DEMO_MODEL_SOURCE),
        revision=None,
        examples=examples(train),
        s=s,
        output_dir=out,
        validation=examples(validation),
    )


def evaluate(
    adapter_dir: Path,
    s: TrainSettings,
    sets: dict[str, list[Photo]],
    vocabulary: set[str],
    answers_out: list[tuple[str, str, str, str]] | None = None,
) -> dict[tuple[str, str], Scores]:
    """(system, set) -> scores, for the base and the adapted model on each set of photos; each
    photo's (set, house answer, base caption, adapted answer) appended to `answers_out`."""
    from worker.data import image_cap
    from worker.evaluate import tags_in
    from worker.generate import captions_generate
    from worker.train import adapter_load, base_load

    model, processor = base_load(
        str(ROOT / DEMO_MODEL_SOURCE), None, replace(s, gradient_checkpointing=False)
    )
    tuned = adapter_load(model, adapter_dir)
    results = {}
    for name, photos in sets.items():
        images = [image_cap(p.image, s.max_image_pixels) for p in photos]  # as evaluation does
        with tuned.disable_adapter():
            base = captions_generate(
                model=tuned, processor=processor, images=images, instruction=DEFAULT_INSTRUCTION
            )
        results["base", name] = scores_of(photos, base, [tags_in(c, vocabulary) for c in base], 0)
        raw = captions_generate(
            model=tuned, processor=processor, images=images, instruction=s.instruction
        )
        answers = [answer_parse(s.task, text) for text in raw]
        if answers_out is not None:
            answers_out.extend(
                (name, _truth(s, p), b, a) for p, b, a in zip(photos, base, raw, strict=True)
            )
        # A caption-only adapter's tags are found in its caption, as the base's are.
        tags = [
            set(a.tags) if s.task != "caption" else tags_in(a.caption, vocabulary) for a in answers
        ]
        results["adapted", name] = scores_of(
            photos, [a.caption for a in answers], tags, sum(not a.parsed for a in answers)
        )
    return results


def _truth(s: TrainSettings, p: Photo) -> str:
    return answer_format(s.task, p.product.brand_caption, sorted(p.product.tags))


def overrides_of(spec: str) -> dict[str, object]:
    """ "key=value,key=value" -> overrides; values read as JSON where they are JSON."""
    overrides: dict[str, object] = {}
    for pair in filter(None, spec.split(",")):
        key, _, value = pair.partition("=")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


def _answers_write(path: Path, spec: str, answers: list[tuple[str, str, str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["setting", "photos", "house", "base", "adapted"])
        out.writerows((spec or "one-click", *row) for row in answers)


def _row(label: str, system: str, name: str, r: Scores) -> str:
    by = " ".join(f"{r.recall_by[a]:>6.2f}" for a in ATTRIBUTES)
    return (
        f"{label:<34} {system:<7} {name:<10} {r.precision:>5.2f} {r.recall:>5.2f} {r.f1:>5.2f} "
        f"{by} {r.right_kind:>5.2f} {r.exact_name:>5.2f} {r.unparsed:>5.2f}"
    )


HEADER = (
    f"{'setting':<34} {'system':<7} {'photos':<10} {'P':>5} {'R':>5} {'F1':>5} "
    + " ".join(f"{'R.' + a[:4]:>6}" for a in ATTRIBUTES)
    + f" {'kind':>5} {'name':>5} {'unprs':>5}"
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench quality", description=__doc__)
    parser.add_argument("--preset", default="quick-demo")
    parser.add_argument("--task", default="caption+tags")
    parser.add_argument(
        "--sweep",
        nargs="*",
        default=[""],
        help='settings to train, each "key=value,..." over the preset ("" is the preset '
        "itself); the key `products` sets the demo brand's photo count",
    )
    parser.add_argument("--new", type=int, default=50, help="new demo photos to score on")
    parser.add_argument("--keep", type=Path, help="keep each adapter in a folder of this one")
    parser.add_argument(
        "--answers",
        type=Path,
        help="write each setting's answers (set, house answer, base, adapted) to a CSV in this "
        "folder: answers-1.csv, ...",
    )
    args = parser.parse_args(argv)

    new = [Photo(product_render(p), p) for p in photos_new(args.new)]
    table, timings = [], []
    for spec in args.sweep:
        overrides = overrides_of(spec)
        products = int(overrides.pop("products", DEMO_PRODUCTS))  # type: ignore[call-overload]
        s = settings_resolve(args.preset, {"task": args.task, **overrides})
        train, validation = demo_brand(products)
        vocabulary = {t for p in catalogue(products) for t in p.tags}  # the brand's tags
        load = os.getloadavg()
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            result = _train(train, validation, s, Path(folder))
            seconds = time.perf_counter() - start
            timings.append(
                f"{spec or 'one-click':<34} {len(train)} train / {len(validation)} validation, "
                f"{result.steps} steps in {seconds:.0f} s, load {load[0]:.1f} -> "
                f"{os.getloadavg()[0]:.1f}, final mean loss {result.train_loss:.3f}"
            )
            print(timings[-1], flush=True)
            answers: list[tuple[str, str, str, str]] = []
            scores = evaluate(
                result.adapter_dir, s, {"validation": validation, "new": new}, vocabulary, answers
            )
            if args.answers:
                _answers_write(args.answers / f"answers-{len(timings)}.csv", spec, answers)
            if args.keep:
                shutil.copytree(result.adapter_dir, args.keep / f"adapter-{len(timings)}")
        rows = [_row(spec or "one-click", system, name, r) for (system, name), r in scores.items()]
        print("\n".join(rows), flush=True)  # as it comes: a sweep takes a while
        table.extend(rows)
    print(f"\npreset {args.preset}, task {args.task}; {args.new} new photos")
    print("\n".join(timings))
    print("\n" + HEADER)
    print("\n".join(table))
