"""Fine-tuning runs: queue (after the commit), read, cancel. The worker does the rest."""

from collections.abc import Mapping
from dataclasses import asdict

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
from app.runs.models import Run, RunStatus
from app.runs.settings import TrainSettings, settings_hash, settings_resolve
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
