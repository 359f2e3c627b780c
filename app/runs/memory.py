"""How much memory a QLoRA run needs, by arithmetic from a few numbers of its base model.

The web process shows the estimate on the run form before a run is queued, and never imports
torch: the numbers a base model is known by (`Architecture`) are counted once by the worker that
checks it (`worker/basemodels.py`) and stored on its row. For a published model they can also be
worked out from its config (`text_parts`, `vision_parts`, `projector_params`), which is how
`python -m bench memory` sizes SmolVLM, Qwen2-VL and LLaVA without downloading them.

What is counted, as `worker/train.py` trains:

- the base: the language model's linear layers in 4-bit NF4 (`quantized_params`), each block of
  64 weights with one absmax constant, itself quantised to 8 bits in blocks of 256 with double
  quantisation (QLoRA, Dettmers et al. 2023: 0.127 bits a parameter instead of 0.5); everything
  else (vision tower, projector, embeddings, head, norms: `kept_params`) is left whole, and
  `prepare_model_for_kbit_training` casts it to float32 for training;
- LoRA: r * (in + out) parameters per adapted linear layer, float32, with their gradients and
  AdamW's two states (float32, or 8-bit);
- activations: one example is its image tokens plus a text allowance, at most `max_length`;
  with gradient checkpointing each layer keeps only its input, and one layer at a time is
  recomputed; without it every layer keeps everything its backward pass reads. The logits
  (batch x tokens x vocabulary, float32) count twice, for the loss and its gradient.
- the process itself: Python, torch and the libraries (`RUNTIME_BYTES`), measured.
"""

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

BLOCK = 64  # NF4 weights per absmax constant (bitsandbytes' blocksize, the paper's)
BLOCK2 = 256  # absmax constants per second-level constant under double quantisation
# Per quantised tensor: the NF4 code (16 floats), the nested code (256 floats), an offset.
TENSOR_CONSTANT_BYTES = 16 * 4
NESTED_CONSTANT_BYTES = 256 * 4 + 4
# Of a training process besides its model: Python, torch, transformers, peft, bitsandbytes and
# the worker's modules (469 MB of RSS before the model loads, measured by `python -m bench
# memory` on the 2-core CPU machine), and about 50 MB the Trainer adds (its own imports, the
# data loader, buffers). On a GPU, the CUDA context costs about as much again.
RUNTIME_BYTES = 520 * 1000**2
# Tokens of text in one example besides its image: the chat template, the instruction and a
# caption (the demo's are 30-60 tokens); a run never takes more than `max_length` in all.
TEXT_TOKENS = 64
# Values kept per token and layer without checkpointing, in units of the hidden and the MLP
# width: the residual stream, the norms' outputs and their float32 upcasts, q, k, v (and their
# rotary copies), the attention's output, the MLP's gate, up, activation and product, and the
# LoRA layers' dropped-out inputs. Round figures, set so that the demo captioner's measured
# runs come out (`python -m bench memory`; tests/worker/test_memory_measured.py).
SAVED_PER_HIDDEN = 16
SAVED_PER_INTERMEDIATE = 6


@dataclass(frozen=True)
class Architecture:
    """The numbers of a base model the memory estimate needs; stored on its row as JSON."""

    quantized_params: int  # the language model's linear layers: 4-bit in training
    quantized_tensors: int  # how many such layers (each has a few constants of its own)
    kept_params: int  # everything else, left whole: vision tower, projector, embeddings, head
    vision_params: int
    projector_params: int
    embedding_params: int
    head_params: int  # 0 when the head is tied to the embeddings
    lora_per_rank: int  # LoRA parameters per unit of rank on the language model's linears
    vision_lora_per_rank: int  # the same for the vision encoder's layers (`lora_vision`)
    hidden_size: int
    intermediate_size: int
    layers: int
    heads: int
    vocab_size: int
    image_tokens: int  # tokens one image becomes at the processor's own size
    vision_tokens: int  # patches the vision tower sees per image (its activations)
    vision_hidden_size: int

    @property
    def total_params(self) -> int:
        return self.quantized_params + self.kept_params

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> "Architecture | None":
        """Read back from a row's JSON; None when absent or written by an older version."""
        names = {f.name for f in fields(cls)}
        if not data or not names <= set(data):
            return None
        return cls(**{name: int(data[name]) for name in names})


# From a config: the parts of published architectures --------------------------------------


@dataclass(frozen=True)
class TextDims:
    """A decoder-only language model of the LLaMA kind (LLaMA, Qwen2, SmolLM)."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool = False
    qkv_bias: bool = False  # Qwen2 has biases on q, k and v
    norms_per_layer: int = 2  # Gemma 3 has four, and norms on q and k
    qk_norm: bool = False


@dataclass(frozen=True)
class TextParts:
    linear: int  # q, k, v, o, gate, up, down weights: what goes to 4 bits
    linear_tensors: int
    other: int  # norms and biases
    embedding: int
    head: int
    lora_per_rank: int


def text_parts(d: TextDims) -> TextParts:
    """Parameter counts of a LLaMA-kind decoder, part by part."""
    q, kv = d.heads * d.head_dim, d.kv_heads * d.head_dim
    # (in, out) of q, k, v, o, gate, up, down
    shapes = [
        (d.hidden, q),
        (d.hidden, kv),
        (d.hidden, kv),
        (q, d.hidden),
        (d.hidden, d.intermediate),
        (d.hidden, d.intermediate),
        (d.intermediate, d.hidden),
    ]
    per_layer = sum(i * o for i, o in shapes)
    bias = (q + 2 * kv) if d.qkv_bias else 0
    norms = d.norms_per_layer * d.hidden + (2 * d.head_dim if d.qk_norm else 0)
    return TextParts(
        linear=per_layer * d.layers,
        linear_tensors=len(shapes) * d.layers,
        other=(bias + norms) * d.layers + d.hidden,  # + the final norm
        embedding=d.vocab * d.hidden,
        head=0 if d.tied else d.vocab * d.hidden,
        lora_per_rank=sum(i + o for i, o in shapes) * d.layers,
    )


@dataclass(frozen=True)
class VisionDims:
    """A ViT: SigLIP (Idefics3, SmolVLM, Gemma 3), CLIP (LLaVA) or Qwen2-VL's own."""

    kind: str  # "siglip", "clip" or "qwen2vl"
    hidden: int
    intermediate: int
    layers: int
    patch: int
    image_size: int = 0  # the learned position table's side, in pixels (not Qwen2-VL)
    channels: int = 3
    temporal_patch: int = 2  # Qwen2-VL patches two frames at once (an image is repeated)
    pooling_head: bool = False  # SigLIP's attention-pooling head (LLaVA, Gemma 3 keep it)


def vision_parts(d: VisionDims) -> tuple[int, int]:
    """(parameters, LoRA parameters per unit of rank on its encoder layers) of a vision tower,
    its projector excluded (Qwen2-VL's merger is counted by `projector_params`)."""
    h, i = d.hidden, d.intermediate
    attention = 4 * (h * h + h)  # q, k, v, out with biases (Qwen2-VL: one qkv, one proj)
    mlp = h * i + i + i * h + h
    layer = attention + mlp + 2 * 2 * h  # two LayerNorms with biases
    positions = (d.image_size // d.patch) ** 2 if d.kind != "qwen2vl" else 0
    if d.kind == "siglip":
        embeddings = d.channels * d.patch**2 * h + h + positions * h
        extra = 2 * h  # post_layernorm
        if d.pooling_head:  # a probe, a multi-head attention, a LayerNorm and an MLP
            extra += h + (3 * h * h + 3 * h + h * h + h) + 2 * h + mlp
    elif d.kind == "clip":
        embeddings = d.channels * d.patch**2 * h + (positions + 1) * h + h  # + class token
        extra = 2 * 2 * h  # pre and post LayerNorms
    else:  # qwen2vl: a 3D patch convolution without bias, rotary positions
        embeddings = d.channels * d.temporal_patch * d.patch**2 * h
        extra = 0
    lora = 0 if d.kind == "qwen2vl" else (4 * 2 * h + 2 * (h + i)) * d.layers
    return embeddings + layer * d.layers + extra, lora


def projector_params(kind: str, vision_hidden: int, text_hidden: int, merge: int) -> int:
    """The layers between the towers: Idefics3's pixel shuffle then one linear layer (no bias),
    LLaVA's two-layer MLP, Qwen2-VL's merger (a LayerNorm and a two-layer MLP over 2x2 patches)."""
    if kind == "idefics3":
        return vision_hidden * merge**2 * text_hidden
    if kind == "llava":
        return vision_hidden * text_hidden + text_hidden + text_hidden * text_hidden + text_hidden
    if kind == "gemma3":  # an RMSNorm, then one projection matrix
        return vision_hidden + vision_hidden * text_hidden
    if kind == "qwen2vl":
        wide = vision_hidden * merge**2
        return 2 * vision_hidden + wide * wide + wide + wide * text_hidden + text_hidden
    raise ValueError(f"no projector arithmetic for {kind!r}")


def architecture_from_parts(
    text: TextParts,
    vision: tuple[int, int],
    projector: int,
    *,
    dims: TextDims,
    image_tokens: int,
    vision_tokens: int,
    vision_hidden: int,
) -> Architecture:
    vision_params, vision_lora = vision
    kept = vision_params + projector + text.embedding + text.head + text.other
    return Architecture(
        quantized_params=text.linear,
        quantized_tensors=text.linear_tensors,
        kept_params=kept,
        vision_params=vision_params,
        projector_params=projector,
        embedding_params=text.embedding,
        head_params=text.head,
        lora_per_rank=text.lora_per_rank,
        vision_lora_per_rank=vision_lora,
        hidden_size=dims.hidden,
        intermediate_size=dims.intermediate,
        layers=dims.layers,
        heads=dims.heads,
        vocab_size=dims.vocab,
        image_tokens=image_tokens,
        vision_tokens=vision_tokens,
        vision_hidden_size=vision_hidden,
    )


# Bytes ------------------------------------------------------------------------------------


def nf4_bytes(params: int, tensors: int, *, double_quant: bool = True) -> int:
    """Bytes of `params` weights in `tensors` NF4 tensors: half a byte each, one absmax per
    block of 64 (float32, or 8-bit with one float32 per 256 of them), and per-tensor tables."""
    blocks = math.ceil(params / BLOCK)
    if double_quant:
        constants = blocks + math.ceil(blocks / BLOCK2) * 4
        fixed = TENSOR_CONSTANT_BYTES + NESTED_CONSTANT_BYTES
    else:
        constants, fixed = blocks * 4, TENSOR_CONSTANT_BYTES
    return params // 2 + constants + fixed * tensors


def quantization_bits_per_param(*, double_quant: bool) -> float:
    """The absmax constants' cost per weight: 32/64 = 0.5 bits, or 8/64 + 32/(64*256) = 0.127."""
    if double_quant:
        return 8 / BLOCK + 32 / (BLOCK * BLOCK2)
    return 32 / BLOCK


@dataclass(frozen=True)
class RunShape:
    """What a run's settings decide about its memory (from `TrainSettings`)."""

    lora_r: int
    lora_vision: bool
    batch_size: int
    max_length: int
    gradient_checkpointing: bool
    double_quant: bool = True
    compute_bytes: int = 2  # bfloat16 activations on a GPU; 4 on a CPU (float32)
    optimizer_state_bytes: int = 8  # AdamW's two float32 states; 2 for an 8-bit AdamW

    @classmethod
    def of(cls, s: Any, *, gpu: bool = True) -> "RunShape":
        """From a TrainSettings (duck-typed: this module imports nothing of the app)."""
        dtype = s.compute_dtype if s.compute_dtype != "auto" else ("bfloat16" if gpu else "float32")
        optim = str(getattr(s, "optim", "adamw_torch"))
        return cls(
            lora_r=s.lora_r,
            lora_vision=s.lora_vision,
            batch_size=s.batch_size,
            max_length=s.max_length,
            gradient_checkpointing=s.gradient_checkpointing,
            double_quant=s.double_quant,
            compute_bytes=4 if dtype == "float32" else 2,
            optimizer_state_bytes=2 if "8bit" in optim else 8,
        )


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes at the peak of a training step, part by part."""

    base_4bit: int
    base_kept: int
    lora: int
    gradients: int
    optimizer: int
    activations: int
    runtime: int
    tokens: int  # per example

    @property
    def total(self) -> int:
        return (
            self.base_4bit
            + self.base_kept
            + self.lora
            + self.gradients
            + self.optimizer
            + self.activations
            + self.runtime
        )


def lora_params(arch: Architecture, r: int, *, vision: bool = False) -> int:
    """Trainable parameters of LoRA at rank r: r * (in + out) per adapted linear layer."""
    return r * (arch.lora_per_rank + (arch.vision_lora_per_rank if vision else 0))


def tokens_per_example(arch: Architecture, max_length: int) -> int:
    return min(max_length, arch.image_tokens + TEXT_TOKENS)


def activation_bytes(arch: Architecture, shape: RunShape) -> int:
    """Activations at the peak of the backward pass (see the module's docstring)."""
    b, s, d = shape.batch_size, tokens_per_example(arch, shape.max_length), shape.compute_bytes
    h, i = arch.hidden_size, arch.intermediate_size
    full_layer = b * s * (SAVED_PER_HIDDEN * h + SAVED_PER_INTERMEDIATE * i) * d
    full_layer += b * arch.heads * s * s * d  # attention weights
    if shape.gradient_checkpointing:
        layers = b * s * h * d * arch.layers + full_layer
    else:
        layers = full_layer * arch.layers
    logits = 2 * b * s * arch.vocab_size * 4
    vision = b * arch.vision_tokens * arch.vision_hidden_size * d * 8  # one layer, no grad
    return layers + logits + vision


def memory_estimate(arch: Architecture, shape: RunShape) -> MemoryEstimate:
    """The peak memory of a QLoRA training run of `shape` on a base of `arch`."""
    trainable = lora_params(arch, shape.lora_r, vision=shape.lora_vision)
    return MemoryEstimate(
        base_4bit=nf4_bytes(
            arch.quantized_params, arch.quantized_tensors, double_quant=shape.double_quant
        ),
        base_kept=arch.kept_params * 4,  # cast to float32 by prepare_model_for_kbit_training
        lora=trainable * 4,
        gradients=trainable * 4,
        optimizer=trainable * shape.optimizer_state_bytes,
        activations=activation_bytes(arch, shape),
        runtime=RUNTIME_BYTES,
        tokens=tokens_per_example(arch, shape.max_length),
    )


def adapter_file_bytes(arch: Architecture, r: int, *, vision: bool = False) -> int:
    """The adapter's safetensors file: its LoRA weights in float32 (a small header aside)."""
    return lora_params(arch, r, vision=vision) * 4


def human_bytes(n: float) -> str:
    """1.2 GB, 340 MB, 12 kB: decimal units, as the run card shows them."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"
