"""Auto-tag jobs, the review queue of their suggestions, and tries of one image."""

from difflib import SequenceMatcher
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.assets.models import AssetStatus
from app.assets.service import AssetFilter, asset_get, asset_ids_matching
from app.assets.views import MEDIA_TYPES
from app.auth import (
    CreativeRun,
    CreativeTry,
    MerchandiserBrand,
    MerchandiserJob,
    MerchandiserSuggestion,
    RowAccess,
    audit,
)
from app.autotag.models import AutotagJob, Suggestion, SuggestionStatus, Try
from app.autotag.schemas import (
    AutotagCreate,
    BulkAccept,
    JobOut,
    SuggestionEdit,
    SuggestionOut,
    SuggestionPage,
    TryOut,
)
from app.autotag.service import (
    MAX_JOB_ASSETS,
    adapter_get,
    assets_to_tag,
    job_cancel,
    job_create,
    jobs_list,
    pending_at,
    pending_neighbours,
    suggestion_accept,
    suggestion_counts,
    suggestion_reject,
    suggestions_page,
    try_create,
)
from app.brands.models import Brand
from app.deps import LimitsDep, SessionDep, StoreDep
from app.errors import Invalid
from app.web import page, page_or_fragment

api = APIRouter(prefix="/api/v1", tags=["auto-tagging"])
pages = APIRouter(include_in_schema=False)


def _queue(
    request: Request, session: SessionDep, access: MerchandiserBrand, body: AutotagCreate
) -> AutotagJob:
    run_id = body.run_id or access.brand.active_run_id
    if run_id is None:
        raise Invalid("choose an adapter: the brand has no active one")
    run = adapter_get(session=session, brand=access.brand, run_id=run_id)
    assets = assets_to_tag(
        session=session,
        brand=access.brand,
        asset_ids=body.asset_ids,
        untagged=body.untagged,
        since=body.since,
    )
    job = job_create(
        session=session,
        jobs=request.app.state.celery,
        brand=access.brand,
        run=run,
        asset_ids=assets,
        user=access.user,
    )
    audit(
        request,
        session,
        action="autotag.queue",
        brand=access.brand,
        target=f"job {job.id}",
        run=run.id,
        assets=job.total,
    )
    return job


@api.post("/brands/{slug}/autotag", response_model=JobOut, status_code=202)
def api_autotag(
    request: Request, body: AutotagCreate, access: MerchandiserBrand, session: SessionDep
) -> JobOut:
    """Auto-tag chosen assets, the untagged ones, or those uploaded since a date."""
    return JobOut.model_validate(_queue(request, session, access, body))


@api.get("/brands/{slug}/autotag", response_model=list[JobOut])
def api_jobs(access: MerchandiserBrand, session: SessionDep) -> list[JobOut]:
    """The brand's auto-tag jobs, newest first."""
    return [JobOut.model_validate(j) for j in jobs_list(session=session, brand=access.brand)]


@api.get("/autotag/{job_id}", response_model=JobOut)
def api_job(job_id: int, access: MerchandiserJob) -> JobOut:
    return JobOut.model_validate(access.row)


def _cancel(request: Request, session: SessionDep, access: RowAccess[AutotagJob]) -> None:
    job_cancel(session=session, job=access.row)
    audit(
        request, session, action="autotag.cancel", brand=access.brand, target=f"job {access.row.id}"
    )


@api.post("/autotag/{job_id}/cancel", response_model=JobOut)
def api_job_cancel(
    request: Request, job_id: int, access: MerchandiserJob, session: SessionDep
) -> JobOut:
    _cancel(request, session, access)
    return JobOut.model_validate(access.row)


@api.get("/brands/{slug}/suggestions", response_model=SuggestionPage)
def api_suggestions(
    access: MerchandiserBrand,
    session: SessionDep,
    status: SuggestionStatus | None = SuggestionStatus.pending,
    job_id: int | None = None,
    cursor: str | None = None,
) -> SuggestionPage:
    """The brand's suggestions, oldest first; pass `next_cursor` back for the next page."""
    if cursor is not None and not cursor.isdigit():
        raise Invalid("the cursor is not one this API gave")
    items, after = suggestions_page(
        session=session,
        brand=access.brand,
        status=status,
        job_id=job_id,
        after=int(cursor) if cursor else None,
    )
    return SuggestionPage(
        items=[SuggestionOut.model_validate(s) for s in items],
        next_cursor=str(after) if after is not None else None,
    )


def _accept(
    request: Request,
    session: SessionDep,
    access: RowAccess[Suggestion],
    edit: SuggestionEdit | None = None,
) -> None:
    suggestion = access.row
    edited = edit is not None and (edit.caption is not None or edit.tags is not None)
    suggestion_accept(
        session=session,
        brand=access.brand,
        suggestion=suggestion,
        user=access.user,
        caption=edit.caption if edit else None,
        tags=edit.tags if edit else None,
    )
    audit(
        request,
        session,
        action="suggestion.accept",
        brand=access.brand,
        target=f"asset {suggestion.asset_id}",
        suggestion=suggestion.id,
        run=suggestion.run_id,
        adapter_sha256=suggestion.adapter_sha256,
        edited=edited,
    )


def _reject(request: Request, session: SessionDep, access: RowAccess[Suggestion]) -> None:
    suggestion = suggestion_reject(session=session, suggestion=access.row, user=access.user)
    audit(
        request,
        session,
        action="suggestion.reject",
        brand=access.brand,
        target=f"asset {suggestion.asset_id}",
        suggestion=suggestion.id,
        run=suggestion.run_id,
    )


@api.post("/suggestions/{suggestion_id}/accept", response_model=SuggestionOut)
def api_suggestion_accept(
    request: Request,
    suggestion_id: int,
    access: MerchandiserSuggestion,
    session: SessionDep,
    body: SuggestionEdit | None = None,
) -> SuggestionOut:
    """Write the suggestion (or your edit of it) to its asset, and approve the asset."""
    _accept(request, session, access, body)
    return SuggestionOut.model_validate(access.row)


@api.post("/suggestions/{suggestion_id}/reject", response_model=SuggestionOut)
def api_suggestion_reject(
    request: Request, suggestion_id: int, access: MerchandiserSuggestion, session: SessionDep
) -> SuggestionOut:
    """Turn the suggestion down; the asset stays as it was."""
    _reject(request, session, access)
    return SuggestionOut.model_validate(access.row)


def _bulk_accept(
    request: Request, session: SessionDep, access: MerchandiserBrand, body: BulkAccept
) -> int:
    accepted, after = 0, None
    while True:
        items, after = suggestions_page(
            session=session, brand=access.brand, job_id=body.job_id, after=after, limit=200
        )
        for suggestion in items:
            if body.unflagged_only and suggestion.flags:
                continue
            one = RowAccess(brand=access.brand, user=access.user, role=access.role, row=suggestion)
            _accept(request, session, one)
            accepted += 1
        if after is None:
            return accepted


@api.post("/brands/{slug}/suggestions/accept")
def api_suggestions_accept(
    request: Request, body: BulkAccept, access: MerchandiserBrand, session: SessionDep
) -> dict[str, int]:
    """Accept every pending suggestion (of one job, when given; unflagged ones by default)."""
    return {"accepted": _bulk_accept(request, session, access, body)}


@api.post("/runs/{run_id}/try", response_model=TryOut, status_code=202)
def api_try(
    request: Request,
    access: CreativeRun,
    session: SessionDep,
    store: StoreDep,
    limits: LimitsDep,
    file: Annotated[UploadFile, File()],
) -> TryOut:
    """One image, answered by the base model and by the adapter (poll the try)."""
    return TryOut.model_validate(_try(request, access, session, store, limits, file))


def _try(
    request: Request,
    access: CreativeRun,
    session: SessionDep,
    store: StoreDep,
    limits: LimitsDep,
    file: UploadFile,
) -> Try:
    data = file.file.read(limits.max_file_bytes + 1)
    return try_create(
        session=session,
        jobs=request.app.state.celery,
        store=store,
        run=access.run,
        user=access.user,
        data=data,
        limits=limits,
    )


@api.get("/tries/{try_id}", response_model=TryOut)
def api_try_get(try_id: int, access: CreativeTry) -> TryOut:
    return TryOut.model_validate(access.row)


# Pages -----------------------------------------------------------------------------------


@pages.post("/brands/{slug}/autotag", response_model=None)
def autotag_form(
    request: Request,
    access: MerchandiserBrand,
    session: SessionDep,
    run_id: Annotated[int | None, Form()] = None,
    scope: Annotated[str, Form()] = "untagged",
    tag: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Start a job from the adapters page (untagged or all) or the library (what it shows)."""
    ids = None
    if scope == "filter":
        shown = AssetFilter(tag=tag or None, status=AssetStatus(status) if status else None, q=q)
        ids = asset_ids_matching(
            session=session, brand=access.brand, filters=shown, limit=MAX_JOB_ASSETS
        )
    body = AutotagCreate(run_id=run_id, untagged=scope == "untagged", asset_ids=ids)
    job = _queue(request, session, access, body)
    return RedirectResponse(request.app.url_path_for("job_page", job_id=job.id), status_code=303)


@pages.get("/autotag/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: int, access: MerchandiserJob) -> HTMLResponse:
    """A job's progress; htmx polls the `progress` block until it ends."""
    return page_or_fragment(
        request, "autotag/job.html", "progress", brand=access.brand, access=access, job=access.row
    )


@pages.post("/autotag/{job_id}/cancel", response_model=None)
def job_cancel_form(
    request: Request, job_id: int, access: MerchandiserJob, session: SessionDep
) -> RedirectResponse:
    _cancel(request, session, access)
    return RedirectResponse(request.app.url_path_for("job_page", job_id=job_id), status_code=303)


def _queue_item(
    session: SessionDep, brand: Brand, suggestion_id: int | None
) -> tuple[Suggestion | None, int | None, int | None]:
    """The suggestion to show (the oldest pending one by default), and its neighbours."""
    current = pending_at(session=session, brand=brand, suggestion_id=suggestion_id)
    if current is None:
        return None, None, None
    previous, following = pending_neighbours(session=session, brand=brand, suggestion=current)
    return current, previous, following


@pages.get("/brands/{slug}/review", response_class=HTMLResponse)
def review_page(
    request: Request, access: MerchandiserBrand, session: SessionDep, id: int | None = None
) -> HTMLResponse:
    """One pending suggestion at a time beside its photo; j/k, a, e, r from the keyboard."""
    suggestion, previous, following = _queue_item(session, access.brand, id)
    context: dict[str, Any] = {}
    if suggestion is not None:
        asset = asset_get(session=session, asset_id=suggestion.asset_id, brand=access.brand)
        now = {t.name for t in asset.tags}
        context = {
            "asset": asset,
            "caption_diff": caption_diff(asset.caption, suggestion.caption),
            "added_tags": set(suggestion.tags) - now,
            "removed_tags": now - set(suggestion.tags),
        }
    return page(
        request,
        "autotag/review.html",
        brand=access.brand,
        access=access,
        suggestion=suggestion,
        previous=previous,
        following=following,
        counts=suggestion_counts(session=session, brand=access.brand),
        **context,
    )


def caption_diff(before: str, after: str) -> list[tuple[str, str]]:
    """`after` word by word, each run marked "same" or "new" against `before`."""
    old, new = before.split(), after.split()
    runs = []
    for tag, _, _, j1, j2 in SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if j2 > j1:
            runs.append(("same" if tag == "equal" else "new", " ".join(new[j1:j2])))
    return runs


@pages.post("/suggestions/{suggestion_id}/review", response_model=None)
def review_form(
    request: Request,
    suggestion_id: int,
    access: MerchandiserSuggestion,
    session: SessionDep,
    decision: Annotated[str, Form()],
    caption: Annotated[str | None, Form()] = None,
    tags: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    """Accept (as suggested, or edited) or reject, then on to the next pending suggestion."""
    if decision == "accept":
        edit = SuggestionEdit(
            caption=caption,
            tags=[t for t in tags.split(",") if t.strip()] if tags is not None else None,
        )
        _accept(request, session, access, edit)
    elif decision == "reject":
        _reject(request, session, access)
    else:
        raise Invalid("decide accept or reject")
    url = request.app.url_path_for("review_page", slug=access.brand.slug)
    return RedirectResponse(url, status_code=303)


@pages.post("/brands/{slug}/review/accept-all", response_model=None)
def review_accept_all_form(
    request: Request, access: MerchandiserBrand, session: SessionDep
) -> RedirectResponse:
    """Accept every pending suggestion that carries no flag."""
    _bulk_accept(request, session, access, BulkAccept())
    url = request.app.url_path_for("review_page", slug=access.brand.slug)
    return RedirectResponse(url, status_code=303)


@pages.post("/runs/{run_id}/try", response_model=None)
def try_form(
    request: Request,
    access: CreativeRun,
    session: SessionDep,
    store: StoreDep,
    limits: LimitsDep,
    file: Annotated[UploadFile, File()],
) -> RedirectResponse:
    attempt = _try(request, access, session, store, limits, file)
    session.flush()
    url = request.app.url_path_for("try_page", try_id=attempt.id)
    return RedirectResponse(url, status_code=303)


@pages.get("/tries/{try_id}", response_class=HTMLResponse)
def try_page(request: Request, try_id: int, access: CreativeTry) -> HTMLResponse:
    """The image and both answers; htmx polls the `answers` block until they are in."""
    return page_or_fragment(
        request,
        "autotag/try.html",
        "answers",
        brand=access.brand,
        access=access,
        attempt=access.row,
    )


@pages.get("/tries/{try_id}/image", response_class=Response)
def try_image(try_id: int, access: CreativeTry, store: StoreDep) -> Response:
    """The image tried, as it was sent; its key ends with the format it was checked to be."""
    key = access.row.image_key
    return Response(store.get(key), media_type=MEDIA_TYPES[key.rsplit(".", 1)[1].upper()])
