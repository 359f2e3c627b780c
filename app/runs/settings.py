"""The training settings of a run: every knob, its presets, checked with messages a person
understands, and a stable hash. Plain data of the domain: the web process validates and stores
them, the worker reads them back (`worker/config.py` turns them into library configs)."""

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace

from app.runs.answers import TAGS_INSTRUCTION, TASKS
from app.runs.models import Run

# The instruction every caption is asked with, in training and in evaluation alike.
DEFAULT_INSTRUCTION = "Describe this product."
TASK_INSTRUCTIONS = {"caption": DEFAULT_INSTRUCTION, "caption+tags": TAGS_INSTRUCTION}

LR_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
QUANT_TYPES = ("nf4", "fp4")
COMPUTE_DTYPES = ("auto", "bfloat16", "float16", "float32")
# The Trainer's optimizer names: torch's AdamW (a loop over the tensors, or one fused kernel),
# and bitsandbytes' 8-bit AdamW, its states paged to host memory when the GPU runs short (the
# QLoRA paper's).
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit")
ATTENTIONS = ("sdpa", "eager")  # transformers' attn_implementation


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: from `low` to `high`, each end included unless
    open; `also` is one more value allowed outside (max_steps' -1)."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    also: float | None = None

    def admits(self, value: float) -> bool:
        if value == self.also:
            return True
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        low = f"above {_plain(self.low)}" if self.low_open else f"at least {_plain(self.low)}"
        high = f"below {_plain(self.high)}" if self.high_open else f"at most {_plain(self.high)}"
        extra = f"{_plain(self.also)}, or " if self.also is not None else ""
        return f"{extra}{low} and {high}"


def _plain(number: float) -> str:
    """16777216, not 1.67772e+07; 0.5 stays 0.5."""
    return str(int(number)) if number == int(number) else str(number)


# Every numeric setting is bounded: a run is a GPU's time and memory, and a value past these
# (a rank of a million, a batch of 100,000, 10^12 steps) is a mistake, never a wish. Each
# field's help repeats its range.
RANGES: dict[str, Range] = {
    "lora_r": Range(1, 256),
    "lora_alpha": Range(1, 1024),
    "lora_dropout": Range(0, 1, high_open=True),
    "learning_rate": Range(0, 1, low_open=True, high_open=True),
    "epochs": Range(0, 1000, low_open=True),
    "max_steps": Range(1, 100_000, also=-1),
    "batch_size": Range(1, 256),
    "grad_accum": Range(1, 256),
    "warmup_ratio": Range(0, 1, high_open=True),
    "weight_decay": Range(0, 1),
    "max_grad_norm": Range(0, 1000, low_open=True),
    "max_image_pixels": Range(32 * 32, 4096 * 4096),
    "max_length": Range(16, 8192),
    "checkpoint_steps": Range(1, 100_000),
    "seed": Range(0, 2**31 - 1),
    "eval_steps": Range(0, 100_000),
    "logging_steps": Range(1, 10_000),
    "dataloader_workers": Range(0, 16),
}


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides how a run trains; stored as JSON on the run's row."""

    lora_r: int = field(
        default=16,
        metadata={"help": f"LoRA rank: the width of each adapter. Allowed: {RANGES['lora_r']}."},
    )
    lora_alpha: int = field(
        default=32,
        metadata={
            "help": "LoRA scaling numerator; the update is scaled by alpha/r."
            f" Allowed: {RANGES['lora_alpha']}."
        },
    )
    lora_dropout: float = field(
        default=0.05,
        metadata={"help": f"Dropout on the adapters' input. Allowed: {RANGES['lora_dropout']}."},
    )
    lora_vision: bool = field(
        default=False, metadata={"help": "Also adapt the vision tower's encoder layers."}
    )
    answer_tokens: bool = field(
        default=False,
        metadata={
            "help": "Also train the input-embedding and output-head rows of the tokens the "
            "training answers are made of (PEFT's trainable tokens): words and marks the base "
            "never wrote become ones it can write with confidence."
        },
    )
    learning_rate: float = field(
        default=2e-4,
        metadata={"help": f"Peak learning rate (AdamW). Allowed: {RANGES['learning_rate']}."},
    )
    epochs: float = field(
        default=3.0,
        metadata={"help": f"Passes over the training images. Allowed: {RANGES['epochs']}."},
    )
    max_steps: int = field(
        default=-1,
        metadata={
            "help": "Optimizer steps in all; -1 lets `epochs` decide."
            f" Allowed: {RANGES['max_steps']}."
        },
    )
    batch_size: int = field(
        default=4, metadata={"help": f"Examples per forward pass. Allowed: {RANGES['batch_size']}."}
    )
    grad_accum: int = field(
        default=1,
        metadata={
            "help": "Forward passes per optimizer step (gradient accumulation)."
            f" Allowed: {RANGES['grad_accum']}."
        },
    )
    warmup_ratio: float = field(
        default=0.05,
        metadata={
            "help": "Share of the steps spent warming the learning rate up."
            f" Allowed: {RANGES['warmup_ratio']}."
        },
    )
    lr_scheduler: str = field(
        default="cosine", metadata={"help": f"Learning rate schedule: one of {LR_SCHEDULERS}."}
    )
    weight_decay: float = field(
        default=0.0, metadata={"help": f"AdamW weight decay. Allowed: {RANGES['weight_decay']}."}
    )
    max_grad_norm: float = field(
        default=1.0,
        metadata={"help": f"Gradient clipping norm. Allowed: {RANGES['max_grad_norm']}."},
    )
    max_image_pixels: int = field(
        default=512 * 512,
        metadata={
            "help": "Images are downscaled (aspect kept) to at most this many pixels."
            f" Allowed: {RANGES['max_image_pixels']}."
        },
    )
    max_length: int = field(
        default=512,
        metadata={
            "help": "Tokens per example (image tokens included); longer answers are cut."
            f" Allowed: {RANGES['max_length']}."
        },
    )
    gradient_checkpointing: bool = field(
        default=True, metadata={"help": "Recompute activations in the backward pass: less memory."}
    )
    quant_type: str = field(
        default="nf4", metadata={"help": f"4-bit type of the base weights: one of {QUANT_TYPES}."}
    )
    double_quant: bool = field(
        default=True, metadata={"help": "Quantise the quantisation constants too (saves memory)."}
    )
    compute_dtype: str = field(
        default="auto",
        metadata={
            "help": f"dtype of the 4-bit matmuls, one of {COMPUTE_DTYPES}; "
            "auto: bfloat16 where the GPU supports it, float32 otherwise."
        },
    )
    checkpoint_steps: int = field(
        default=50,
        metadata={
            "help": "Save a resumable checkpoint every this many steps."
            f" Allowed: {RANGES['checkpoint_steps']}."
        },
    )
    seed: int = field(
        default=0,
        metadata={"help": f"Seed of the adapters' init and data order. Allowed: {RANGES['seed']}."},
    )
    eval_steps: int = field(
        default=0,
        metadata={
            "help": "Every this many steps, the loss on the validation split; the adapter kept "
            "is the checkpoint where it was lowest. 0: no such loss, the last step's adapter. "
            f"Allowed: {RANGES['eval_steps']}."
        },
    )
    augment: bool = field(
        default=False,
        metadata={
            "help": "Train on lightly changed images: random crops of 85-100% of each side, "
            "mirrored half the time (seeded); colours are kept, as captions name them."
        },
    )
    task: str = field(
        default="caption",
        metadata={"help": f"What the adapter answers: one of {TASKS} (see app/runs/answers.py)."},
    )
    instruction: str = field(
        default=DEFAULT_INSTRUCTION, metadata={"help": "The question each image is asked with."}
    )
    style_terms_in_prompt: bool = field(
        default=False,
        metadata={"help": "Append the style guide's terms to the instruction (the caller does)."},
    )
    logging_steps: int = field(
        default=1,
        metadata={"help": f"Report the loss every N steps. Allowed: {RANGES['logging_steps']}."},
    )
    group_by_length: bool = field(
        default=True,
        metadata={
            "help": "Batch examples of like token length together (shuffled in groups of a few "
            "batches), so that batches carry less padding."
        },
    )
    image_size_cap: bool = field(
        default=True,
        metadata={
            "help": "Tell the processor not to enlarge images past max_image_pixels (SmolVLM's "
            "enlarges every image to 2048 px, 17 tiles of 64 tokens), its longest side a whole "
            "number of tiles: images of one aspect ratio then take equal token counts."
        },
    )
    attention: str = field(
        default="sdpa",
        metadata={"help": f"Attention kernel: one of {ATTENTIONS} (sdpa: PyTorch's fused one)."},
    )
    optim: str = field(
        default="adamw_torch_fused",
        metadata={
            "help": f"Optimizer: one of {OPTIMIZERS}; paged_adamw_8bit keeps AdamW's states in "
            "8 bits, paged out of GPU memory under pressure."
        },
    )
    dataloader_workers: int = field(
        default=0,
        metadata={
            "help": "Processes that make the next batches (images and tokens) while the model "
            f"trains on this one; 0: the training process makes them. "
            f"Allowed: {RANGES['dataloader_workers']}."
        },
    )
    liger_kernel: bool = field(
        default=False,
        metadata={
            "help": "Fused Liger kernels (RMSNorm, SwiGLU, RoPE, the loss) on a CUDA GPU with "
            "liger-kernel installed; elsewhere the run goes on without them and says so."
        },
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value, kind = getattr(self, f.name), type(f.default)
            if not _type_ok(value, kind):
                raise ValueError(f"{f.name} must be {KIND_NAMES[kind]}, not {value!r}")
            if kind is float:  # 3 and 3.0 are the same setting, and hash the same
                object.__setattr__(self, f.name, float(value))
        for ok, message in self._rules():
            if not ok:
                raise ValueError(message)

    def _rules(self) -> list[tuple[bool, str]]:
        numbers = [
            (f.name, getattr(self, f.name), RANGES[f.name])
            for f in fields(self)
            if f.name in RANGES
        ]
        return [
            *(
                (bounds.admits(value), f"{name} must be {bounds}")
                for name, value, bounds in numbers
            ),
            (self.lr_scheduler in LR_SCHEDULERS, f"lr_scheduler must be one of {LR_SCHEDULERS}"),
            (self.quant_type in QUANT_TYPES, f"quant_type must be one of {QUANT_TYPES}"),
            (
                self.compute_dtype in COMPUTE_DTYPES,
                f"compute_dtype must be one of {COMPUTE_DTYPES}",
            ),
            (
                self.eval_steps == 0 or self.checkpoint_steps % self.eval_steps == 0,
                "checkpoint_steps must be a multiple of eval_steps, so that the best is saved",
            ),
            (self.task in TASKS, f"task must be one of {TASKS}"),
            (self.optim in OPTIMIZERS, f"optim must be one of {OPTIMIZERS}"),
            (self.attention in ATTENTIONS, f"attention must be one of {ATTENTIONS}"),
            (self.instruction.strip() != "", "instruction must not be empty"),
        ]


KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "text"}


def _type_ok(value: object, kind: type) -> bool:
    if isinstance(value, bool):  # bool is an int to Python, never to a person
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


PRESETS: dict[str, TrainSettings] = {
    # About a minute on 2 idle CPU cores for the demo brand (117 training images at 64 px, 600
    # steps). Measured by `python -m bench quality` (README, "Demo quality"), task caption+tags:
    # the rows of the answers' tokens trained (`answer_tokens`) write the answer's form and the
    # house names with confidence; on the demo brand's validation split the caption names the
    # right kind of product in 98% of the photos (57% with 59 training images and LoRA alone),
    # and every attribute's tag recall is at least the base's. Batches are not grouped by
    # length: the demo's answers differ little in length (3% padding), and grouped batches cost
    # pattern recall (0.35 against the base's 0.41), same steps, same seed.
    "quick-demo": TrainSettings(
        lora_r=64,
        lora_alpha=128,
        lora_vision=False,
        answer_tokens=True,
        group_by_length=False,
        learning_rate=2e-3,
        epochs=20.0,
        warmup_ratio=0.1,
        max_image_pixels=64 * 64,
        max_length=256,
        gradient_checkpointing=False,
        checkpoint_steps=50,
    ),
    "standard": TrainSettings(),
    "high-quality": TrainSettings(
        lora_r=32,
        lora_alpha=64,
        lora_vision=True,
        learning_rate=1e-4,
        epochs=5.0,
        grad_accum=4,
        warmup_ratio=0.1,
        max_image_pixels=768 * 768,
        max_length=1024,
    ),
}


def settings_resolve(preset: str | None, overrides: Mapping[str, object]) -> TrainSettings:
    """A preset (the defaults when None) with `overrides` applied, checked; else ValueError."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    known = {f.name for f in fields(TrainSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    base = PRESETS[preset or "standard"]
    if "task" in overrides and "instruction" not in overrides:  # the task's own question
        task_instruction = TASK_INSTRUCTIONS.get(str(overrides["task"]), base.instruction)
        overrides = {**overrides, "instruction": task_instruction}
    # The values are of unknown type here; __post_init__ checks each against its field.
    return replace(base, **overrides)  # type: ignore[arg-type]


def settings_hash(s: TrainSettings) -> str:
    """sha256 of the settings' canonical JSON: equal settings, equal hash."""
    canonical = json.dumps(asdict(s), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def train_settings_of(run: Run) -> TrainSettings:
    """The run's settings as stored (fields added since take their defaults)."""
    known = {f.name for f in fields(TrainSettings)}
    return TrainSettings(**{k: v for k, v in run.settings.items() if k in known})


def steps_planned(s: TrainSettings, train_images: int) -> int:
    """The optimizer steps a run of `s` takes over `train_images` images."""
    if s.max_steps > 0:
        return s.max_steps
    per_epoch = math.ceil(train_images / (s.batch_size * s.grad_accum))
    return math.ceil(per_epoch * s.epochs)
