from datetime import datetime

from pydantic import BaseModel, Field

from app.assets.models import Asset, AssetStatus
from app.assets.service import MAX_CAPTION_LENGTH, IngestReport


class AssetOut(BaseModel):
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
    created_at: datetime
    updated_at: datetime
    thumbnail_url: str
    original_url: str

    @classmethod
    def of(cls, asset: Asset) -> "AssetOut":
        return cls(
            id=asset.id,
            filename=asset.filename,
            sha256=asset.sha256,
            format=asset.format,
            mode=asset.mode,
            width=asset.width,
            height=asset.height,
            size_bytes=asset.size_bytes,
            caption=asset.caption,
            tags=[tag.name for tag in asset.tags],
            status=asset.status,
            created_at=asset.created_at,
            updated_at=asset.updated_at,
            thumbnail_url=f"/api/v1/assets/{asset.id}/thumbnail",
            original_url=f"/api/v1/assets/{asset.id}/original",
        )


class AssetPage(BaseModel):
    items: list[AssetOut]
    next_cursor: str | None


class AssetUpdate(BaseModel):
    caption: str | None = Field(default=None, max_length=MAX_CAPTION_LENGTH)
    tags: list[str] | None = None
    status: AssetStatus | None = None


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
            accepted=[IngestedFile(filename=f, asset=AssetOut.of(a)) for f, a in report.accepted],
            duplicates=[
                IngestedFile(filename=f, asset=AssetOut.of(a)) for f, a in report.duplicates
            ],
            rejected=[RejectedFile(filename=f, error=e) for f, e in report.rejected],
        )
