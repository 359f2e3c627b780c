import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamped, UTCDateTime, utcnow


class AssetStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


asset_tags = Table(
    "asset_tags",
    Base.metadata,
    Column("asset_id", ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # Tags keep the order the person gave them (see asset_tags_set); 0 for rows written
    # without one, which then fall back to alphabetical order.
    Column("position", Integer, nullable=False, server_default="0"),
    # The gallery filters by tag, newest first: find a tag's assets without touching the rest.
    Index("ix_asset_tags_tag_id_asset_id", "tag_id", "asset_id"),
)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))


class Asset(Timestamped, Base):
    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("brand_id", "sha256"),
        # Cursor pagination walks (brand, id) backwards, optionally within one status.
        Index("ix_assets_brand_id_id", "brand_id", "id"),
        Index("ix_assets_brand_id_status_id", "brand_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    caption: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[AssetStatus] = mapped_column(
        Enum(AssetStatus, native_enum=False, length=16, validate_strings=True),
        default=AssetStatus.pending,
    )
    # Why a merchandiser rejected it (optional); cleared when it is approved or reopened.
    reject_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    tags: Mapped[list[Tag]] = relationship(
        secondary=asset_tags, lazy="raise", order_by=[asset_tags.c.position, Tag.name]
    )

    @property
    def original_key(self) -> str:
        return f"brands/{self.brand_id}/originals/{self.sha256}"

    @property
    def thumbnail_key(self) -> str:
        return f"brands/{self.brand_id}/thumbnails/{self.sha256}.webp"
