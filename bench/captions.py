"""Evaluation's captioning: batched generation against one image at a time, measured in one run.

An evaluation captions every validation image three times (base, prompted, adapted) from one
4-bit base with the adapter on top. The baseline is the same model captioning one image per
`generate` call; the ratios say what batching buys. Also measured on the same images: the cost
of the LoRA adapter on top of the 4-bit base (adapter enabled against disabled), and the 4-bit
base against the same model left in full precision.
"""

import argparse
from collections.abc import Callable

import torch
from peft import get_peft_model
from transformers import AutoModelForImageTextToText

from app.basemodels.models import DEMO_MODEL_SOURCE
from app.config import ROOT
from app.demo.catalogue import catalogue
from app.demo.render import product_render
from app.runs.settings import DEFAULT_INSTRUCTION, PRESETS
from bench.timing import median_seconds
from worker.config import lora_config
from worker.generate import captions_generate
from worker.train import base_load

DEMO_MODEL = ROOT / DEMO_MODEL_SOURCE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench captions", description=__doc__)
    parser.add_argument("--model", default=str(DEMO_MODEL), help="a path or hub id")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    s = PRESETS["quick-demo"]
    images = [product_render(p) for p in catalogue(args.images, seed=11)]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base, processor = base_load(args.model, None, s)
    # A fresh adapter: its B matrices start at zero, so captions are the base's but every
    # adapted layer does its extra matmuls, as a trained adapter's would.
    tuned = get_peft_model(base, lora_config(s)).eval()

    def caption(model: torch.nn.Module, batch_size: int) -> Callable[[], list[str]]:
        return lambda: captions_generate(
            model=model,
            processor=processor,
            images=images,
            instruction=DEFAULT_INSTRUCTION,
            batch_size=batch_size,
            max_image_pixels=s.max_image_pixels,
        )

    print(f"{args.images} images of the demo catalogue, {args.model}, on {device}")
    print("speed-up: the baseline's time over this time (above 1: faster than the baseline)")
    print(f"{'what':<46} {'s':>7} {'captions/s':>11} {'speed-up':>9}")

    def report(what: str, seconds: float, baseline: float) -> None:
        rate = args.images / seconds
        print(f"{what:<46} {seconds:>7.2f} {rate:>11.1f} {baseline / seconds:>8.2f}x")

    with tuned.disable_adapter():
        one = median_seconds(caption(tuned, 1), args.repeat)
        report("4-bit base, one image per call (baseline)", one, one)
        batched = {size: median_seconds(caption(tuned, size), args.repeat) for size in (8, 32)}
        for size, seconds in batched.items():
            report(f"4-bit base, batches of {size}", seconds, one)
    adapted = median_seconds(caption(tuned, 8), args.repeat)
    report("+ LoRA adapter, batches of 8 (vs 4-bit base)", adapted, batched[8])

    full = AutoModelForImageTextToText.from_pretrained(args.model, device_map=device)
    report(
        "full precision, batches of 8 (vs 4-bit base)",
        median_seconds(caption(full, 8), args.repeat),
        batched[8],
    )
