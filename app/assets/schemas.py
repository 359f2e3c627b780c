from datetime import datetime

from pydantic import BaseModel, Field, computed_field, field_validator

from app.assets.models import AssetStatus, Tag
from app.assets.service import MAX_CAPTION_LENGTH, MAX_REASON_LENGTH, IngestReport
from app.schemas import Out


class AssetOut(Out):
    id: int
    filename: str
    sha256: str
    format: str
    mode: str
    width: int
    height: int
    size_bytes: int
    caption: str
    tags: list[str]
    status: AssetStatus
    reject_reason: str
    created_at: datetime
    updated_at: datetime

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, tags: list[Tag | str]) -> list[str]:
        return [t if isinstance(t, str) else t.name for t in tags]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def thumbnail_url(self) -> str:
        return f"/api/v1/assets/{self.id}/thumbnail"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def original_url(self) -> str:
        return f"/api/v1/assets/{self.id}/original"


class AssetPage(BaseModel):
    items: list[AssetOut]
    next_cursor: str | None


class AssetUpdate(BaseModel):
    caption: str | None = Field(default=None, max_length=MAX_CAPTION_LENGTH)
    tags: list[str] | None = None
    status: AssetStatus | None = None
    reason: str | None = Field(
        default=None, max_length=MAX_REASON_LENGTH, description="why, on a rejection"
    )


class IngestedFile(BaseModel):
    filename: str
    asset: AssetOut


class RejectedFile(BaseModel):
    filename: str
    error: str


class IngestOut(BaseModel):
    accepted: list[IngestedFile]
    duplicates: list[IngestedFile]
    rejected: list[RejectedFile]

    @classmethod
    def of(cls, report: IngestReport) -> "IngestOut":
        return cls(
            accepted=[
                IngestedFile(filename=f, asset=AssetOut.model_validate(a))
                for f, a in report.accepted
            ],
            duplicates=[
                IngestedFile(filename=f, asset=AssetOut.model_validate(a))
                for f, a in report.duplicates
            ],
            rejected=[RejectedFile(filename=f, error=e) for f, e in report.rejected],
        )
