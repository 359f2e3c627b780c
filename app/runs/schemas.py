from datetime import datetime
from typing import Any

from pydantic import AliasPath, BaseModel, Field, computed_field

from app.runs.models import Run, RunStatus
from app.schemas import Out


class RunCreate(BaseModel):
    base_model: int | str | None = Field(
        default=None, description="a base model's id or source; the default one when absent"
    )
    dataset_id: int
    name: str = Field(default="", max_length=100, description="what the brand calls the adapter")
    preset: str | None = Field(default=None, description="quick-demo, standard or high-quality")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="explicit QLoRA settings, over the preset"
    )


class BaseModelRef(Out):
    id: int
    name: str
    source: str
    revision: str


class DatasetRef(Out):
    id: int
    version: int
    content_hash: str


class RunOut(Out):
    id: int
    name: str
    brand: str = Field(validation_alias=AliasPath("brand", "slug"))
    status: RunStatus
    base_model: BaseModelRef
    dataset: DatasetRef
    preset: str
    settings: dict[str, Any]
    settings_hash: str
    instruction: str = Field(description="what the adapter is asked, style terms included")
    step: int
    total_steps: int
    epoch: float
    loss: float | None
    learning_rate: float | None
    eta_seconds: float | None
    history: list[dict[str, Any]]
    attempt: int
    cancel_requested: bool
    error: str = Field(validation_alias="error_summary")
    log: str
    error_trace: str | None = Field(default=None, description="admins only")
    card: dict[str, Any]
    adapter_key: str = Field(exclude=True)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def adapter_url(self) -> str | None:
        return f"/api/v1/runs/{self.id}/adapter" if self.adapter_key else None

    @classmethod
    def of(cls, run: Run, *, admin: bool) -> "RunOut":
        """The run as its brand's members see it; the failure's trace for admins only."""
        out = cls.model_validate(run)
        if not admin:
            out.error_trace = None
        return out
