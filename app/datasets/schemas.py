from typing import Any

from pydantic import BaseModel, Field

from app.datasets.models import Split
from app.schemas import Out


class FreezeIn(BaseModel):
    validation_fraction: float | None = Field(default=None, gt=0, lt=1)


class DatasetOut(Out):
    id: int
    version: int
    content_hash: str
    validation_fraction: float
    counts: dict[str, Any]


class ItemOut(Out):
    asset_id: int
    sha256: str
    caption: str
    tags: list[str]
    split: Split


class DatasetDetail(DatasetOut):
    items: list[ItemOut]


class DiffOut(BaseModel):
    added: list[ItemOut]
    removed: list[ItemOut]
    changed: list[dict[str, ItemOut]]
