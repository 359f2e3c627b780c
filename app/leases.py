"""Rows that a worker claims and works on alone: fine-tuning runs and auto-tag jobs.

A worker claims a row atomically, holds a lease on it that a heartbeat renews, and records
the outcome on it. A row whose lease ran out while it was running lost its worker: another
worker claims it (counting `attempt`) and carries on from what was kept. A row still queued
long after its message was sent is sent again: the message may have been lost.
"""

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, utcnow


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class Leased:
    """The columns of a claimable row: its state, a cancel flag, and who holds its lease."""

    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16, validate_strings=True),
        default=JobStatus.queued,
    )
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # `attempt` counts the claims; the lease is renewed by the holder's heartbeat.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str] = mapped_column(String(200), default="")
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When its message was last sent: a row still queued long after is sent again (the
    # message may never have reached the broker; see `worker.lease.unclaimed`).
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
