"""Batched greedy captioning, with a base model or an adapted one (a PeftModel)."""

from collections.abc import Sequence

import torch
from peft import PeftModel
from PIL import Image
from transformers import PreTrainedModel, ProcessorMixin

from worker.data import image_cap, processor_sizes, prompt_text


@torch.inference_mode()
def captions_generate(
    *,
    model: PreTrainedModel | PeftModel | torch.nn.Module,
    processor: ProcessorMixin,
    images: Sequence[Image.Image],
    instruction: str,
    max_new_tokens: int = 40,
    batch_size: int = 8,
    max_image_pixels: int | None = None,
    image_size_cap: bool = False,
    adapter_names: Sequence[str] | None = None,
) -> list[str]:
    """One caption per image, greedy; images in RGB, capped at `max_image_pixels` if given, and
    the processor's own resizing held to it as in training (`processor_sizes`).
    `adapter_names` picks a PeftModel's adapter for each image ("__base__": none), so that one
    batch may mix adapters."""
    model.eval()
    prompt = prompt_text(processor, instruction)
    sizes = (
        processor_sizes(processor, max_image_pixels, image_size_cap=image_size_cap)
        if max_image_pixels
        else {}
    )
    captions: list[str] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        chunk = [image_cap(im, max_image_pixels or im.width * im.height) for im in chunk]
        # Left padding: every prompt ends where generation begins, in each row alike.
        inputs = processor(
            text=[prompt] * len(chunk),
            images=[[image] for image in chunk],  # one list per sample, as in training
            padding=True,
            padding_side="left",
            add_special_tokens=False,  # the chat template holds them
            return_tensors="pt",
            **sizes,
        ).to(model.device)
        # Every ImageTextToText model generates; PreTrainedModel's stubs do not say so.
        mixed = (
            {"adapter_names": list(adapter_names[start : start + batch_size])}
            if adapter_names
            else {}
        )
        output = model.generate(  # type: ignore[operator]
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, **mixed
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = processor.batch_decode(new_tokens, skip_special_tokens=True)
        # A model may emit any byte; NUL cannot be stored in PostgreSQL text, so it goes.
        captions.extend(text.replace("\x00", "").strip() for text in texts)
    return captions
