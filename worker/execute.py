"""A run from claim to outcome: read the rows, train with progress, keep the adapter and the
run card, record the result. Exactly one worker works on a run at a time (see Lease)."""

import json
import logging
import shutil
import threading
import traceback
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.assets.images import image_to_rgb
from app.audit.service import audit_record
from app.basemodels.service import basemodel_location
from app.brands.models import Brand
from app.config import settings
from app.datasets.models import Split
from app.datasets.service import dataset_originals
from app.db import utcnow
from app.evaluations.models import Evaluation, EvaluationStatus
from app.runs.answers import answer_format
from app.runs.card import RunCard
from app.runs.models import Run, RunStatus
from app.runs.settings import TrainSettings, train_settings_of
from worker.compare import evaluation_execute
from worker.context import (
    file_sha256,
    folder_fetch,
    folder_store,
    sessions,
    store,
)
from worker.lease import Lease, lease_take, log_append

if TYPE_CHECKING:
    from worker.train import TrainResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunJob:
    """What a run needs, read once from its rows."""

    base: str
    base_name: str  # what the adapter's config calls its base, on the user's machine
    revision: str | None
    settings: TrainSettings
    item_keys: list[tuple[str, str]]  # (blob key of the original, the answer to learn)
    validation_keys: list[tuple[str, str]]  # the same of the validation split, if its loss counts
    checkpoint_key: str
    instruction: str


def run_execute(run_id: int, *, stopping: threading.Event | None = None) -> None:
    """Claim the run, train it (resuming from its last checkpoint), record the outcome; once
    `stopping` is set, give it up at the next step, to be resumed (see `worker.lease.orphans`)."""
    if (lease := lease_take(Run, run_id, "run")) is None:
        return
    workdir = settings.WORK_DIR / f"run-{run_id}-{uuid.uuid4().hex[:6]}"
    try:
        if why := lease.worn_out():
            _finish(run_id, RunStatus.failed, summary=f"The run was {why}.")
            return
        _train(run_id, lease, workdir, stopping or threading.Event())
    except Exception as exc:  # recorded on the run: users see a sentence, admins the trace
        log.exception("run %s failed", run_id)
        _finish(
            run_id, RunStatus.failed, summary=failure_sentence(exc), trace=traceback.format_exc()
        )
    finally:
        lease.release()
        shutil.rmtree(workdir, ignore_errors=True)


def _train(run_id: int, lease: Lease, workdir: Path, stopping: threading.Event) -> None:
    from worker.data import Example
    from worker.progress import ProgressCallback
    from worker.resident import RESIDENT
    from worker.train import qlora_train

    RESIDENT.clear()  # training needs the memory that resident models hold

    job = _job(run_id)
    examples, validation = (
        [Example(image=image_to_rgb(store().get(key)), caption=caption) for key, caption in keys]
        for keys in (job.item_keys, job.validation_keys)
    )
    resume = None
    if job.checkpoint_key:
        step = job.checkpoint_key.rsplit("checkpoint-", 1)[1].removesuffix(".zip")
        resume = folder_fetch(
            store(), job.checkpoint_key, workdir / "checkpoints" / f"checkpoint-{step}"
        )
    progress = ProgressCallback(
        sessions=sessions(), run_id=run_id, lease=lease, store=store(), stopping=stopping
    )
    result = qlora_train(
        base=job.base,
        revision=job.revision,
        examples=examples,
        s=replace(job.settings, instruction=job.instruction),
        output_dir=workdir,
        validation=validation,
        callbacks=[progress],
        resume_from=resume,
    )
    if lease.lost.is_set():
        log.warning("run %s: lease lost; another worker carries on", run_id)
    elif progress.cancelled:
        _finish(run_id, RunStatus.cancelled, summary="Cancelled.")
    elif progress.stopped:  # still running: its released lease marks it for recovery
        with sessions().begin() as session:
            log_append(session.get_one(Run, run_id), "the worker stopped; the run will resume")
    else:
        key = f"runs/{run_id}/adapter.zip"
        adapter_config_name_base(result.adapter_dir, job.base_name)
        folder_store(store(), key, result.adapter_dir)
        _succeed(run_id, key, result)
        _evaluate_after(run_id, result.adapter_dir)


def adapter_base_name(source: str, name: str) -> str:
    """The base as a user names it: the hub id or relative path it was registered by, or its
    name for a folder of the worker's machine (which the user's machine does not have)."""
    return name if Path(source).is_absolute() else source


def adapter_config_name_base(adapter_dir: Path, base_name: str) -> None:
    """PEFT writes the path the worker loaded the base from; the download names it as
    registered, so that `AutoPeftModel.from_pretrained` finds it on the user's machine."""
    config_path = adapter_dir / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_name
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))


def _evaluate_after(run_id: int, adapter_dir: Path) -> None:
    """Measure the new adapter at once, in the same task: the worker has the base at hand."""
    with sessions().begin() as session:
        evaluation = Evaluation(run_id=run_id, status=EvaluationStatus.queued)
        session.add(evaluation)
        session.flush()
        evaluation_id = evaluation.id
    try:
        evaluation_execute(evaluation_id, adapter_dir)
    except Exception:  # the run has succeeded whatever its evaluation does
        log.exception("evaluation %s of run %s could not start", evaluation_id, run_id)


def _job(run_id: int) -> RunJob:
    with sessions()() as session:
        run = session.get_one(Run, run_id)
        settings = train_settings_of(run)

        def answers(split: Split) -> list[tuple[str, str]]:
            items = dataset_originals(session=session, dataset_id=run.dataset_id, split=split)
            return [(key, answer_format(settings.task, i.caption, i.tags)) for i, key in items]

        return RunJob(
            base=basemodel_location(run.base_model),
            base_name=adapter_base_name(run.base_model.source, run.base_model.name),
            revision=run.base_model.revision or None,
            settings=settings,
            item_keys=answers(Split.train),
            # Read only when its loss picks the checkpoint kept (settings.eval_steps).
            validation_keys=answers(Split.validation) if settings.eval_steps else [],
            checkpoint_key=run.checkpoint_key,
            instruction=run.instruction,
        )


def _succeed(run_id: int, adapter_key: str, result: "TrainResult") -> None:
    with sessions().begin() as session:
        run = session.get_one(Run, run_id)
        run.adapter_key = adapter_key
        run.adapter_sha256 = file_sha256(result.adapter_dir / "adapter_model.safetensors")
        run.card = run_card(run=run, result=result).to_json()
        run.status, run.finished_at, run.eta_seconds = RunStatus.succeeded, utcnow(), 0.0
        log_append(run, "succeeded: adapter kept")
        _audit(session, run)


def _finish(run_id: int, status: RunStatus, *, summary: str, trace: str = "") -> None:
    with sessions().begin() as session:
        run = session.get_one(Run, run_id)
        run.status, run.finished_at = status, utcnow()
        run.error_summary, run.error_trace = summary[:500], trace
        log_append(run, f"{status.value}: {summary}")
        _audit(session, run, summary=summary[:200])


def _audit(session: Session, run: Run, **detail: str) -> None:
    """The run's outcome in its brand's audit log, by no person: the worker."""
    brand = session.get_one(Brand, run.brand_id)
    audit_record(
        session=session,
        actor=None,
        brand=brand,
        action=f"run.{run.status.value}",
        target=f"run {run.id}",
        **detail,
    )


def run_card(*, run: Run, result: "TrainResult") -> RunCard:
    """What anyone needs to know about how an adapter was made and what it cost."""
    r = result
    return RunCard(
        base_model=run.base_model.source,
        base_revision=run.base_model.revision or "default branch",
        dataset_version=run.dataset.version,
        dataset_hash=run.dataset.content_hash,
        settings_hash=run.settings_hash,
        preset=run.preset,
        trainable_params=r.trainable_params,
        total_params=r.total_params,
        trainable_share=round(r.trainable_params / r.total_params, 6) if r.total_params else 0.0,
        base_weights_bytes_4bit=r.base_weight_bytes_4bit,
        base_weights_bytes_16bit=r.base_weight_bytes_16bit,
        peak_rss_bytes=r.peak_rss_bytes,
        cuda_max_allocated_bytes=r.cuda_max_allocated_bytes,
        adapter_bytes=r.adapter_bytes,
        wall_seconds=round(r.wall_seconds, 1),
        samples_per_second=round(r.samples_per_second, 3),
        tokens_per_second=round(r.tokens_per_second, 1),
        steps=r.steps,
        train_loss=round(r.train_loss, 5),
        image_tokens_max=r.image_tokens_max,
        image_tokens_mean=round(r.image_tokens_mean, 1),
    )


def failure_sentence(exc: BaseException) -> str:
    """What went wrong, in a sentence a user can act on."""
    name = type(exc).__name__
    if "OutOfMemory" in name or isinstance(exc, MemoryError):
        return "The run ran out of memory: try a smaller batch size or maximum image size."
    if (
        isinstance(exc, (OSError, FileNotFoundError))
        and "from_pretrained" in traceback.format_exc()
    ):
        return f"The base model could not be loaded: {exc}"[:300]
    return f"Training stopped with an error ({name}): {exc}"[:300]
