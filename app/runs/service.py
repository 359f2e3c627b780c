"""Fine-tuning runs: queue (after the commit), read, cancel. The worker does the rest."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.basemodels.models import BaseModelStatus, RegisteredModel
from app.brands.models import Brand
from app.datasets.models import DatasetVersion
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.jobs import job_send
from app.runs.card import RunCard
from app.runs.memory import Architecture, MemoryEstimate, RunShape, memory_estimate
from app.runs.models import Run, RunStatus
from app.runs.settings import PRESETS, TrainSettings, settings_hash, settings_resolve, steps_planned
from app.styleguides.service import styleguide_terms

TRAIN_TASK = "atelier.run_train"


def run_create(
    *,
    session: Session,
    jobs: Celery,
    brand: Brand,
    user: User,
    base_model: RegisteredModel,
    dataset_id: int,
    preset: str | None,
    overrides: Mapping[str, object],
    name: str = "",
) -> Run:
    """Queue a QLoRA run of `base_model` on `dataset` with a preset and/or explicit settings."""
    if base_model.status != BaseModelStatus.ready:
        raise Conflict(f"the base model {base_model.name} is {base_model.status.value}, not ready")
    dataset = session.get(DatasetVersion, dataset_id)
    if dataset is None or dataset.brand_id != brand.id:
        raise NotFound(f"no dataset {dataset_id}")
    try:
        train_settings = settings_resolve(preset, overrides)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    run = Run(
        brand_id=brand.id,
        base_model_id=base_model.id,
        dataset_id=dataset.id,
        created_by_id=user.id,
        status=RunStatus.queued,
        name=name.strip(),
        preset=preset or "",
        settings=asdict(train_settings),
        settings_hash=settings_hash(train_settings),
        instruction=run_instruction(session=session, brand=brand, settings=train_settings),
    )
    session.add(run)
    session.flush()
    job_send(session=session, client=jobs, name=TRAIN_TASK, args=[run.id])
    return run


def run_instruction(*, session: Session, brand: Brand, settings: TrainSettings) -> str:
    """The instruction a run is trained and evaluated with: the settings' own, followed by the
    brand's preferred terms when the settings ask for them."""
    if not settings.style_terms_in_prompt:
        return settings.instruction
    return styleguide_terms(session=session, brand=brand).instruction(settings.instruction)


# Seconds per step of the demo captioner with quick-demo on 2 idle CPU cores, measured with
# `python -m bench contention` (about 0.25 beside one busy process); the guess for a brand
# that has not trained yet.
DEMO_SECONDS_PER_STEP = 0.10


@dataclass(frozen=True)
class Estimate:
    """What a preset would cost on the brand's approved images, before a run starts."""

    preset: str
    steps: int
    seconds: float | None  # None: nothing to go by yet
    measured: bool  # from the brand's own last run of this preset, not the demo figure


def run_estimates(*, session: Session, brand: Brand, train_images: int) -> list[Estimate]:
    """For each preset, its steps on `train_images` images and, when there is something to go
    by, its training time: the brand's last succeeded run of that preset (seconds per step of
    its card), else the demo model's measured figure for quick-demo."""
    estimates = []
    for name, preset in PRESETS.items():
        steps = steps_planned(preset, train_images)
        last = session.scalar(
            select(Run)
            .where(Run.brand_id == brand.id, Run.preset == name, Run.status == RunStatus.succeeded)
            .order_by(Run.id.desc())
            .limit(1)
        )
        card = RunCard.of(last.card) if last is not None else None
        if card is not None and card.steps:
            seconds, measured = steps * card.wall_seconds / card.steps, True
        elif name == "quick-demo":
            seconds, measured = steps * DEMO_SECONDS_PER_STEP, False
        else:
            seconds, measured = None, False
        estimates.append(Estimate(name, steps, seconds, measured))
    return estimates


def run_get(*, session: Session, run_id: int, brand: Brand | None = None) -> Run:
    """The run with this id (one of `brand`'s, when given), or NotFound."""
    run = session.get(Run, run_id)
    if run is None or (brand is not None and run.brand_id != brand.id):
        raise NotFound(f"no run {run_id}")
    return run


def runs_list(*, session: Session, brand: Brand, limit: int = 100) -> list[Run]:
    """The brand's runs, newest first."""
    return list(
        session.scalars(
            select(Run).where(Run.brand_id == brand.id).order_by(Run.id.desc()).limit(limit)
        )
    )


def run_cancel(*, session: Session, run: Run) -> Run:
    """Stop a run: a queued one at once, a running one at its next step."""
    if run.status.finished:
        raise Conflict(f"the run has {run.status.value} already")
    run.cancel_requested = True
    if run.status == RunStatus.queued:
        run.status = RunStatus.cancelled
        run.finished_at = utcnow()
    session.flush()
    return run


@dataclass(frozen=True)
class MemoryRow:
    """A preset's estimated peak memory on one base model, before a run is queued."""

    model: RegisteredModel
    preset: str
    estimate: MemoryEstimate
    too_big: bool  # more than the worker's memory (WORKER_MEMORY_BYTES)


def run_memory_estimates(*, models: list[RegisteredModel], worker_bytes: int) -> list[MemoryRow]:
    """Each preset's peak memory on each ready base model whose architecture a worker counted
    (the demo's comes with the migration), as a GPU trains it (bfloat16 activations)."""
    rows = []
    for model in models:
        arch = Architecture.of(model.architecture)
        if model.status != BaseModelStatus.ready or arch is None:
            continue
        for name, preset in PRESETS.items():
            estimate = memory_estimate(arch, RunShape.of(preset, gpu=True))
            rows.append(MemoryRow(model, name, estimate, estimate.total > worker_bytes))
    return rows
