from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.basemodels.models import BaseModelStatus
from app.schemas import Out


class BaseModelIn(BaseModel):
    source: str = Field(max_length=500, description="a hub id (owner/name) or a local folder")
    revision: str = Field(default="", max_length=100, description="a commit, tag or branch")
    name: str = Field(default="", max_length=200)


class BaseModelOut(Out):
    id: int
    name: str
    source: str
    revision: str
    status: BaseModelStatus
    is_default: bool
    family: str
    detail: dict[str, Any]
    # The numbers of the run form's memory estimate (app.runs.memory.Architecture), counted
    # by the worker's check; null before it, or if they could not be counted.
    architecture: dict[str, int] | None
    error: str
    checked_at: datetime | None
