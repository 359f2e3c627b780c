"""A brand's adapters: list them (everyone in the brand), choose the active one (admins)."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.adapters.schemas import ActiveIn, AdapterOut, AdaptersOut
from app.adapters.service import Adapter, adapter_activate, adapters_list
from app.auth import AdminBrand, BrandAccess, CreativeBrand, audit
from app.autotag.service import adapter_get, jobs_list
from app.deps import SessionDep
from app.web import page

api = APIRouter(prefix="/api/v1", tags=["adapters"])
pages = APIRouter(include_in_schema=False)


def _out(adapter: Adapter) -> AdapterOut:
    return AdapterOut(
        run_id=adapter.run.id,
        name=adapter.label,
        task=adapter.task,
        active=adapter.active,
        adapter_sha256=adapter.run.adapter_sha256,
        adapter_url=f"/api/v1/runs/{adapter.run.id}/adapter",
        metrics=adapter.metrics,
    )


def _adapters(session: SessionDep, access: BrandAccess) -> AdaptersOut:
    items = adapters_list(session=session, brand=access.brand)
    return AdaptersOut(
        active_run_id=access.brand.active_run_id,
        autotag_uploads=access.brand.autotag_uploads,
        items=[_out(a) for a in items],
    )


def _activate(request: Request, session: SessionDep, access: BrandAccess, body: ActiveIn) -> None:
    run = (
        adapter_get(session=session, brand=access.brand, run_id=body.run_id)
        if body.run_id
        else None
    )
    adapter_activate(
        session=session, brand=access.brand, run=run, autotag_uploads=body.autotag_uploads
    )
    audit(
        request,
        session,
        action="adapter.activate",
        brand=access.brand,
        target=f"run {body.run_id}" if body.run_id else "none",
        autotag_uploads=access.brand.autotag_uploads,
    )


@api.get("/brands/{slug}/adapters", response_model=AdaptersOut)
def api_adapters(access: CreativeBrand, session: SessionDep) -> AdaptersOut:
    """The brand's adapters (its succeeded runs), newest first, and which one is active."""
    return _adapters(session, access)


@api.put("/brands/{slug}/adapters/active", response_model=AdaptersOut)
def api_adapter_activate(
    request: Request, body: ActiveIn, access: AdminBrand, session: SessionDep
) -> AdaptersOut:
    """Choose the adapter that auto-tags, and whether it tags every new upload."""
    _activate(request, session, access, body)
    return _adapters(session, access)


@pages.get("/brands/{slug}/adapters", response_class=HTMLResponse)
def adapters_page(request: Request, access: CreativeBrand, session: SessionDep) -> HTMLResponse:
    return page(
        request,
        "adapters/list.html",
        brand=access.brand,
        access=access,
        adapters=adapters_list(session=session, brand=access.brand),
        jobs=jobs_list(session=session, brand=access.brand, limit=10),
    )


@pages.post("/brands/{slug}/adapters/active", response_model=None)
def adapter_activate_form(
    request: Request,
    access: AdminBrand,
    session: SessionDep,
    run_id: Annotated[str, Form()] = "",
    autotag_uploads: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    body = ActiveIn(
        run_id=int(run_id) if run_id.isdigit() else None, autotag_uploads=autotag_uploads
    )
    _activate(request, session, access, body)
    url = request.app.url_path_for("adapters_page", slug=access.brand.slug)
    return RedirectResponse(url, status_code=303)
