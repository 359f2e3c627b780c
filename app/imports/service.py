"""Imports of large archives: an upload of an archive with more members than
`IMPORT_INLINE_MAX_FILES` keeps the archive in the blob store and queues a job on the `cpu`
queue; a worker ingests it member by member with the upload's own code, recording each
outcome and the job's counts as it goes. The report is the inline upload's, from the rows."""

import uuid
from collections.abc import Iterator
from typing import IO, BinaryIO

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.accounts.models import User
from app.assets.archive import ArchiveEntry, archive_entries, archive_members
from app.assets.images import CheckedImage, Limits, Rejected, image_check, is_zip
from app.assets.models import Asset
from app.assets.service import IngestReport, asset_ingest_checked
from app.audit.service import audit_record
from app.autotag.service import autotag_new_uploads
from app.brands.models import Brand
from app.db import utcnow
from app.imports.models import ImportFile, ImportJob, Outcome
from app.jobs import job_send
from app.leases import JobStatus
from app.storage import BlobStore, blob_stage

IMPORT_TASK = "atelier.import"


def import_if_large(
    *,
    session: Session,
    store: BlobStore,
    jobs: Celery,
    brand: Brand,
    user: User | None,
    filename: str,
    fileobj: BinaryIO,
    limits: Limits,
    inline_max: int,
    report: IngestReport,
) -> ImportJob | None:
    """Queue an import job for an uploaded archive of more than `inline_max` members; None for
    anything else, to be ingested inline. An archive refused as a whole is left to the inline
    ingest, which says why, as ever."""
    head = fileobj.read(4)
    fileobj.seek(0)
    if not is_zip(head):
        return None
    try:
        members, unpacks = archive_members(
            fileobj, limits=limits, request_unpacked=report.unpacked_bytes
        )
    except Rejected:
        return None
    finally:
        fileobj.seek(0)
    if len(members) <= inline_max:
        return None
    report.unpacked_bytes += unpacks  # the upload's allowance covers its jobs too
    return import_create(
        session=session,
        store=store,
        jobs=jobs,
        brand=brand,
        user=user,
        filename=filename,
        data=fileobj.read(),
        total=len(members),
    )


def import_create(
    *,
    session: Session,
    store: BlobStore,
    jobs: Celery,
    brand: Brand,
    user: User | None,
    filename: str,
    data: bytes,
    total: int,
) -> ImportJob:
    """Keep the archive in the store and queue its import, sent once the row is committed."""
    job = ImportJob(
        brand_id=brand.id,
        created_by_id=user.id if user else None,
        filename=filename[-255:],
        archive_key=f"brands/{brand.id}/imports/{uuid.uuid4().hex}.zip",
        size_bytes=len(data),
        total=total,
    )
    session.add(job)
    session.flush()
    # A failed request deletes the archive again with the row (the blob is staged).
    blob_stage(session=session, store=store, key=job.archive_key, data=data)
    job_send(session=session, client=jobs, name=IMPORT_TASK, args=[job.id])
    return job


def imports_unfinished(*, session: Session, brand: Brand) -> list[ImportJob]:
    """The brand's imports still queued or running, oldest first (the library shows them)."""
    return list(
        session.scalars(
            select(ImportJob)
            .where(
                ImportJob.brand_id == brand.id,
                ImportJob.status.in_([JobStatus.queued, JobStatus.running]),
            )
            .order_by(ImportJob.id)
        )
    )


# --- the worker's side -------------------------------------------------------------------------


def import_recorded(*, session: Session, job: ImportJob) -> int:
    """How many of the archive's entries have their outcome recorded (a resumed job skips them)."""
    count = select(func.count()).where(ImportFile.import_id == job.id)
    return session.scalar(count) or 0


def import_entries(
    *, job: ImportJob, archive: IO[bytes], limits: Limits
) -> Iterator[tuple[int, str, ArchiveEntry]]:
    """The archive's entries in order, numbered, each with its name in the report; a refusal
    of the archive as a whole (it unpacks to more than its limit) is its last entry."""
    position = 0
    try:
        for entry in archive_entries(archive, limits=limits):
            yield position, f"{job.filename}: {entry.name}", entry
            position += 1
    except Rejected as exc:
        yield position, job.filename, ArchiveEntry(name="", data=None, error=str(exc))


def import_check(entry: ArchiveEntry, *, limits: Limits) -> CheckedImage | str:
    """The entry's image, decoded, checked and thumbnailed (outside any transaction: it is the
    slow part), or why it is refused."""
    if entry.error is not None or entry.data is None:
        return entry.error or "could not be read"
    try:
        return image_check(entry.data, limits=limits)
    except Rejected as exc:
        return str(exc)


def import_entry(
    *,
    session: Session,
    store: BlobStore,
    job: ImportJob,
    position: int,
    name: str,
    entry: ArchiveEntry,
    checked: CheckedImage | str,
    member: bool,
) -> None:
    """Ingest one checked entry as the inline upload would and record its outcome on the job
    (in the caller's transaction: the asset, the outcome and the counts commit together)."""
    report = IngestReport()
    if isinstance(checked, str):
        report.rejected.append((name, checked))
    else:
        asset_ingest_checked(
            session=session,
            store=store,
            brand=session.get_one(Brand, job.brand_id),
            filename=name,
            checked=checked,
            caption=entry.caption,
            tags=entry.tags,
            report=report,
        )
    row = ImportFile(import_id=job.id, position=position, filename=name, outcome=Outcome.rejected)
    if report.accepted:
        row.outcome, row.asset_id = Outcome.accepted, report.accepted[0][1].id
        job.accepted += 1
    elif report.duplicates:
        row.outcome, row.asset_id = Outcome.duplicate, report.duplicates[0][1].id
        job.duplicates += 1
    else:
        row.error = report.rejected[0][1]
        job.rejected += 1
    job.done += int(member)
    session.add(row)


def import_finish(
    *, session: Session, jobs: Celery, job: ImportJob, status: JobStatus, error: str = ""
) -> None:
    """Record the outcome, audit it, and have the new assets auto-tagged when the brand asks."""
    job.status, job.finished_at, job.error = status, utcnow(), error[:500]
    brand = session.get_one(Brand, job.brand_id)
    user = session.get(User, job.created_by_id) if job.created_by_id else None
    audit_record(
        session=session,
        actor=user,
        brand=brand,
        action=f"assets.import.{status.value}",
        target=f"import {job.id}: {job.filename}"[:300],
        accepted=job.accepted,
        duplicates=job.duplicates,
        rejected=job.rejected,
    )
    if status == JobStatus.succeeded:
        accepted = session.scalars(
            select(ImportFile.asset_id)
            .where(ImportFile.import_id == job.id, ImportFile.outcome == Outcome.accepted)
            .order_by(ImportFile.position)
        )
        autotag_new_uploads(
            session=session,
            jobs=jobs,
            brand=brand,
            asset_ids=[i for i in accepted if i is not None],
            user=user,
        )


def import_report(*, session: Session, job: ImportJob) -> IngestReport:
    """What became of every member, as the inline upload reports it."""
    rows = session.execute(
        select(ImportFile, Asset)
        .outerjoin(Asset, Asset.id == ImportFile.asset_id)
        .where(ImportFile.import_id == job.id)
        .order_by(ImportFile.position)
        .options(selectinload(Asset.tags))
    )
    report = IngestReport()
    for row, asset in rows:
        if row.outcome == Outcome.rejected:
            report.rejected.append((row.filename, row.error))
        elif asset is not None:  # an asset deleted since leaves no line
            found = report.accepted if row.outcome == Outcome.accepted else report.duplicates
            found.append((row.filename, asset))
    return report
