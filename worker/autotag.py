"""An adapter at work: auto-tag jobs (batched, resumable, exactly one suggestion per asset) and
tries (one image, the base's answer and the adapter's side by side in one batch).

Both use the worker's resident models: the base stays loaded between tasks and adapters are
kept by checksum, so a second job on the same base loads nothing.
"""

import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.assets.images import image_to_rgb
from app.assets.models import Asset
from app.audit.service import audit_record
from app.autotag.models import AutotagJob, Suggestion, Try
from app.autotag.service import suggestion_flags, vocabulary
from app.basemodels.service import basemodel_location
from app.brands.models import Brand
from app.config import settings
from app.db import utcnow
from app.leases import JobStatus
from app.runs.answers import answer_parse
from app.runs.models import Run
from app.runs.settings import TrainSettings, train_settings_of
from app.styleguides.glossary import GuideTerms
from app.styleguides.service import styleguide_terms
from worker.context import folder_fetch, sessions, store
from worker.lease import Lease, lease_take

if TYPE_CHECKING:
    from worker.resident import Loaded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adapter:
    """What generating with a run's adapter needs, read once from its rows."""

    run_id: int
    base: str
    revision: str | None
    settings: TrainSettings
    instruction: str
    adapter_key: str
    adapter_sha256: str


def adapter_of(run: Run) -> Adapter:
    return Adapter(
        run_id=run.id,
        base=basemodel_location(run.base_model),
        revision=run.base_model.revision or None,
        settings=train_settings_of(run),
        instruction=run.instruction,
        adapter_key=run.adapter_key,
        adapter_sha256=run.adapter_sha256,
    )


def _resident(adapter: Adapter) -> tuple["Loaded", str, dict[str, bool]]:
    """The resident base with this adapter on it, and what had to be loaded."""
    from worker.resident import RESIDENT

    loaded, base_loaded = RESIDENT.base(adapter.base, adapter.revision, adapter.settings)
    # Runs from before checksums were kept are cached by their id.
    key = adapter.adapter_sha256 or f"run-{adapter.run_id}"
    folder = settings.WORK_DIR / f"adapter-{key[:16]}-{uuid.uuid4().hex[:6]}"
    name, adapter_loaded = RESIDENT.adapter(
        loaded, key, lambda: folder_fetch(store(), adapter.adapter_key, folder)
    )
    return loaded, name, {"base_loaded": base_loaded, "adapter_loaded": adapter_loaded}


def _caption(adapter: Adapter, images: list[Image.Image], names: list[str]) -> list[str]:
    from worker.generate import captions_generate

    loaded, name, _ = _resident(adapter)
    return captions_generate(
        model=loaded.generator,
        processor=loaded.processor,
        images=images,
        instruction=adapter.instruction,
        max_image_pixels=adapter.settings.max_image_pixels,
        image_size_cap=adapter.settings.image_size_cap,
        batch_size=settings.AUTOTAG_BATCH_SIZE,
        adapter_names=[name if n == "adapter" else n for n in names],
    )


# --- auto-tag jobs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JobInputs:
    adapter: Adapter
    todo: list[tuple[int, str]]  # (asset id, blob key of its original), none suggested yet
    vocabulary: set[str]
    terms: GuideTerms


def autotag_execute(job_id: int, *, stopping: threading.Event | None = None) -> None:
    """Claim the job, suggest for each asset it has not done yet, record the outcome; once
    `stopping` is set, give it up after the current batch, to be resumed."""
    if (lease := lease_take(AutotagJob, job_id, "auto-tag job")) is None:
        return
    try:
        _autotag(job_id, lease, stopping or threading.Event())
    except Exception as exc:  # recorded on the job: the page says why
        log.exception("auto-tag job %s failed", job_id)
        _job_finish(job_id, JobStatus.failed, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        lease.release()


def _autotag(job_id: int, lease: Lease, stopping: threading.Event) -> None:
    inputs = _job_inputs(job_id)
    started, done = time.perf_counter(), 0
    _, _, loads = _resident(inputs.adapter)
    for start in range(0, len(inputs.todo), settings.AUTOTAG_BATCH_SIZE):
        if _job_stopping(job_id) or lease.lost.is_set() or stopping.is_set():
            break
        batch = inputs.todo[start : start + settings.AUTOTAG_BATCH_SIZE]
        images = [image_to_rgb(store().get(key)) for _, key in batch]
        answers = _caption(inputs.adapter, images, ["adapter"] * len(images))
        done += len(batch)
        speed = done / (time.perf_counter() - started)
        _suggest(job_id, inputs, [asset_id for asset_id, _ in batch], answers, speed)
    if lease.lost.is_set() or (stopping.is_set() and not _job_stopping(job_id)):
        log.warning("auto-tag job %s: given up (lease lost or worker stopping)", job_id)
        return
    speed = done / (time.perf_counter() - started) if done else 0.0
    status = JobStatus.cancelled if _job_stopping(job_id) else JobStatus.succeeded
    _job_finish(job_id, status, detail={**loads, "images_per_second": round(speed, 2)})


def _job_inputs(job_id: int) -> JobInputs:
    with sessions()() as session:
        job = session.get_one(AutotagJob, job_id)
        brand = session.get_one(Brand, job.brand_id)
        suggested = select(Suggestion.asset_id).where(Suggestion.job_id == job_id)
        unsuggested = select(Asset).where(Asset.id.in_(job.asset_ids), Asset.id.not_in(suggested))
        keys = {asset.id: asset.original_key for asset in session.scalars(unsuggested)}
        todo = [(i, keys[i]) for i in job.asset_ids if i in keys]
        return JobInputs(
            adapter=adapter_of(session.get_one(Run, job.run_id)),
            todo=todo,
            vocabulary=vocabulary(session=session, brand=brand),
            terms=styleguide_terms(session=session, brand=brand),
        )


def _suggest(
    job_id: int, inputs: JobInputs, asset_ids: list[int], answers: list[str], speed: float
) -> None:
    """One suggestion per asset, and the job's count, in one transaction: a job resumed
    after a crash finds exactly the assets it has not suggested for yet. `speed` (images/s
    of this attempt so far) goes on the job's detail for the metrics."""
    task = inputs.adapter.settings.task
    try:
        with sessions().begin() as session:
            job = session.get_one(AutotagJob, job_id)
            for asset_id, text in zip(asset_ids, answers, strict=True):
                answer = answer_parse(task, text)
                session.add(
                    Suggestion(
                        brand_id=job.brand_id,
                        asset_id=asset_id,
                        job_id=job_id,
                        run_id=job.run_id,
                        adapter_sha256=inputs.adapter.adapter_sha256,
                        answer=text.replace("\x00", ""),
                        caption=answer.caption,
                        tags=list(answer.tags),
                        flags=suggestion_flags(answer, inputs.vocabulary, inputs.terms),
                    )
                )
            job.done += len(asset_ids)
            job.detail = {**job.detail, "images_per_second": round(speed, 2)}
    except IntegrityError:  # another worker took over meanwhile and suggested these
        log.warning("auto-tag job %s: a batch was suggested already; skipped", job_id)


def _job_stopping(job_id: int) -> bool:
    with sessions()() as session:
        return session.get_one(AutotagJob, job_id).cancel_requested


def _job_finish(
    job_id: int, status: JobStatus, error: str = "", detail: dict[str, object] | None = None
) -> None:
    with sessions().begin() as session:
        job = session.get_one(AutotagJob, job_id)
        job.status, job.finished_at, job.error = status, utcnow(), error
        job.detail = {**job.detail, **(detail or {})}
        audit_record(
            session=session,
            actor=None,
            brand=session.get_one(Brand, job.brand_id),
            action=f"autotag.{status.value}",
            target=f"auto-tag job {job.id}",
            done=job.done,
            total=job.total,
        )


# --- tries -----------------------------------------------------------------------------------


def try_execute(try_id: int) -> None:
    """Answer one image with the base model and with the adapter, in one batch."""
    from worker.resident import BASE

    with sessions().begin() as session:
        attempt = session.get_one(Try, try_id)
        if attempt.status != JobStatus.queued:
            return
        attempt.status = JobStatus.running
        adapter, key = adapter_of(session.get_one(Run, attempt.run_id)), attempt.image_key
    try:
        image = image_to_rgb(store().get(key))
        base, adapted = _caption(adapter, [image, image], [BASE, "adapter"])
        status, error = JobStatus.succeeded, ""
    except Exception as exc:  # shown beside the image
        log.exception("try %s failed", try_id)
        base, adapted, status = "", "", JobStatus.failed
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"[:500]
    with sessions().begin() as session:
        attempt = session.get_one(Try, try_id)
        attempt.base, attempt.adapted, attempt.status, attempt.error = base, adapted, status, error
