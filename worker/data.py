"""From (image, caption) pairs to batches a vision-language model trains on.

Each example becomes the conversation "user: <image> instruction / assistant: caption" in the
processor's own chat template, so that every model family is asked the way it was trained to
be asked. The loss is on the answer only: the tokens after the prompt, up to and including the
token that closes the assistant's turn, so that the model learns when to stop.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from transformers import BatchFeature, ProcessorMixin

IGNORE_INDEX = -100  # labels with this value add nothing to the loss


@dataclass(frozen=True)
class Example:
    """One training pair: an RGB image and the caption the model should answer with."""

    image: Image.Image
    caption: str


def image_cap(image: Image.Image, max_pixels: int) -> Image.Image:
    """`image` in RGB, downscaled (aspect kept) so that width * height <= max_pixels."""
    image = image.convert("RGB")
    width, height = image.size
    if width * height <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (width * height))
    size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def image_jitter(image: Image.Image, rng: random.Random) -> Image.Image:
    """A random crop of 85-100% of each side, mirrored half the time: the product seen a little
    closer or from the other side. Colours are left alone, since captions name them."""
    width, height = image.size
    w, h = round(width * rng.uniform(0.85, 1.0)), round(height * rng.uniform(0.85, 1.0))
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    image = image.crop((left, top, left + w, top + h))
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


@dataclass
class Jittered(Sequence[Example]):
    """The examples, each image jittered anew on every read (`image_jitter`), from one seeded
    generator: the same seed and order of reads give the same images."""

    examples: Sequence[Example]
    seed: int
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:  # type: ignore[override]
        example = self.examples[index]
        return Example(image_jitter(example.image, self._rng), example.caption)


def messages(instruction: str, answer: str | None = None) -> list[dict[str, Any]]:
    """The conversation in the chat-template format; without `answer`, the prompt alone."""
    turns: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}
    ]
    if answer is not None:
        turns.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return turns


def prompt_text(processor: ProcessorMixin, instruction: str) -> str:
    """The prompt up to where the assistant's answer begins."""
    text = processor.apply_chat_template(
        messages(instruction), tokenize=False, add_generation_prompt=True
    )
    return str(text)


def _prefix_len(a: torch.Tensor, b: torch.Tensor) -> int:
    """How many leading tokens `a` and `b` share."""
    n = min(len(a), len(b))
    differ = (a[:n] != b[:n]).nonzero()
    return int(differ[0]) if len(differ) else n


def answer_token_ids(processor: ProcessorMixin, instruction: str, answer: str) -> list[int]:
    """The token ids of `answer` as the collator labels them: the conversation's tokens after
    the prompt's, the end of the assistant's turn included. From the text alone: the image's
    tokens all lie in the prompt."""
    tokenizer = processor.tokenizer
    prompt = tokenizer(prompt_text(processor, instruction), add_special_tokens=False).input_ids
    text = processor.apply_chat_template(messages(instruction, answer), tokenize=False)
    ids = tokenizer(text, add_special_tokens=False).input_ids
    return list(ids[_prefix_len(torch.tensor(ids), torch.tensor(prompt)) :])


@dataclass
class Collator:
    """Batches `Example`s for training: right-padded, labels on the answer tokens only."""

    processor: ProcessorMixin
    instruction: str
    max_length: int = 512
    max_image_pixels: int = 512 * 512

    def __call__(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        images = [[image_cap(e.image, self.max_image_pixels)] for e in examples]
        prompt = prompt_text(self.processor, self.instruction)
        prompts = self._tokenize([prompt] * len(examples), images)
        longest = int(prompts["attention_mask"].sum(dim=1).max())
        if longest >= self.max_length:
            raise ValueError(
                f"the prompt takes {longest} tokens (image included), max_length is "
                f"{self.max_length}: raise max_length or lower max_image_pixels"
            )
        texts = [
            self.processor.apply_chat_template(
                messages(self.instruction, e.caption), tokenize=False
            )
            for e in examples
        ]
        # Cutting from the right only ever cuts the answer: the prompt fits, checked above.
        batch = self._tokenize(texts, images, truncation=True, max_length=self.max_length)
        batch["labels"] = self._labels(batch, prompts)
        return dict(batch)

    def _tokenize(
        self, texts: list[str], images: list[list[Image.Image]], **kwargs: Any
    ) -> BatchFeature:
        # The chat template already holds the special tokens (BOS included): add none.
        return self.processor(
            text=texts,
            images=images,  # one list per sample: the form every family's processor takes
            padding=True,
            padding_side="right",
            add_special_tokens=False,
            return_tensors="pt",
            **kwargs,
        )

    def _labels(self, batch: BatchFeature, prompts: BatchFeature) -> torch.Tensor:
        """input_ids with the prompt (image tokens included) and the padding masked out."""
        labels = batch["input_ids"].clone()
        for row in range(len(labels)):
            prompt = prompts["input_ids"][row][prompts["attention_mask"][row] == 1]
            # The prompt is a prefix of the conversation; should a tokenizer merge across the
            # boundary, the first token where the two part already belongs to the answer.
            labels[row, : _prefix_len(labels[row], prompt)] = IGNORE_INDEX
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        return labels
