from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.basemodels.models import RegisteredModel
from app.datasets.models import DatasetVersion
from app.runs.models import Run, RunStatus


class RunCreate(BaseModel):
    base_model: int | str | None = Field(
        default=None, description="a base model's id or source; the default one when absent"
    )
    dataset_id: int
    preset: str | None = Field(default=None, description="quick-demo, standard or high-quality")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="explicit QLoRA settings, over the preset"
    )


class RunOut(BaseModel):
    id: int
    brand: str
    status: RunStatus
    base_model: dict[str, Any]
    dataset: dict[str, Any]
    preset: str
    settings: dict[str, Any]
    settings_hash: str
    step: int
    total_steps: int
    epoch: float
    loss: float | None
    learning_rate: float | None
    eta_seconds: float | None
    history: list[dict[str, Any]]
    attempt: int
    cancel_requested: bool
    error: str
    log: str
    error_trace: str | None = Field(default=None, description="admins only")
    card: dict[str, Any]
    adapter_url: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(
        cls, run: Run, *, brand: str, base: RegisteredModel, dataset: DatasetVersion, admin: bool
    ) -> "RunOut":
        return cls(
            id=run.id,
            brand=brand,
            status=run.status,
            base_model={
                "id": base.id,
                "name": base.name,
                "source": base.source,
                "revision": base.revision,
            },
            dataset={
                "id": dataset.id,
                "version": dataset.version,
                "content_hash": dataset.content_hash,
            },
            preset=run.preset,
            settings=run.settings,
            settings_hash=run.settings_hash,
            step=run.step,
            total_steps=run.total_steps,
            epoch=run.epoch,
            loss=run.loss,
            learning_rate=run.learning_rate,
            eta_seconds=run.eta_seconds,
            history=run.history,
            attempt=run.attempt,
            cancel_requested=run.cancel_requested,
            error=run.error_summary,
            log=run.log,
            error_trace=run.error_trace if admin else None,
            card=run.card,
            adapter_url=f"/api/v1/runs/{run.id}/adapter" if run.adapter_key else None,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )
