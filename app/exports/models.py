import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamped, UTCDateTime
from app.leases import Leased


class ExportFormat(enum.StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    coco = "coco"
    sharegpt = "sharegpt"


class ExportJob(Leased, Timestamped, Base):
    """An export zip built on a `cpu` worker: the brand's approved images or one dataset
    version, in one format. The finished zip waits in the blob store, under `result_key`, for
    `EXPORT_KEEP_HOURS`; then it is deleted and the job marked expired."""

    __tablename__ = "export_jobs"
    __table_args__ = (
        Index("ix_export_jobs_brand_id_id", "brand_id", "id"),
        Index("ix_export_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    format: Mapped[ExportFormat] = mapped_column(
        Enum(ExportFormat, native_enum=False, length=16, validate_strings=True)
    )
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), default=None
    )
    # The download's name, as the inline export gives it: "<slug>[-v<version>]-<format>.zip".
    filename: Mapped[str] = mapped_column(String(255))
    # Images to write (counted when queued, again when the worker starts) and written so far.
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    # Set only once the whole zip is in the store: a half-built zip is never the result.
    result_key: Mapped[str] = mapped_column(String(300), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    # When its zip was deleted for being older than EXPORT_KEEP_HOURS (the download is gone).
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
