"""Training throughput: the plain QLoRA recipe of the tutorials against Atelier's, in one run.

The baseline is what a team copies from a tutorial: the processor,
`AutoModelForImageTextToText.from_pretrained(..., quantization_config=BitsAndBytesConfig(4-bit
NF4, double quantisation))`, `prepare_model_for_kbit_training`, `get_peft_model`, and the HF
`Trainer` with a collator that pads each batch to its longest example (labels: the input ids,
padding and image tokens masked). Atelier's path is `worker.train.qlora_train` with
`worker.data.Collator`. Both train the same adapters (LoRA on the language model's linear
layers) on the same examples with the same settings: the one-click preset (`quick-demo`, task
caption+tags) on the demo brand's training photos, the demo captioner as base.

Each measurement runs in a fresh process (peak memory is the process's own), the cases
alternate, and each figure is the median of `--repeat`: tokens/s (non-padding tokens, image
tokens included, over the training loop), samples/s, peak memory (RSS on the CPU,
`torch.cuda.max_memory_allocated` on a GPU) and padding's share of the tokens in the batches.
Atelier's optimisations (TrainSettings fields) are measured each against Atelier's defaults.
Every Atelier case trains what the plain recipe trains, the adapters: the one-click's answer
tokens (`answer_tokens`, rows of the embeddings and the head besides) are a case of their own.
`--profile` runs the two recipes under torch.profiler instead and prints a step's parts and the
ops of most self time, each as a share of the step.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import ROOT, settings
from app.runs.answers import answer_format
from app.threads import threads_env
from bench.quality import overrides_of

PRESET, TASK = "quick-demo", "caption+tags"  # the one-click run


@dataclass(frozen=True)
class Case:
    """One way of training: the plain recipe or Atelier's, with settings over the preset."""

    label: str
    path: str  # "plain" or "atelier"
    overrides: dict[str, Any] = field(default_factory=dict)


BASELINE = Case("plain recipe (baseline)", "plain")
ATELIER = Case("Atelier (defaults)", "atelier")
# Each optimisation, turned the other way than Atelier's default.
TOGGLES = [
    Case("  without group_by_length", "atelier", {"group_by_length": False}),
    Case("  attention eager (not sdpa)", "atelier", {"attention": "eager"}),
    Case("  optim adamw_torch (not fused)", "atelier", {"optim": "adamw_torch"}),
    Case("  optim paged_adamw_8bit", "atelier", {"optim": "paged_adamw_8bit"}),
    Case("  dataloader_workers 1 (not 0)", "atelier", {"dataloader_workers": 1}),
    # Not an optimisation: the one-click's answer tokens, trained besides the adapters.
    Case("  answer_tokens (the one-click's)", "atelier", {"answer_tokens": True}),
]


# Profiled besides the two: work only Atelier's one-click does, and a cost both recipes share.
PROFILED = [TOGGLES[-1], Case("  lora_dropout 0 (not 0.05)", "atelier", {"lora_dropout": 0.0})]


def examples_write(folder: Path, side: int = 256, limit: int | None = None) -> int:
    """The demo brand's training photos (rendered `side` px, the first `limit` if given) and
    their one-click answers, as files."""
    from app.demo.render import product_render
    from app.demo.seed import DEMO_PRODUCTS
    from bench.quality import demo_brand

    train, _ = demo_brand(DEMO_PRODUCTS)
    rows = []
    for n, photo in enumerate(train[:limit]):
        image = photo.image if side == 256 else product_render(photo.product, size=side)
        image.save(folder / f"{n:03d}.png")
        answer = answer_format(TASK, photo.product.brand_caption, sorted(photo.product.tags))
        rows.append({"file": f"{n:03d}.png", "answer": answer})
    (folder / "examples.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return len(rows)


def examples_read(folder: Path) -> list[Any]:
    from PIL import Image

    from worker.data import Example

    rows = [json.loads(line) for line in (folder / "examples.jsonl").read_text().splitlines()]
    return [Example(Image.open(folder / r["file"]).convert("RGB"), r["answer"]) for r in rows]


def plain_train(
    model: str, examples: list[Any], s: Any, out: Path, extra: list[Any]
) -> dict[str, float]:
    """The tutorial recipe, step by step; its figures as `atelier_train` reports them."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForImageTextToText,
        AutoProcessor,
        BitsAndBytesConfig,
        Trainer,
        TrainingArguments,
    )

    from worker.config import LANGUAGE_LINEAR, compute_dtype

    dtype = compute_dtype(s)  # bfloat16 on a GPU that has it, float32 on the CPU
    processor = AutoProcessor.from_pretrained(model)
    side = int(s.max_image_pixels**0.5)
    if "longest_edge" in processor.image_processor.size:  # SmolVLM's card: N * 512
        processor.image_processor.size = {"longest_edge": side}
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )
    base = AutoModelForImageTextToText.from_pretrained(
        model, quantization_config=quantization, dtype=dtype
    )
    base = prepare_model_for_kbit_training(
        base, use_gradient_checkpointing=s.gradient_checkpointing
    )
    lora = LoraConfig(
        r=s.lora_r,
        lora_alpha=s.lora_alpha,
        lora_dropout=s.lora_dropout,
        target_modules=LANGUAGE_LINEAR,  # the same adapters as Atelier's
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(base, lora)
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    counts = {"tokens": 0, "padding": 0}

    def collate(batch: list[Any]) -> dict[str, Any]:
        question = {"type": "text", "text": s.instruction}
        texts = [
            processor.apply_chat_template(
                [
                    {"role": "user", "content": [{"type": "image"}, question]},
                    {"role": "assistant", "content": [{"type": "text", "text": e.caption}]},
                ],
                tokenize=False,
            )
            for e in batch
        ]
        inputs = processor(
            text=texts, images=[[e.image] for e in batch], return_tensors="pt", padding=True
        )
        labels = inputs["input_ids"].clone()
        labels[labels == processor.tokenizer.pad_token_id] = -100
        labels[labels == image_token] = -100
        inputs["labels"] = labels
        counts["tokens"] += inputs["attention_mask"].numel()
        counts["padding"] += int((inputs["attention_mask"] == 0).sum())
        return dict(inputs)

    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=s.batch_size,
        max_steps=s.max_steps,
        learning_rate=s.learning_rate,
        lr_scheduler_type=s.lr_scheduler,
        warmup_steps=s.warmup_ratio,
        bf16=dtype == torch.bfloat16,
        use_cpu=not torch.cuda.is_available(),
        logging_steps=s.logging_steps,
        save_strategy="steps",  # as the tutorials: a checkpoint every save_steps, and the last
        save_steps=s.checkpoint_steps,
        seed=s.seed,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",  # measures; changes nothing trained
        report_to=[],
        disable_tqdm=True,
    )
    meter, probe = _meter(), _probe()
    trainer = Trainer(
        model=peft_model,
        args=args,
        train_dataset=examples,
        data_collator=collate,
        callbacks=[meter, probe, *extra],
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    seconds = meter.seconds
    return {
        "tokens_per_second": trainer.state.num_input_tokens_seen / seconds,
        "samples_per_second": trainer.state.global_step * s.batch_size / seconds,
        "padding_share": counts["padding"] / max(counts["tokens"], 1),
        "cpu_seconds": probe.cpu,
        "steps": trainer.state.global_step,
        "seconds": seconds,
    }


def _probe() -> Any:
    """A callback that measures, over the training loop, the CPU time of this process and its
    children (the DataLoader's workers), and the workers' largest unique memory (USS: pages no
    other process shares; a forked worker maps its parent's pages, so its RSS would count the
    model twice), sampled every few steps. CPU time is the work done: on a machine shared with
    other work it varies far less than the wall time does."""
    import psutil
    from transformers import TrainerCallback

    def cpu_seconds() -> float:
        me = psutil.Process()
        times = [me.cpu_times(), *(c.cpu_times() for c in me.children(recursive=True))]
        return sum(t.user + t.system for t in times)

    class Probe(TrainerCallback):
        helpers_peak = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.cpu_start = cpu_seconds()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step % 5 == 0:
                children = psutil.Process().children(recursive=True)
                now = sum(c.memory_full_info().uss for c in children)
                self.helpers_peak = max(self.helpers_peak, now)

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.cpu = cpu_seconds() - self.cpu_start

    return Probe()


PROFILE_SKIP = 3  # steps left out of a profile: the first ones warm up the allocator and caches
# A step's parts in a profile: the ranges each is made of (key prefixes of torch.profiler's
# events, their inclusive time). The two forwards are ranges the profiler's callback opens.
PROFILE_PARTS = {
    "batch (DataLoader and collator)": "enumerate(DataLoader)",
    "vision tower and connector, forward": "## vision",
    "language model, forward": "## language",
    "backward": "autograd::engine::evaluate_function",
    "optimizer step": "Optimizer.step",
}
# The modules the two ranges wrap, by the end of their names (Idefics3's, LLaVA's, Qwen2-VL's).
PROFILE_MODULES = {
    "## vision": ("vision_model", "vision_tower", "visual"),
    "## language": ("text_model", "language_model"),
}


def _profiler(skip: int) -> Any:
    """A callback that profiles the training loop after its first `skip` steps to its last
    (torch.profiler, CPU; batches, forward, backward and optimizer steps, not the start or the
    saving) and keeps, per step, the time of each part and of the ops of most self time."""
    from torch.autograd.profiler import record_function
    from torch.profiler import ProfilerActivity, profile
    from transformers import TrainerCallback

    def ranged(module: Any, name: str) -> None:
        opened: list[Any] = []

        def enter(*_: Any) -> None:
            opened.append(record_function(name))
            opened[-1].__enter__()

        module.register_forward_pre_hook(enter)
        module.register_forward_hook(lambda *_: opened.pop().__exit__(None, None, None))

    class Profiler(TrainerCallback):
        figures: dict[str, Any] | None = None  # when the last step ends

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            named = sorted(kw["model"].named_modules(), key=lambda item: len(item[0]))
            for name, ends in PROFILE_MODULES.items():
                ranged(next(m for n, m in named if n.endswith(ends)), name)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == skip:
                self.profile = profile(activities=[ProfilerActivity.CPU])
                self.profile.__enter__()
                self.start, self.tokens = time.perf_counter(), state.num_input_tokens_seen
            elif state.global_step == state.max_steps and state.global_step > skip:
                seconds = time.perf_counter() - self.start  # not the profiler's own ending
                self.profile.__exit__(None, None, None)
                steps = state.global_step - skip
                self.figures = _profile_figures(self.profile.key_averages(), steps, seconds)
                self.figures["tokens"] = (state.num_input_tokens_seen - self.tokens) / steps

    return Profiler()


def _profile_figures(events: Any, steps: int, seconds: float) -> dict[str, Any]:
    """Milliseconds per step: the step (wall), each part (inclusive) and the 40 ops of most
    self time (the op's own, its callees' left out), most first."""

    def ms(us: float) -> float:
        return us / steps / 1000

    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:40]
    return {
        "steps": steps,
        "step": seconds / steps * 1000,
        "parts": {
            part: ms(sum(e.cpu_time_total for e in events if e.key.startswith(prefix)))
            for part, prefix in PROFILE_PARTS.items()
        },
        "ops": {e.key: ms(e.self_cpu_time_total) for e in top},
    }


def profile_tables(figures: dict[str, dict[str, Any]]) -> list[str]:
    """The profiles of the cases side by side, as Markdown: a step's parts, then the ops of
    most self time (each case's top 10), each in ms per step and as a share of the step."""
    cases = list(figures.items())
    head = " | ".join(f"{label.strip()} ms | share" for label, _ in cases)
    rule = "| --- " * (1 + 2 * len(cases)) + "|"

    def row(name: str, values: list[float]) -> str:
        cells = " | ".join(
            f"{v:.1f} | {v / f['step']:.0%}" for v, (_, f) in zip(values, cases, strict=True)
        )
        return f"| {name} | {cells} |"

    tokens = " | ".join(f"{f['tokens']:,.0f} | " for _, f in cases)
    rows = [f"| part of a step | {head} |", rule, f"| tokens a step (not padding) | {tokens}|"]
    rows.append(row("whole step (wall)", [f["step"] for _, f in cases]))
    for part in PROFILE_PARTS:
        rows.append(row(part, [f["parts"][part] for _, f in cases]))
    rest = [f["step"] - sum(f["parts"].values()) for _, f in cases]
    rows.append(row("the rest (the Trainer's own work)", rest))
    ops = list(dict.fromkeys(op for _, f in cases for op in list(f["ops"])[:10]))
    ops.sort(key=lambda op: -max(f["ops"].get(op, 0.0) for _, f in cases))
    rows += ["", f"| op (self time) | {head} |", rule]
    rows += [row(f"`{op}`", [f["ops"].get(op, 0.0) for _, f in cases]) for op in ops]
    return rows


def _meter() -> Any:
    from transformers import TrainerCallback

    class Meter(TrainerCallback):  # the training loop's time, as worker.train measures it
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.start = time.perf_counter()

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.seconds = time.perf_counter() - self.start

    return Meter()


def atelier_train(
    model: str, examples: list[Any], s: Any, out: Path, extra: list[Any]
) -> dict[str, Any]:
    from worker.train import qlora_train

    probe = _probe()
    result = qlora_train(
        base=model, revision=None, examples=examples, s=s, output_dir=out, callbacks=[probe, *extra]
    )
    return {
        "helpers_bytes": probe.helpers_peak,
        "cpu_seconds": probe.cpu,
        "tokens_per_second": result.tokens_per_second,
        "samples_per_second": result.samples_per_second,
        "padding_share": result.padding_share,
        "steps": result.steps,
        "seconds": result.wall_seconds,
        "fallbacks": "; ".join(result.fallbacks),
    }


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this (fresh) process: train as `spec` says; the figures."""
    import torch

    from app.runs.settings import settings_resolve
    from worker.train import rss_peak

    # Atelier's throughput settings as TrainSettings defaults them: the one-click preset turns
    # length grouping off for the demo's quality (app/runs/settings.py), not for speed; and it
    # trains the answer tokens' embedding and head rows besides the adapters (answer_tokens),
    # more work than the plain recipe's, measured as a case of its own.
    overrides = {
        "task": TASK,
        "max_steps": spec["steps"],
        "checkpoint_steps": 100_000,
        "group_by_length": True,
        "answer_tokens": False,
    }
    s = settings_resolve(spec.get("preset", PRESET), overrides | spec["overrides"])
    examples = examples_read(Path(spec["data"]))
    train = plain_train if spec["path"] == "plain" else atelier_train
    profiler = _profiler(skip=PROFILE_SKIP) if spec.get("profile") else None
    # qlora_train resets the peak when it starts (rss_peak_reset): the larger of before and after.
    start, before = time.perf_counter(), rss_peak()
    with tempfile.TemporaryDirectory() as out:
        figures: dict[str, Any] = train(
            spec["model"], examples, s, Path(out), [profiler] if profiler else []
        )
    if profiler:
        figures["profile"] = profiler.figures
    cuda = torch.cuda.is_available()
    figures |= {
        # On the CPU: this process's peak RSS and its DataLoader workers' own pages.
        "peak_bytes": (
            torch.cuda.max_memory_allocated()
            if cuda
            else max(before, rss_peak()) + figures.get("helpers_bytes", 0)
        ),
        "total_seconds": time.perf_counter() - start,
        "load": os.getloadavg()[0],
    }
    return figures


def measure(case: Case, spec: dict[str, Any]) -> dict[str, Any]:
    """`case` trained in a fresh process with the worker's thread set-up; its figures."""
    env = threads_env(setting=settings.WORKER_THREADS, environ=dict(os.environ))
    job = {**spec, "path": case.path, "overrides": {**spec.get("overrides", {}), **case.overrides}}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.training", "--child", json.dumps(job)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        sys.exit(f"{case.label}: the training process failed:\n{exc.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_cases(cases: list[Case], spec: dict[str, Any], repeat: int) -> dict[str, list[dict]]:
    """Every case `repeat` times, alternating: the machine's drift spreads over all of them."""
    figures: dict[str, list[dict[str, Any]]] = {c.label: [] for c in cases}
    for _ in range(repeat):
        for case in cases:
            figures[case.label].append(measure(case, spec))
            print(f"  {case.label.strip()}: {_brief(figures[case.label][-1])}", flush=True)
    return figures


def _brief(f: dict[str, Any]) -> str:
    return (
        f"{f['tokens_per_second']:.0f} tokens/s, {f['steps']} steps in {f['seconds']:.1f} s "
        f"({f['cpu_seconds']:.1f} CPU-s), "
        f"load {f['load']:.1f}"
    )


def table(figures: dict[str, list[dict[str, Any]]], baseline: str) -> list[str]:
    """The medians of each case as Markdown rows, with ratios against `baseline`."""

    def med(label: str, key: str) -> float:
        return statistics.median(f[key] for f in figures[label])

    def per_cpu(label: str) -> float:  # tokens per CPU-second, each measurement's own
        return statistics.median(
            f["tokens_per_second"] * f["seconds"] / f["cpu_seconds"] for f in figures[label]
        )

    def ratio(label: str, key: str) -> float:
        return med(label, key) / med(baseline, key)

    rows = [
        "| case | tokens/s | vs baseline | tokens/CPU-s | vs baseline | samples/s "
        "| peak memory | vs baseline | padding |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label in figures:
        rows.append(
            f"| {label.strip()} | {med(label, 'tokens_per_second'):,.0f} "
            f"| {ratio(label, 'tokens_per_second'):.2f}x "
            f"| {per_cpu(label):,.0f} | {per_cpu(label) / per_cpu(baseline):.2f}x "
            f"| {med(label, 'samples_per_second'):.1f} "
            f"| {med(label, 'peak_bytes') / 2**20:,.0f} MiB "
            f"| {ratio(label, 'peak_bytes'):.2f}x | {med(label, 'padding_share'):.1%} |"
        )
    return rows


def components(data: Path, repeat: int = 9) -> list[str]:
    """Where a step's time goes, measured in this one process, each part in turn and the
    median taken: steadier than whole runs on a shared machine, and it says what bounds the
    ratio. The parts: the batch of four made by the plain recipe's collator (uncapped photos)
    and by Atelier's (capped once), forward and backward with and without the key/value cache,
    and one step of each optimizer over the adapters' parameters."""
    import bitsandbytes as bnb
    import torch
    from peft import get_peft_model

    from app.basemodels.models import DEMO_MODEL_SOURCE
    from app.runs.settings import settings_resolve
    from worker.config import lora_config
    from worker.data import Collator, Example, image_cap
    from worker.train import base_load

    s = settings_resolve(PRESET, {"task": TASK})
    raw = examples_read(data)
    capped = [Example(image_cap(e.image, s.max_image_pixels), e.caption) for e in raw]
    base, processor = base_load(str(ROOT / DEMO_MODEL_SOURCE), None, s)
    model = get_peft_model(base, lora_config(s)).train()
    collator = Collator(processor, s.instruction, s.max_length, s.max_image_pixels)
    batch = collator(capped[:4])
    params = [p for p in model.parameters() if p.requires_grad]
    optimizers = {
        "AdamW (adamw_torch)": torch.optim.AdamW(params),
        "AdamW fused (adamw_torch_fused)": torch.optim.AdamW(params, fused=True),
        "8-bit paged AdamW (paged_adamw_8bit)": bnb.optim.PagedAdamW8bit(params),
    }

    def step(use_cache: bool) -> None:
        model(**batch, use_cache=use_cache).loss.backward()

    parts: dict[str, Any] = {
        "batch of 4, Atelier's collator, photos capped once": lambda: collator(capped[4:8]),
        "batch of 4, Atelier's collator, photos of 256 px": lambda: collator(raw[4:8]),
        "forward and backward, key/value cache on": lambda: step(True),
        "forward and backward, no cache (Atelier)": lambda: step(False),
        **{f"optimizer step, {name}": opt.step for name, opt in optimizers.items()},
    }
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(repeat):
        for name, part in parts.items():
            begin = time.perf_counter()
            part()
            times[name].append(time.perf_counter() - begin)
        model.zero_grad()
    return [f"| {n} | {statistics.median(t) * 1000:.1f} ms |" for n, t in times.items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench training", description=__doc__)
    parser.add_argument("--steps", type=int, help="training steps per measurement (30)")
    parser.add_argument(
        "--repeat", type=int, help="measurements per case (1, to fit `make bench`; 3 for figures)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the baseline and Atelier's defaults only; 20 steps, once, unless given",
    )
    parser.add_argument(
        "--components", action="store_true", help="time a step's parts instead, in this process"
    )
    parser.add_argument(
        "--also",
        nargs="*",
        default=[],
        metavar="KEY=VALUE,...",
        help="more cases: Atelier's defaults with these settings over them",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"profile the baseline and Atelier's defaults instead (torch.profiler, CPU; the "
        f"steps after the first {PROFILE_SKIP}; 15 steps unless given)",
    )
    args = parser.parse_args(argv)
    cases = [BASELINE, ATELIER] if args.quick else [BASELINE, ATELIER, *TOGGLES]
    cases = [BASELINE, ATELIER, *PROFILED] if args.profile else cases
    cases += [Case(f"  {spec}", "atelier", overrides_of(spec)) for spec in args.also]
    steps = args.steps or (20 if args.quick else 15 if args.profile else 30)
    repeat = args.repeat or 1

    from app.basemodels.models import DEMO_MODEL_SOURCE

    with tempfile.TemporaryDirectory() as data:
        count = examples_write(Path(data))
        spec = {"model": str(ROOT / DEMO_MODEL_SOURCE), "data": data, "steps": steps}
        print(f"training: {PRESET}, task {TASK}, {count} demo photos, {steps} steps, x{repeat}")
        if args.profile:
            profiles = {c.label: measure(c, spec | {"profile": True})["profile"] for c in cases}
            print(
                f"\nms per step over steps {PROFILE_SKIP + 1} to {steps}, profiler on; load "
                f"{os.getloadavg()[0]:.1f} now"
            )
            print("\n".join(profile_tables(profiles)))
            return
        figures = run_cases(cases, spec, repeat) if not args.components else {}
        parts = components(Path(data)) if args.components else []
    if parts:
        print("\n| part of a step (demo, batch of 4) | median |\n| --- | --- |")
        print("\n".join(parts))
        return
    print(f"\nmedian of {repeat}; each in a fresh process; load {os.getloadavg()[0]:.1f} now")
    print("\n".join(table(figures, BASELINE.label)))


if __name__ == "__main__":  # one measurement's own process: --child SPEC
    print(json.dumps(child(json.loads(sys.argv[2]))))
