"""The memory arithmetic of app/runs/memory.py (no torch) against counts on real models: the
tiny models of three families, built on the meta device from their configs, and a 4-bit load."""

from pathlib import Path

import bitsandbytes as bnb
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PretrainedConfig

from app.basemodels.models import DEMO_ARCHITECTURE, DEMO_MODEL_SOURCE
from app.config import ROOT
from app.runs.memory import (
    Architecture,
    TextDims,
    VisionDims,
    architecture_from_parts,
    nf4_bytes,
    projector_params,
    text_parts,
    vision_parts,
)
from worker.architecture import architecture_count, image_tokens_count
from worker.modelkit import FAMILIES, Family
from worker.train import base_load

from .conftest import tiny_settings

PROJECTORS = {"idefics3": "idefics3", "llava": "llava", "gemma3": "gemma3"}


def _worked_out(family: Family, config: PretrainedConfig, image_tokens: int) -> Architecture:
    """The architecture from the config's numbers alone, as the bench works out real models."""
    t, v = config.get_text_config(), config.vision_config
    gemma = family == "gemma3"
    text = TextDims(
        hidden=t.hidden_size,
        intermediate=t.intermediate_size,
        layers=t.num_hidden_layers,
        heads=t.num_attention_heads,
        kv_heads=t.num_key_value_heads,
        head_dim=t.head_dim,
        vocab=t.vocab_size,
        tied=config.tie_word_embeddings,
        norms_per_layer=4 if gemma else 2,
        qk_norm=gemma,
    )
    vision = VisionDims(
        "siglip",
        v.hidden_size,
        v.intermediate_size,
        v.num_hidden_layers,
        v.patch_size,
        v.image_size,
        pooling_head=getattr(v, "vision_use_head", False),
    )
    merge = getattr(config, "scale_factor", 1)
    return architecture_from_parts(
        text_parts(text),
        vision_parts(vision),
        projector_params(PROJECTORS[family], v.hidden_size, t.hidden_size, merge),
        dims=text,
        image_tokens=image_tokens,
        vision_tokens=(v.image_size // v.patch_size) ** 2,
        vision_hidden=v.hidden_size,
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_the_arithmetic_equals_the_parts_counted_on_the_meta_device(
    family: Family, model_dirs: dict[Family, Path]
) -> None:
    config = AutoModelForImageTextToText.from_pretrained(model_dirs[family]).config
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    counted = architecture_count(model, image_tokens=16)
    assert counted.total_params == sum(p.numel() for p in model.parameters())
    assert counted.quantized_tensors == 14  # 7 linear layers in each of 2 decoder layers
    assert _worked_out(family, config, 16) == counted


@pytest.mark.parametrize("family", FAMILIES)
def test_the_4bit_bytes_are_what_bitsandbytes_allocates(
    family: Family, model_dirs: dict[Family, Path]
) -> None:
    """The quantised layers' weights and every constant bitsandbytes keeps for them, against
    `nf4_bytes` of the parameters the worker counted on the model in full precision."""
    full = AutoModelForImageTextToText.from_pretrained(model_dirs[family])
    counted = architecture_count(full, image_tokens=0)
    model, _ = base_load(str(model_dirs[family]), None, tiny_settings())
    allocated = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            state = module.weight.quant_state
            tensors = [module.weight, state.absmax, state.code, state.offset]
            tensors += [state.state2.absmax, state.state2.code]
            allocated += sum(t.numel() * t.element_size() for t in tensors)
    # Exact but for the second-level constants, rounded up per tensor rather than over all of
    # them: at most one float32 more per tensor.
    worked_out = nf4_bytes(counted.quantized_params, counted.quantized_tensors)
    assert 0 <= allocated - worked_out <= 4 * counted.quantized_tensors


@pytest.mark.parametrize("family", FAMILIES)
def test_image_tokens_are_counted_from_the_processor(
    family: Family, model_dirs: dict[Family, Path]
) -> None:
    processor = AutoProcessor.from_pretrained(model_dirs[family])
    model = AutoModelForImageTextToText.from_pretrained(model_dirs[family])
    # 32-pixel images in patches of 8: 16 patches; Idefics3 shuffles 2 x 2 of them into one
    # token, Gemma 3 pools them to 4, LLaVA keeps all 16.
    expected = {"idefics3": 4, "llava": 16, "gemma3": 4}[family]
    assert image_tokens_count(processor, model) == expected


def test_the_demo_models_stored_numbers_are_its_count() -> None:
    """Migration 0012 and the seed store DEMO_ARCHITECTURE for the shipped demo captioner."""
    folder = ROOT / DEMO_MODEL_SOURCE
    model = AutoModelForImageTextToText.from_pretrained(folder)
    tokens = image_tokens_count(AutoProcessor.from_pretrained(folder), model)
    assert architecture_count(model, image_tokens=tokens).to_json() == DEMO_ARCHITECTURE
