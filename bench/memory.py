"""Memory of QLoRA at real model sizes: SmolVLM-256M, SmolVLM (2.2B), Qwen2-VL-2B, LLaVA-1.5-7B.

Each architecture is built from its published config (the numbers are written below, nothing
is downloaded) on the meta device, which allocates no weights, and its parts are counted as a
worker counts a registered base model (`worker/architecture.py`). The same parts worked out by
arithmetic from the config alone (`app/runs/memory.py`, which the web process uses) are checked
against those counts. Then, per model: the base weights in 16-bit against 4-bit NF4 with double
quantisation (the vision tower, projector, embeddings and head left in 16-bit, as
`worker/train.py` leaves them), LoRA at r=16 on the language model's linear layers, the
adapter's file, and the peak memory of the `standard` preset on a GPU. The baseline of the
ratios is the 16-bit model. The QLoRA paper's figures: 4 bits = 0.5 bytes a weight, and the
absmax constants cost 0.5 bits a weight, or 0.127 with double quantisation (blocks of 64, then
256): 0.373 bits saved.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    AutoModelForImageTextToText,
    Idefics3Config,
    LlavaConfig,
    PretrainedConfig,
    Qwen2VLConfig,
)

from app.basemodels.models import DEMO_ARCHITECTURE
from app.runs.memory import (
    Architecture,
    MemoryEstimate,
    RunShape,
    TextDims,
    VisionDims,
    adapter_file_bytes,
    architecture_from_parts,
    human_bytes,
    lora_params,
    memory_estimate,
    nf4_bytes,
    projector_params,
    quantization_bits_per_param,
    text_parts,
    vision_parts,
)
from app.runs.settings import PRESETS, settings_resolve
from worker.architecture import architecture_count


@dataclass(frozen=True)
class Published:
    """A published checkpoint's architecture: its config, and the same numbers for the
    arithmetic; `image_tokens` is what its processor makes of a 512 x 512 image."""

    name: str
    config: Callable[[], PretrainedConfig]
    text: TextDims
    vision: VisionDims
    projector: str
    merge: int
    image_tokens: int


# HuggingFaceTB/SmolVLM-256M-Instruct: SmolLM2-135M and SigLIP base-patch16-512, pixel shuffle 4.
# A 512 x 512 image is scaled to 2048 on its longest side and cut into 4 x 4 tiles of 512 plus
# the whole image: 17 tiles of 64 tokens. Its config.json's values that decide the work done
# (bench/gpu.py builds it at full size from them).
SMOLVLM_256M_CONFIG: dict[str, Any] = {
    "scale_factor": 4,
    "text_config": {
        "model_type": "llama",
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "head_dim": 64,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "rope_theta": 100000.0,
        "vocab_size": 49280,
        "tie_word_embeddings": False,
    },
    "vision_config": {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 512,
        "patch_size": 16,
    },
}
SMOLVLM_256M = Published(
    name="SmolVLM-256M",
    config=lambda: Idefics3Config(**SMOLVLM_256M_CONFIG, tie_word_embeddings=False),
    text=TextDims(576, 1536, 30, 9, 3, 64, 49280),
    vision=VisionDims("siglip", 768, 3072, 12, 16, 512),
    projector="idefics3",
    merge=4,
    image_tokens=17 * 64,
)
# HuggingFaceTB/SmolVLM-Instruct (2.2B): SmolLM2-1.7B and SigLIP so400m-patch14-384, shuffle 3;
# 1536 on the longest side, 4 x 4 tiles of 384 plus the whole image: 17 tiles of 81 tokens.
SMOLVLM_2B = Published(
    name="SmolVLM-2.2B",
    config=lambda: Idefics3Config(
        text_config={
            "model_type": "llama",
            "hidden_size": 2048,
            "intermediate_size": 8192,
            "num_hidden_layers": 24,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "vocab_size": 49155,
            "tie_word_embeddings": False,
        },
        vision_config={
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 27,
            "num_attention_heads": 16,
            "patch_size": 14,
            "image_size": 384,
        },
        scale_factor=3,
        tie_word_embeddings=False,
    ),
    text=TextDims(2048, 8192, 24, 32, 32, 64, 49155),
    vision=VisionDims("siglip", 1152, 4304, 27, 14, 384),
    projector="idefics3",
    merge=3,
    image_tokens=17 * 81,
)
# Qwen/Qwen2-VL-2B-Instruct: Qwen2-1.5B (biases on q, k, v; tied head) and a 675M ViT of its own
# with 2 x 2 patch merging; 512 x 512 becomes 504 x 504, 36 x 36 patches, 18 x 18 tokens.
QWEN2_VL_2B = Published(
    name="Qwen2-VL-2B",
    config=lambda: Qwen2VLConfig(
        text_config={
            "hidden_size": 1536,
            "intermediate_size": 8960,
            "num_hidden_layers": 28,
            "num_attention_heads": 12,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "tie_word_embeddings": True,
        },
        vision_config={
            "depth": 32,
            "embed_dim": 1280,
            "num_heads": 16,
            "mlp_ratio": 4,
            "hidden_size": 1536,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        tie_word_embeddings=True,
    ),
    text=TextDims(1536, 8960, 28, 12, 2, 128, 151936, tied=True, qkv_bias=True),
    vision=VisionDims("qwen2vl", 1280, 5120, 32, 14),
    projector="qwen2vl",
    merge=2,
    image_tokens=18 * 18,
)
# llava-hf/llava-1.5-7b-hf: Vicuna-7B (LLaMA 2) and CLIP ViT-L/14 at 336, a two-layer projector;
# 24 x 24 = 576 tokens whatever the image's size.
LLAVA_15_7B = Published(
    name="LLaVA-1.5-7B",
    config=lambda: LlavaConfig(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "patch_size": 14,
            "image_size": 336,
            "projection_dim": 768,
        },
        text_config={
            "model_type": "llama",
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "vocab_size": 32064,
            "tie_word_embeddings": False,
        },
        vision_feature_layer=-2,
    ),
    text=TextDims(4096, 11008, 32, 32, 32, 128, 32064),
    vision=VisionDims("clip", 1024, 4096, 24, 14, 336),
    projector="llava",
    merge=1,
    image_tokens=576,
)
MODELS = [SMOLVLM_256M, SMOLVLM_2B, QWEN2_VL_2B, LLAVA_15_7B]


def counted(model: Published) -> Architecture:
    """The architecture counted on the model built on the meta device (no weights)."""
    with torch.device("meta"):
        built = AutoModelForImageTextToText.from_config(model.config())
    return architecture_count(built, image_tokens=model.image_tokens)


def worked_out(model: Published) -> Architecture:
    """The same from the config's numbers alone, by `app/runs/memory.py`."""
    return architecture_from_parts(
        text_parts(model.text),
        vision_parts(model.vision),
        projector_params(model.projector, model.vision.hidden, model.text.hidden, model.merge),
        dims=model.text,
        image_tokens=model.image_tokens,
        vision_tokens=(model.vision.image_size // model.vision.patch) ** 2
        if model.vision.image_size
        else 1296,
        vision_hidden=model.vision.hidden,
    )


# Trains the demo captioner in a fresh process and reports its peak RSS, and the RSS it had
# before the model loaded (Python and the libraries: what RUNTIME_BYTES stands for).
_PROBE = """
import json, sys
from pathlib import Path
from app.basemodels.models import DEMO_MODEL_SOURCE
from app.config import ROOT
from app.demo.catalogue import catalogue
from app.demo.render import product_render
from app.runs.settings import settings_resolve
from worker.data import Example
from worker.train import qlora_train
def hwm():  # this process's own peak RSS: getrusage's counts the parent's across fork and exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
runtime = hwm()
s = settings_resolve("quick-demo", json.loads(sys.argv[1]))
examples = [Example(product_render(p, size=64), p.brand_caption) for p in catalogue(16, seed=5)]
result = qlora_train(base=str(ROOT / DEMO_MODEL_SOURCE), revision=None, examples=examples, s=s,
                     output_dir=Path(sys.argv[2]))
# qlora_train resets the high-water mark when it starts (worker.train.rss_peak_reset)
print(json.dumps({"runtime": runtime, "peak": max(runtime, hwm()),
                  "adapter": result.adapter_bytes, "trainable": result.trainable_params}))
"""


@dataclass(frozen=True)
class Measured:
    runtime: int  # peak RSS before the model loaded
    peak: int  # peak RSS of the whole training process
    adapter: int  # bytes of the saved adapter folder
    trainable: int


def demo_run_measured(overrides: Mapping[str, object]) -> Measured:
    """Train the demo captioner on 16 demo photos with quick-demo and `overrides` in a fresh
    process (so that its peak RSS is the run's alone) on this machine's CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps(dict(overrides)), tmp],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return Measured(**json.loads(out.strip().splitlines()[-1]))


def demo_run_estimated(overrides: Mapping[str, object]) -> "MemoryEstimate":
    """What app/runs/memory.py estimates for the same run on a CPU (float32 activations)."""
    arch = Architecture.of(DEMO_ARCHITECTURE)
    assert arch is not None
    return memory_estimate(arch, RunShape.of(settings_resolve("quick-demo", overrides), gpu=False))


def _m(n: int) -> str:
    return f"{n / 1e6:,.1f}M"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument(
        "--measure-steps",
        type=int,
        default=30,
        help="steps of the demo captioner's measured CPU runs (0: none)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    archs = {m.name: counted(m) for m in MODELS}

    print("Parameters counted on the meta device against the arithmetic of app/runs/memory.py")
    print(
        f"{'model':<14}{'total':>10}{'4-bit part':>12}{'kept 16-bit':>12}{'vision':>9}"
        f"{'projector':>10}{'embed+head':>11}{'arithmetic off by':>19}"
    )
    for m in MODELS:
        a, w = archs[m.name], worked_out(m)
        off = max(
            abs(getattr(a, f) - getattr(w, f))
            for f in ("quantized_params", "kept_params", "lora_per_rank", "vision_params")
        )
        print(
            f"{m.name:<14}{_m(a.total_params):>10}{_m(a.quantized_params):>12}"
            f"{_m(a.kept_params):>12}{_m(a.vision_params):>9}{_m(a.projector_params):>10}"
            f"{_m(a.embedding_params + a.head_params):>11}{off:>16,} p."
        )

    print()
    print(f"Base weights, 16-bit against 4-bit NF4 (double quantisation); LoRA r={args.rank}")
    print(
        f"{'model':<14}{'16-bit':>9}{'4-bit+kept':>11}{'ratio':>7}{'B/param 4-bit':>14}"
        f"{'DQ saves':>10}{'LoRA params':>12}{'share':>8}{'adapter':>9}"
    )
    for m in MODELS:
        a = archs[m.name]
        sixteen = a.total_params * 2
        four = nf4_bytes(a.quantized_params, a.quantized_tensors) + a.kept_params * 2
        plain = nf4_bytes(a.quantized_params, a.quantized_tensors, double_quant=False)
        saved = plain - nf4_bytes(a.quantized_params, a.quantized_tensors)
        per_param = nf4_bytes(a.quantized_params, a.quantized_tensors) / a.quantized_params
        trainable = lora_params(a, args.rank)
        print(
            f"{m.name:<14}{human_bytes(sixteen):>9}{human_bytes(four):>11}"
            f"{four / sixteen:>6.2f}x{per_param:>14.4f}{human_bytes(saved):>10}"
            f"{_m(trainable):>12}{trainable / (a.total_params + trainable):>7.2%}"
            f"{human_bytes(adapter_file_bytes(a, args.rank)):>9}"
        )
    dq = quantization_bits_per_param(double_quant=True)
    single = quantization_bits_per_param(double_quant=False)
    print(
        f"absmax constants: {single:.3f} bits/param plain, {dq:.3f} with double quantisation "
        f"(paper: 0.5 and 0.127), so {single - dq:.3f} bits/param saved; 4-bit weights with "
        f"constants {0.5 + dq / 8:.4f} bytes/param (paper: about 0.5)"
    )

    s = PRESETS["standard"]
    shape = RunShape.of(s, gpu=True)
    print()
    print(
        f"Peak memory of a `standard` run on a GPU (bf16, batch {s.batch_size}, r={s.lora_r}, "
        f"max_length {s.max_length}, gradient checkpointing, AdamW fp32), by app/runs/memory.py"
    )
    print(
        f"{'model':<14}{'tokens':>7}{'4-bit':>9}{'kept fp32':>10}{'LoRA+grad+Adam':>15}"
        f"{'activations':>12}{'runtime':>9}{'total':>9}"
    )
    for m in MODELS:
        e = memory_estimate(archs[m.name], shape)
        print(
            f"{m.name:<14}{e.tokens:>7}{human_bytes(e.base_4bit):>9}{human_bytes(e.base_kept):>10}"
            f"{human_bytes(e.lora + e.gradients + e.optimizer):>15}"
            f"{human_bytes(e.activations):>12}{human_bytes(e.runtime):>9}{human_bytes(e.total):>9}"
        )
    if args.measure_steps:
        _measure(args.measure_steps)
    print(f"({time.perf_counter() - started:.1f}s, torch {torch.__version__})")


def _measure(steps: int) -> None:
    print()
    print(f"The estimate against measured CPU runs of the demo captioner ({steps} steps, peak RSS)")
    print(
        f"{'run':<34}{'runtime':>9}{'measured':>10}{'estimate':>10}{'est/meas':>9}"
        f"{'model part meas.':>17}{'est.':>9}{'adapter':>9}{'est.':>9}"
    )
    runs = {
        "quick-demo (r=64, batch 4)": {},
        "quick-demo, batch 16": {"batch_size": 16},
        "quick-demo, r=16, checkpointing": {"lora_r": 16, "gradient_checkpointing": True},
    }
    for label, overrides in runs.items():
        overrides = {**overrides, "max_steps": steps, "checkpoint_steps": 10_000}
        measured, estimate = demo_run_measured(overrides), demo_run_estimated(overrides)
        model_part = estimate.total - estimate.runtime
        arch = Architecture.of(DEMO_ARCHITECTURE)
        assert arch is not None
        s = settings_resolve("quick-demo", overrides)
        print(
            f"{label:<34}{human_bytes(measured.runtime):>9}{human_bytes(measured.peak):>10}"
            f"{human_bytes(estimate.total):>10}{estimate.total / measured.peak:>8.2f}x"
            f"{human_bytes(measured.peak - measured.runtime):>17}{human_bytes(model_part):>9}"
            f"{human_bytes(measured.adapter):>9}"
            f"{human_bytes(adapter_file_bytes(arch, s.lora_r, vision=s.lora_vision)):>9}"
        )
