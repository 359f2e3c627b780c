"""Small vision-language models made here, from configs and a tokenizer trained locally.

No machine of this project reaches a model hub, so the demo base model and the tiny models of
the tests are built by this module: the same architectures as the real checkpoints
(SmolVLM/Idefics3, LLaVA, Gemma 3, Qwen2-VL, Qwen2.5-VL), the same processors and chat
templates, only small. Saved with `save_pretrained`, they load through `AutoProcessor` and
`AutoModelForImageTextToText` exactly as a hub checkpoint does.

The Qwen-VL processors hold a video processor that needs torchvision; the models themselves do
not. `qwen_save_parts` writes such a folder without building the processor, so that a machine
without torchvision can make one too (and see what loading it asks for).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForImageTextToText,
    Gemma3Config,
    Gemma3ImageProcessorPil,
    Gemma3Processor,
    Idefics3Config,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    LlavaConfig,
    LlavaProcessor,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLImageProcessorPil,
    Qwen2VLProcessor,
    SiglipImageProcessorPil,
)

Family = Literal["idefics3", "llava", "gemma3", "qwen2_vl", "qwen2_5_vl"]
# What the main tier builds and trains: these need nothing beyond the `train` extra.
FAMILIES: tuple[Family, ...] = ("idefics3", "llava", "gemma3")
# Their processors need torchvision: the families tier (`make test-families`) builds these.
TORCHVISION_FAMILIES: tuple[Family, ...] = ("qwen2_vl", "qwen2_5_vl")

# SmolVLM's template (Idefics3 family), as published with its checkpoints.
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
# LLaVA-1.5 style: USER: <image>\n… ASSISTANT: …
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: "
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% endif %}{% endfor %}{% for item in message['content'] %}"
    "{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {% for item in message['content'] %}{% if item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
# Gemma 3: turns between <start_of_turn> and <end_of_turn>, the model's role called "model".
GEMMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% set role = 'model' "
    "if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<start_of_image>{% elif item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

# Qwen2-VL and Qwen2.5-VL, as published with the Instruct checkpoints (ChatML with a system
# turn; an image is <|vision_start|><|image_pad|><|vision_end|>, the pad expanded by the
# processor into one token per merged patch).
QWEN_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_VL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

SPECIAL_TOKENS: dict[Family, list[str]] = {
    "idefics3": [
        "<|im_start|>",
        "<end_of_utterance>",
        "<fake_token_around_image>",
        "<image>",
        "<global-img>",
        *[f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)],
    ],
    "llava": ["<image>"],
    "gemma3": [
        "<start_of_turn>",
        "<end_of_turn>",
        "<start_of_image>",
        "<end_of_image>",
        "<image_soft_token>",
    ],
    "qwen2_vl": QWEN_VL_TOKENS,
    "qwen2_5_vl": QWEN_VL_TOKENS,
}

# Gemma3Processor reads these off its tokenizer by name.
NAMED_TOKENS: dict[Family, dict[str, str]] = {
    "gemma3": {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    },
}


@dataclass(frozen=True)
class Size:
    """How big a model to build: widths and depths of both towers and the image side."""

    image_size: int = 32
    patch_size: int = 8
    vision_hidden: int = 32
    vision_layers: int = 1
    text_hidden: int = 64
    text_layers: int = 2
    heads: int = 4
    vocab_size: int = 600


def tokenizer_train(
    texts: Iterable[str],
    *,
    vocab_size: int,
    special_tokens: list[str],
    named: dict[str, str] | None = None,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`, with `<s>`, `</s>`, `<pad>`, `<unk>`."""
    base = ["<pad>", "<s>", "</s>", "<unk>", "<bos>", "<eos>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=base + special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens=special_tokens,
        **(named or {}),
    )


def _id(tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    found = tokenizer.convert_tokens_to_ids(token)
    assert isinstance(found, int), token
    return found


def _vision(size: Size) -> dict[str, object]:
    return {
        "hidden_size": size.vision_hidden,
        "intermediate_size": size.vision_hidden * 2,
        "num_hidden_layers": size.vision_layers,
        "num_attention_heads": size.heads,
        "image_size": size.image_size,
        "patch_size": size.patch_size,
    }


def _text(size: Size, tokenizer: PreTrainedTokenizerFast) -> dict[str, object]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": size.text_hidden,
        "intermediate_size": size.text_hidden * 2,
        "num_hidden_layers": size.text_layers,
        "num_attention_heads": size.heads,
        "num_key_value_heads": size.heads,
        "max_position_embeddings": 512,
        "tie_word_embeddings": False,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def _idefics3(
    size: Size, tokenizer: PreTrainedTokenizerFast
) -> tuple[PreTrainedModel, ProcessorMixin]:
    scale = 2
    config = Idefics3Config(
        vision_config=_vision(size),
        text_config={"model_type": "llama", **_text(size, tokenizer)},
        scale_factor=scale,
        image_token_id=_id(tokenizer, "<image>"),
    )
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False,
        size={"longest_edge": size.image_size},
        max_image_size={"longest_edge": size.image_size},
    )
    seq_len = (size.image_size // size.patch_size) ** 2 // scale**2
    processor = Idefics3Processor(
        image_processor, tokenizer, image_seq_len=seq_len, chat_template=IDEFICS3_TEMPLATE
    )
    stop = [_id(tokenizer, "<end_of_utterance>"), tokenizer.eos_token_id]
    return _model(config, stop), processor


def _llava(
    size: Size, tokenizer: PreTrainedTokenizerFast
) -> tuple[PreTrainedModel, ProcessorMixin]:
    config = LlavaConfig(
        vision_config={"model_type": "siglip_vision_model", **_vision(size)},
        text_config={"model_type": "llama", **_text(size, tokenizer)},
        image_token_index=_id(tokenizer, "<image>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    image_processor = SiglipImageProcessorPil(
        size={"height": size.image_size, "width": size.image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=size.patch_size,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=0,
        chat_template=LLAVA_TEMPLATE,
    )
    return _model(config, [tokenizer.eos_token_id]), processor


def _gemma3(
    size: Size, tokenizer: PreTrainedTokenizerFast
) -> tuple[PreTrainedModel, ProcessorMixin]:
    tokens_per_image = 4  # the projector pools the patch grid down to 2 by 2
    text = _text(size, tokenizer) | {
        "head_dim": size.text_hidden // size.heads,
        "sliding_window": 64,
        "query_pre_attn_scalar": 16,
    }
    config = Gemma3Config(
        text_config=text,
        vision_config=_vision(size),
        mm_tokens_per_image=tokens_per_image,
        boi_token_index=_id(tokenizer, "<start_of_image>"),
        eoi_token_index=_id(tokenizer, "<end_of_image>"),
        image_token_index=_id(tokenizer, "<image_soft_token>"),
    )
    image_processor = Gemma3ImageProcessorPil(
        size={"height": size.image_size, "width": size.image_size}
    )
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=GEMMA3_TEMPLATE,
        image_seq_length=tokens_per_image,
    )
    stop = [_id(tokenizer, "<end_of_turn>"), tokenizer.eos_token_id]
    return _model(config, stop), processor


def _qwen_text(size: Size, tokenizer: PreTrainedTokenizerFast) -> dict[str, object]:
    head_dim = size.text_hidden // size.heads
    # Multimodal RoPE: the rotary half-dimensions split between time, height and width.
    third = head_dim // 2 // 3
    mrope = [head_dim // 2 - 2 * third, third, third]
    return _text(size, tokenizer) | {
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope}
    }


def _qwen_config(family: Family, size: Size, tokenizer: PreTrainedTokenizerFast) -> object:
    """Qwen2-VL's or Qwen2.5-VL's config: patches of QWEN_PATCH pixels merged 2 by 2."""
    vision: dict[str, object] = {
        "depth": size.vision_layers,
        "num_heads": size.heads,
        "patch_size": QWEN_PATCH,
        "spatial_merge_size": QWEN_MERGE,
        "temporal_patch_size": 2,
    }
    if family == "qwen2_vl":
        vision |= {"embed_dim": size.vision_hidden, "hidden_size": size.text_hidden}
        config_class: type[Qwen2VLConfig | Qwen2_5_VLConfig] = Qwen2VLConfig
    else:
        vision |= {
            "hidden_size": size.vision_hidden,
            "intermediate_size": size.vision_hidden * 2,
            "out_hidden_size": size.text_hidden,
            "window_size": QWEN_PATCH * QWEN_MERGE * 2,  # windows of 2 by 2 merged patches
            "fullatt_block_indexes": [size.vision_layers - 1],
        }
        config_class = Qwen2_5_VLConfig
    return config_class(
        text_config=_qwen_text(size, tokenizer),
        vision_config=vision,
        image_token_id=_id(tokenizer, "<|image_pad|>"),
        video_token_id=_id(tokenizer, "<|video_pad|>"),
        vision_start_token_id=_id(tokenizer, "<|vision_start|>"),
        vision_end_token_id=_id(tokenizer, "<|vision_end|>"),
    )


# Qwen's dynamic resolution: an image becomes (h / 8) * (w / 8) tokens after resizing to
# multiples of 8 within the processor's pixel range (the real models: 28, and 4 to 1280 tokens).
QWEN_PATCH, QWEN_MERGE = 4, 2
QWEN_PIXELS = {"shortest_edge": 4 * (QWEN_PATCH * QWEN_MERGE) ** 2, "longest_edge": 64 * 64}


def qwen_image_processor() -> Qwen2VLImageProcessorPil:
    """The image processor of the tiny Qwen models (the PIL one: it needs no torchvision)."""
    return Qwen2VLImageProcessorPil(
        patch_size=QWEN_PATCH,
        merge_size=QWEN_MERGE,
        temporal_patch_size=2,
        size=dict(QWEN_PIXELS),
    )


def _qwen_model(family: Family, size: Size, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    """The model alone: it builds without torchvision."""
    stop = [_id(tokenizer, "<|im_end|>"), tokenizer.eos_token_id]
    return _model(_qwen_config(family, size, tokenizer), stop)


def _qwen(
    family: Family, size: Size, tokenizer: PreTrainedTokenizerFast
) -> tuple[PreTrainedModel, ProcessorMixin]:
    from transformers import Qwen2VLVideoProcessor  # needs torchvision

    processor_class = Qwen2VLProcessor if family == "qwen2_vl" else Qwen2_5_VLProcessor
    processor = processor_class(
        image_processor=qwen_image_processor(),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(
            patch_size=QWEN_PATCH, merge_size=QWEN_MERGE, temporal_patch_size=2
        ),
        chat_template=QWEN_VL_TEMPLATE,
    )
    return _qwen_model(family, size, tokenizer), processor


def _model(config: object, stop: list[int]) -> PreTrainedModel:
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config.eos_token_id = stop
    model.generation_config.pad_token_id = model.config.text_config.pad_token_id
    return model


Builder = Callable[[Size, PreTrainedTokenizerFast], tuple[PreTrainedModel, ProcessorMixin]]
BUILDERS: dict[Family, Builder] = {
    "idefics3": _idefics3,
    "llava": _llava,
    "gemma3": _gemma3,
    "qwen2_vl": partial(_qwen, "qwen2_vl"),
    "qwen2_5_vl": partial(_qwen, "qwen2_5_vl"),
}


def tokenizer_for(family: Family, texts: Iterable[str], size: Size) -> PreTrainedTokenizerFast:
    """A tokenizer trained on `texts` with the special tokens `family`'s processor expects."""
    return tokenizer_train(
        texts,
        vocab_size=size.vocab_size,
        special_tokens=SPECIAL_TOKENS[family],
        named=NAMED_TOKENS.get(family),
    )


def vlm_build(
    family: Family, texts: Iterable[str], *, size: Size = Size(), seed: int = 0
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """A randomly initialised model of `family` and its processor, deterministic in `seed`."""
    torch.manual_seed(seed)
    tokenizer = tokenizer_for(family, texts, size)
    return BUILDERS[family](size, tokenizer)


def vlm_save(model: PreTrainedModel, processor: ProcessorMixin, path: Path) -> Path:
    """Save both so that `from_pretrained(path)` loads them like a hub checkpoint."""
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def qwen_save_parts(
    family: Family, texts: Iterable[str], path: Path, *, size: Size = Size(), seed: int = 0
) -> Path:
    """A Qwen-VL `family` model saved part by part, its processor never built (it needs
    torchvision): weights, tokenizer, image processor and chat template, laid out as the
    published checkpoints are. `AutoProcessor` assembles the processor from them when it loads
    the folder, where torchvision is."""
    if family not in TORCHVISION_FAMILIES:
        raise ValueError(f"{family} is not a Qwen-VL family")
    torch.manual_seed(seed)
    tokenizer = tokenizer_for(family, texts, size)
    _qwen_model(family, size, tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    qwen_image_processor().save_pretrained(path)
    (path / "chat_template.jinja").write_text(QWEN_VL_TEMPLATE)
    return path
