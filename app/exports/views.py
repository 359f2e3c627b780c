"""Exports in the background: queue one (API and the library's form), follow its progress (the
API, and a page whose fragment htmx polls until the job ends), download the zip."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.auth import BrandAccess, CreativeBrand, CreativeExport, audit
from app.deps import SessionDep, SettingsDep, StoreDep
from app.exports.models import ExportFormat, ExportJob
from app.exports.schemas import ExportCreate, ExportOut
from app.exports.service import export_create, export_download_key
from app.web import blob_response, page_or_fragment

api = APIRouter(prefix="/api/v1", tags=["interchange"])
pages = APIRouter(include_in_schema=False)


def _queue(
    request: Request, session: Session, access: BrandAccess, body: ExportCreate
) -> ExportJob:
    """Queue the export (sent once the request commits) and audit who asked for it."""
    job = export_create(
        session=session,
        jobs=request.app.state.celery,
        brand=access.brand,
        user=access.user,
        fmt=body.format,
        dataset_id=body.dataset_id,
    )
    audit(
        request,
        session,
        action="assets.export",
        brand=access.brand,
        target=f"export {job.id}: {job.filename}",
        format=job.format.value,
        dataset_id=job.dataset_id,
        images=job.total,
    )
    return job


@api.post("/brands/{slug}/exports", response_model=ExportOut, status_code=202)
def api_export_create(
    request: Request, body: ExportCreate, access: CreativeBrand, session: SessionDep
) -> ExportJob:
    """Queue a zip of the approved assets (or of dataset version `dataset_id`, with its split)
    on the `cpu` queue: 202 with the job; follow it at `GET /api/v1/exports/{id}` and download
    it from `GET /api/v1/exports/{id}/download`. Nothing to export: 422; another brand's or an
    unknown dataset: 404."""
    return _queue(request, session, access, body)


@api.get("/exports/{export_id}", response_model=ExportOut)
def api_export_job(export_id: int, access: CreativeExport) -> ExportJob:
    """An export's progress (images written of total), its outcome and the zip's size."""
    return access.row


@api.get("/exports/{export_id}/download", response_class=Response)
def api_export_download(
    export_id: int, access: CreativeExport, store: StoreDep, settings: SettingsDep
) -> Response:
    """The finished zip, named as the inline export names it: streamed, or a redirect to a
    short-lived presigned URL (S3). 409 while it is being built (or if it failed); 410 once
    it is older than `EXPORT_KEEP_HOURS` and deleted."""
    job = access.row
    return blob_response(
        store,
        export_download_key(job),
        settings=settings,
        media_type="application/zip",
        disposition=f'attachment; filename="{job.filename}"',
        headers={"Content-Length": str(job.size_bytes)},
    )


# Pages -----------------------------------------------------------------------------------


@pages.post("/brands/{slug}/exports", response_model=None)
def export_form(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    fmt: Annotated[ExportFormat, Form(alias="format")],
    dataset_id: Annotated[int | None, Form()] = None,
) -> RedirectResponse:
    """Queue an export from the library (or a dataset's page) and follow it on its page."""
    job = _queue(request, session, access, ExportCreate(format=fmt, dataset_id=dataset_id))
    return RedirectResponse(
        request.app.url_path_for("export_page", export_id=job.id), status_code=303
    )


@pages.get("/exports/{export_id}", response_class=HTMLResponse)
def export_page(request: Request, export_id: int, access: CreativeExport) -> HTMLResponse:
    """An export's progress bar, then its download link (or why it failed); htmx polls the
    `export` block until the job ends."""
    return page_or_fragment(
        request, "exports/export.html", "export", brand=access.brand, job=access.row
    )
