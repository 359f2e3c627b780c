"""A brand's adapters: its runs that succeeded, each with its task and what it measured; one
of them active, which auto-tags new uploads when the brand asks for it."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.brands.models import Brand
from app.evaluations.models import Evaluation, EvaluationStatus
from app.leases import JobStatus
from app.runs.models import Run
from app.runs.settings import train_settings_of

KEY_METRICS = ("tag_f1", "bleu4", "compliant_share")


@dataclass(frozen=True)
class Adapter:
    """One adapter of a brand, as its adapters page and API show it."""

    run: Run
    task: str
    active: bool
    metrics: dict[str, dict[str, float]]  # system -> metric -> value, of its latest evaluation

    @property
    def label(self) -> str:
        return self.run.name or f"run {self.run.id}"


def adapters_list(*, session: Session, brand: Brand) -> list[Adapter]:
    """The brand's adapters, newest first, with the key metrics of their latest evaluation."""
    runs = list(
        session.scalars(
            select(Run)
            .where(
                Run.brand_id == brand.id, Run.status == JobStatus.succeeded, Run.adapter_key != ""
            )
            .order_by(Run.id.desc())
        )
    )
    summaries = _summaries(session, [r.id for r in runs])
    return [
        Adapter(
            run=run,
            task=train_settings_of(run).task,
            active=run.id == brand.active_run_id,
            metrics={
                system: {m: values[m] for m in KEY_METRICS if m in values}
                for system, values in summaries.get(run.id, {}).items()
                if system in ("base", "adapted")
            },
        )
        for run in runs
    ]


def _summaries(session: Session, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The summary of each run's latest succeeded evaluation."""
    found: dict[int, dict[str, Any]] = {}
    rows = session.scalars(
        select(Evaluation)
        .where(Evaluation.run_id.in_(run_ids), Evaluation.status == EvaluationStatus.succeeded)
        .order_by(Evaluation.id)
    )
    for evaluation in rows:  # later ones overwrite earlier ones
        found[evaluation.run_id] = evaluation.summary
    return found


def adapter_activate(
    *, session: Session, brand: Brand, run: Run | None, autotag_uploads: bool | None = None
) -> Brand:
    """Make `run`'s adapter the brand's active one (None: none), and set whether uploads are
    auto-tagged with it."""
    brand.active_run_id = run.id if run is not None else None
    if autotag_uploads is not None:
        brand.autotag_uploads = autotag_uploads
    session.flush()
    return brand
