"""Import jobs on a `cpu` worker: a large archive from the blob store, ingested member by member
with the upload's own code. No model code here, nor below: a light worker imports this.

Members are checked (decoded, thumbnailed) outside any transaction, then a few at a time their
assets, outcomes and the job's counts commit together, in a transaction that holds no decoding
(SQLite's other writers, the web process's among them, wait for it): the progress moves as it
goes, and a job resumed after its worker died or stopped skips what was recorded, so that each
member is answered once.
"""

import logging
import threading
from typing import IO

from sqlalchemy.exc import IntegrityError

from app.assets.archive import ArchiveEntry, archive_members
from app.assets.images import CheckedImage, Limits
from app.config import settings
from app.imports.models import ImportJob
from app.imports.service import (
    import_check,
    import_entries,
    import_entry,
    import_finish,
    import_recorded,
)
from app.leases import JobStatus
from worker.celery_app import app as celery
from worker.context import blob_spooled, sessions, store
from worker.lease import Lease, lease_take

log = logging.getLogger(__name__)
# Entries checked before they are written in one transaction: fewer commits (each a sync to
# disk), while the memory they hold stays bounded.
BATCH_FILES = 16
BATCH_BYTES = 64 * 1024**2


def import_execute(job_id: int, *, stopping: threading.Event | None = None) -> None:
    """Claim the job, ingest the members it has not answered yet, record the outcome; once
    `stopping` is set, give it up after the current transaction, to be resumed."""
    if (lease := lease_take(ImportJob, job_id, "import")) is None:
        return
    try:
        if why := lease.worn_out():
            _finish(job_id, JobStatus.failed, why)
            return
        if _import(job_id, lease, stopping or threading.Event()):
            _finish(job_id, JobStatus.succeeded)
        else:
            log.warning("import %s: given up (lease lost or worker stopping)", job_id)
    except IntegrityError:  # our lease ran out and another worker recorded these members
        log.warning("import %s: another worker took it over", job_id)
    except Exception as exc:  # recorded on the job: the page says why
        log.exception("import %s failed", job_id)
        _finish(job_id, JobStatus.failed, f"{type(exc).__name__}: {exc}")
    finally:
        lease.release()


def _import(job_id: int, lease: Lease, stopping: threading.Event) -> bool:
    """Ingest what is left of the archive; False if the job was given up before its end."""
    with sessions()() as session:
        job = session.get_one(ImportJob, job_id)
        recorded = import_recorded(session=session, job=job)
    with blob_spooled(store(), job.archive_key) as archive:
        return _ingest(job, archive, recorded, lease, stopping)


def _ingest(
    job: ImportJob, archive: IO[bytes], recorded: int, lease: Lease, stopping: threading.Event
) -> bool:
    """Ingest the archive's members from position `recorded` on, a batch at a time."""
    job_id, limits = job.id, Limits.of(settings)
    members = set(archive_members(archive, limits=limits)[0])
    batch: list[Checked] = []
    for position, name, entry in import_entries(job=job, archive=archive, limits=limits):
        if position < recorded:
            continue
        if lease.lost.is_set():  # another worker may hold it now: keep nothing more
            return False
        if stopping.is_set():
            _record(job_id, batch, members)
            return False
        # The slow part (decoding, thumbnails) holds no transaction, hence no lock.
        checked = import_check(entry, limits=limits)
        batch.append((position, name, entry, checked))
        if len(batch) == BATCH_FILES or _bytes(batch) >= BATCH_BYTES:
            _record(job_id, batch, members)
            batch = []
    if lease.lost.is_set():
        return False
    _record(job_id, batch, members)
    return True


Checked = tuple[int, str, ArchiveEntry, CheckedImage | str]


def _bytes(batch: list[Checked]) -> int:
    return sum(c.size + len(c.thumbnail) for *_, c in batch if not isinstance(c, str))


def _record(job_id: int, batch: list[Checked], members: set[str]) -> None:
    """A batch of checked entries: their assets, outcomes and the job's counts, committed
    together (a short transaction: rows and blobs only)."""
    if not batch:
        return
    with sessions().begin() as session:
        job = session.get_one(ImportJob, job_id)
        for position, name, entry, checked in batch:
            import_entry(
                session=session,
                store=store(),
                job=job,
                position=position,
                name=name,
                entry=entry,
                checked=checked,
                member=entry.name in members,
            )


def _finish(job_id: int, status: JobStatus, error: str = "") -> None:
    """Record the outcome; the archive leaves the store once it is no longer needed."""
    with sessions().begin() as session:
        job = session.get_one(ImportJob, job_id)
        import_finish(session=session, jobs=celery, job=job, status=status, error=error)
        key = job.archive_key
    store().delete(key)
