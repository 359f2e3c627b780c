"""Auto-tagging with a resident model: demo photos auto-tagged by several adapters, one job per
adapter, measured in one run against the plain way.

- baseline: every job loads the 4-bit base and its adapter, then captions its photos;
- resident: the worker's cache (worker/resident.py) keeps the base loaded and the adapters by
  checksum, so jobs after the first load nothing;
- mixed: the same photos in one pass whose batches mix the adapters (PEFT adapter_names).

The adapters are LoRA adapters of the quick-demo preset with random (non-zero) weights, so
that each one changes the captions and costs what a trained one costs.
"""

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from peft import PeftModel, get_peft_model
from PIL import Image
from transformers import ProcessorMixin

from app.basemodels.models import DEMO_MODEL_SOURCE
from app.config import ROOT
from app.demo.catalogue import catalogue
from app.demo.render import product_render
from app.runs.settings import PRESETS, TrainSettings
from worker.config import lora_config
from worker.context import file_sha256
from worker.generate import captions_generate
from worker.resident import Loaded, Resident, _load_base

DEMO_MODEL = str(ROOT / DEMO_MODEL_SOURCE)


def _adapters(s: TrainSettings, count: int, folder: Path) -> list[Path]:
    """`count` LoRA adapters of `s` with random weights, saved as PEFT saves them."""
    saved = []
    for i in range(count):
        torch.manual_seed(i)
        base = _load_base(DEMO_MODEL, None, s).base
        config = lora_config(s)
        config.init_lora_weights = False  # random B: the adapter changes what the model says
        get_peft_model(base, config).save_pretrained(str(folder / f"adapter-{i}"))
        saved.append(folder / f"adapter-{i}")
    return saved


def _timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    images = fn()
    return time.perf_counter() - start, images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench autotag", description=__doc__)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--adapters", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)

    s = PRESETS["quick-demo"]
    photos = [product_render(p) for p in catalogue(args.images, seed=13)]
    jobs = [photos[i :: args.adapters] for i in range(args.adapters)]  # one job per adapter

    def caption(
        model: torch.nn.Module,
        processor: ProcessorMixin,
        images: list[Image.Image],
        names: list[str] | None = None,
    ) -> list[str]:
        return captions_generate(
            model=model,
            processor=processor,
            images=images,
            instruction=s.instruction,
            batch_size=args.batch_size,
            max_image_pixels=s.max_image_pixels,
            adapter_names=names,
        )

    with tempfile.TemporaryDirectory() as tmp:
        folders = _adapters(s, args.adapters, Path(tmp))

        def baseline() -> int:
            for folder, images in zip(folders, jobs, strict=True):
                loaded = _load_base(DEMO_MODEL, None, s)
                tuned = PeftModel.from_pretrained(loaded.base, folder).eval()
                caption(tuned, loaded.processor, images)
            return len(photos)

        resident = Resident(max_bases=1, max_adapters=args.adapters)

        def adapter_name(loaded: Loaded, folder: Path) -> str:
            sha = file_sha256(folder / "adapter_model.safetensors")
            return resident.adapter(loaded, sha, lambda: folder)[0]

        def cached() -> int:
            for folder, images in zip(folders, jobs, strict=True):
                loaded, _ = resident.base(DEMO_MODEL, None, s)
                name = adapter_name(loaded, folder)
                caption(loaded.generator, loaded.processor, images, [name] * len(images))
            return len(photos)

        def mixed() -> int:
            loaded, _ = resident.base(DEMO_MODEL, None, s)
            names = [adapter_name(loaded, f) for f in folders]
            order = [(names[i % len(names)], photo) for i, photo in enumerate(photos)]
            caption(
                loaded.generator, loaded.processor, [p for _, p in order], [n for n, _ in order]
            )
            return len(photos)

        rows = [("baseline: load base and adapter per job", *_timed(baseline))]
        rows.append(("resident base and adapter cache (first job loads)", *_timed(cached)))
        rows.append(("resident, all loaded: batches mix the adapters", *_timed(mixed)))

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"{args.images} demo photos, {args.adapters} adapters (one job each), batches of "
        f"{args.batch_size}, {DEMO_MODEL_SOURCE} in 4-bit on {device}"
    )
    print(f"{'what':<52} {'s':>7} {'images/s':>9} {'vs baseline':>12}")
    base_rate = rows[0][2] / rows[0][1]
    for what, seconds, images in rows:
        rate = images / seconds
        print(f"{what:<52} {seconds:>7.2f} {rate:>9.1f} {rate / base_rate:>11.2f}x")
