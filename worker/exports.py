"""Export jobs on a `cpu` worker: the zip written by the inline export's own code into a
temporary file (never whole in memory), streamed into the blob store, its key recorded. No
model code here, nor below: a light worker imports this.

The zip is recorded as the job's result only once it is whole in the store (a streaming put
is atomic: a temporary file renamed, or a multipart upload completed), so a worker that dies
mid-way leaves nothing to download; the next worker starts the zip over. Old zips are deleted
by every worker's recovery round (`exports_clean`).
"""

import logging
import tempfile
import threading
import time
from datetime import timedelta

from app.brands.models import Brand
from app.config import settings
from app.db import utcnow
from app.errors import DomainError
from app.exports.models import ExportJob
from app.exports.service import export_finish, export_key, export_plan, exports_expire
from app.interchange.service import export_manifests, export_write
from app.leases import JobStatus
from app.runs.settings import DEFAULT_INSTRUCTION
from worker.context import sessions, store
from worker.lease import Lease, lease_take

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 0.5  # the row's count of images written moves at most this often


class _GivenUp(Exception):
    """The lease was lost or the worker is stopping: the zip is abandoned, to be built again."""


def export_execute(job_id: int, *, stopping: threading.Event | None = None) -> None:
    """Claim the job, build the zip, keep it in the store, record the outcome; once `stopping`
    is set, give it up at the next image, to be started over by the next worker."""
    if (lease := lease_take(ExportJob, job_id, "export")) is None:
        return
    try:
        if why := lease.worn_out():
            _finish(job_id, JobStatus.failed, why)
            return
        _export(job_id, lease, stopping or threading.Event())
    except _GivenUp:
        log.warning("export %s: given up (lease lost or worker stopping)", job_id)
    except DomainError as exc:  # nothing to export any more, the dataset deleted: say so
        _finish(job_id, JobStatus.failed, str(exc))
    except Exception as exc:  # recorded on the job: the page says why
        log.exception("export %s failed", job_id)
        _finish(job_id, JobStatus.failed, f"{type(exc).__name__}: {exc}")
    finally:
        lease.release()


def _export(job_id: int, lease: Lease, stopping: threading.Event) -> None:
    """Write the zip from the start into a temporary file, stream it into the store, and
    record it as the job's result."""
    with sessions().begin() as session:
        job = session.get_one(ExportJob, job_id)
        brand = session.get_one(Brand, job.brand_id)
        name, items = export_plan(session=session, brand=brand, dataset_id=job.dataset_id)
        job.total, job.done = len(items), 0  # the approved assets may have changed since
        manifests = export_manifests(
            items=items, fmt=job.format, name=name, instruction=DEFAULT_INSTRUCTION
        )
        key = export_key(job)
    progress = _Progress(job_id, lease, stopping)
    with tempfile.TemporaryFile(prefix="atelier-export-") as spool:
        export_write(store=store(), items=items, manifests=manifests, out=spool, progress=progress)
        progress.check()
        spool.seek(0)
        size = store().put_stream(key, spool)
    progress.check()
    _finish(job_id, JobStatus.succeeded, key=key, size=size)


class _Progress:
    """Hears each image written: records the count on the row now and then, and stops the
    writing (raising `_GivenUp`) once the lease is lost or the worker is stopping."""

    def __init__(self, job_id: int, lease: Lease, stopping: threading.Event) -> None:
        self.job_id, self.lease, self.stopping = job_id, lease, stopping
        self.recorded_at = time.monotonic()

    def __call__(self, done: int) -> None:
        self.check()
        if time.monotonic() - self.recorded_at >= PROGRESS_SECONDS:
            with sessions().begin() as session:
                session.get_one(ExportJob, self.job_id).done = done
            self.recorded_at = time.monotonic()

    def check(self) -> None:
        if self.lease.lost.is_set() or self.stopping.is_set():
            raise _GivenUp


def _finish(job_id: int, status: JobStatus, error: str = "", key: str = "", size: int = 0) -> None:
    with sessions().begin() as session:
        job = session.get_one(ExportJob, job_id)
        export_finish(session=session, job=job, status=status, error=error, key=key, size=size)


def exports_clean() -> int:
    """Delete the zips of exports older than `EXPORT_KEEP_HOURS` and mark them expired (each
    by one worker, whichever marks it first); how many."""
    before = utcnow() - timedelta(hours=settings.EXPORT_KEEP_HOURS)
    with sessions().begin() as session:
        keys = exports_expire(session=session, before=before)
    for key in keys:
        try:
            store().delete(key)
        except Exception:  # marked expired all the same: the download says so; the blob stays
            log.exception("export zip %s could not be deleted", key)
    if keys:
        log.info("deleted %d exports older than %sh", len(keys), settings.EXPORT_KEEP_HOURS)
    return len(keys)
