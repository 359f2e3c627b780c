"""Runs: queue (admins), watch (everyone in the brand), cancel (admins), download the adapter."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.auth import AdminBrand, AdminRun, BrandAccess, CreativeBrand, CreativeRun, audit
from app.basemodels.models import RegisteredModel
from app.basemodels.service import basemodel_default, basemodel_get, basemodels_list
from app.datasets.models import DatasetVersion
from app.datasets.service import dataset_freeze, datasets_list
from app.deps import SessionDep, SettingsDep, StoreDep
from app.errors import DomainError, NotFound
from app.runs.chart import loss_chart
from app.runs.models import Run
from app.runs.schemas import RunCreate, RunOut
from app.runs.service import run_cancel, run_create, runs_list
from app.web import fragment, is_htmx, page
from worker.config import PRESETS

api = APIRouter(prefix="/api/v1", tags=["runs"])
pages = APIRouter(include_in_schema=False)


def _base_model(session: SessionDep, ref: int | str | None) -> RegisteredModel:
    if ref is None or ref == "":
        return basemodel_default(session=session)
    if isinstance(ref, int) or ref.isdigit():
        return basemodel_get(session=session, model_id=int(ref))
    for model in basemodels_list(session=session):
        if model.source == ref:
            return model
    raise NotFound(f"no base model {ref!r}")


def _out(session: SessionDep, run: Run, access: BrandAccess) -> RunOut:
    return RunOut.of(
        run,
        brand=access.brand.slug,
        base=session.get_one(RegisteredModel, run.base_model_id),
        dataset=session.get_one(DatasetVersion, run.dataset_id),
        admin=access.can("admin"),
    )


def _queue(request: Request, session: SessionDep, access: BrandAccess, body: RunCreate) -> Run:
    dataset = session.get(DatasetVersion, body.dataset_id)
    if dataset is None or dataset.brand_id != access.brand.id:
        raise NotFound(f"no dataset {body.dataset_id}")
    run = run_create(
        session=session,
        jobs=request.app.state.celery,
        brand=access.brand,
        user=access.user,
        base_model=_base_model(session, body.base_model),
        dataset=dataset,
        preset=body.preset,
        overrides=body.settings,
    )
    audit(
        request,
        session,
        action="run.queue",
        brand=access.brand,
        target=f"run {run.id}",
        preset=run.preset,
        dataset=dataset.version,
    )
    return run


@api.post("/brands/{slug}/runs", response_model=RunOut, status_code=202)
def api_run_create(
    request: Request, body: RunCreate, access: AdminBrand, session: SessionDep
) -> RunOut:
    """Queue a run: committed first, then sent to the `gpu` queue."""
    return _out(session, _queue(request, session, access, body), access)


@api.get("/brands/{slug}/runs", response_model=list[RunOut])
def api_runs(access: CreativeBrand, session: SessionDep) -> list[RunOut]:
    return [_out(session, r, access) for r in runs_list(session=session, brand=access.brand)]


@api.get("/runs/{run_id}", response_model=RunOut)
def api_run(access: CreativeRun, session: SessionDep) -> RunOut:
    """Status, step, total, loss history, ETA and (when done) the run card."""
    assert access.run is not None
    return _out(session, access.run, access)


@api.post("/runs/{run_id}/cancel", response_model=RunOut)
def api_run_cancel(request: Request, access: AdminRun, session: SessionDep) -> RunOut:
    assert access.run is not None
    run_cancel(session=session, run=access.run)
    audit(request, session, action="run.cancel", brand=access.brand, target=f"run {access.run.id}")
    return _out(session, access.run, access)


@api.get("/runs/{run_id}/adapter", response_class=Response)
def api_run_adapter(access: CreativeRun, store: StoreDep) -> Response:
    """The adapter in PEFT format (adapter_config.json + adapter_model.safetensors), zipped."""
    run = access.run
    assert run is not None
    if not run.adapter_key:
        raise NotFound(f"run {run.id} has no adapter (it is {run.status.value})")
    name = f"atelier-{access.brand.slug}-run-{run.id}-adapter.zip"
    return Response(
        store.get(run.adapter_key),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# Pages -----------------------------------------------------------------------------------


def _runs_page(
    request: Request,
    access: BrandAccess,
    session: SessionDep,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "runs/list.html",
        status_code=status_code,
        brand=access.brand,
        access=access,
        runs=runs_list(session=session, brand=access.brand),
        datasets=datasets_list(session=session, brand=access.brand),
        models=basemodels_list(session=session),
        presets=list(PRESETS),
        error=error,
    )


@pages.get("/brands/{slug}/runs", response_class=HTMLResponse)
def runs_page(request: Request, access: CreativeBrand, session: SessionDep) -> HTMLResponse:
    return _runs_page(request, access, session)


@pages.post("/brands/{slug}/runs", response_class=HTMLResponse, response_model=None)
def run_form(
    request: Request,
    access: AdminBrand,
    session: SessionDep,
    settings: SettingsDep,
    base_model: Annotated[str, Form()],
    preset: Annotated[str, Form()],
    dataset: Annotated[str, Form()] = "new",
) -> HTMLResponse | RedirectResponse:
    """Queue a run from the form; dataset "new" freezes the approved assets first."""
    try:
        if dataset == "new":
            version, _ = dataset_freeze(
                session=session,
                brand=access.brand,
                user=access.user,
                validation_fraction=settings.RUN_VALIDATION_FRACTION,
            )
            dataset_id = version.id
        else:
            dataset_id = int(dataset)
        run = _queue(
            request,
            session,
            access,
            RunCreate(base_model=base_model, dataset_id=dataset_id, preset=preset),
        )
    except (DomainError, ValueError) as exc:
        session.rollback()
        return _runs_page(request, access, session, error=str(exc), status_code=422)
    return RedirectResponse(request.app.url_path_for("run_page", run_id=run.id), status_code=303)


@pages.post("/brands/{slug}/runs/demo", response_class=HTMLResponse, response_model=None)
def demo_run_form(
    request: Request, access: AdminBrand, session: SessionDep, settings: SettingsDep
) -> HTMLResponse | RedirectResponse:
    """One click: freeze the approved assets, fine-tune the default model with quick-demo."""
    return run_form(request, access, session, settings, base_model="", preset="quick-demo")


@pages.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, access: CreativeRun, session: SessionDep) -> HTMLResponse:
    """The run, its live loss curve and log; htmx polls the `progress` block until it ends."""
    run = access.run
    assert run is not None
    context: dict[str, Any] = {
        "brand": access.brand,
        "access": access,
        "run": run,
        "out": _out(session, run, access),
        "chart": loss_chart(run.history, run.total_steps),
    }
    if is_htmx(request):
        return fragment(request, "runs/run.html", "progress", **context)
    return page(request, "runs/run.html", **context)


@pages.post("/runs/{run_id}/cancel", response_model=None)
def run_cancel_form(request: Request, access: AdminRun, session: SessionDep) -> RedirectResponse:
    out = api_run_cancel(request, access, session)
    return RedirectResponse(request.app.url_path_for("run_page", run_id=out.id), status_code=303)
