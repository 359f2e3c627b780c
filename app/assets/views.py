"""Asset routes: the JSON API and the pages (gallery, upload, detail). Thin: rules live in
service.py, access rules in app/auth.py."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from app.accounts.models import Role
from app.assets.models import Asset, AssetStatus
from app.assets.schemas import AssetOut, AssetPage, AssetUpdate, IngestOut
from app.assets.service import (
    AssetFilter,
    IngestReport,
    asset_count,
    asset_counts,
    asset_get,
    asset_ingest,
    asset_neighbours,
    asset_next_pending,
    asset_page,
    asset_update,
    assets_approve,
    tag_names,
)
from app.auth import BrandAccess, CreativeAsset, CreativeBrand, MerchandiserBrand, audit
from app.autotag.service import autotag_new_uploads
from app.deps import LimitsDep, SessionDep, SettingsDep, StoreDep
from app.errors import Invalid
from app.imports.models import ImportJob
from app.imports.schemas import ImportOut, UploadQueuedOut
from app.imports.service import import_if_large, imports_unfinished
from app.web import blob_response, fragment, is_htmx, page

api = APIRouter(prefix="/api/v1", tags=["assets"])
pages = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}
IMMUTABLE = {"Cache-Control": "private, max-age=31536000, immutable"}


def _ingest_all(
    request: Request,
    *,
    files: list[UploadFile],
    session: SessionDep,
    store: StoreDep,
    access: BrandAccess,
    limits: LimitsDep,
    settings: SettingsDep,
) -> tuple[IngestReport, list[ImportJob]]:
    """Ingest every file inline, except archives too large for it: those are imported in the
    background (`app.imports`), and answered by their jobs."""
    report, imports = IngestReport(), []
    for upload in files:
        filename = upload.filename or "unnamed"
        job = import_if_large(
            session=session,
            store=store,
            jobs=request.app.state.celery,
            brand=access.brand,
            user=access.user,
            filename=filename,
            fileobj=upload.file,
            limits=limits,
            inline_max=settings.IMPORT_INLINE_MAX_FILES,
            report=report,
        )
        if job is not None:
            imports.append(job)
            continue
        asset_ingest(
            session=session,
            store=store,
            brand=access.brand,
            filename=filename,
            fileobj=upload.file,
            limits=limits,
            report=report,
        )
    audit(
        request,
        session,
        action="assets.upload",
        brand=access.brand,
        target=f"{len(files)} file(s)",
        accepted=len(report.accepted),
        duplicates=len(report.duplicates),
        rejected=len(report.rejected),
        **({"imports": [job.id for job in imports]} if imports else {}),
    )
    autotag_new_uploads(
        session=session,
        jobs=request.app.state.celery,
        brand=access.brand,
        asset_ids=[asset.id for _, asset in report.accepted],
        user=access.user,
    )
    return report, imports


@api.post(
    "/brands/{slug}/assets",
    response_model=IngestOut,
    responses={
        202: {
            "model": UploadQueuedOut,
            "description": "Archives of more than IMPORT_INLINE_MAX_FILES files are imported "
            "in the background: the answer lists their jobs beside the files answered inline.",
        }
    },
)
def api_assets_upload(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    store: StoreDep,
    limits: LimitsDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="images and/or zip archives")],
) -> IngestOut | JSONResponse:
    """Ingest images and zip archives; every file is reported accepted, duplicate or rejected,
    or, in a large archive, by the import job that answers for it (202)."""
    report, imports = _ingest_all(
        request,
        files=files,
        session=session,
        store=store,
        access=access,
        limits=limits,
        settings=settings,
    )
    if not imports:
        return IngestOut.of(report)
    queued = UploadQueuedOut(
        **dict(IngestOut.of(report)), imports=[ImportOut.model_validate(j) for j in imports]
    )
    return JSONResponse(queued.model_dump(mode="json"), status_code=202)


def _status(value: str | None) -> AssetStatus | None:
    if not value:  # an empty <select> submits "": any status
        return None
    try:
        return AssetStatus(value)
    except ValueError:
        raise Invalid(f"status must be one of {', '.join(AssetStatus)}") from None


@api.get("/brands/{slug}/assets", response_model=AssetPage)
def api_assets_list(
    access: CreativeBrand,
    session: SessionDep,
    settings: SettingsDep,
    tag: str | None = None,
    status: AssetStatus | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> AssetPage:
    """A page of the brand's assets, newest first; pass `next_cursor` back for the next."""
    items, next_cursor = asset_page(
        session=session,
        brand=access.brand,
        filters=AssetFilter(tag=tag, status=status, q=q),
        cursor=cursor,
        limit=limit or settings.PAGE_SIZE,
    )
    return AssetPage(items=[AssetOut.model_validate(a) for a in items], next_cursor=next_cursor)


@api.get("/assets/{asset_id}", response_model=AssetOut)
def api_asset_get(access: CreativeAsset) -> AssetOut:
    return AssetOut.model_validate(access.asset)


def _edit(
    request: Request,
    session: SessionDep,
    access: BrandAccess,
    asset: Asset,
    *,
    caption: str | None,
    tags: list[str] | None,
    status: AssetStatus | None,
    reason: str | None = None,
) -> None:
    """Apply an edit; moving an asset through review needs the merchandiser role."""
    if status is not None and status != asset.status:
        access.require(Role.merchandiser)
    before = asset.status
    asset_update(
        session=session,
        brand=access.brand,
        asset=asset,
        caption=caption,
        tags=tags,
        status=status,
        reason=reason,
    )
    action = (
        {
            AssetStatus.approved: "asset.approve",
            AssetStatus.rejected: "asset.reject",
            AssetStatus.pending: "asset.reopen",
        }[asset.status]
        if asset.status != before
        else ("asset.edit")
    )
    audit(
        request,
        session,
        action=action,
        brand=access.brand,
        target=f"asset {asset.id}",
        filename=asset.filename,
        **({"reason": asset.reject_reason} if asset.reject_reason else {}),
    )


@api.patch("/assets/{asset_id}", response_model=AssetOut)
def api_asset_update(
    request: Request, access: CreativeAsset, body: AssetUpdate, session: SessionDep
) -> AssetOut:
    """Edit caption and tags (creative) or review status (merchandiser)."""
    _edit(
        request,
        session,
        access,
        access.asset,
        caption=body.caption,
        tags=body.tags,
        status=body.status,
        reason=body.reason,
    )
    return AssetOut.model_validate(access.asset)


@api.get("/assets/{asset_id}/thumbnail", response_class=Response)
def api_asset_thumbnail(access: CreativeAsset, store: StoreDep) -> Response:
    return Response(
        store.get(access.asset.thumbnail_key), media_type="image/webp", headers=IMMUTABLE
    )


@api.get("/assets/{asset_id}/original", response_class=Response)
def api_asset_original(access: CreativeAsset, store: StoreDep, settings: SettingsDep) -> Response:
    """The uploaded bytes: streamed, or a redirect to a short-lived presigned URL (S3)."""
    asset = access.asset
    return blob_response(
        store,
        asset.original_key,
        settings=settings,
        media_type=MEDIA_TYPES[asset.format],
        headers=IMMUTABLE,
    )


@pages.get("/brands/{slug}/assets", response_class=HTMLResponse)
def gallery_page(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    settings: SettingsDep,
    tag: str | None = None,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    """The gallery; htmx asks for the `results` block on filtering, `items` for "more"."""
    brand = access.brand
    filters = AssetFilter(tag=tag or None, status=_status(status), q=q)
    items, next_cursor = asset_page(
        session=session, brand=brand, filters=filters, cursor=cursor, limit=settings.PAGE_SIZE
    )
    context: dict[str, Any] = {
        "brand": brand,
        "access": access,
        "items": items,
        "next_cursor": next_cursor,
        "filters": filters,
        "kept": _kept(filters),
        "statuses": list(AssetStatus),
    }
    if is_htmx(request) and cursor:
        return fragment(request, "assets/gallery.html", "items", **context)
    context["bulk"] = (
        asset_count(
            session=session,
            brand=brand,
            filters=AssetFilter(tag=filters.tag, status=AssetStatus.pending, q=filters.q),
        )
        if access.can("merchandiser") and filters.status in (None, AssetStatus.pending)
        else 0
    )
    context["tags"] = tag_names(session=session, brand=brand)
    context["counts"] = asset_counts(session=session, brand=brand)
    if is_htmx(request) and request.headers.get("HX-Target") == "results":
        return fragment(request, "assets/gallery.html", "results", oob=True, **context)
    return page(
        request,
        "assets/gallery.html",
        max_request_bytes=settings.MAX_REQUEST_BYTES,
        imports=imports_unfinished(session=session, brand=brand),
        **context,
    )


@pages.post("/brands/{slug}/upload", response_class=HTMLResponse)
def upload_form(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    store: StoreDep,
    limits: LimitsDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File()],
) -> HTMLResponse:
    """The gallery's drop zone posts here; the answer is the report, as a fragment, with the
    progress of each archive imported in the background."""
    report, imports = _ingest_all(
        request,
        files=files,
        session=session,
        store=store,
        access=access,
        limits=limits,
        settings=settings,
    )
    return fragment(
        request,
        "assets/gallery.html",
        "upload_report",
        brand=access.brand,
        report=report,
        imports=imports,
    )


def _kept(filters: AssetFilter) -> dict[str, str]:
    """The gallery filters as query parameters, for links that stay within them."""
    kept = {
        "tag": filters.tag or "",
        "status": filters.status.value if filters.status else "",
        "q": filters.q or "",
    }
    return {name: value for name, value in kept.items() if value}


@pages.get("/brands/{slug}/assets/{asset_id}", response_class=HTMLResponse)
def asset_page_view(
    request: Request,
    asset_id: int,
    access: CreativeBrand,
    session: SessionDep,
    tag: str | None = None,
    status: str | None = None,
    q: str | None = None,
) -> HTMLResponse:
    """One asset, with the previous and next ones of the gallery as it was filtered."""
    asset = asset_get(session=session, asset_id=asset_id, brand=access.brand)
    filters = AssetFilter(tag=tag or None, status=_status(status), q=q or None)
    return page(
        request,
        "assets/detail.html",
        brand=access.brand,
        access=access,
        asset=asset,
        error=None,
        kept=_kept(filters),
        neighbours=asset_neighbours(
            session=session, brand=access.brand, asset_id=asset.id, filters=filters
        ),
    )


@pages.post("/brands/{slug}/assets/{asset_id}", response_class=HTMLResponse, response_model=None)
def asset_edit_form(
    request: Request,
    asset_id: int,
    access: CreativeBrand,
    session: SessionDep,
    caption: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "save",
    tag: str | None = None,
    status: str | None = None,
    q: str | None = None,
) -> HTMLResponse | Response:
    """Save caption and tags, and optionally move the asset to another review status; after
    an approval or a rejection, on to the next pending asset (within the gallery's filters)."""
    asset = asset_get(session=session, asset_id=asset_id, brand=access.brand)
    decision = {
        "approve": AssetStatus.approved,
        "reject": AssetStatus.rejected,
        "reopen": AssetStatus.pending,
    }.get(action)
    try:
        _edit(
            request,
            session,
            access,
            asset,
            caption=caption,
            tags=tags.split(","),
            status=decision,
            reason=reason,
        )
    except Invalid as exc:
        session.rollback()
        asset = asset_get(session=session, asset_id=asset_id, brand=access.brand)
        return page(
            request,
            "assets/detail.html",
            status_code=422,
            brand=access.brand,
            access=access,
            asset=asset,
            error=str(exc),
            caption=caption,
            tags=tags,
        )
    filters = AssetFilter(tag=tag or None, status=_status(status), q=q or None)
    if decision in (AssetStatus.approved, AssetStatus.rejected):
        return _redirect(request, _after_decision(request, session, access, asset, filters))
    if is_htmx(request):
        return fragment(
            request,
            "assets/detail.html",
            "editor",
            brand=access.brand,
            access=access,
            asset=asset,
            error=None,
            saved=True,
            kept=_kept(filters),
        )
    return _redirect(request, _asset_url(request, access, asset.id, filters))


def _after_decision(
    request: Request, session: SessionDep, access: BrandAccess, asset: Asset, filters: AssetFilter
) -> str:
    """Where a review decision leads: the next pending asset, else the gallery."""
    following = asset_next_pending(
        session=session, brand=access.brand, after=asset.id, filters=filters
    )
    if following is not None:
        return _asset_url(request, access, following, filters)
    gallery = request.app.url_path_for("gallery_page", slug=access.brand.slug)
    return f"{gallery}?{urlencode(_kept(filters))}".rstrip("?")


def _asset_url(request: Request, access: BrandAccess, asset_id: int, filters: AssetFilter) -> str:
    path = request.app.url_path_for("asset_page_view", slug=access.brand.slug, asset_id=asset_id)
    return f"{path}?{urlencode(_kept(filters))}".rstrip("?")


def _redirect(request: Request, url: str) -> Response:
    """A redirect that htmx follows as a whole page (its swaps would take a 303's target)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@pages.post("/brands/{slug}/approvals", response_class=RedirectResponse)
def assets_approve_form(
    request: Request,
    access: MerchandiserBrand,
    session: SessionDep,
    tag: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Approve every pending asset that the gallery's tag and search show."""
    filters = AssetFilter(tag=tag or None, q=q or None)
    approved = assets_approve(session=session, brand=access.brand, filters=filters)
    audit(
        request,
        session,
        action="asset.approve_bulk",
        brand=access.brand,
        target=f"{len(approved)} asset(s)",
        tag=tag,
        q=q,
        asset_ids=approved[:1000],
    )
    gallery = request.app.url_path_for("gallery_page", slug=access.brand.slug)
    return RedirectResponse(f"{gallery}?{urlencode(_kept(filters))}".rstrip("?"), 303)
