"""Training settings: presets, overrides checked with messages a person understands, a stable
hash, and the LoRA targets found by name in every family."""

import json
import re
from dataclasses import asdict, fields

import pytest

from app.runs.settings import (
    DEFAULT_INSTRUCTION,
    PRESETS,
    TrainSettings,
    settings_hash,
    settings_resolve,
)
from worker.config import LANGUAGE_LINEAR, VISION_LINEAR, lora_config, quantization_config
from worker.modelkit import FAMILIES, Family, vlm_build

from .conftest import TEXTS


def test_every_setting_has_help() -> None:
    assert all(f.metadata["help"] for f in fields(TrainSettings))


def test_defaults_are_the_recipe() -> None:
    s = settings_resolve(None, {})
    assert s == PRESETS["standard"] == TrainSettings()
    assert (s.lora_r, s.lora_alpha, s.lora_dropout) == (16, 32, 0.05)
    assert (s.quant_type, s.double_quant, s.compute_dtype) == ("nf4", True, "auto")
    assert s.gradient_checkpointing and not s.lora_vision
    assert s.instruction == DEFAULT_INSTRUCTION


def test_presets() -> None:
    assert set(PRESETS) == {"quick-demo", "standard", "high-quality"}
    quick, high = PRESETS["quick-demo"], PRESETS["high-quality"]
    assert PRESETS["standard"].lora_r < high.lora_r and not quick.lora_vision
    assert quick.max_image_pixels == 64 * 64 and quick.learning_rate > high.learning_rate
    assert quick.answer_tokens and not PRESETS["standard"].answer_tokens
    assert high.lora_vision


def test_overrides_apply_over_the_preset() -> None:
    s = settings_resolve("quick-demo", {"lora_r": 4, "epochs": 2, "instruction": "What is it?"})
    assert (s.lora_r, s.epochs, s.instruction) == (4, 2.0, "What is it?")
    assert s.learning_rate == PRESETS["quick-demo"].learning_rate
    assert isinstance(s.epochs, float)


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("fast", {}, "unknown preset 'fast'; choose one of quick-demo, standard, high-quality"),
        (None, {"lora_rank": 8}, "unknown setting(s): lora_rank"),
        (None, {"lora_r": 0}, "lora_r must be at least 1 and at most 256"),
        (None, {"lora_r": "16"}, "lora_r must be an integer, not '16'"),
        (None, {"lora_r": 8.5}, "lora_r must be an integer, not 8.5"),
        (None, {"batch_size": True}, "batch_size must be an integer, not True"),
        (None, {"lora_vision": 1}, "lora_vision must be true or false, not 1"),
        (None, {"learning_rate": "fast"}, "learning_rate must be a number, not 'fast'"),
        (None, {"lora_dropout": 1.0}, "lora_dropout must be at least 0 and below 1"),
        (None, {"max_steps": 0}, "max_steps must be -1, or at least 1 and at most 100000"),
        (None, {"lr_scheduler": "step"}, "lr_scheduler must be one of"),
        (None, {"quant_type": "int8"}, "quant_type must be one of"),
        (None, {"instruction": "  "}, "instruction must not be empty"),
        (None, {"max_image_pixels": 10}, "max_image_pixels must be at least 1024"),
        (None, {"eval_steps": -1}, "eval_steps must be at least 0 and at most 100000"),
        (
            None,
            {"eval_steps": 20, "checkpoint_steps": 50},
            "checkpoint_steps must be a multiple of eval_steps",
        ),
    ],
)
def test_invalid_settings_say_why(
    preset: str | None, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        settings_resolve(preset, overrides)


def test_settings_round_trip_through_json_with_a_stable_hash() -> None:
    s = settings_resolve("high-quality", {"seed": 7})
    stored = json.loads(json.dumps(asdict(s)))
    again = settings_resolve(None, stored)
    assert again == s
    assert settings_hash(again) == settings_hash(s)
    assert len(settings_hash(s)) == 64
    assert settings_hash(settings_resolve(None, {"epochs": 3})) == settings_hash(TrainSettings())
    assert settings_hash(settings_resolve(None, {"seed": 1})) != settings_hash(TrainSettings())


def test_quantization_config() -> None:
    q = quantization_config(TrainSettings())
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_targets_are_found_by_name_in_every_family(family: Family) -> None:
    model, _ = vlm_build(family, TEXTS)
    names = [n for n, m in model.named_modules() if type(m).__name__ == "Linear"]
    language = {n for n in names if re.fullmatch(LANGUAGE_LINEAR, n)}
    vision = {n for n in names if re.fullmatch(VISION_LINEAR, n)}
    layers = model.config.text_config.num_hidden_layers
    assert len(language) == 7 * layers  # q k v o, gate up down
    assert len(vision) == 6 * model.config.vision_config.num_hidden_layers  # q k v out, fc1 fc2
    assert not any("vision" in n for n in language) and not any("language" in n for n in vision)
    assert lora_config(TrainSettings()).target_modules == LANGUAGE_LINEAR
    both = lora_config(TrainSettings(lora_vision=True)).target_modules
    assert isinstance(both, str)
    assert {n for n in names if re.fullmatch(both, n)} == language | vision
