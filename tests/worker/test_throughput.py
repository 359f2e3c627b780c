"""The throughput settings reach what they change: batches grouped by length carry less
padding, the attention kernel is the model's, the optimizer and the DataLoader workers are the
Trainer's, the processor enlarges no image past the cap, and Liger says why it is not used."""

from pathlib import Path

import bitsandbytes as bnb
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, Idefics3Processor, Trainer
from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

from worker.data import Collator, Example, LengthGrouped, image_size_kwargs
from worker.modelkit import IDEFICS3_TEMPLATE, Family
from worker.train import base_load, liger_fallback, qlora_train, training_args

from .conftest import COLOURS, product_image, tiny_settings

# Four short answers and four long ones: batches of two mixing them carry much padding.
WORDS = ["tote", "scarf", "loafer", "belt", "wallet", "shirt", "dress", "backpack"]
CAPTIONS = [*WORDS[:4], *(" ".join(WORDS * 2) + f" {w}" for w in WORDS[4:])]


def test_length_grouped_batches_hold_like_lengths_and_change_every_epoch() -> None:
    lengths = [3, 40, 5, 38, 4, 41, 6, 39, 2, 42, 7, 37, 1, 43, 8, 36]
    sampler = LengthGrouped(lengths, batch_size=2, group=8)
    torch.manual_seed(0)
    epochs = [list(sampler), list(sampler)]
    for order in epochs:
        assert sorted(order) == list(range(16))  # every example once
        batches = [order[i : i + 2] for i in range(0, 16, 2)]
        assert all(abs(lengths[a] - lengths[b]) <= 5 for a, b in batches)
    assert epochs[0] != epochs[1]


def test_lengths_are_the_token_counts_of_the_batches(model_dirs: dict[Family, Path]) -> None:
    s = tiny_settings()
    processor = AutoProcessor.from_pretrained(model_dirs["idefics3"])
    collator = Collator(processor, s.instruction, s.max_length, s.max_image_pixels)
    examples = [Example(product_image(COLOURS[0]), c) for c in CAPTIONS]
    counted = [int(collator([e])["attention_mask"].sum()) for e in examples]
    assert collator.lengths(examples) == counted


@pytest.mark.parametrize("grouped", [True, False])
def test_group_by_length_changes_the_batches(
    grouped: bool, model_dirs: dict[Family, Path], tmp_path: Path
) -> None:
    examples = [Example(product_image(COLOURS[i % 4]), c) for i, c in enumerate(CAPTIONS)]
    s = tiny_settings(
        group_by_length=grouped, batch_size=2, max_steps=4, checkpoint_steps=100, max_length=256
    )
    result = qlora_train(
        base=str(model_dirs["idefics3"]), revision=None, examples=examples, s=s, output_dir=tmp_path
    )
    # One epoch: grouped, short answers pair with short ones and long with long.
    if grouped:
        assert result.padding_share < 0.05
    else:
        assert result.padding_share > 0.15  # seed 0 pairs some short answers with long ones


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_the_attention_setting_is_the_models(
    attention: str, model_dirs: dict[Family, Path]
) -> None:
    model, _ = base_load(str(model_dirs["idefics3"]), None, tiny_settings(attention=attention))
    assert model.config._attn_implementation == attention
    assert model.config.get_text_config()._attn_implementation == attention


@pytest.mark.parametrize(
    ("optim", "kind"),
    [
        ("adamw_torch_fused", torch.optim.AdamW),
        ("paged_adamw_8bit", bnb.optim.AdamW),  # bitsandbytes' AdamW, 8 bits, paged
        ("adamw_8bit", bnb.optim.AdamW),
    ],
)
def test_the_optimizer_setting_is_the_trainers(optim: str, kind: type, tmp_path: Path) -> None:
    args = training_args(tiny_settings(optim=optim, dataloader_workers=2), tmp_path, evaluate=False)
    assert args.optim == optim and args.dataloader_num_workers == 2
    assert args.dataloader_persistent_workers
    chosen, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    assert chosen is kind
    if optim.endswith("8bit"):
        assert kwargs["optim_bits"] == 8 and kwargs["is_paged"] == optim.startswith("paged")
    else:
        assert kwargs["fused"] is True


def test_liger_asked_for_without_a_gpu_is_left_out_and_says_why(tmp_path: Path) -> None:
    s = tiny_settings(liger_kernel=True)
    assert not torch.cuda.is_available()  # the CPU machines of the tests
    assert "CUDA" in str(liger_fallback(s))
    assert training_args(s, tmp_path, evaluate=False).use_liger_kernel is False
    assert liger_fallback(tiny_settings()) is None


def test_a_tiling_processor_enlarges_no_image_past_the_cap(
    model_dirs: dict[Family, Path],
) -> None:
    """SmolVLM's processor (tiles of 32 px here, up to 128 px) would enlarge a 40 px photo to
    128 px: 16 tiles and a global view. Capped at 64 * 64 pixels: 2 * 2 tiles and the view."""
    tokenizer = AutoProcessor.from_pretrained(model_dirs["idefics3"]).tokenizer
    images = Idefics3ImageProcessorPil(
        do_image_splitting=True,
        size={"longest_edge": 128},
        max_image_size={"longest_edge": 32},
    )
    processor = Idefics3Processor(
        images, tokenizer, image_seq_len=4, chat_template=IDEFICS3_TEMPLATE
    )
    assert image_size_kwargs(processor, 64 * 64) == {"size": {"longest_edge": 64}}
    assert image_size_kwargs(processor, 50 * 50) == {"size": {"longest_edge": 32}}  # one tile
    photo = Example(Image.new("RGB", (40, 40)), "a tote")

    def tiles(cap: bool) -> int:
        batch = Collator(processor, "Describe.", 512, 64 * 64, image_size_cap=cap)([photo])
        return int(batch["pixel_values"].shape[1])

    assert (tiles(False), tiles(True)) == (17, 5)


def test_the_training_profile_splits_a_step_into_its_parts(
    model_dirs: dict[Family, Path], examples: list[Example], tmp_path: Path
) -> None:
    # `python -m bench training --profile`'s callback, on a tiny Idefics3: every part is found
    # (the forward hooks found both towers), each part is within the step, and the ops are the
    # step's own.
    from bench.training import PROFILE_PARTS, _profiler, profile_tables

    profiler = _profiler(skip=1)
    s = tiny_settings(max_steps=4, checkpoint_steps=100)
    qlora_train(
        base=str(model_dirs["idefics3"]),
        revision=None,
        examples=examples,
        s=s,
        output_dir=tmp_path,
        callbacks=[profiler],
    )
    f = profiler.figures
    assert f["steps"] == 3 and f["tokens"] > 0
    assert set(f["parts"]) == set(PROFILE_PARTS)
    assert all(0 < ms < f["step"] for ms in f["parts"].values()), f
    assert sum(f["parts"].values()) < f["step"] * 1.05  # disjoint ranges, the rest the Trainer's
    assert "aten::mm" in f["ops"] and list(f["ops"].values()) == sorted(f["ops"].values())[::-1]
    table = profile_tables({"plain": f, "atelier": f})
    assert table[2].startswith("| tokens a step (not padding) |") and "| 100% |" in table[3]
