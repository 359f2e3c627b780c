"""The numbers a base model's memory estimate needs, counted on the model itself.

A worker counts them when it checks a registered base model (`worker/basemodels.py`) and stores
them on its row, so that the web process can estimate a run's memory without torch
(`app/runs/memory.py`). The parts are told apart by module name with the same patterns that
decide what training quantises and adapts (`worker/config.py`), so the count is what a run
loads. It works as well on a model built on the meta device, which holds no weights.
"""

import re

import torch
from PIL import Image
from transformers import PreTrainedModel, ProcessorMixin

from app.runs.memory import Architecture
from worker.config import LANGUAGE_LINEAR, UNQUANTIZED_MODULES, VISION_LINEAR
from worker.data import prompt_text

_KEPT = re.compile(UNQUANTIZED_MODULES[0] + r"(\..*)?")
_VISION = re.compile(r"(.*\.)?(vision_model|vision_tower|visual)(\..*)?")
_PROJECTOR = re.compile(r"(.*\.)?(connector|multi_modal_projector|visual\.merger)(\..*)?")
_MERGER = re.compile(r"(.*\.)?visual\.merger(\..*)?")  # Qwen2-VL's projector sits in its tower
# The square an image is counted at: the run form's default cap is 512 x 512 pixels.
PROBE_SIDE = 512


def _linears(model: torch.nn.Module) -> list[tuple[str, torch.nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]


def _params_under(model: torch.nn.Module, pattern: re.Pattern[str]) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if pattern.fullmatch(n))


def _rank_one(linears: list[tuple[str, torch.nn.Linear]], pattern: str) -> int:
    """LoRA parameters at rank 1 over the linear layers whose name matches (as peft matches)."""
    return sum(m.in_features + m.out_features for n, m in linears if re.fullmatch(pattern, n))


def _weight(module: torch.nn.Module) -> torch.Tensor:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def architecture_count(model: PreTrainedModel, *, image_tokens: int) -> Architecture:
    """The parts of `model` (not quantised: as from_pretrained or the meta device builds it)."""
    linears = _linears(model)
    quantized = [m for n, m in linears if not _KEPT.fullmatch(n)]
    total = sum(p.numel() for p in model.parameters())  # tied weights once
    embedding = _weight(model.get_input_embeddings())
    head = model.get_output_embeddings()
    head_weight = _weight(head) if head is not None else embedding
    projector = _params_under(model, _PROJECTOR)
    text = model.config.get_text_config()
    vision = getattr(model.config, "vision_config", None)
    patch = getattr(vision, "patch_size", 14)
    side = getattr(vision, "image_size", 0) or PROBE_SIDE
    return Architecture(
        quantized_params=sum(m.weight.numel() for m in quantized),
        quantized_tensors=len(quantized),
        kept_params=total - sum(m.weight.numel() for m in quantized),
        vision_params=_params_under(model, _VISION) - _params_under(model, _MERGER),
        projector_params=projector,
        embedding_params=embedding.numel(),
        head_params=0 if head_weight is embedding else head_weight.numel(),
        lora_per_rank=_rank_one(linears, LANGUAGE_LINEAR),
        vision_lora_per_rank=_rank_one(linears, VISION_LINEAR),
        hidden_size=text.hidden_size,
        intermediate_size=text.intermediate_size,
        layers=text.num_hidden_layers,
        heads=text.num_attention_heads,
        vocab_size=text.vocab_size,
        image_tokens=image_tokens,
        vision_tokens=(side // patch) ** 2,
        vision_hidden_size=getattr(vision, "hidden_size", 0) or getattr(vision, "embed_dim", 0),
    )


def image_tokens_count(processor: ProcessorMixin, model: PreTrainedModel) -> int:
    """How many tokens one PROBE_SIDE-square image becomes in a prompt of this processor."""
    image_token = _image_token_id(model)
    prompt = prompt_text(processor, "?")  # the training prompt's form: one image, then text
    image = Image.new("RGB", (PROBE_SIDE, PROBE_SIDE), (128, 128, 128))
    batch = processor(text=[prompt], images=[[image]], return_tensors="pt")
    return int((batch["input_ids"] == image_token).sum())


def _image_token_id(model: PreTrainedModel) -> int:
    config = model.config
    for name in ("image_token_id", "image_token_index"):
        found = getattr(config, name, None)
        if isinstance(found, int):
            return found
    raise ValueError("the model's config names no image token")
