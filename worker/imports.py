"""Import jobs on a `cpu` worker: a large archive from the blob store, ingested member by member
with the upload's own code. No model code here, nor below: a light worker imports this.

Outcomes and counts commit together every `IMPORT_COMMIT_FILES` members (or second), so the
job's progress moves as it goes and a job resumed after its worker died or stopped skips what
was recorded: each member is answered once.
"""

import io
import logging
import threading
import time

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.assets.archive import ArchiveEntry, archive_members
from app.assets.images import Limits
from app.brands.models import Brand
from app.config import settings
from app.imports.models import ImportJob
from app.imports.service import import_entries, import_entry, import_finish, import_recorded
from app.leases import JobStatus
from worker.celery_app import app as celery
from worker.context import sessions, store, worker_identity
from worker.lease import Lease

log = logging.getLogger(__name__)
COMMIT_SECONDS = 1.0  # at most this long in one transaction (SQLite writers wait for it)


def import_execute(job_id: int, *, stopping: threading.Event | None = None) -> None:
    """Claim the job, ingest the members it has not answered yet, record the outcome; once
    `stopping` is set, give it up after the current transaction, to be resumed."""
    lease = Lease(sessions(), ImportJob, job_id, worker_identity(), settings.RUN_LEASE_SECONDS)
    if not lease.claim():
        log.info("import %s is not ours to do (finished or leased)", job_id)
        return
    lease.start_heartbeat()
    try:
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
    limits = Limits.of(settings)
    with sessions()() as session:
        job = session.get_one(ImportJob, job_id)
        archive = io.BytesIO(store().get(job.archive_key))
        members = set(archive_members(archive, limits=limits)[0])
        recorded = import_recorded(session=session, job=job)
    batch = _Batch(sessions()(), job_id, limits)
    try:
        for position, name, entry in import_entries(job=job, archive=archive, limits=limits):
            if position < recorded:
                continue
            if lease.lost.is_set():  # another worker may hold it now: this batch is dropped
                return False
            if stopping.is_set():
                batch.commit()
                return False
            batch.ingest(position, name, entry, member=entry.name in members)
        batch.commit()
        return True
    finally:
        batch.session.close()  # rolls back what was not committed, its blobs too


class _Batch:
    """The transaction that ingests entries, committed every `IMPORT_COMMIT_FILES` entries or
    `COMMIT_SECONDS`, whichever comes first: short, as SQLite's other writers wait for it."""

    def __init__(self, session: Session, job_id: int, limits: Limits) -> None:
        self.session, self.job_id, self.limits = session, job_id, limits
        self.size, self.since = 0, time.monotonic()

    def ingest(self, position: int, name: str, entry: ArchiveEntry, *, member: bool) -> None:
        if self.size == 0:
            self.since = time.monotonic()
        job = self.session.get_one(ImportJob, self.job_id)
        import_entry(
            session=self.session,
            store=store(),
            job=job,
            brand=self.session.get_one(Brand, job.brand_id),
            position=position,
            name=name,
            entry=entry,
            limits=self.limits,
            member=member,
        )
        self.size += 1
        full = self.size >= settings.IMPORT_COMMIT_FILES
        if full or time.monotonic() - self.since > COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        self.session.commit()
        self.size = 0


def _finish(job_id: int, status: JobStatus, error: str = "") -> None:
    """Record the outcome; the archive leaves the store once it is no longer needed."""
    with sessions().begin() as session:
        job = session.get_one(ImportJob, job_id)
        import_finish(session=session, jobs=celery, job=job, status=status, error=error)
        key = job.archive_key
    store().delete(key)
