from datetime import datetime

from pydantic import BaseModel, Field

from app.exports.models import ExportFormat
from app.leases import JobStatus
from app.schemas import Out


class ExportCreate(BaseModel):
    """What to export: the approved assets, or dataset version `dataset_id` (with its split)."""

    format: ExportFormat
    dataset_id: int | None = Field(default=None, description="a dataset version's id")


class ExportOut(Out):
    """An export job: its progress (images written of total) and, once it has succeeded, the
    zip's size; `GET /api/v1/exports/{id}/download` answers the zip until `expired_at`."""

    id: int
    format: ExportFormat
    dataset_id: int | None
    filename: str
    status: JobStatus
    total: int
    done: int
    size_bytes: int
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expired_at: datetime | None
