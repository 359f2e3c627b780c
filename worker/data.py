"""From (image, caption) pairs to batches a vision-language model trains on.

Each example becomes the conversation "user: <image> instruction / assistant: caption" in the
processor's own chat template, so that every model family is asked the way it was trained to
be asked. The loss is on the answer only: the tokens after the prompt, up to and including the
token that closes the assistant's turn, so that the model learns when to stop.

Images are capped at a pixel budget before the processor sees them, and a processor that sizes
images by a pixel range of its own (Qwen2-VL's dynamic resolution) is held to the same budget,
so that an image's tokens, and with them memory, stay predictable for every family.
"""

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Sampler
from transformers import BatchFeature, ProcessorMixin

IGNORE_INDEX = -100  # labels with this value add nothing to the loss


@dataclass(frozen=True)
class Example:
    """One training pair: an RGB image and the caption the model should answer with."""

    image: Image.Image
    caption: str


# Image processors that resize every image's longest side to `size["longest_edge"]`, enlarging
# small ones, then cut it into square tiles of `max_image_size["longest_edge"]` (SmolVLM,
# Idefics3). Left alone, they make a 512 px photo 2048 px: 16 tiles and a global view. Named,
# not imported: without torchvision, importing the first of each pair warns and falls back.
TILING_PROCESSORS = (
    "Idefics3ImageProcessor",
    "Idefics3ImageProcessorPil",
    "SmolVLMImageProcessor",
    "SmolVLMImageProcessorPil",
)


def capped_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) scaled down (aspect kept) so that width * height <= max_pixels."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def image_cap(image: Image.Image, max_pixels: int) -> Image.Image:
    """`image` in RGB, downscaled (aspect kept) so that width * height <= max_pixels."""
    image = image.convert("RGB")
    size = capped_size(*image.size, max_pixels)
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def image_size_kwargs(processor: ProcessorMixin, max_pixels: int) -> dict[str, Any]:
    """What to tell `processor` so that it enlarges no image past `max_pixels`: for a tiling
    processor, a longest side of whole tiles (one at least) within sqrt(max_pixels), so that
    images of one aspect ratio take one token count; other processors resize to their own fixed
    size (LLaVA, Gemma 3), which needs nothing."""
    image_processor = processor.image_processor
    if type(image_processor).__name__ not in TILING_PROCESSORS:
        return {}
    tile = image_processor.max_image_size["longest_edge"]
    longest = max(tile, math.isqrt(max_pixels) // tile * tile)
    return {"size": {"longest_edge": min(longest, image_processor.size["longest_edge"])}}


def pixel_range(processor: ProcessorMixin, max_pixels: int) -> dict[str, Any]:
    """The processor-call arguments that hold its image processor to `max_pixels`, if it
    resizes by a pixel range of its own; none for the others.

    Qwen2-VL's image processor (Qwen2.5-VL's too) resizes each image to multiples of its patch
    size times its merge size within [min_pixels, max_pixels] (`size` = {"shortest_edge":
    min_pixels, "longest_edge": max_pixels}), rounding up as well as down: its own budget, not
    the run's. Held to `max_pixels`, an image gives at most max_pixels / (patch * merge)**2
    tokens. Processors that resize to a size of their own need nothing: `image_cap` bounds what
    they are given, and they give a fixed number of tokens whatever it is."""
    image_processor = getattr(processor, "image_processor", None)
    takes = getattr(getattr(type(image_processor), "valid_kwargs", None), "__annotations__", {})
    if "max_pixels" not in takes:  # no pixel range of its own
        return {}
    size = image_processor.size  # type: ignore[union-attr]
    return {
        "size": {
            "shortest_edge": min(size.shortest_edge, max_pixels),
            "longest_edge": min(size.longest_edge, max_pixels),
        }
    }


def processor_sizes(
    processor: ProcessorMixin, max_pixels: int, *, image_size_cap: bool
) -> dict[str, Any]:
    """The processor-call arguments that hold its own resizing to `max_pixels`: a pixel range
    of its own always (Qwen's would otherwise round past the run's budget), a tiling
    processor's longest side with `image_size_cap`. Training and generation both pass them."""
    held = pixel_range(processor, max_pixels)
    if not held and image_size_cap:
        held = image_size_kwargs(processor, max_pixels)
    return held


def image_token_id(processor: ProcessorMixin) -> int:
    """The id of the token that stands for one piece of an image in the text."""
    found = getattr(processor, "image_token_id", None)
    if found is None:
        found = processor.tokenizer.convert_tokens_to_ids(processor.image_token)  # type: ignore[attr-defined]
    return int(found)


@dataclass
class ImageTokens:
    """How many tokens the images of the batches prepared so far took, image by image."""

    images: int = 0
    tokens: int = 0
    most: int = 0  # of one image

    def add(self, per_image: list[int]) -> None:
        self.images += len(per_image)
        self.tokens += sum(per_image)
        self.most = max([self.most, *per_image])

    @property
    def mean(self) -> float:
        return self.tokens / self.images if self.images else 0.0


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
    image_size_cap: bool = False  # see `processor_sizes`
    image_tokens: ImageTokens = field(default_factory=ImageTokens)
    _prompts: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict, init=False)

    def __call__(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        images = [[image_cap(e.image, self.max_image_pixels)] for e in examples]
        prompts = [self._prompt_ids(image.size) for [image] in images]
        longest = max(len(p) for p in prompts)
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
        # Every key the processor returned goes to the model: pixel_values, and whatever the
        # family needs beside them (Qwen's image_grid_thw and mm_token_type_ids, ...).
        # One image per example: its tokens are the row's image tokens.
        per_row = (batch["input_ids"] == image_token_id(self.processor)).sum(dim=1)
        self.image_tokens.add([int(n) for n in per_row])
        return dict(batch)

    def lengths(self, examples: Sequence[Example]) -> list[int]:
        """Each example's token count (image tokens included) without processing its image:
        the answer's tokens after the prompt's, for an image of its capped size."""
        chat = self.processor.apply_chat_template
        texts = [chat(messages(self.instruction, e.caption), tokenize=False) for e in examples]
        tokenizer = self.processor.tokenizer
        text_tokens = tokenizer(texts, add_special_tokens=False)["input_ids"]
        prompt = prompt_text(self.processor, self.instruction)
        prompt_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        return [
            len(tokens)
            - prompt_tokens
            + len(self._prompt_ids(capped_size(*e.image.size, self.max_image_pixels)))
            for e, tokens in zip(examples, text_tokens, strict=True)
        ]

    def _prompt_ids(self, size: tuple[int, int]) -> torch.Tensor:
        """The prompt's token ids with an image of `size` (width, height). How many tokens a
        processor gives an image depends on its size alone, so each size is tokenized once (on
        a blank image), not with every batch: that halves the processor's work."""
        if size not in self._prompts:
            prompt = prompt_text(self.processor, self.instruction)
            blank = [[Image.new("RGB", size)]]
            self._prompts[size] = self._tokenize([prompt], blank)["input_ids"][0]
        return self._prompts[size]

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
            **processor_sizes(
                self.processor, self.max_image_pixels, image_size_cap=self.image_size_cap
            ),
            **kwargs,
        )

    def _labels(self, batch: BatchFeature, prompts: list[torch.Tensor]) -> torch.Tensor:
        """input_ids with the prompt (image tokens included) and the padding masked out."""
        labels = batch["input_ids"].clone()
        for row, prompt in enumerate(prompts):
            # The prompt is a prefix of the conversation; should a tokenizer merge across the
            # boundary, the first token where the two part already belongs to the answer.
            labels[row, : _prefix_len(labels[row], prompt)] = IGNORE_INDEX
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        return labels


class LengthGrouped(Sampler[int]):
    """Indices in an order that batches examples of like length: shuffled, cut into groups of
    `group` batches, each group sorted by length and cut into batches, the batches shuffled.
    Batches still vary from epoch to epoch; padding shrinks to the spread within a batch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, group: int = 8) -> None:
        self.lengths, self.batch_size, self.group = list(lengths), batch_size, group

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(len(self.lengths)).tolist()  # the Trainer seeds torch
        span = self.batch_size * self.group
        batches = []
        for start in range(0, len(order), span):
            chunk = sorted(order[start : start + span], key=self.lengths.__getitem__)
            cuts = range(0, len(chunk), self.batch_size)
            batches += [chunk[i : i + self.batch_size] for i in cuts]
        for b in torch.randperm(len(batches)).tolist():
            yield from batches[b]
