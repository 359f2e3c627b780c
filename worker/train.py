"""QLoRA fine-tuning of a vision-language model, top to bottom.

Load the base model with its language model in 4 bits, attach LoRA adapters, train them with
the HF `Trainer` on the answer tokens of (image, caption) conversations, save the adapter in
PEFT format. The same path serves every family that `AutoModelForImageTextToText` loads.
"""

import importlib.util
import logging
import resource
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel, get_peft_model, prepare_model_for_kbit_training
from torch.utils.data import Sampler
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    PreTrainedModel,
    ProcessorMixin,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from app.runs.settings import TrainSettings
from worker.config import compute_dtype, lora_config, quantization_config
from worker.data import (
    Collator,
    Example,
    ImageTokens,
    Jittered,
    LengthGrouped,
    answer_token_ids,
    image_cap,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a run produced, and what it cost."""

    adapter_dir: Path
    steps: int  # the global step reached (counting steps of the run resumed from)
    train_loss: float  # mean training loss over the steps of this call
    trainable_params: int
    total_params: int
    base_weight_bytes_4bit: int  # the frozen base parameters as they lie in memory
    base_weight_bytes_16bit: int  # the same parameters at 2 bytes each
    peak_rss_bytes: int  # of the process over this call, model loading included (`rss_peak`)
    cuda_max_allocated_bytes: int | None
    adapter_bytes: int
    wall_seconds: float  # of the training loop, this call
    samples_per_second: float
    tokens_per_second: float  # non-padding tokens (image tokens included)
    best_step: int | None = None  # the checkpoint kept for its validation loss, if one was
    # Tokens an image took, over the images of this call's batches (validation's included).
    image_tokens_max: int = 0
    image_tokens_mean: float = 0.0
    padding_share: float = 0.0  # padding's share of the tokens in the training batches
    fallbacks: tuple[str, ...] = ()  # settings asked for that this machine could not honour


def rss_peak() -> int:
    """This process's peak RSS so far. On Linux the kernel's high-water mark (VmHWM), which,
    unlike getrusage's, keeps no parent's peak from before a fork and exec and can be reset
    (`rss_peak_reset`); elsewhere getrusage's lifetime peak."""
    if sys.platform == "linux":
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(x for x in status if x.startswith("VmHWM")).split()[1]) * 1024  # kB
    kib = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes there, else KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib


def rss_peak_reset() -> None:
    """Start `rss_peak` again from the current RSS (Linux): a worker that runs jobs one after
    another in its own process would otherwise report the largest of them all, its resident
    models' included. Where it cannot be reset, `rss_peak` stays the lifetime peak (an upper
    bound)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # 5: the high-water mark to the RSS now


def base_load(
    path_or_id: str, revision: str | None, s: TrainSettings
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """The base model, language model in 4 bits and frozen, ready for k-bit training."""
    processor = AutoProcessor.from_pretrained(
        path_or_id, revision=revision, trust_remote_code=False
    )
    model = AutoModelForImageTextToText.from_pretrained(
        path_or_id,
        revision=revision,
        use_safetensors=True,  # never unpickle weights: a .bin checkpoint can run code
        trust_remote_code=False,
        quantization_config=quantization_config(s),
        dtype=compute_dtype(s),  # of the layers left unquantised
        attn_implementation=s.attention,
    )
    model = prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=s.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )
    return model, processor


def token_rows(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    examples: Sequence[Example],
    instruction: str,
) -> dict[str, list[int]]:
    """The input-embedding and output-head modules by name, each with the token ids the answers
    are made of: the rows PEFT trains besides the adapters (`LoraConfig.trainable_token_indices`;
    where the head shares the embeddings' weights, PEFT ties the two)."""
    ids = sorted({i for e in examples for i in answer_token_ids(processor, instruction, e.caption)})
    names = {module: name for name, module in model.named_modules()}
    modules = [model.get_input_embeddings(), model.get_output_embeddings()]
    return {names[m]: ids for m in modules if m is not None}


def liger_fallback(s: TrainSettings) -> str | None:
    """Why the Liger kernels asked for cannot run here; None if they can or were not asked."""
    if not s.liger_kernel:
        return None
    if not torch.cuda.is_available():
        return "liger_kernel: Liger's kernels are Triton, for CUDA GPUs; none here"
    if importlib.util.find_spec("liger_kernel") is None:
        return "liger_kernel: the liger-kernel package is not installed"
    return None


def training_args(s: TrainSettings, output_dir: Path, *, evaluate: bool) -> TrainingArguments:
    """The Trainer's arguments for `s`: checkpoints under output_dir/checkpoints; with
    `evaluate`, the validation loss every `s.eval_steps` and the best checkpoint kept."""
    dtype = compute_dtype(s)
    return TrainingArguments(
        optim=s.optim,
        use_liger_kernel=s.liger_kernel and liger_fallback(s) is None,
        output_dir=str(output_dir / "checkpoints"),
        per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps,
        learning_rate=s.learning_rate,
        lr_scheduler_type=s.lr_scheduler,
        warmup_steps=s.warmup_ratio,  # a float below 1 is a share of the steps
        weight_decay=s.weight_decay,
        max_grad_norm=s.max_grad_norm,
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        use_cpu=not torch.cuda.is_available(),
        dataloader_pin_memory=torch.cuda.is_available(),
        seed=s.seed,
        dataloader_num_workers=s.dataloader_workers,
        # A worker kept from epoch to epoch keeps its jitter generator going (`Jittered`).
        dataloader_persistent_workers=s.dataloader_workers > 0,
        logging_steps=s.logging_steps,
        save_strategy="steps",
        save_steps=s.checkpoint_steps,
        save_total_limit=2,  # the best checkpoint is kept besides these
        eval_strategy="steps" if evaluate else "no",
        eval_steps=s.eval_steps or None,
        load_best_model_at_end=evaluate,
        metric_for_best_model="eval_loss" if evaluate else None,
        greater_is_better=False if evaluate else None,
        per_device_eval_batch_size=s.batch_size,
        prediction_loss_only=True,  # the loss is all evaluation needs here, not the logits
        label_names=["labels"],  # a PeftModel's forward does not name them for the Trainer
        remove_unused_columns=False,  # the collator needs the images, not columns
        include_num_input_tokens_seen="non_padding",
        report_to=[],
        disable_tqdm=True,  # progress goes to the run's row, through a callback
    )


class _Trainer(Trainer):
    """The HF Trainer; given each training example's token length, it batches like lengths
    together (`LengthGrouped`). Trainer's own group_by_length reads lengths from dict items,
    which these examples (an image and a caption) are not."""

    def __init__(self, *args: Any, lengths: list[int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lengths = lengths
        self.tokens = self.padding = 0  # in the training batches, padding included; of which

    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler[int] | None:
        if self.lengths is None:
            return super()._get_train_sampler(train_dataset)
        return LengthGrouped(self.lengths, self.args.train_batch_size)

    def training_step(
        self, model: torch.nn.Module, inputs: dict[str, Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        mask = inputs["attention_mask"]
        self.tokens += mask.numel()
        self.padding += int((mask == 0).sum())
        return super().training_step(model, inputs, *args, **kwargs)


class _Meter(TrainerCallback):
    """Where this call's training loop started and when it ended (a resumed run starts late)."""

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: object
    ) -> None:
        self.start_step, self.start_tokens = state.global_step, state.num_input_tokens_seen
        self.start = time.perf_counter()

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: object
    ) -> None:
        self.seconds = time.perf_counter() - self.start


def qlora_train(
    *,
    base: str,
    revision: str | None,
    examples: Sequence[Example],
    s: TrainSettings,
    output_dir: Path,
    validation: Sequence[Example] = (),
    callbacks: Sequence[TrainerCallback] = (),
    resume_from: Path | None = None,
) -> TrainResult:
    """Train LoRA adapters on a 4-bit `base`; the adapter lands in output_dir/adapter. With
    `s.eval_steps` and `validation` examples, it is the checkpoint of lowest validation loss."""
    rss_peak_reset()
    set_seed(s.seed)  # before the adapters are initialised
    fallbacks = tuple(reason for reason in [liger_fallback(s)] if reason)
    for reason in fallbacks:
        log.warning("training without a setting asked for: %s", reason)
    base_model, processor = base_load(base, revision, s)
    # A key/value cache serves generation; training would only fill it and drop it.
    base_model.config.use_cache = False
    base_model.config.get_text_config().use_cache = False
    rows = token_rows(base_model, processor, examples, s.instruction) if s.answer_tokens else None
    model = get_peft_model(base_model, lora_config(s, rows))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    meter = _Meter()
    evaluate = s.eval_steps > 0 and len(validation) > 0
    collator = Collator(
        processor, s.instruction, s.max_length, s.max_image_pixels, s.image_size_cap
    )
    if not s.augment:  # capped once here, not again in every epoch's batches
        examples = [Example(image_cap(e.image, s.max_image_pixels), e.caption) for e in examples]
    trainer = _Trainer(
        model=model,
        args=training_args(s, output_dir, evaluate=evaluate),
        # Any sequence with len() will do; the validation images are never jittered.
        train_dataset=Jittered(examples, s.seed) if s.augment else list(examples),
        eval_dataset=list(validation) if evaluate else None,
        data_collator=collator,
        callbacks=[meter, *callbacks],
        lengths=collator.lengths(examples) if s.group_by_length else None,
    )
    # With tqdm off, the Trainer prints every log dict to stdout; progress goes to the run's row.
    trainer.remove_callback(PrinterCallback)
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    adapter_dir = output_dir / "adapter"
    model.save_pretrained(str(adapter_dir))
    result = _result(
        model, trainer.state, meter, s, adapter_dir, output.training_loss, collator.image_tokens
    )
    return replace(
        result,
        peak_rss_bytes=rss_peak(),
        padding_share=trainer.padding / max(trainer.tokens, 1),
        fallbacks=fallbacks,
    )


def _result(
    model: PeftModel,
    state: TrainerState,
    meter: _Meter,
    s: TrainSettings,
    adapter_dir: Path,
    loss: float,
    image_tokens: ImageTokens,
) -> TrainResult:
    trainable, total = model.get_nb_trainable_parameters()
    frozen = [p for p in model.parameters() if not p.requires_grad]  # the base model's
    samples = (state.global_step - meter.start_step) * s.batch_size * s.grad_accum
    tokens = state.num_input_tokens_seen - meter.start_tokens
    seconds = max(meter.seconds, 1e-9)
    return TrainResult(
        adapter_dir=adapter_dir,
        steps=state.global_step,
        train_loss=loss,
        trainable_params=trainable,
        total_params=total,
        base_weight_bytes_4bit=sum(p.numel() * p.element_size() for p in frozen),
        base_weight_bytes_16bit=(total - trainable) * 2,
        peak_rss_bytes=0,  # qlora_train's to fill in: it measures the whole call
        cuda_max_allocated_bytes=(
            torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
        ),
        adapter_bytes=sum(f.stat().st_size for f in adapter_dir.iterdir() if f.is_file()),
        wall_seconds=meter.seconds,
        samples_per_second=samples / seconds,
        tokens_per_second=tokens / seconds,
        best_step=_step_of(state.best_model_checkpoint),
        image_tokens_max=image_tokens.most,
        image_tokens_mean=image_tokens.mean,
    )


def _step_of(checkpoint: str | None) -> int | None:
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else None


def checkpoint_last(output_dir: Path) -> Path | None:
    """The latest checkpoint a run in `output_dir` left, to resume from; None if none."""
    folder = output_dir / "checkpoints"
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(last) if last else None


def adapter_load(base_model: PreTrainedModel, adapter_dir: Path) -> PeftModel:
    """`base_model` with the adapter saved in `adapter_dir`, in eval mode, for generation."""
    model = PeftModel.from_pretrained(base_model, adapter_dir)
    return model.eval()
