"""Tiny models of three families, built and saved once per session, and a few product images.

Each model loads through AutoProcessor / AutoModelForImageTextToText from its folder, as a hub
checkpoint would. Training runs that several tests inspect also run once per session.
"""

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw
from transformers import (
    AutoProcessor,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from app.runs.settings import TrainSettings, settings_resolve
from worker.data import Collator, Example
from worker.modelkit import FAMILIES, Family, vlm_build, vlm_save
from worker.train import TrainResult, qlora_train

CAPTIONS = [
    "a red handbag with a short handle",
    "a blue sneaker with white laces",
    "a green wool scarf with a fringe",
    "a black leather belt with a silver buckle",
]
COLOURS = [(200, 30, 30), (30, 40, 200), (30, 160, 60), (20, 20, 20)]
# The tokenizers learn their merges from these: product captions of the kind the demo uses.
TEXTS = [
    *CAPTIONS,
    "a brown leather wallet with a zip",
    "a white cotton shirt with long sleeves",
    "a yellow raincoat with a hood",
    "a pair of grey trousers with a slim cut",
    "a pink silk dress with thin straps",
    "a navy backpack with two pockets",
]


def product_image(colour: tuple[int, int, int], size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A flat background with a lighter square: enough for a tiny vision tower to tell apart."""
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((8, 8, 24, 24), fill=tuple(min(255, c + 80) for c in colour))
    return image


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[Family, Path]:
    """One tiny saved model per family."""
    root = tmp_path_factory.mktemp("models")
    return {f: vlm_save(*vlm_build(f, TEXTS * 3, seed=1), root / f) for f in FAMILIES}


@pytest.fixture(scope="session")
def examples() -> list[Example]:
    return [Example(product_image(c), t) for c, t in zip(COLOURS, CAPTIONS, strict=True)]


def tiny_settings(**overrides: object) -> TrainSettings:
    """The quick demo preset, small enough for the tests' models and a CPU."""
    return settings_resolve("quick-demo", {"max_image_pixels": 48 * 40, **overrides})


@dataclass
class Recorder(TrainerCallback):
    """Records the logged losses and, at the end, the in-memory model's logits on `batch`."""

    batch: dict[str, torch.Tensor] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    logits: torch.Tensor | None = None

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: object
    ) -> None:
        logs = kw["logs"]
        assert isinstance(logs, dict)
        if "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: object
    ) -> None:
        model = kw["model"]
        assert isinstance(model, torch.nn.Module)
        model.eval()
        with torch.no_grad():
            self.logits = model(**self.batch).logits


@dataclass
class Overfit:
    result: TrainResult
    recorder: Recorder
    settings: TrainSettings
    base: Path


@pytest.fixture(scope="session")
def overfit(
    model_dirs: dict[Family, Path],
    examples: list[Example],
    tmp_path_factory: pytest.TempPathFactory,
) -> Overfit:
    """Idefics3 (SmolVLM's architecture) trained 30 steps on the four examples."""
    s = tiny_settings(
        max_steps=30,
        learning_rate=1e-2,
        lr_scheduler="constant",
        warmup_ratio=0.0,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        checkpoint_steps=100,
    )
    processor = AutoProcessor.from_pretrained(model_dirs["idefics3"])
    batch = Collator(processor, s.instruction, s.max_length, s.max_image_pixels)(examples)
    recorder = Recorder(batch=batch)
    result = qlora_train(
        base=str(model_dirs["idefics3"]),
        revision=None,
        examples=examples,
        s=s,
        output_dir=tmp_path_factory.mktemp("overfit"),
        callbacks=[recorder],
    )
    return Overfit(result, recorder, s, model_dirs["idefics3"])
