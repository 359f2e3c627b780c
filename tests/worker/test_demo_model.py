"""The committed demo base model: it loads like a hub checkpoint, describes the demo brand's
photos in generic words, gets the kind of product right, and loads in 4 bits for QLoRA."""

from pathlib import Path

import pytest
import torch
from bitsandbytes.nn import Linear4bit
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from app.demo.catalogue import KINDS, Product, catalogue, combinations
from app.demo.render import product_render
from app.runs.settings import DEFAULT_INSTRUCTION, TrainSettings
from worker.config import quantization_config
from worker.generate import captions_generate

MODEL = Path(__file__).resolve().parents[2] / "models" / "demo-captioner"

_EVERY = [Product(*c, KINDS[c[0]].line, 0) for c in combinations()]
GENERIC_WORDS = {w for p in _EVERY for w in p.generic_caption.split()}
# The house's words that no generic caption uses: line names, "burgundy", "calfskin", "tote".
BRAND_WORDS = {w.strip(",").lower() for p in _EVERY for w in p.brand_caption.split()}
BRAND_WORDS -= GENERIC_WORDS


@pytest.fixture(scope="module")
def processor() -> AutoProcessor:
    return AutoProcessor.from_pretrained(MODEL)


@pytest.fixture(scope="module")
def model() -> AutoModelForImageTextToText:
    return AutoModelForImageTextToText.from_pretrained(MODEL).eval()


def describe(model, processor, images: list[Image.Image]) -> list[str]:  # type: ignore[no-untyped-def]
    """Greedy captions, asked as the fine-tune asks: image, then the default instruction."""
    return captions_generate(
        model=model,
        processor=processor,
        images=images,
        instruction=DEFAULT_INSTRUCTION,
        max_new_tokens=32,
    )


def test_demo_brand_photos_get_generic_captions(model, processor) -> None:
    said = describe(model, processor, [product_render(p) for p in catalogue(48)[:8]])
    for caption in said:
        words = caption.lower().split()
        assert words, said
        assert sum(w in GENERIC_WORDS for w in words) >= 0.8 * len(words), caption
        assert not BRAND_WORDS & set(words), caption


def test_held_out_photos_name_the_right_kind(model, processor) -> None:
    # Other photo seeds than the demo brand's, and than the build's: new renders.
    products = catalogue(16, seed=7)
    said = describe(model, processor, [product_render(p) for p in products])
    right = [KINDS[p.kind].generic in caption for p, caption in zip(products, said, strict=True)]
    assert sum(right) >= 0.75 * len(products), list(zip(products, said, strict=True))


def test_loads_in_4_bits_for_qlora_and_still_captions(processor) -> None:
    quantised = AutoModelForImageTextToText.from_pretrained(
        MODEL, quantization_config=quantization_config(TrainSettings()), dtype=torch.float32
    ).eval()
    kinds = {name: type(m) for name, m in quantised.named_modules()}
    assert kinds["model.text_model.layers.0.self_attn.q_proj"] is Linear4bit
    assert kinds["model.text_model.layers.0.mlp.down_proj"] is Linear4bit
    assert kinds["lm_head"] is torch.nn.Linear
    assert kinds["model.connector.modality_projection.proj"] is torch.nn.Linear
    assert not any(n.startswith("model.vision_model") and k is Linear4bit for n, k in kinds.items())
    products = catalogue(4, seed=7)
    said = describe(quantised, processor, [product_render(p) for p in products])
    assert all(caption.split() for caption in said), said
