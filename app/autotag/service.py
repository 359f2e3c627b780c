"""Putting an adapter to work: auto-tag jobs over a brand's assets, the suggestions they leave,
and the review that turns a suggestion into the asset's caption and tags."""

from collections.abc import Sequence
from datetime import datetime

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.assets.images import Limits, Rejected, image_check
from app.assets.models import Asset, AssetStatus, Tag, asset_tags
from app.assets.service import asset_get, asset_update
from app.autotag.models import AutotagJob, Suggestion, SuggestionStatus, Try
from app.brands.models import Brand
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.jobs import job_send
from app.leases import JobStatus
from app.runs.answers import Answer
from app.runs.models import Run
from app.runs.service import run_get
from app.storage import BlobStore, blob_stage
from app.styleguides.glossary import GuideTerms
from app.styleguides.service import styleguide_terms

AUTOTAG_TASK = "atelier.autotag"
MAX_JOB_ASSETS = 10_000


def adapter_get(*, session: Session, brand: Brand, run_id: int) -> Run:
    """One of the brand's adapters: a run of it that succeeded and kept its adapter."""
    run = run_get(session=session, run_id=run_id, brand=brand)
    if run.status != JobStatus.succeeded or not run.adapter_key:
        raise Conflict(f"run {run_id} has no adapter to use (it is {run.status.value})")
    return run


def job_create(
    *,
    session: Session,
    jobs: Celery,
    brand: Brand,
    run: Run,
    asset_ids: Sequence[int],
    user: User | None,
    origin: str = "manual",
) -> AutotagJob:
    """Queue an auto-tag job of `run`'s adapter over these assets of the brand."""
    if not asset_ids:
        raise Invalid("no assets to auto-tag: choose some, or another filter")
    if len(asset_ids) > MAX_JOB_ASSETS:
        raise Invalid(f"one job auto-tags at most {MAX_JOB_ASSETS} assets")
    found = set(
        session.scalars(select(Asset.id).where(Asset.brand_id == brand.id, Asset.id.in_(asset_ids)))
    )
    if missing := [i for i in asset_ids if i not in found]:
        raise NotFound(f"no asset {missing[0]}")
    job = AutotagJob(
        brand_id=brand.id,
        run_id=run.id,
        created_by_id=user.id if user else None,
        origin=origin,
        asset_ids=list(dict.fromkeys(asset_ids)),
        total=len(found),
    )
    session.add(job)
    session.flush()
    job_send(session=session, client=jobs, name=AUTOTAG_TASK, args=[job.id])
    return job


def autotag_new_uploads(
    *, session: Session, jobs: Celery, brand: Brand, asset_ids: Sequence[int], user: User | None
) -> AutotagJob | None:
    """Auto-tag fresh uploads with the brand's active adapter, when the brand asks for it."""
    if not (brand.autotag_uploads and brand.active_run_id and asset_ids):
        return None
    run = adapter_get(session=session, brand=brand, run_id=brand.active_run_id)
    return job_create(
        session=session,
        jobs=jobs,
        brand=brand,
        run=run,
        asset_ids=asset_ids,
        user=user,
        origin="upload",
    )


def assets_to_tag(
    *,
    session: Session,
    brand: Brand,
    asset_ids: Sequence[int] | None = None,
    untagged: bool = False,
    since: datetime | None = None,
) -> list[int]:
    """The brand's assets a job should tag: chosen ones, or those untagged or uploaded since."""
    query = select(Asset.id).where(Asset.brand_id == brand.id).order_by(Asset.id)
    if asset_ids is not None:
        query = query.where(Asset.id.in_(asset_ids))
    if untagged:
        tagged = select(asset_tags.c.asset_id)
        query = query.where(Asset.caption == "", Asset.id.not_in(tagged))
    if since is not None:
        query = query.where(Asset.created_at >= since)
    return list(session.scalars(query.limit(MAX_JOB_ASSETS + 1)))


def job_get(*, session: Session, job_id: int, brand: Brand | None = None) -> AutotagJob:
    """The job with this id (one of `brand`'s, when given), or NotFound."""
    job = session.get(AutotagJob, job_id)
    if job is None or (brand is not None and job.brand_id != brand.id):
        raise NotFound(f"no auto-tag job {job_id}")
    return job


def jobs_list(*, session: Session, brand: Brand, limit: int = 50) -> list[AutotagJob]:
    """The brand's auto-tag jobs, newest first."""
    return list(
        session.scalars(
            select(AutotagJob)
            .where(AutotagJob.brand_id == brand.id)
            .order_by(AutotagJob.id.desc())
            .limit(limit)
        )
    )


def job_cancel(*, session: Session, job: AutotagJob) -> AutotagJob:
    """Stop a job: a queued one at once, a running one after its current batch."""
    if job.status.finished:
        raise Conflict(f"the job has {job.status.value} already")
    job.cancel_requested = True
    if job.status == JobStatus.queued:
        job.status, job.finished_at = JobStatus.cancelled, utcnow()
    session.flush()
    return job


def vocabulary(*, session: Session, brand: Brand) -> set[str]:
    """The brand's tag vocabulary: the tags of its approved assets and its preferred terms."""
    approved = (
        select(Tag.name)
        .join(asset_tags, asset_tags.c.tag_id == Tag.id)
        .join(Asset, Asset.id == asset_tags.c.asset_id)
        .where(Tag.brand_id == brand.id, Asset.status == AssetStatus.approved)
    )
    terms = styleguide_terms(session=session, brand=brand)
    return set(session.scalars(approved)) | {t.lower() for t in terms.preferred}


def suggestion_flags(
    answer: Answer, vocabulary: set[str], terms: GuideTerms
) -> list[dict[str, str]]:
    """What a reviewer should look at: an answer that was not understood, tags outside the
    brand's vocabulary, and words of the caption that the style guide bans or replaces."""
    if not answer.parsed:
        return [{"kind": "unparsed", "detail": "the answer did not follow the expected form"}]
    flags = [{"kind": "unknown-tag", "detail": tag} for tag in answer.tags if tag not in vocabulary]
    for span, uses in terms.spans(answer.caption):
        for use in sorted(uses - {"preferred"}):
            flags.append({"kind": use, "detail": span.phrase})
    return flags


def suggestions_page(
    *,
    session: Session,
    brand: Brand,
    status: SuggestionStatus | None = SuggestionStatus.pending,
    job_id: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> tuple[list[Suggestion], int | None]:
    """A page of the brand's suggestions, oldest first, and the cursor of the next page."""
    query = select(Suggestion).where(Suggestion.brand_id == brand.id)
    if status is not None:
        query = query.where(Suggestion.status == status)
    if job_id is not None:
        query = query.where(Suggestion.job_id == job_id)
    if after is not None:
        query = query.where(Suggestion.id > after)
    found = list(session.scalars(query.order_by(Suggestion.id).limit(limit + 1)))
    return found[:limit], (found[limit - 1].id if len(found) > limit else None)


def pending_at(*, session: Session, brand: Brand, suggestion_id: int | None) -> Suggestion | None:
    """The pending suggestion with this id, else the brand's oldest pending one, if any."""
    pending = select(Suggestion).where(
        Suggestion.brand_id == brand.id, Suggestion.status == SuggestionStatus.pending
    )
    if suggestion_id is not None:
        found = session.scalar(pending.where(Suggestion.id == suggestion_id))
        if found is not None:
            return found
    return session.scalar(pending.order_by(Suggestion.id).limit(1))


def pending_neighbours(
    *, session: Session, brand: Brand, suggestion: Suggestion
) -> tuple[int | None, int | None]:
    """The ids of the pending suggestions just before and just after this one."""
    pending = (Suggestion.brand_id == brand.id, Suggestion.status == SuggestionStatus.pending)
    before = session.scalar(
        select(func.max(Suggestion.id)).where(*pending, Suggestion.id < suggestion.id)
    )
    after = session.scalar(
        select(func.min(Suggestion.id)).where(*pending, Suggestion.id > suggestion.id)
    )
    return before, after


def suggestion_counts(*, session: Session, brand: Brand) -> dict[str, int]:
    """How many of the brand's suggestions are in each state."""
    rows = session.execute(
        select(Suggestion.status, func.count())
        .where(Suggestion.brand_id == brand.id)
        .group_by(Suggestion.status)
    )
    counts = {status.value: 0 for status in SuggestionStatus}
    counts.update({status.value: n for status, n in rows})
    return counts


def suggestion_accept(
    *,
    session: Session,
    brand: Brand,
    suggestion: Suggestion,
    user: User,
    caption: str | None = None,
    tags: Sequence[str] | None = None,
) -> Asset:
    """Write the suggestion (or the reviewer's edit of it) to its asset and approve the asset."""
    _pending(suggestion)
    caption = suggestion.caption if caption is None else caption
    if not caption.strip():
        raise Invalid("the caption is empty: edit the suggestion before accepting it")
    asset = asset_get(session=session, asset_id=suggestion.asset_id, brand=brand)
    asset_update(
        session=session,
        brand=brand,
        asset=asset,
        caption=caption,
        tags=suggestion.tags if tags is None else tags,
        status=AssetStatus.approved,
    )
    _review(suggestion, SuggestionStatus.accepted, user)
    return asset


def suggestion_reject(*, session: Session, suggestion: Suggestion, user: User) -> Suggestion:
    """Turn the suggestion down; its asset stays as it was."""
    _pending(suggestion)
    _review(suggestion, SuggestionStatus.rejected, user)
    session.flush()
    return suggestion


def _pending(suggestion: Suggestion) -> None:
    if suggestion.status != SuggestionStatus.pending:
        raise Conflict(f"the suggestion was {suggestion.status.value} already")


def _review(suggestion: Suggestion, status: SuggestionStatus, user: User) -> None:
    suggestion.status, suggestion.reviewed_by_id = status, user.id
    suggestion.reviewed_at = utcnow()


TRY_TASK = "atelier.try"


def try_create(
    *,
    session: Session,
    jobs: Celery,
    store: BlobStore,
    run: Run,
    user: User,
    data: bytes,
    limits: Limits,
) -> Try:
    """Put one image to a run's base model and its adapter; a worker answers both."""
    if run.status != JobStatus.succeeded or not run.adapter_key:
        raise Conflict(f"run {run.id} has no adapter to try (it is {run.status.value})")
    try:
        checked = image_check(data, limits=limits)
    except Rejected as exc:
        raise Invalid(str(exc)) from exc
    attempt = Try(
        brand_id=run.brand_id,
        run_id=run.id,
        user_id=user.id,
        image_key=f"brands/{run.brand_id}/tries/{checked.sha256}.{checked.format.lower()}",
    )
    session.add(attempt)
    checked.source.seek(0)
    blob_stage(session=session, store=store, key=attempt.image_key, data=checked.source)
    session.flush()
    job_send(session=session, client=jobs, name=TRY_TASK, args=[attempt.id])
    return attempt


def try_get(*, session: Session, try_id: int) -> Try:
    """The try with this id, or NotFound."""
    found = session.get(Try, try_id)
    if found is None:
        raise NotFound(f"no try {try_id}")
    return found
