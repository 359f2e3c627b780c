from datetime import datetime

from app.assets.schemas import IngestOut
from app.leases import JobStatus
from app.schemas import Out


class ImportOut(Out):
    """An import job: its progress (members done of total), its counts so far, and, once it
    has finished, the report of every member as an inline upload gives it."""

    id: int
    filename: str
    size_bytes: int
    status: JobStatus
    total: int
    done: int
    accepted: int
    duplicates: int
    rejected: int
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    report: IngestOut | None = None


class UploadQueuedOut(IngestOut):
    """An upload with archives imported in the background: the files answered inline, and the
    import jobs, each to be followed at `GET /api/v1/imports/{id}`."""

    imports: list[ImportOut]
