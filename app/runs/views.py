"""Runs: queue (admins), watch (everyone in the brand), cancel (admins), download the adapter."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.assets.service import asset_counts
from app.auth import (
    AdminBrand,
    AdminRun,
    BrandAccess,
    CreativeBrand,
    CreativeRun,
    RunAccess,
    audit,
)
from app.basemodels.service import basemodel_find, basemodels_list
from app.config import Settings
from app.datasets.models import DatasetVersion
from app.datasets.service import dataset_freeze, datasets_list
from app.deps import SessionDep, SettingsDep, StoreDep
from app.errors import DomainError, NotFound
from app.evaluations.service import RatingProgress, ratings_open
from app.runs.answers import TASKS
from app.runs.card import RunCard
from app.runs.chart import loss_chart
from app.runs.memory import human_bytes
from app.runs.models import Run
from app.runs.schemas import RunCreate, RunOut
from app.runs.service import (
    run_cancel,
    run_create,
    run_estimates,
    run_memory_estimates,
    runs_list,
)
from app.runs.settings import PRESETS
from app.web import blob_response, fragment, is_htmx, page

api = APIRouter(prefix="/api/v1", tags=["runs"])
pages = APIRouter(include_in_schema=False)


def _out(run: Run, access: BrandAccess) -> RunOut:
    return RunOut.of(run, admin=access.can("admin"))


def _queue(request: Request, session: SessionDep, access: BrandAccess, body: RunCreate) -> Run:
    run = run_create(
        session=session,
        jobs=request.app.state.celery,
        brand=access.brand,
        user=access.user,
        base_model=basemodel_find(session=session, ref=body.base_model),
        dataset_id=body.dataset_id,
        preset=body.preset,
        overrides=body.settings,
        name=body.name,
    )
    audit(
        request,
        session,
        action="run.queue",
        brand=access.brand,
        target=f"run {run.id}",
        preset=run.preset,
        dataset=session.get_one(DatasetVersion, run.dataset_id).version,
    )
    return run


@api.post("/brands/{slug}/runs", response_model=RunOut, status_code=202)
def api_run_create(
    request: Request, body: RunCreate, access: AdminBrand, session: SessionDep
) -> RunOut:
    """Queue a run: committed first, then sent to the `gpu` queue."""
    return _out(_queue(request, session, access, body), access)


@api.get("/brands/{slug}/runs", response_model=list[RunOut])
def api_runs(access: CreativeBrand, session: SessionDep) -> list[RunOut]:
    return [_out(r, access) for r in runs_list(session=session, brand=access.brand)]


@api.get("/runs/{run_id}", response_model=RunOut)
def api_run(access: CreativeRun, session: SessionDep) -> RunOut:
    """Status, step, total, loss history, ETA and (when done) the run card."""
    return _out(access.run, access)


def _cancel(request: Request, session: SessionDep, access: RunAccess) -> Run:
    run_cancel(session=session, run=access.run)
    audit(request, session, action="run.cancel", brand=access.brand, target=f"run {access.run.id}")
    return access.run


@api.post("/runs/{run_id}/cancel", response_model=RunOut)
def api_run_cancel(request: Request, access: AdminRun, session: SessionDep) -> RunOut:
    return _out(_cancel(request, session, access), access)


@api.get("/runs/{run_id}/adapter", response_class=Response)
def api_run_adapter(access: CreativeRun, store: StoreDep, settings: SettingsDep) -> Response:
    """The adapter in PEFT format (adapter_config.json + adapter_model.safetensors), zipped:
    streamed, or a redirect to a short-lived presigned URL (S3)."""
    run = access.run
    if not run.adapter_key:
        raise NotFound(f"run {run.id} has no adapter (it is {run.status.value})")
    name = f"atelier-{access.brand.slug}-run-{run.id}-adapter.zip"
    return blob_response(
        store,
        run.adapter_key,
        settings=settings,
        media_type="application/zip",
        disposition=f'attachment; filename="{name}"',
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
    models = basemodels_list(session=session)
    worker_bytes = request.app.state.settings.WORKER_MEMORY_BYTES
    return page(
        request,
        "runs/list.html",
        status_code=status_code,
        brand=access.brand,
        access=access,
        runs=runs_list(session=session, brand=access.brand),
        datasets=datasets_list(session=session, brand=access.brand),
        models=models,
        presets=list(PRESETS),
        memory=run_memory_estimates(models=models, worker_bytes=worker_bytes),
        worker_bytes=worker_bytes,
        human_bytes=human_bytes,
        estimates=run_estimates(
            session=session,
            brand=access.brand,
            train_images=_train_images(session, access, request.app.state.settings),
        ),
        rating=_rating(session, access),
        tasks=TASKS,
        error=error,
    )


def _train_images(session: SessionDep, access: BrandAccess, settings: Settings) -> int:
    """About how many images a run frozen from the approved ones now would train on."""
    approved = asset_counts(session=session, brand=access.brand)["approved"]
    return max(1, round(approved * (1 - settings.RUN_VALIDATION_FRACTION)))


def _rating(session: SessionDep, access: BrandAccess) -> dict[int, RatingProgress]:
    """Per run open to blind rating, how far this merchandiser is (nothing for creatives)."""
    if not access.can("merchandiser"):
        return {}
    rows = ratings_open(session=session, brand=access.brand, rater=access.user)
    return {p.run_id: p for p in rows}


@pages.get("/brands/{slug}/runs", response_class=HTMLResponse)
def runs_page(request: Request, access: CreativeBrand, session: SessionDep) -> HTMLResponse:
    return _runs_page(request, access, session)


def _queue_form(
    request: Request,
    access: BrandAccess,
    session: SessionDep,
    settings: Settings,
    *,
    base_model: str,
    preset: str,
    dataset: str,
    task: str,
    name: str,
) -> HTMLResponse | RedirectResponse:
    """Queue a run from a form; dataset "new" freezes the approved assets first."""
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
            RunCreate(
                base_model=base_model,
                dataset_id=dataset_id,
                preset=preset,
                name=name,
                settings={"task": task},
            ),
        )
    except (DomainError, ValueError) as exc:
        session.rollback()
        return _runs_page(request, access, session, error=str(exc), status_code=422)
    return RedirectResponse(request.app.url_path_for("run_page", run_id=run.id), status_code=303)


@pages.post("/brands/{slug}/runs", response_class=HTMLResponse, response_model=None)
def run_form(
    request: Request,
    access: AdminBrand,
    session: SessionDep,
    settings: SettingsDep,
    base_model: Annotated[str, Form()],
    preset: Annotated[str, Form()],
    dataset: Annotated[str, Form()] = "new",
    task: Annotated[str, Form()] = "caption",
    name: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse | RedirectResponse:
    """Queue a run from the runs page's form."""
    return _queue_form(
        request,
        access,
        session,
        settings,
        base_model=base_model,
        preset=preset,
        dataset=dataset,
        task=task,
        name=name,
    )


@pages.post("/brands/{slug}/runs/demo", response_class=HTMLResponse, response_model=None)
def demo_run_form(
    request: Request, access: AdminBrand, session: SessionDep, settings: SettingsDep
) -> HTMLResponse | RedirectResponse:
    """One click: freeze the approved assets, fine-tune the default model with quick-demo to
    answer captions and tags."""
    return _queue_form(
        request,
        access,
        session,
        settings,
        base_model="",
        preset="quick-demo",
        dataset="new",
        task="caption+tags",
        name="catalogue captions and tags",
    )


@pages.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, access: CreativeRun, session: SessionDep) -> HTMLResponse:
    """The run, its live loss curve and log; htmx polls the `live` block until it ends."""
    run = access.run
    context: dict[str, Any] = {
        "brand": access.brand,
        "access": access,
        "run": run,
        "out": _out(run, access),
        "card": RunCard.of(run.card),
        "chart": loss_chart(run.history, run.total_steps),
    }
    if is_htmx(request):
        return fragment(request, "runs/run.html", "live", polled=True, **context)
    return page(request, "runs/run.html", **context)


@pages.post("/runs/{run_id}/cancel", response_model=None)
def run_cancel_form(request: Request, access: AdminRun, session: SessionDep) -> RedirectResponse:
    run = _cancel(request, session, access)
    return RedirectResponse(request.app.url_path_for("run_page", run_id=run.id), status_code=303)
