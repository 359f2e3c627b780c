"""Interchange routes: export a brand's reviewed assets or a dataset version as a zip, import a
Label Studio export. Thin: the formats live in service.py and labelstudio.py."""

import tempfile
from collections.abc import Iterator
from typing import IO, Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import StreamingResponse

from app.assets.schemas import IngestOut
from app.assets.service import IngestReport
from app.auth import CreativeBrand, audit
from app.deps import LimitsDep, SessionDep, SettingsDep, StoreDep
from app.errors import Conflict
from app.exports.models import ExportFormat
from app.exports.service import export_size
from app.interchange.service import (
    LABEL_STUDIO_MAX_BYTES,
    export_items,
    export_manifests,
    export_write,
    labelstudio_import,
)
from app.runs.settings import DEFAULT_INSTRUCTION

api = APIRouter(prefix="/api/v1", tags=["interchange"])
pages = APIRouter(include_in_schema=False)

# Up to this much of a zip is built in memory; past it, in a temporary file.
_SPOOL_BYTES = 16 * 1024**2
_CHUNK_BYTES = 1024**2


@api.get("/brands/{slug}/export", response_class=StreamingResponse)
def api_export(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    fmt: Annotated[ExportFormat, Query(alias="format")],
    dataset_id: int | None = None,
) -> StreamingResponse:
    """A zip of the approved assets (or of dataset version `dataset_id`, with its split): the
    manifest of the format and the original images under `images/`, built in the request.

    Only for small exports: one of more than `EXPORT_INLINE_MAX_IMAGES` images is refused with
    409 (nothing built), whose sentence points at `POST /api/v1/brands/{slug}/exports`, which
    builds the same zip on a `cpu` worker for a download when it is done."""
    _, count = export_size(session=session, brand=access.brand, dataset_id=dataset_id)
    if count > settings.EXPORT_INLINE_MAX_IMAGES:
        raise Conflict(
            f"this export holds {count} images, more than the "
            f"{settings.EXPORT_INLINE_MAX_IMAGES} built while you wait: queue it with "
            f"POST /api/v1/brands/{access.brand.slug}/exports and download it once it is done"
        )
    name, items = export_items(session=session, brand=access.brand, dataset_id=dataset_id)
    manifests = export_manifests(items=items, fmt=fmt, name=name, instruction=DEFAULT_INSTRUCTION)
    # Not a `with`: the spool outlives this function, and _chunks closes it once sent.
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    try:
        export_write(store=store, items=items, manifests=manifests, out=spool)
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    audit(
        request,
        session,
        action="assets.export",
        brand=access.brand,
        target=name,
        format=fmt.value,
        dataset_id=dataset_id,
        images=len(items),
    )
    headers = {
        "Content-Disposition": f'attachment; filename="{name}-{fmt.value}.zip"',
        "Content-Length": str(size),
    }
    return StreamingResponse(_chunks(spool), media_type="application/zip", headers=headers)


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    """The built zip from its start, a chunk at a time; the spool is gone afterwards."""
    try:
        spool.seek(0)
        while chunk := spool.read(_CHUNK_BYTES):
            yield chunk
    finally:
        spool.close()


@api.post("/brands/{slug}/imports/label-studio", response_model=IngestOut)
def api_import_label_studio(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    store: StoreDep,
    limits: LimitsDep,
    file: Annotated[UploadFile, File(description="the project's Label Studio JSON export")],
    files: Annotated[list[UploadFile], File(description="its images, and/or zips of them")],
) -> IngestOut:
    """Import a captioning (TextArea) or tagging (Choices, Taxonomy) project: each image is
    ingested like an upload, with its task's latest caption and tags."""
    report = IngestReport()
    tasks = labelstudio_import(
        session=session,
        store=store,
        brand=access.brand,
        export=file.file.read(LABEL_STUDIO_MAX_BYTES + 1),
        uploads=[(upload.filename or "unnamed", upload.file) for upload in files],
        limits=limits,
        report=report,
    )
    audit(
        request,
        session,
        action="assets.import",
        brand=access.brand,
        target=f"Label Studio export {file.filename or ''}".strip(),
        tasks=tasks,
        accepted=len(report.accepted),
        duplicates=len(report.duplicates),
        rejected=len(report.rejected),
    )
    return IngestOut.of(report)
