import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamped, UTCDateTime
from app.leases import JobStatus, Leased


class AutotagJob(Leased, Timestamped, Base):
    """An adapter captioning and tagging a set of a brand's assets, in batches on a worker.
    Each asset gets one suggestion; a job resumed after a worker died skips those it has."""

    __tablename__ = "autotag_jobs"
    __table_args__ = (
        Index("ix_autotag_jobs_brand_id_id", "brand_id", "id"),
        Index("ix_autotag_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    origin: Mapped[str] = mapped_column(String(16), default="manual")  # manual | upload
    asset_ids: Mapped[list[int]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    # How the worker went about it: whether it had to load the base model and the adapter,
    # and its speed (images/s).
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SuggestionStatus(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"


class Suggestion(Timestamped, Base):
    """What an adapter said of an asset, with where it came from, waiting for a merchandiser."""

    __tablename__ = "suggestions"
    __table_args__ = (
        UniqueConstraint("job_id", "asset_id"),
        Index("ix_suggestions_brand_id_status_id", "brand_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("autotag_jobs.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    adapter_sha256: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(Text)  # the model's words, as it wrote them
    caption: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[SuggestionStatus] = mapped_column(
        Enum(SuggestionStatus, native_enum=False, length=16, validate_strings=True),
        default=SuggestionStatus.pending,
    )
    reviewed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Try(Timestamped, Base):
    """One image put to a run's base model and to its adapter, side by side."""

    __tablename__ = "tries"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    image_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16, validate_strings=True),
        default=JobStatus.queued,
    )
    base: Mapped[str] = mapped_column(Text, default="")
    adapted: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(String(500), default="")
