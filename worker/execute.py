"""A run from claim to outcome: read the rows, train with progress, keep the adapter and the
run card, record the result. Exactly one worker works on a run at a time (see Lease)."""

import logging
import os
import shutil
import socket
import threading
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from app.assets.images import image_to_rgb
from app.assets.models import Asset
from app.basemodels.models import RegisteredModel
from app.basemodels.service import basemodel_location
from app.config import VAR
from app.datasets.models import DatasetVersion, Split
from app.datasets.service import dataset_items
from app.db import make_engine, make_sessionmaker, utcnow
from app.evaluations.models import Evaluation, EvaluationStatus
from app.runs.models import Run, RunStatus
from app.storage import BlobStore, open_store
from app.styleguides.models import TermKind
from app.styleguides.service import styleguide_current
from worker.config import TrainSettings, settings
from worker.progress import Lease, ProgressCallback, folder_unzip, folder_zip, log_append

if TYPE_CHECKING:
    from worker.train import TrainResult

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


@cache
def sessions() -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(settings.DATABASE_URL))


@cache
def store() -> BlobStore:
    return open_store(settings.STORAGE_URL)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RunJob:
    """What a run needs, read once from its rows."""

    base: str
    revision: str | None
    settings: TrainSettings
    item_keys: list[tuple[str, str]]  # (blob key of the original, caption)
    checkpoint_key: str
    instruction: str


def run_execute(run_id: int, *, stopping: threading.Event | None = None) -> None:
    """Claim the run, train it (resuming from its last checkpoint), record the outcome; once
    `stopping` is set, give it up at the next step, to be resumed (see `runs_recover`)."""
    lease = Lease(sessions(), run_id, worker_identity(), settings.RUN_LEASE_SECONDS)
    if not lease.claim():
        log.info("run %s is not ours to do (finished, cancelled or leased)", run_id)
        return
    lease.start_heartbeat()
    workdir = VAR / "work" / f"run-{run_id}-{uuid.uuid4().hex[:6]}"
    try:
        if _too_many_attempts(run_id):
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


def _too_many_attempts(run_id: int) -> bool:
    with sessions().begin() as session:
        attempt = session.get_one(Run, run_id).attempt
    if attempt <= MAX_ATTEMPTS:
        return False
    _finish(
        run_id,
        RunStatus.failed,
        summary=f"The run was interrupted {MAX_ATTEMPTS} times and was not tried again.",
    )
    return True


def _train(run_id: int, lease: Lease, workdir: Path, stopping: threading.Event) -> None:
    from worker.data import Example
    from worker.train import qlora_train

    job = _job(run_id)
    examples = [
        Example(image=image_to_rgb(store().get(key)), caption=caption)
        for key, caption in job.item_keys
    ]
    resume = None
    if job.checkpoint_key:
        step = job.checkpoint_key.rsplit("checkpoint-", 1)[1].removesuffix(".zip")
        resume = folder_unzip(
            store().get(job.checkpoint_key), workdir / "checkpoints" / f"checkpoint-{step}"
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
        store().put(key, folder_zip(result.adapter_dir))
        _succeed(run_id, key, result)
        _evaluate_after(run_id)


def _evaluate_after(run_id: int) -> None:
    """Measure the new adapter at once, in the same task: the worker has the base at hand."""
    with sessions().begin() as session:
        evaluation = Evaluation(run_id=run_id, status=EvaluationStatus.queued)
        session.add(evaluation)
        session.flush()
        evaluation_id = evaluation.id
    try:
        from worker.compare import evaluation_execute

        evaluation_execute(evaluation_id)
    except Exception:  # the run has succeeded whatever its evaluation does
        log.exception("evaluation %s of run %s could not start", evaluation_id, run_id)


def _job(run_id: int) -> RunJob:
    with sessions()() as session:
        run = session.get_one(Run, run_id)
        base = session.get_one(RegisteredModel, run.base_model_id)
        items = dataset_items(session=session, dataset_id=run.dataset_id, split=Split.train)
        assets = {
            a.id: a
            for a in session.scalars(select(Asset).where(Asset.id.in_([i.asset_id for i in items])))
        }
        train_settings = train_settings_of(run)
        return RunJob(
            base=basemodel_location(base),
            revision=base.revision or None,
            settings=train_settings,
            item_keys=[(assets[i.asset_id].original_key, i.caption) for i in items],
            checkpoint_key=run.checkpoint_key,
            instruction=_instruction(session, run, train_settings),
        )


def train_settings_of(run: Run) -> TrainSettings:
    """The run's settings as stored (fields added since take their defaults)."""
    known = {f.name for f in fields(TrainSettings)}
    return TrainSettings(**{k: v for k, v in run.settings.items() if k in known})


def _instruction(session: Session, run: Run, s: TrainSettings) -> str:
    """The settings' instruction, with the style guide's preferred terms when asked for."""
    if not s.style_terms_in_prompt:
        return s.instruction
    return instruction_with_terms(session=session, brand_id=run.brand_id, instruction=s.instruction)


def instruction_with_terms(*, session: Session, brand_id: int, instruction: str) -> str:
    """`instruction` followed by the brand's preferred terms (unchanged without a guide)."""
    from app.brands.models import Brand

    guide = styleguide_current(session=session, brand=session.get_one(Brand, brand_id))
    terms = [t.term for t in guide.terms if t.kind == TermKind.prefer] if guide else []
    return instruction_with(instruction, terms)


def instruction_with(instruction: str, terms: Sequence[str]) -> str:
    """`instruction` followed by these preferred terms (unchanged without any)."""
    return f"{instruction} Use these terms: {', '.join(terms)}." if terms else instruction


def _succeed(run_id: int, adapter_key: str, result: "TrainResult") -> None:
    with sessions().begin() as session:
        run = session.get_one(Run, run_id)
        dataset = session.get_one(DatasetVersion, run.dataset_id)
        base = session.get_one(RegisteredModel, run.base_model_id)
        run.adapter_key = adapter_key
        run.card = run_card(run=run, base=base, dataset=dataset, result=result)
        run.status, run.finished_at, run.eta_seconds = RunStatus.succeeded, utcnow(), 0.0
        log_append(run, "succeeded: adapter kept")


def _finish(run_id: int, status: RunStatus, *, summary: str, trace: str = "") -> None:
    with sessions().begin() as session:
        run = session.get_one(Run, run_id)
        run.status, run.finished_at = status, utcnow()
        run.error_summary, run.error_trace = summary[:500], trace
        log_append(run, f"{status.value}: {summary}")


def run_card(
    *, run: Run, base: RegisteredModel, dataset: DatasetVersion, result: "TrainResult"
) -> dict[str, object]:
    """What anyone needs to know about how an adapter was made and what it cost."""
    r = result
    trainable, total = r.trainable_params, r.total_params
    return {
        "base_model": base.source,
        "base_revision": base.revision or "default branch",
        "dataset_version": dataset.version,
        "dataset_hash": dataset.content_hash,
        "settings_hash": run.settings_hash,
        "preset": run.preset,
        "trainable_params": trainable,
        "total_params": total,
        "trainable_share": round(trainable / total, 6) if total else 0.0,
        "base_weights_bytes_4bit": r.base_weight_bytes_4bit,
        "base_weights_bytes_16bit": r.base_weight_bytes_16bit,
        "peak_rss_bytes": r.peak_rss_bytes,
        "cuda_max_allocated_bytes": r.cuda_max_allocated_bytes,
        "adapter_bytes": r.adapter_bytes,
        "wall_seconds": round(r.wall_seconds, 1),
        "samples_per_second": round(r.samples_per_second, 3),
        "tokens_per_second": round(r.tokens_per_second, 1),
        "steps": r.steps,
        "train_loss": round(r.train_loss, 5),
    }


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


def runs_recover() -> list[int]:
    """Runs whose worker died or stopped (running, their lease run out or released), to be
    sent again and resumed."""
    now = utcnow()
    lapsed = or_(Run.lease_expires_at.is_(None), Run.lease_expires_at < now)
    with sessions()() as session:
        orphans = list(
            session.scalars(select(Run.id).where(Run.status == RunStatus.running, lapsed))
        )
    return orphans
