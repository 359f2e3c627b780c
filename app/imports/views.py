"""An import's progress and report: the API and the library's progress fragment (htmx polls it
until the job ends, then swaps in the report)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.assets.schemas import IngestOut
from app.auth import CreativeImport
from app.deps import SessionDep
from app.imports.models import ImportJob
from app.imports.schemas import ImportOut
from app.imports.service import import_report
from app.web import page_or_fragment

api = APIRouter(prefix="/api/v1", tags=["assets"])
pages = APIRouter(include_in_schema=False)


def import_out(session: SessionDep, job: ImportJob) -> ImportOut:
    """The job's state, with its report once it has finished."""
    out = ImportOut.model_validate(job)
    if job.status.finished:
        out.report = IngestOut.of(import_report(session=session, job=job))
    return out


@api.get("/imports/{import_id}", response_model=ImportOut)
def api_import(import_id: int, access: CreativeImport, session: SessionDep) -> ImportOut:
    """An import's progress; once it has finished, what became of every member."""
    return import_out(session, access.row)


@pages.get("/imports/{import_id}", response_class=HTMLResponse)
def import_page(
    request: Request, import_id: int, access: CreativeImport, session: SessionDep
) -> HTMLResponse:
    """An import's progress bar, then its report; htmx polls the `import` block until then."""
    job = access.row
    report = import_report(session=session, job=job) if job.status.finished else None
    response = page_or_fragment(
        request, "imports/import.html", "import", brand=access.brand, job=job, report=report
    )
    if report is not None:  # the library shows the new images
        response.headers["HX-Trigger"] = "import-finished"
    return response
