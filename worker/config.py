"""The library configs of a run's settings: bitsandbytes' 4-bit quantisation and PEFT's LoRA.

torch, transformers and peft are imported inside the functions that build them, so that the
worker's main process can import the task modules without loading torch.
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from app.runs.settings import TrainSettings

if TYPE_CHECKING:
    import torch
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig

# Left in full precision: the vision tower and the projector (small, and sensitive to
# quantisation) and the output head. Patterns match from the start of a module's name, hence
# the optional prefix. Qwen2-VL calls its vision tower `visual`.
UNQUANTIZED_MODULES = [
    r"(.*\.)?(vision_model|vision_tower|visual|connector|multi_modal_projector|lm_head)"
]
# The linear layers LoRA adapts, as regular expressions over full module names. The language
# model is `text_model` in Idefics3/SmolVLM and `language_model` in LLaVA, Gemma 3, Qwen2-VL.
LANGUAGE_LINEAR = (
    r".*(language_model|text_model)\..*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
)
# The encoder layers only: SigLIP's pooling head is an nn.MultiheadAttention, which reads its
# out_proj weight directly and so would bypass a LoRA wrapper. Qwen-VL's encoder is `visual`,
# its layers `blocks` (the merger, its projector, is left alone like the others').
VISION_LINEAR = (
    r".*(vision_model|vision_tower)\.encoder\.layers\.\d+\."
    r".*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)"
    r"|.*visual\.blocks\.\d+\..*\.(qkv|proj|fc1|fc2|gate_proj|up_proj|down_proj)"
)


def compute_dtype(s: TrainSettings) -> "torch.dtype":
    """The dtype of the 4-bit matmuls; "auto" picks bfloat16 on a GPU that has it."""
    import torch

    dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if s.compute_dtype != "auto":
        return dtypes[s.compute_dtype]
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16 else torch.float32


def quantization_config(s: TrainSettings) -> "BitsAndBytesConfig":
    """4-bit base weights for the language model; vision tower, projector and head kept whole."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=s.quant_type,
        bnb_4bit_use_double_quant=s.double_quant,
        bnb_4bit_compute_dtype=compute_dtype(s),
        llm_int8_skip_modules=UNQUANTIZED_MODULES,
    )


def lora_config(
    s: TrainSettings, token_rows: Mapping[str, Sequence[int]] | None = None
) -> "LoraConfig":
    """Adapters on the language model's linear layers, and on the vision encoder if asked;
    `token_rows` (module name -> token ids) are embedding or head rows trained besides."""
    from peft import LoraConfig

    targets = f"{LANGUAGE_LINEAR}|{VISION_LINEAR}" if s.lora_vision else LANGUAGE_LINEAR
    return LoraConfig(
        r=s.lora_r,
        lora_alpha=s.lora_alpha,
        lora_dropout=s.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
        trainable_token_indices=(
            {name: list(ids) for name, ids in token_rows.items()} if token_rows else None
        ),
    )
