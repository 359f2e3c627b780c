from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.autotag.models import SuggestionStatus
from app.leases import JobStatus
from app.schemas import Out


class AutotagCreate(BaseModel):
    run_id: int | None = Field(default=None, description="the adapter; the active one when absent")
    asset_ids: list[int] | None = Field(default=None, max_length=10_000)
    untagged: bool = Field(default=False, description="only assets without caption or tags")
    since: datetime | None = Field(default=None, description="only assets uploaded since")


class JobOut(Out):
    id: int
    run_id: int
    status: JobStatus
    origin: str
    done: int
    total: int
    error: str
    detail: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SuggestionOut(Out):
    id: int
    asset_id: int
    job_id: int
    run_id: int
    adapter_sha256: str
    answer: str
    caption: str
    tags: list[str]
    flags: list[dict[str, str]]
    status: SuggestionStatus
    created_at: datetime
    reviewed_at: datetime | None


class SuggestionPage(BaseModel):
    items: list[SuggestionOut]
    next_cursor: str | None


class SuggestionEdit(BaseModel):
    caption: str | None = Field(default=None, max_length=2000)
    tags: list[str] | None = Field(default=None, max_length=100)


class BulkAccept(BaseModel):
    job_id: int | None = None
    unflagged_only: bool = Field(default=True, description="leave flagged suggestions to a person")


class TryOut(Out):
    id: int
    run_id: int
    status: JobStatus
    base: str
    adapted: str
    error: str
    created_at: datetime
