"""Pre-train Atelier's demo base model: a small SmolVLM-architecture (Idefics3) captioner.

It learns, from scratch and on the CPU, to caption renders of the demo catalogue in generic
words ("a dark red leather handbag with two short handles"), never in the house's, while its
language model reads a small glossary of what the house's words mean. A brand's QLoRA
fine-tune on its own captions then teaches it the brand's voice. The build is seeded (photos,
initial weights, batch order) but not bit-reproducible: two builds can differ by a few points
of held-out accuracy. It writes the model, its processor and a model card with the measurements
to `--out`.

    python scripts/build_demo_model.py [--out models/demo-captioner] [--steps N] [--seed S]
"""

import argparse
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import torch
import transformers
from PIL import Image
from transformers import get_cosine_schedule_with_warmup

from app.demo.catalogue import (
    GENERIC_COLOURS,
    GENERIC_MATERIALS,
    GENERIC_PATTERNS,
    KINDS,
    Product,
    catalogue,
    combinations,
    renders,
)
from app.demo.render import product_render
from app.demo.seed import DEMO_PRODUCTS  # the demo brand's catalogue: kept out of training
from app.runs.settings import DEFAULT_INSTRUCTION
from worker.modelkit import Size, vlm_build, vlm_save

# 64 px in 8 px patches: 64 patches, 16 image tokens after the connector's 2x2 pixel shuffle.
# Text widths are multiples of 64, as bitsandbytes' 4-bit CPU kernels require.
SIZE = Size(
    image_size=64,
    patch_size=8,
    vision_hidden=128,
    vision_layers=3,
    text_hidden=192,
    text_layers=4,
    heads=4,
    vocab_size=768,  # at most: the chat, the captions and the glossary need fewer
)
RENDER_SIZE = 256  # the size of the demo brand's photos; the processor reduces them to 64 px
GLOSSARY_BATCH = 16  # sentences of plain text trained on with every batch of captions


@dataclass(frozen=True)
class Batch:
    """Encoded examples: token ids, the labels the loss counts, and the images' pixels."""

    input_ids: torch.Tensor  # (n, seq)
    attention_mask: torch.Tensor  # (n, seq)
    labels: torch.Tensor  # (n, seq), -100 where the loss does not count
    pixel_values: torch.Tensor | None  # (n, 1, 3, 64, 64); None for plain text

    def take(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        taken = {
            "input_ids": self.input_ids[index],
            "attention_mask": self.attention_mask[index],
            "labels": self.labels[index],
        }
        if self.pixel_values is not None:
            taken["pixel_values"] = self.pixel_values[index]
        return taken


def photo(product: Product) -> Image.Image:
    """The product's photo at the demo brand's size, reduced as the processor would."""
    side = SIZE.image_size
    return product_render(product, size=RENDER_SIZE).resize((side, side), Image.Resampling.LANCZOS)


def photos(items: list[Product], workers: int) -> list[Image.Image]:
    """The products' photos, drawn by `workers` processes, in order."""
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(photo, items, chunksize=64))


def conversation(caption: str | None) -> list[dict]:
    """The chat the fine-tune uses: image and instruction, then the caption if given."""
    question = [{"type": "image"}, {"type": "text", "text": DEFAULT_INSTRUCTION}]
    user = {"role": "user", "content": question}
    if caption is None:
        return [user]
    return [user, {"role": "assistant", "content": [{"type": "text", "text": caption}]}]


def encode(processor, items: list[Product], images: list[Image.Image]) -> Batch:
    """Tokenise the chats; label only the answer tokens and the <end_of_utterance> closing it."""
    prompt = processor.apply_chat_template(conversation(None), add_generation_prompt=True)
    texts = [processor.apply_chat_template(conversation(p.generic_caption)) for p in items]
    encoded = processor(
        text=texts, images=[[im] for im in images], return_tensors="pt", padding=True
    )
    start = len(processor(text=prompt, images=[images[0]])["input_ids"][0])
    labels = encoded["input_ids"].clone()
    labels[:, :start] = -100
    labels[encoded["attention_mask"] == 0] = -100
    # The template closes a turn with "<end_of_utterance>\n": the newline is not the answer's.
    last = encoded["attention_mask"].sum(1) - 1  # right padding: each chat's final token
    rows = torch.arange(len(items))
    eou = processor.tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    assert (encoded["input_ids"][rows, last - 1] == eou).all()
    labels[rows, last] = -100
    return Batch(encoded["input_ids"], encoded["attention_mask"], labels, encoded["pixel_values"])


def shuffled(n: int, size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Batches of `size` indices below n, reshuffled every epoch, without end."""
    while True:
        for index in torch.randperm(n, generator=generator).split(size):
            if len(index) == size:
                yield index


def train(model, data: Batch, text: Batch, args: argparse.Namespace) -> dict[str, list[float]]:
    """AdamW, warm-up and cosine decay; each step a batch of captions and one of glossary."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    schedule = get_cosine_schedule_with_warmup(optimizer, max(1, args.steps // 20), args.steps)
    order = torch.Generator().manual_seed(args.seed)
    captions = shuffled(len(data.labels), args.batch_size, order)
    words = shuffled(len(text.labels), GLOSSARY_BATCH, order)
    log: dict[str, list[float]] = {"caption": [], "glossary": [], "seconds": []}
    model.train()
    for step in range(1, args.steps + 1):
        begun = time.time()
        caption_loss = model(**data.take(next(captions))).loss
        glossary_loss = model(**text.take(next(words))).loss
        (caption_loss + glossary_loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        log["caption"].append(caption_loss.item())
        log["glossary"].append(glossary_loss.item())
        log["seconds"].append(time.time() - begun)
        if step % 50 == 0 or step == args.steps:
            recent = {name: mean(values[-50:]) for name, values in log.items()}
            print(
                f"step {step}/{args.steps}  caption loss {recent['caption']:.4f}  glossary loss "
                f"{recent['glossary']:.4f}  lr {schedule.get_last_lr()[0]:.2e}  "
                f"{sum(log['seconds']):.0f}s",
                flush=True,
            )
    return log


@torch.no_grad()
def token_accuracy(model, data: Batch, batch_size: int = 128) -> float:
    """Teacher-forced: how many answer tokens the model's top guess gets right."""
    model.eval()
    right = total = 0
    for index in torch.arange(len(data.labels)).split(batch_size):
        batch = data.take(index)
        labels = batch.pop("labels")[:, 1:]
        guess = model(**batch).logits[:, :-1].argmax(-1)
        answer = labels != -100
        right += int((guess[answer] == labels[answer]).sum())
        total += int(answer.sum())
    return right / total


@torch.no_grad()
def captions(model, processor, images: list[Image.Image], batch_size: int = 64) -> list[str]:
    """Greedy captions of `images`, asked with the default instruction."""
    model.eval()
    # One prompt for every image, so the batch needs no padding.
    prompt = processor.apply_chat_template(conversation(None), add_generation_prompt=True)
    out = []
    for i in range(0, len(images), batch_size):
        chunk = images[i : i + batch_size]
        inputs = processor(
            text=[prompt] * len(chunk), images=[[im] for im in chunk], return_tensors="pt"
        )
        ids = model.generate(**inputs, do_sample=False)[:, inputs["input_ids"].shape[1] :]
        out += [t.strip() for t in processor.batch_decode(ids, skip_special_tokens=True)]
    return out


# Each attribute's generic phrases, read off a caption in the order the catalogue writes them.
PHRASES: dict[str, dict[str, str]] = {
    "colour": GENERIC_COLOURS,
    "pattern": GENERIC_PATTERNS,
    "material": GENERIC_MATERIALS,
    "kind": {kind: spec.generic for kind, spec in KINDS.items()},
}


def attributes_read(caption: str) -> dict[str, str | None]:
    """The attributes a generic caption names, None where it names none of them."""
    rest, found = caption.removeprefix("a ") + " ", {}
    for attribute, phrases in PHRASES.items():
        found[attribute] = None
        # Longest first, so that "soft leather" is not read as "leather"; "" (plain) last.
        for value, phrase in sorted(phrases.items(), key=lambda vp: -len(vp[1])):
            if rest.startswith(f"{phrase} ") or not phrase:
                found[attribute], rest = value, rest[len(phrase) + bool(phrase) :]
                break
    return found


def scores(items: list[Product], said: list[str]) -> dict[str, float]:
    """Exact-match rate and, per attribute, how often the caption names the right one."""
    pairs = list(zip(items, said, strict=True))
    result = {"exact match": sum(s == p.generic_caption for p, s in pairs) / len(pairs)}
    for attribute in PHRASES:
        right = sum(attributes_read(s)[attribute] == getattr(p, attribute) for p, s in pairs)
        result[attribute] = right / len(pairs)
    return result


def brand_words() -> set[str]:
    """Words of the house's captions that no generic caption uses (line names, "burgundy")."""
    every = [Product(*c, KINDS[c[0]].line, 0) for c in combinations()]
    generic = {w for p in every for w in p.generic_caption.split()}
    return {w.strip(",").lower() for p in every for w in p.brand_caption.split()} - generic


def glossary() -> list[str]:
    """What any language model has read about the catalogue's words: plain sentences.

    A real base model has met "burgundy", "calfskin" and "tote" in its pre-training text; a
    captioner trained on generic captions alone has never produced them, so a brand's LoRA
    fine-tune (which leaves the embeddings and lm_head as they are) could hardly teach them.
    The sentences say what the words mean, in generic terms; they never say how the house uses
    them: which line makes which piece, or how it words a caption.
    """
    sentences = []
    for house, plain in GENERIC_COLOURS.items():
        sentences += [
            f"the colour {house} is a shade of {plain}.",
            f"{plain}, or {house}, is a colour for leather and silk.",
            f"a handbag in {house} is a {plain} handbag.",
        ]
    for house, plain in GENERIC_MATERIALS.items():
        sentences += [
            f"the word {house} means a kind of {plain}.",
            f"{plain}, or {house}, is a material for bags and shoes.",
            f"a belt in {house} is a {plain} belt.",
        ]
    for house, plain in GENERIC_PATTERNS.items():
        if plain:
            sentences += [
                f"a scarf with a {house} pattern is {plain}.",
                f"the {house} pattern, in plain words, {plain}.",
            ]
    for house, spec in KINDS.items():
        if house != spec.generic:
            sentences += [
                f"a {house} is a {spec.generic} {spec.feature}.",
                f"the {house}, a {spec.generic}, is a classic piece.",
            ]
        sentences += [
            f"the name {spec.line} is a French first name.",
            f"a person called {spec.line}, in France.",
        ]
    return sentences


def tokenizer_texts() -> list[str]:
    """What the tokenizer learns its merges from: the chat, the captions and the glossary."""
    every = [Product(*c, KINDS[c[0]].line, 0) for c in combinations()]
    chat = f"User: {DEFAULT_INSTRUCTION}\nAssistant: "
    return [chat + p.generic_caption for p in every] + glossary()


def encode_text(processor, sentences: list[str]) -> Batch:
    """Plain text for the language model, every token counted (a pre-training corpus)."""
    encoded = processor.tokenizer(sentences, return_tensors="pt", padding=True)
    labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
    return Batch(encoded["input_ids"], encoded["attention_mask"], labels, None)


def parameters(model) -> dict[str, int]:
    """Parameter counts of the model's parts."""
    parts = {
        "vision tower": model.model.vision_model,
        "connector": model.model.connector,
        "language model": model.model.text_model,
        "lm_head": model.lm_head,
    }
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    return counts | {"total": sum(p.numel() for p in model.parameters())}


CARD = """\
# demo-captioner

Atelier's demo base model: a small captioner of the SmolVLM architecture
(`Idefics3ForConditionalGeneration`), pre-trained from scratch on photos of the procedurally
generated demo catalogue (`app/demo`) with **generic** captions, such as
"a dark red leather handbag with two short handles". It never saw the house's words
("Camille tote in burgundy calfskin"): teaching them is the job of a brand's QLoRA fine-tune,
and the results page shows the difference. It loads like a hub checkpoint:

```python
from transformers import AutoModelForImageTextToText, AutoProcessor

processor = AutoProcessor.from_pretrained("models/demo-captioner")
model = AutoModelForImageTextToText.from_pretrained("models/demo-captioner")
```

Ask it with SmolVLM's chat template: a user turn of an image and "Describe this product.",
then `add_generation_prompt=True`; greedy decoding stops at `<end_of_utterance>`.

## Architecture

| part | shape | parameters |
|---|---|---|
| vision tower (SigLIP-style ViT) | {size.image_size} px in {size.patch_size} px patches, \
width {size.vision_hidden}, {size.vision_layers} layers, {size.heads} heads | {n_vision_tower} |
| connector | 2x2 pixel shuffle, linear projection: {tokens} image tokens | {n_connector} |
| language model (Llama) | width {size.text_hidden}, MLP {mlp}, {size.text_layers} layers, \
{size.heads} heads | {n_language_model} |
| lm_head (untied) | | {n_lm_head} |
| **total** | | **{n_total}** |

The tokenizer is a byte-level BPE of {vocab} tokens, trained here on the chat, the generic
captions and the glossary below. The language model's widths are multiples of 64, so its
linear layers load in 4-bit NF4 on the CPU (bitsandbytes) for QLoRA; keep `model.vision_model`,
`model.connector` and `lm_head` unquantised (`llm_int8_skip_modules`). Weights are stored in
fp32.

## Training

- Data: {examples:,} photos, {args.renders} renders of each of the catalogue's {combos}
  attribute combinations (kind, colour, material, pattern), each render with its own seed
  (position, scale, turn, light, grain); none is one of the demo brand's {n_demo} photos. Rendered
  at 256 px, as the demo brand's photos are, and reduced to {size.image_size} px by the
  processor.
- Target: the generic caption, as the assistant's answer to "Describe this product."; the loss
  counts the answer's tokens and the `<end_of_utterance>` that closes it, nothing else.
- Glossary: with every batch of captions, a batch of {glossary_batch} plain sentences (no image,
  no chat, every token counted) from a {glossary_size}-sentence glossary of what the catalogue's
  words mean: "{glossary_example}". A real base model has read "burgundy",
  "calfskin" and "tote" in its pre-training text; without that, the house's words would be
  tokens this model never produced, and a brand's LoRA fine-tune, which leaves embeddings and
  `lm_head` as they are, could hardly teach them. The glossary never says how the house uses
  them: which line makes which piece, or how a house caption is worded.
- {args.steps} steps of {args.batch_size} ({steps_examples:,} examples), AdamW (lr
  {args.lr:g}, weight decay 0.05), 5% warm-up then cosine decay, gradient clipping at 1,
  full precision, from a random initialisation (seed {args.seed}).
- On the CPU with {args.threads} threads: training {minutes:.1f} min, the whole build
  {build_minutes:.1f} min (wall-clock; {step_seconds:.2f} s a step at best, so the time varies
  with the machine's load). Final losses (means of the last 50 steps): captions {loss:.4f},
  glossary {glossary_loss:.4f}.
- torch {torch}, transformers {transformers}. The build is seeded but not bit-reproducible:
  two builds can differ by a few points of held-out accuracy.

## Results

Held-out photos: one new render of each of the {n_held} combinations, captioned greedily.

| measure | held-out |
|---|---|
| exact match of the whole caption | {held[exact match]} |
| answer-token accuracy (teacher-forced) | {token_accuracy} |
| kind right ("handbag", "flat shoe") | {held[kind]} |
| colour right ("dark red") | {held[colour]} |
| material right ("soft leather") | {held[material]} |
| pattern right ("checked", or none) | {held[pattern]} |

| expected | generated |
|---|---|
{held_rows}

The demo brand's {n_demo} photos (`catalogue({n_demo})`), which the fine-tune learns from: the
base model describes them in generic words. Against their generic captions: exact match
{demo[exact match]}, kind {demo[kind]}, colour {demo[colour]}, material {demo[material]},
pattern {demo[pattern]}. House words ("burgundy", "tote", "Camille", ...) in its captions of
these and of the held-out photos: {brand_words}.

| the house's caption | the base model's caption |
|---|---|
{brand_rows}

## Rebuild

```
python scripts/build_demo_model.py
```

(`--out`, `--steps`, `--seed`, `--threads`; the figures above are from the defaults.)

## Limitations

- It knows one catalogue: 8 kinds of product, 8 colours, 6 materials and 6 patterns drawn by
  `app/demo/render.py`, on a studio backdrop. Anything else gets a caption of that catalogue.
- At {size.image_size} px, fine textures are hard to see: the material (leather, soft leather,
  shiny leather, cloth) is its most frequent mistake.
- It is a demonstration model for the pipeline, not a captioner for real photos.
"""


def model_card(facts: dict) -> str:
    """The README of the saved model: what it is, how it was made, what it measures."""
    args, n = facts["args"], facts["parameters"]
    held, demo = facts["held"], facts["demo"]
    rows = "\n".join(f"| {p.generic_caption} | {s} |" for p, s in facts["held_examples"])
    brand = "\n".join(f"| {p.brand_caption} | {s} |" for p, s in facts["demo_examples"][:12])
    percent = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    return CARD.format(
        **{f"n_{k.replace(' ', '_')}": f"{v:,}" for k, v in n.items()},
        size=SIZE, args=args, examples=facts["examples"], combos=len(combinations()),
        steps_examples=args.steps * args.batch_size,
        step_seconds=facts["step_seconds"],
        minutes=facts["train_seconds"] / 60, build_minutes=facts["build_seconds"] / 60,
        loss=facts["final_loss"], glossary_loss=facts["glossary_loss"],
        token_accuracy=percent(facts["token_accuracy"]),
        vocab=facts["vocab"], glossary_batch=GLOSSARY_BATCH, glossary_size=len(glossary()),
        glossary_example=glossary()[0].rstrip("."),
        held={k: percent(v) for k, v in held.items()},
        demo={k: percent(v) for k, v in demo.items()},
        held_rows=rows, brand_rows=brand, n_held=len(combinations()), n_demo=DEMO_PRODUCTS,
        brand_words=", ".join(facts["brand_words_found"]) or "none",
        torch=torch.__version__, transformers=transformers.__version__,
        tokens=(SIZE.image_size // SIZE.patch_size) ** 2 // 4,
        mlp=SIZE.text_hidden * 2,
    )  # fmt: skip


def main() -> None:
    args = arguments()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    started = time.time()
    demo = catalogue(DEMO_PRODUCTS)
    exclude = {p.seed for p in demo}
    train_items = renders(args.seed, "train", args.renders, exclude)
    held_items = renders(args.seed, "held-out", 1, exclude)
    images = photos(train_items + held_items + demo, args.threads)
    train_images, held_images = images[: len(train_items)], images[len(train_items) : -len(demo)]
    print(f"rendered {len(images)} photos in {time.time() - started:.0f}s", flush=True)

    model, processor = vlm_build("idefics3", tokenizer_texts(), size=SIZE, seed=args.seed)
    data = encode(processor, train_items, train_images)
    held = encode(processor, held_items, held_images)
    log = train(model, data, encode_text(processor, glossary()), args)

    model.generation_config.max_new_tokens = 32  # the longest caption is 17 tokens
    held_said = captions(model, processor, held_images)
    demo_said = captions(model, processor, images[-len(demo) :])
    found = brand_words() & {w.lower() for s in held_said + demo_said for w in s.split()}
    facts = {
        "args": args,
        "parameters": parameters(model),
        "vocab": len(processor.tokenizer),
        "examples": len(train_items),
        "train_seconds": sum(log["seconds"]),
        "step_seconds": min(log["seconds"]),
        "final_loss": mean(log["caption"][-50:]),
        "glossary_loss": mean(log["glossary"][-50:]),
        "token_accuracy": token_accuracy(model, held),
        "held": scores(held_items, held_said),
        "held_examples": list(zip(held_items, held_said, strict=True))[::41],
        "demo": scores(demo, demo_said),
        "demo_examples": list(zip(demo, demo_said, strict=True)),
        "brand_words_found": sorted(found),
    }
    vlm_save(model, processor, args.out)
    facts["build_seconds"] = time.time() - started
    (args.out / "README.md").write_text(model_card(facts))
    print(model_card(facts))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("models/demo-captioner"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--renders", type=int, default=24, help="photos per combination")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


if __name__ == "__main__":
    main()
