import enum
from typing import Any

from sqlalchemy import JSON, Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamped


class Split(enum.StrEnum):
    train = "train"
    validation = "validation"


class DatasetVersion(Timestamped, Base):
    """An immutable snapshot of a brand's approved assets, split for training."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("brand_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # sha256 over every item's image hash, caption and tags, in a canonical order.
    content_hash: Mapped[str] = mapped_column(String(64))
    validation_fraction: Mapped[float] = mapped_column(Float)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    items: Mapped[list["DatasetItem"]] = relationship(
        lazy="raise", order_by="DatasetItem.id", cascade="all, delete-orphan"
    )


class DatasetItem(Base):
    """One asset as it was when frozen: its bytes' hash, caption and tags."""

    __tablename__ = "dataset_items"
    __table_args__ = (Index("ix_dataset_items_dataset_id_split", "dataset_id", "split"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"))
    sha256: Mapped[str] = mapped_column(String(64))
    caption: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    split: Mapped[Split] = mapped_column(
        Enum(Split, native_enum=False, length=16, validate_strings=True)
    )
