import enum

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamped
from app.leases import Leased


class ImportJob(Leased, Timestamped, Base):
    """A large archive ingested on a `cpu` worker, member by member, after its upload: the
    archive waits in the blob store; the row counts what is done and what became of it."""

    __tablename__ = "import_jobs"
    __table_args__ = (
        Index("ix_import_jobs_brand_id_id", "brand_id", "id"),
        Index("ix_import_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    archive_key: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Members of the archive that get an answer (not folders, clutter or manifests), and how
    # many have one; the outcomes count manifest rows that could not be used as well.
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")


class Outcome(enum.StrEnum):
    accepted = "accepted"
    duplicate = "duplicate"
    rejected = "rejected"


class ImportFile(Base):
    """What became of one member of an import (or one manifest row), in the archive's order.
    Written with the assets it added, in one transaction: a resumed job skips what is here."""

    __tablename__ = "import_files"
    __table_args__ = (UniqueConstraint("import_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(Text)
    outcome: Mapped[Outcome] = mapped_column(
        Enum(Outcome, native_enum=False, length=16, validate_strings=True)
    )
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("assets.id", ondelete="SET NULL"), default=None
    )
    error: Mapped[str] = mapped_column(Text, default="")
