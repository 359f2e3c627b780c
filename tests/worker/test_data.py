"""The collator: the processor's chat template, loss on the answer tokens only."""

from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

from app.runs.settings import DEFAULT_INSTRUCTION
from worker.data import IGNORE_INDEX, Collator, Example, Jittered, image_cap, messages
from worker.modelkit import FAMILIES, Family

from .conftest import COLOURS, product_image

# The token each family's template closes the assistant's turn with.
END_OF_TURN = {"idefics3": "<end_of_utterance>", "llava": "</s>", "gemma3": "<end_of_turn>"}


def test_image_cap_keeps_the_aspect_and_the_budget() -> None:
    image = Image.new("RGBA", (400, 100))
    capped = image_cap(image, 100 * 100)
    assert capped.mode == "RGB"
    assert capped.width * capped.height <= 100 * 100
    assert capped.size == (200, 50)
    small = Image.new("L", (30, 20))
    assert image_cap(small, 100 * 100).size == (30, 20)
    assert image_cap(small, 100 * 100).mode == "RGB"


def test_jitter_crops_and_mirrors_keeping_the_colours_and_the_seed() -> None:
    photos = [Example(product_image(c), f"caption {c}") for c in COLOURS[:3]]
    first, again = Jittered(photos, seed=3), Jittered(photos, seed=3)
    reads = [first[i % 3] for i in range(12)]
    assert [r.image.tobytes() for r in reads] == [again[i % 3].image.tobytes() for i in range(12)]
    assert [r.caption for r in reads] == [photos[i % 3].caption for i in range(12)]
    assert len({r.image.tobytes() for r in reads}) > 6  # most reads differ
    for i, r in enumerate(reads):
        original = photos[i % 3].image
        width, height = original.size
        assert 0.85 * width - 1 <= r.image.width <= width
        assert 0.85 * height - 1 <= r.image.height <= height
        # Cropped and mirrored, never resampled nor recoloured: every pixel is an original's.
        colours = {c for _, c in original.getcolors(maxcolors=width * height)}
        assert {c for _, c in r.image.getcolors(maxcolors=width * height)} <= colours
    assert len(Jittered(photos, seed=0)) == 3


def test_messages() -> None:
    user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}
    assert messages("Q") == [user]
    assert messages("Q", "A") == [
        user,
        {"role": "assistant", "content": [{"type": "text", "text": "A"}]},
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_labels_cover_the_answer_and_its_end_only(
    family: Family, model_dirs: dict[Family, Path]
) -> None:
    processor = AutoProcessor.from_pretrained(model_dirs[family])
    captions = ["a red bag", "a blue sneaker with white laces and a thick sole"]
    examples = [
        Example(product_image((200, 0, 0), (40, 40)), captions[0]),
        Example(product_image((0, 0, 200), (30, 60)), captions[1]),
    ]
    batch = Collator(processor, DEFAULT_INSTRUCTION)(examples)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert "pixel_values" in batch and labels.shape == ids.shape
    image_token = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    for row, caption in enumerate(captions):
        answer = labels[row] != IGNORE_INDEX
        assert torch.equal(labels[row][answer], ids[row][answer])
        assert not answer[ids[row] == image_token].any()  # image tokens are never targets
        assert not answer[mask[row] == 0].any()  # nor is padding
        positions = answer.nonzero().flatten()  # one run of tokens, at the end of the text
        assert torch.equal(positions, torch.arange(positions[0], int(mask[row].sum())))
        text = processor.tokenizer.decode(ids[row][answer])
        assert text.strip().startswith(caption)
        assert END_OF_TURN[family] in text  # the model learns to stop
        prompt = processor.tokenizer.decode(ids[row][: positions[0]])
        assert DEFAULT_INSTRUCTION in prompt and caption not in prompt
    assert (mask[0] == 0).any()  # the shorter answer is padded, on the right
    assert mask[0][0] == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_truncation_cuts_the_answer_never_the_image(
    family: Family, model_dirs: dict[Family, Path], examples: list[Example]
) -> None:
    processor = AutoProcessor.from_pretrained(model_dirs[family])
    full = Collator(processor, DEFAULT_INSTRUCTION)(examples[:1])
    answer = int((full["labels"][0] != IGNORE_INDEX).sum())
    length = full["input_ids"].shape[1] - answer + 2  # room for two answer tokens
    cut = Collator(processor, DEFAULT_INSTRUCTION, max_length=length)(examples[:1])
    assert cut["input_ids"].shape[1] == length
    assert int((cut["labels"][0] != IGNORE_INDEX).sum()) == 2
    assert torch.equal(cut["input_ids"][0], full["input_ids"][0][:length])
    with pytest.raises(ValueError, match=r"the prompt takes \d+ tokens"):
        Collator(processor, DEFAULT_INSTRUCTION, max_length=length - 2)(examples[:1])
