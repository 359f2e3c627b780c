"""Exports in the background: `POST /api/v1/brands/{slug}/exports` queues a job on the `cpu`
queue; a worker writes the zip (app.interchange's own code, as the inline export) to a temporary
file, streams it into the blob store and records its key; the download is served from there
until `EXPORT_KEEP_HOURS` have passed, when the zip is deleted and the job marked expired."""

from datetime import datetime

from celery import Celery
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.audit.service import audit_record
from app.brands.models import Brand
from app.db import utcnow
from app.errors import Conflict, Gone, Invalid
from app.exports.models import ExportFormat, ExportJob
from app.interchange.service import ExportItem, export_count, export_items
from app.jobs import job_send
from app.leases import JobStatus

EXPORT_TASK = "atelier.export"


def export_size(*, session: Session, brand: Brand, dataset_id: int | None) -> tuple[str, int]:
    """The export's name and how many images it holds, counted (NotFound for a dataset the
    brand does not have), or Invalid when there is nothing to export."""
    name, count = export_count(session=session, brand=brand, dataset_id=dataset_id)
    if not count:
        raise _nothing(brand, dataset_id)
    return name, count


def export_plan(
    *, session: Session, brand: Brand, dataset_id: int | None
) -> tuple[str, list[ExportItem]]:
    """The export's name and items (NotFound for a dataset the brand does not have), or
    Invalid when there is nothing to export."""
    name, items = export_items(session=session, brand=brand, dataset_id=dataset_id)
    if not items:
        raise _nothing(brand, dataset_id)
    return name, items


def _nothing(brand: Brand, dataset_id: int | None) -> Invalid:
    what = f"dataset {dataset_id} holds no image" if dataset_id else "no approved image yet"
    return Invalid(f"nothing to export: {brand.name} has {what}")


def export_create(
    *,
    session: Session,
    jobs: Celery,
    brand: Brand,
    user: User | None,
    fmt: ExportFormat,
    dataset_id: int | None,
) -> ExportJob:
    """Queue an export of the approved assets or of a dataset version; sent once committed."""
    name, count = export_size(session=session, brand=brand, dataset_id=dataset_id)
    job = ExportJob(
        brand_id=brand.id,
        created_by_id=user.id if user else None,
        format=fmt,
        dataset_id=dataset_id,
        filename=f"{name}-{fmt.value}.zip",
        total=count,
    )
    session.add(job)
    session.flush()
    job_send(session=session, client=jobs, name=EXPORT_TASK, args=[job.id])
    return job


def export_download_key(job: ExportJob) -> str:
    """The finished zip's blob key; Conflict while it is being built, or if it failed; Gone
    once it has expired."""
    if job.expired_at is not None:
        raise Gone(
            f"export {job.id} was deleted {job.expired_at:%Y-%m-%d %H:%M} UTC, being older "
            "than the exports are kept; export again for a fresh one"
        )
    if job.status == JobStatus.failed:
        raise Conflict(f"export {job.id} failed, there is nothing to download: {job.error}")
    if job.status != JobStatus.succeeded or not job.result_key:
        raise Conflict(
            f"export {job.id} is {job.status.value} ({job.done} of {job.total} images "
            "written); download it once it has succeeded"
        )
    return job.result_key


# --- the worker's side -------------------------------------------------------------------------


def export_key(job: ExportJob) -> str:
    """Where the job's zip goes in the store (the same for every attempt: a rerun replaces it)."""
    return f"brands/{job.brand_id}/exports/{job.id}.zip"


def export_finish(
    *,
    session: Session,
    job: ExportJob,
    status: JobStatus,
    error: str = "",
    key: str = "",
    size: int = 0,
) -> None:
    """Record the outcome (with the zip's key and size once it is whole in the store), audited."""
    job.status, job.finished_at, job.error = status, utcnow(), error[:500]
    job.result_key, job.size_bytes = key, size
    if status == JobStatus.succeeded:
        job.done = job.total
    audit_record(
        session=session,
        actor=session.get(User, job.created_by_id) if job.created_by_id else None,
        brand=session.get_one(Brand, job.brand_id),
        action=f"assets.export.{status.value}",
        target=f"export {job.id}: {job.filename}"[:300],
        format=job.format.value,
        dataset_id=job.dataset_id,
        images=job.total,
        size_bytes=size,
    )


def exports_expire(*, session: Session, before: datetime) -> list[str]:
    """Mark the exports that finished before `before` expired, each by one caller only; the
    keys of their zips, for the caller to delete once this is committed."""
    expired = session.scalars(
        update(ExportJob)
        .where(
            ExportJob.status == JobStatus.succeeded,
            ExportJob.expired_at.is_(None),
            ExportJob.finished_at < before,
        )
        .values(expired_at=utcnow())
        .returning(ExportJob.result_key)
    )
    return [key for key in expired if key]
