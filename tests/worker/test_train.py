"""QLoRA on tiny models of three families: 4-bit loading, one training path for all, loss that
goes down, an adapter that reloads in plain transformers, and resuming from a checkpoint."""

import resource
import sys
from pathlib import Path

import bitsandbytes as bnb
import psutil
import pytest
import torch
from peft import PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from worker.config import lora_config, quantization_config
from worker.data import IGNORE_INDEX, Collator, Example
from worker.generate import captions_generate
from worker.modelkit import FAMILIES, Family
from worker.train import adapter_load, base_load, checkpoint_last, qlora_train, token_rows

from .conftest import CAPTIONS, Overfit, Recorder, tiny_settings


def _linears(model: torch.nn.Module, part: str) -> dict[str, type]:
    return {
        name: type(module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and part in name and "head" not in name
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_language_model_loads_in_4bit_and_vision_tower_in_full(
    family: Family, model_dirs: dict[Family, Path]
) -> None:
    model, _ = base_load(str(model_dirs[family]), None, tiny_settings())
    language = _linears(model, "language_model" if family != "idefics3" else "text_model")
    vision = _linears(model, "vision")
    assert len(language) == 14 and len(vision) == 6
    assert all(kind is bnb.nn.Linear4bit for kind in language.values())
    assert all(kind is torch.nn.Linear for kind in vision.values())
    assert type(model.lm_head) is torch.nn.Linear
    assert not any(p.requires_grad for p in model.parameters())  # frozen until LoRA
    adapted = get_peft_model(model, lora_config(tiny_settings(lora_vision=False)))
    wrapped = {
        n.removeprefix("base_model.model.").removesuffix(".base_layer")
        for n, m in adapted.named_modules()
        if n.endswith("base_layer")
    }
    assert wrapped == set(language)


def test_loss_goes_down_and_the_adapter_learns_the_captions(
    overfit: Overfit, examples: list[Example]
) -> None:
    losses = overfit.recorder.losses
    assert len(losses) == 30 and overfit.result.steps == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5
    model, processor = base_load(str(overfit.base), None, overfit.settings)
    images = [e.image for e in examples]
    before = captions_generate(
        model=model,
        processor=processor,
        images=images,
        instruction=overfit.settings.instruction,
        max_new_tokens=16,
    )
    adapted = adapter_load(model, overfit.result.adapter_dir)
    after = captions_generate(
        model=adapted,
        processor=processor,
        images=images,
        instruction=overfit.settings.instruction,
        batch_size=3,
        max_new_tokens=16,
    )
    assert sum(a == c for a, c in zip(after, CAPTIONS, strict=True)) >= 2, after
    assert not any(b == c for b, c in zip(before, CAPTIONS, strict=True)), before


def test_result_reports_sizes_and_speed(overfit: Overfit) -> None:
    r = overfit.result
    assert {p.name for p in r.adapter_dir.iterdir()} >= {
        "adapter_model.safetensors",
        "adapter_config.json",
    }
    assert 0 < r.trainable_params < r.total_params
    assert r.base_weight_bytes_16bit == (r.total_params - r.trainable_params) * 2
    assert r.base_weight_bytes_4bit > 0 and r.peak_rss_bytes > 0
    assert r.cuda_max_allocated_bytes is None
    assert r.adapter_bytes > r.trainable_params * 4  # fp32 weights, plus the config
    assert r.wall_seconds > 0 and r.samples_per_second > 0 and r.tokens_per_second > 0
    assert 0 < r.train_loss < 10
    # Idefics3 pools a 32x32 image's 16 patches 2 by 2: 4 <image> tokens, for every image.
    assert r.image_tokens_max == r.image_tokens_mean == 4


@pytest.mark.skipif(sys.platform != "linux", reason="the peak is reset through /proc")
def test_peak_rss_is_the_calls_own_and_training_prints_nothing(
    model_dirs: dict[Family, Path],
    examples: list[Example],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A worker runs job after job in one process: an earlier job's peak, since freed, is not
    # this run's. And the Trainer's log dicts ({'loss': ...}) no longer land on stdout.
    ballast = b"\x01" * (512 * 2**20)
    del ballast
    lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    r = qlora_train(
        base=str(model_dirs["idefics3"]),
        revision=None,
        examples=examples,
        s=tiny_settings(max_steps=2, logging_steps=1, checkpoint_steps=100),
        output_dir=tmp_path,
    )
    assert psutil.Process().memory_info().rss <= r.peak_rss_bytes < lifetime - 256 * 2**20
    assert capfd.readouterr().out == ""


def test_saved_adapter_reloads_in_plain_transformers(overfit: Overfit) -> None:
    base = AutoModelForImageTextToText.from_pretrained(
        overfit.base, quantization_config=quantization_config(overfit.settings)
    )
    model = PeftModel.from_pretrained(base, overfit.result.adapter_dir).eval()
    with torch.no_grad():
        logits = model(**overfit.recorder.batch).logits
    assert overfit.recorder.logits is not None
    torch.testing.assert_close(logits, overfit.recorder.logits, rtol=1e-4, atol=1e-4)


def test_disabled_adapter_gives_the_base_outputs(overfit: Overfit, examples: list[Example]) -> None:
    images, instruction = [e.image for e in examples], overfit.settings.instruction
    base, processor = base_load(str(overfit.base), None, overfit.settings)
    expected = captions_generate(
        model=base, processor=processor, images=images, instruction=instruction, max_new_tokens=8
    )
    with torch.no_grad():
        expected_logits = base(**overfit.recorder.batch).logits
    other, _ = base_load(str(overfit.base), None, overfit.settings)
    adapted = adapter_load(other, overfit.result.adapter_dir)
    with adapted.disable_adapter():
        got = captions_generate(
            model=adapted,
            processor=processor,
            images=images,
            instruction=instruction,
            max_new_tokens=8,
        )
        with torch.no_grad():
            got_logits = adapted(**overfit.recorder.batch).logits
    assert got == expected
    torch.testing.assert_close(got_logits, expected_logits)
    on = captions_generate(
        model=adapted, processor=processor, images=images, instruction=instruction, max_new_tokens=8
    )
    assert on != expected


@pytest.mark.parametrize("family", FAMILIES)
def test_one_code_path_trains_every_family(
    family: Family, model_dirs: dict[Family, Path], examples: list[Example], tmp_path: Path
) -> None:
    s = tiny_settings(max_steps=2, batch_size=2, gradient_checkpointing=True, lora_vision=True)
    result = qlora_train(
        base=str(model_dirs[family]), revision=None, examples=examples, s=s, output_dir=tmp_path
    )
    assert result.steps == 2 and 0 < result.train_loss < 10
    weights = load_file(result.adapter_dir / "adapter_model.safetensors")
    assert any("vision" in k for k in weights) and any("q_proj" in k for k in weights)


class StopAt(TrainerCallback):
    """Stops training after `step`, as a cancelled or dying worker would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: object
    ) -> None:
        if state.global_step == self.step:
            control.should_training_stop = True


def test_resume_continues_from_the_checkpoint(
    model_dirs: dict[Family, Path], examples: list[Example], tmp_path: Path
) -> None:
    # One example per step, dropout on: resuming mid-epoch must restore data order and RNG.
    s = tiny_settings(max_steps=4, batch_size=1, checkpoint_steps=2, lora_dropout=0.1)
    base = str(model_dirs["idefics3"])
    whole = qlora_train(
        base=base, revision=None, examples=examples, s=s, output_dir=tmp_path / "whole"
    )
    stopped = qlora_train(
        base=base,
        revision=None,
        examples=examples,
        s=s,
        output_dir=tmp_path / "run",
        callbacks=[StopAt(2)],
    )
    assert stopped.steps == 2
    checkpoint = checkpoint_last(tmp_path / "run")
    assert checkpoint is not None and checkpoint.name == "checkpoint-2"
    resumed = qlora_train(
        base=base,
        revision=None,
        examples=examples,
        s=s,
        output_dir=tmp_path / "run",
        resume_from=checkpoint,
    )
    assert resumed.steps == 4 == whole.steps
    assert resumed.samples_per_second > 0
    expected = load_file(whole.adapter_dir / "adapter_model.safetensors")
    got = load_file(resumed.adapter_dir / "adapter_model.safetensors")
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert checkpoint_last(tmp_path / "run") == tmp_path / "run" / "checkpoints" / "checkpoint-4"


def test_generated_captions_never_carry_nul_bytes(model_dirs, examples) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from app.runs.settings import DEFAULT_INSTRUCTION
    from worker.generate import captions_generate

    model = AutoModelForImageTextToText.from_pretrained(model_dirs["idefics3"])
    processor = AutoProcessor.from_pretrained(model_dirs["idefics3"])
    nul = processor.tokenizer.convert_tokens_to_ids(processor.tokenizer.tokenize("\x00"))
    model.generation_config.suppress_tokens = None
    bias = torch.zeros(model.config.text_config.vocab_size)
    bias[nul] = 1e4  # make the model say NUL
    model.lm_head.bias = torch.nn.Parameter(bias)
    [caption] = captions_generate(
        model=model,
        processor=processor,
        images=[examples[0].image],
        instruction=DEFAULT_INSTRUCTION,
        max_new_tokens=4,
    )
    assert "\x00" not in caption


def test_validation_loss_keeps_the_best_checkpoint(
    model_dirs: dict[Family, Path], examples: list[Example], tmp_path: Path
) -> None:
    losses: dict[int, float] = {}  # eval_loss by step

    class EvalLosses(TrainerCallback):
        """Records each validation loss; step 2's is reported lowest, so that the best is not
        the last (on four examples, the true loss falls at every step)."""

        def on_evaluate(  # type: ignore[no-untyped-def]
            self, args, state: TrainerState, control: TrainerControl, metrics, **kw
        ) -> None:
            losses[state.global_step] = metrics["eval_loss"]
            if state.global_step == 2:
                metrics["eval_loss"] = 0.0  # what the Trainer compares, right after this

    s = tiny_settings(max_steps=4, eval_steps=1, checkpoint_steps=1, learning_rate=1e-2)
    result = qlora_train(
        base=str(model_dirs["idefics3"]),
        revision=None,
        examples=examples,
        s=s,
        output_dir=tmp_path,
        validation=examples,
        callbacks=[EvalLosses()],
    )
    assert sorted(losses) == [1, 2, 3, 4] and losses[4] < losses[1]  # a real loss, falling
    assert result.best_step == 2
    kept = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    best = load_file(tmp_path / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors")
    last = load_file(tmp_path / "checkpoints" / "checkpoint-4" / "adapter_model.safetensors")
    assert kept.keys() == best.keys()
    assert all(torch.equal(kept[k], best[k]) for k in kept)
    assert not all(torch.equal(kept[k], last[k]) for k in kept)


def test_answer_tokens_train_the_rows_of_the_answers_tokens_and_the_adapter_reloads(
    model_dirs: dict[Family, Path], examples: list[Example], tmp_path: Path
) -> None:
    base = model_dirs["idefics3"]
    s = tiny_settings(max_steps=4, batch_size=2, learning_rate=1e-2, answer_tokens=True)
    processor = AutoProcessor.from_pretrained(base)
    batch = Collator(processor, s.instruction, s.max_length, s.max_image_pixels)(examples)
    labelled = sorted(set(batch["labels"][batch["labels"] != IGNORE_INDEX].tolist()))
    model, _ = base_load(str(base), None, s)
    rows = token_rows(model, processor, examples, s.instruction)
    assert rows == {"model.text_model.embed_tokens": labelled, "lm_head": labelled}
    trainable = {
        n
        for n, p in get_peft_model(model, lora_config(s, rows)).named_parameters()
        if p.requires_grad and "lora_" not in n
    }
    assert trainable == {
        "base_model.model.model.text_model.embed_tokens.token_adapter.trainable_tokens_delta.default",
        "base_model.model.lm_head.token_adapter.trainable_tokens_delta.default",
    }

    recorder = Recorder(batch=batch)
    result = qlora_train(
        base=str(base),
        revision=None,
        examples=examples,
        s=s,
        output_dir=tmp_path,
        callbacks=[recorder],
    )
    weights = load_file(result.adapter_dir / "adapter_model.safetensors")
    deltas = {k: v for k, v in weights.items() if "trainable_tokens_delta" in k}
    hidden = model.config.text_config.hidden_size
    assert len(deltas) == 2 and all(v.shape == (len(labelled), hidden) for v in deltas.values())
    assert all(v.abs().sum() > 0 for v in deltas.values())  # trained, not left at zero

    plain = AutoModelForImageTextToText.from_pretrained(
        base, quantization_config=quantization_config(s)
    )
    before = plain.get_input_embeddings().weight.detach().clone()
    reloaded = PeftModel.from_pretrained(plain, result.adapter_dir).eval()
    ids = torch.arange(len(before))
    after = reloaded.get_input_embeddings()(ids).detach()
    changed = sorted((after != before).any(dim=1).nonzero().flatten().tolist())
    assert changed == labelled  # the answers' rows, and no other
    with torch.no_grad():
        logits = reloaded(**recorder.batch).logits
    assert recorder.logits is not None
    torch.testing.assert_close(logits, recorder.logits, rtol=1e-4, atol=1e-4)
