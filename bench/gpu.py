"""Benchmark `training` on one CUDA GPU at real size: SmolVLM-256M, at two image sizes.

No machine here reaches a model hub, so the model is built from SmolVLM-256M-Instruct's
published configuration (`SMOLVLM_256M`, an Idefics3: a SigLIP base-patch16-512 vision tower
of 12 layers, pixel shuffle by 4, SmolLM2-135M's 30 layers of 576) with random weights, and a
tokenizer trained here on the demo's captions; the model's vocabulary keeps its real size
(49,280 rows of embeddings and head). The processor is SmolVLM's: images resized to a longest
side of whole 512 px tiles, 64 tokens a tile, plus a global view when an image spans several.
Throughput does not depend on the weights' values, so random ones measure the real thing.

The plain recipe and Atelier's train on the demo brand's photos (rendered at 1024 px) at each
image size (the plain recipe sets `processor.image_processor.size`, as SmolVLM's card advises);
each measurement in a fresh process. Printed last: tokens/s, peak CUDA memory, and the model
FLOPs utilisation (MFU) against the GPU's dense bf16 peak, with

    FLOPs = 6 N_lm T + 12 L d S T                   (language model, forward and backward)
          + 2 N_vis P + 4 L_v d_v 1024 P            (vision tower: forward only, it is frozen)

N_lm: the language model's parameters (embeddings excluded, head included), T: non-padding
tokens trained, L, d: its layers and width, S: the mean sequence length; N_vis, L_v, d_v: the
vision tower's, P: patches seen (1,024 a tile). 6 N T counts what a full fine-tune computes;
QLoRA skips the frozen weights' gradients (about 2 N T of the 6), so this MFU is the one that
compares with published full fine-tuning figures, not the share of the GPU's work done.

`--smoke` builds a tiny model of the same architecture and trains each case two steps on
eight photos at one size, on whatever device there is (the CPU in the tests): the same code
path, in under a minute on an idle machine.
"""

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.memory import SMOLVLM_256M_CONFIG
from bench.training import BASELINE, Case, examples_write, run_cases

# SmolVLM-256M-Instruct's config.json, as bench/memory.py holds it.
SMOLVLM_256M = SMOLVLM_256M_CONFIG
# Its processor: every image resized to this longest side, cut into tiles of `tile` px.
PROCESSOR = {"longest_edge": 2048, "tile": 512, "image_seq_len": 64}
# --smoke: the same architecture, tiny (a 64 px tile of 8 px patches: 16 tokens a tile).
SMOKE: dict[str, Any] = {
    "scale_factor": 2,
    "text_config": {
        **SMOLVLM_256M["text_config"],
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 2048,
        "vocab_size": 1000,
    },
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "image_size": 64,
        "patch_size": 8,
    },
}
SMOKE_PROCESSOR = {"longest_edge": 256, "tile": 64, "image_seq_len": 16}

# Dense bf16 tensor throughput (no sparsity), by a part of the device's name: vendors' sheets.
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
}


def bf16_peak(device_name: str) -> float | None:
    """The dense bf16 peak (FLOP/s) of the device so named, if the table knows it."""
    for part, tflops in BF16_PEAK_TFLOPS.items():  # the longer names come first
        if part in device_name:
            return tflops * 1e12
    return None


def model_build(config: dict[str, Any], processor: dict[str, int], folder: Path) -> dict:
    """A random SmolVLM of `config` and its processor saved in `folder`; its sizes, to count
    FLOPs with."""
    import torch
    from transformers import AutoModelForImageTextToText, Idefics3Config, Idefics3Processor
    from transformers.models.idefics3 import image_processing_pil_idefics3 as pil

    from app.demo.catalogue import catalogue
    from worker.modelkit import IDEFICS3_TEMPLATE, Size, tokenizer_for

    texts = [p.brand_caption for p in catalogue(400)] + [p.generic_caption for p in catalogue(400)]
    tokenizer = tokenizer_for("idefics3", texts, Size(vocab_size=2000))
    text = config["text_config"] | {
        "vocab_size": max(config["text_config"]["vocab_size"], len(tokenizer)),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    assert isinstance(image_token, int)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(
        Idefics3Config(
            text_config=text,
            vision_config=config["vision_config"],
            scale_factor=config["scale_factor"],
            image_token_id=image_token,
            tie_word_embeddings=False,
        ),
        dtype=torch.bfloat16,
    )
    image_processor = pil.Idefics3ImageProcessorPil(
        do_image_splitting=True,
        size={"longest_edge": processor["longest_edge"]},
        max_image_size={"longest_edge": processor["tile"]},
    )
    Idefics3Processor(
        image_processor,
        tokenizer,
        image_seq_len=processor["image_seq_len"],
        chat_template=IDEFICS3_TEMPLATE,
    ).save_pretrained(folder)
    model.save_pretrained(folder)
    inner = model.model
    return {
        "lm_params": sum(p.numel() for p in inner.text_model.layers.parameters())
        + model.lm_head.weight.numel(),
        "vision_params": sum(p.numel() for p in inner.vision_model.parameters()),
        "text": text,
        "vision": config["vision_config"],
    }


def flops(f: dict[str, Any], sizes: dict[str, Any], patches_per_sample: int) -> float:
    """Model FLOPs of one measurement's training loop (the module docstring's formula)."""
    text, vision = sizes["text"], sizes["vision"]
    seconds = f["seconds"]
    tokens = f["tokens_per_second"] * seconds
    samples = f["samples_per_second"] * seconds
    mean_length = tokens / max(samples, 1)
    layers, width = text["num_hidden_layers"], text["hidden_size"]
    language = 6 * sizes["lm_params"] * tokens + 12 * layers * width * mean_length * tokens
    per_tile = (vision["image_size"] // vision["patch_size"]) ** 2
    patches = samples * patches_per_sample
    attention = 4 * vision["num_hidden_layers"] * vision["hidden_size"] * per_tile * patches
    return language + 2 * sizes["vision_params"] * patches + attention


def tiles_per_image(model: Path, side: int, photo_side: int) -> int:
    """How many tiles (global view included) the processor makes of a square photo."""
    from PIL import Image
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model)
    out = processor.image_processor(
        [[Image.new("RGB", (photo_side, photo_side))]], size={"longest_edge": side}
    )
    return int(out["pixel_values"].shape[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench gpu", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny model, two steps, any device")
    parser.add_argument("--steps", type=int, default=30, help="training steps per measurement")
    parser.add_argument("--sides", type=int, nargs="+", default=[512, 1024], help="image sides")
    args = parser.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        raise SystemExit("python -m bench gpu needs a CUDA GPU (--smoke runs anywhere)")
    config, processor = (SMOKE, SMOKE_PROCESSOR) if args.smoke else (SMOLVLM_256M, PROCESSOR)
    sides = [128] if args.smoke else args.sides  # 128 px: 2 * 2 tiles of 64 and a global view
    steps, photo_side, limit = (2, 128, 8) if args.smoke else (args.steps, 1024, None)
    device = torch.cuda.get_device_name(0) if cuda else "CPU"
    cases = [BASELINE, Case("Atelier (defaults)", "atelier")]
    extra = [] if args.smoke else [Case("  with liger_kernel", "atelier", {"liger_kernel": True})]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model, data = Path(folder) / "model", Path(folder) / "data"
        data.mkdir()
        sizes = model_build(config, processor, model)
        count = examples_write(data, side=photo_side, limit=limit)
        print(f"{device}: {count} photos of {photo_side} px, {steps} steps a measurement")
        for n, side in enumerate(sides):
            spec = {
                "model": str(model),
                "data": str(data),
                "steps": steps,
                "preset": "standard",
                "overrides": {"max_image_pixels": side * side, "max_length": 2048},
            }
            tiles = tiles_per_image(model, side, photo_side)
            figures = run_cases(cases + (extra if n == 0 else []), spec, repeat=1)
            rows += _rows(figures, sizes, side, tiles, config, bf16_peak(device) if cuda else None)
    print(f"\n{device}; standard preset (r=16, batch 4, gradient checkpointing), {steps} steps")
    print("| image side | tiles | case | tokens/s | peak memory | MFU | vs baseline |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


def _rows(
    figures: dict[str, list[dict[str, Any]]],
    sizes: dict[str, Any],
    side: int,
    tiles: int,
    config: dict[str, Any],
    peak: float | None,
) -> list[str]:
    vision = config["vision_config"]
    patches = tiles * (vision["image_size"] // vision["patch_size"]) ** 2
    base = statistics.median(f["tokens_per_second"] for f in figures[BASELINE.label])
    rows = []
    for label, runs in figures.items():
        f = runs[0]
        mfu = flops(f, sizes, patches) / f["seconds"] / peak if peak else None
        rows.append(
            f"| {side} | {tiles} | {label.strip()} | {f['tokens_per_second']:,.0f} "
            f"| {f['peak_bytes'] / 2**30:.2f} GiB | {f'{mfu:.1%}' if mfu else 'n/a'} "
            f"| {f['tokens_per_second'] / base:.2f}x |"
        )
        if f.get("fallbacks"):
            rows.append(f"|  |  | ({f['fallbacks']}) |  |  |  |  |")
    return rows
