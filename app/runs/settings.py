"""The training settings of a run: every knob, its presets, checked with messages a person
understands, and a stable hash. Plain data of the domain: the web process validates and stores
them, the worker reads them back (`worker/config.py` turns them into library configs)."""

import hashlib
import json
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


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides how a run trains; stored as JSON on the run's row."""

    lora_r: int = field(default=16, metadata={"help": "LoRA rank: the width of each adapter."})
    lora_alpha: int = field(
        default=32, metadata={"help": "LoRA scaling numerator; the update is scaled by alpha/r."}
    )
    lora_dropout: float = field(
        default=0.05, metadata={"help": "Dropout on the adapters' input, in [0, 1)."}
    )
    lora_vision: bool = field(
        default=False, metadata={"help": "Also adapt the vision tower's encoder layers."}
    )
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate (AdamW)."})
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training images."})
    max_steps: int = field(
        default=-1, metadata={"help": "Optimizer steps in all; -1 lets `epochs` decide."}
    )
    batch_size: int = field(default=4, metadata={"help": "Examples per forward pass."})
    grad_accum: int = field(
        default=1, metadata={"help": "Forward passes per optimizer step (gradient accumulation)."}
    )
    warmup_ratio: float = field(
        default=0.05, metadata={"help": "Share of the steps spent warming the learning rate up."}
    )
    lr_scheduler: str = field(
        default="cosine", metadata={"help": f"Learning rate schedule: one of {LR_SCHEDULERS}."}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    max_image_pixels: int = field(
        default=512 * 512,
        metadata={"help": "Images are downscaled (aspect kept) to at most this many pixels."},
    )
    max_length: int = field(
        default=512,
        metadata={"help": "Tokens per example (image tokens included); longer answers are cut."},
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
        default=50, metadata={"help": "Save a resumable checkpoint every this many steps."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the adapters' init and data order."})
    eval_steps: int = field(
        default=0,
        metadata={
            "help": "Every this many steps, the loss on the validation split; the adapter kept "
            "is the checkpoint where it was lowest. 0: no such loss, the last step's adapter."
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
    logging_steps: int = field(default=1, metadata={"help": "Report the loss every N steps."})

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
        return [
            (self.lora_r > 0, "lora_r must be a positive integer"),
            (self.lora_alpha > 0, "lora_alpha must be a positive integer"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be at least 0 and below 1"),
            (0 < self.learning_rate < 1, "learning_rate must be above 0 and below 1"),
            (0 < self.epochs <= 1000, "epochs must be above 0 and at most 1000"),
            (self.max_steps == -1 or self.max_steps > 0, "max_steps must be -1 or positive"),
            (self.batch_size > 0, "batch_size must be a positive integer"),
            (self.grad_accum > 0, "grad_accum must be a positive integer"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be at least 0 and below 1"),
            (self.lr_scheduler in LR_SCHEDULERS, f"lr_scheduler must be one of {LR_SCHEDULERS}"),
            (self.weight_decay >= 0, "weight_decay must not be negative"),
            (self.max_grad_norm > 0, "max_grad_norm must be a positive number"),
            (self.max_image_pixels >= 32 * 32, "max_image_pixels must be at least 1024"),
            (self.max_length >= 16, "max_length must be at least 16 tokens"),
            (self.quant_type in QUANT_TYPES, f"quant_type must be one of {QUANT_TYPES}"),
            (
                self.compute_dtype in COMPUTE_DTYPES,
                f"compute_dtype must be one of {COMPUTE_DTYPES}",
            ),
            (self.checkpoint_steps > 0, "checkpoint_steps must be a positive integer"),
            (self.seed >= 0, "seed must not be negative"),
            (self.eval_steps >= 0, "eval_steps must not be negative"),
            (
                self.eval_steps == 0 or self.checkpoint_steps % self.eval_steps == 0,
                "checkpoint_steps must be a multiple of eval_steps, so that the best is saved",
            ),
            (self.task in TASKS, f"task must be one of {TASKS}"),
            (self.instruction.strip() != "", "instruction must not be empty"),
            (self.logging_steps > 0, "logging_steps must be a positive integer"),
        ]


KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "text"}


def _type_ok(value: object, kind: type) -> bool:
    if isinstance(value, bool):  # bool is an int to Python, never to a person
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


PRESETS: dict[str, TrainSettings] = {
    # About a minute and a half on 2 CPU cores for the demo brand (59 training images at 64 px,
    # 600 steps). Measured by `python -m bench quality` (README, "Demo quality"), task
    # caption+tags, on 50 new photos: tag F1 base 0.26; this preset with rank 16 and LoRA on
    # the vision encoder too 0.45, the right kind of product in 46% of them; rank 64 on the
    # language model alone 0.55, the right kind in 68%, the exact house name in 56%.
    "quick-demo": TrainSettings(
        lora_r=64,
        lora_alpha=128,
        lora_vision=False,
        learning_rate=2e-3,
        epochs=40.0,
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
