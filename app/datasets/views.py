"""Dataset versions: freeze (admins), list, read, diff."""

from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from app.auth import AdminBrand, BrandAccess, CreativeBrand, audit
from app.datasets.models import DatasetVersion
from app.datasets.schemas import DatasetDetail, DatasetOut, DiffOut, FreezeIn, ItemOut
from app.datasets.service import dataset_diff, dataset_freeze, dataset_get, datasets_list
from app.deps import SessionDep, SettingsDep
from app.errors import Invalid
from app.web import page

api = APIRouter(prefix="/api/v1", tags=["datasets"])
pages = APIRouter(include_in_schema=False)


@api.post("/brands/{slug}/datasets", response_model=DatasetOut, status_code=201)
def api_dataset_freeze(
    request: Request,
    access: AdminBrand,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[FreezeIn | None, Body()] = None,
) -> JSONResponse:
    """Freeze the approved assets into a new version (200 with the latest if nothing changed)."""
    fraction = (body.validation_fraction if body else None) or settings.RUN_VALIDATION_FRACTION
    version, created = _freeze(request, access, session, fraction)
    return JSONResponse(
        DatasetOut.model_validate(version).model_dump(), status_code=201 if created else 200
    )


def _freeze(
    request: Request, access: BrandAccess, session: SessionDep, fraction: float
) -> tuple[DatasetVersion, bool]:
    version, created = dataset_freeze(
        session=session, brand=access.brand, user=access.user, validation_fraction=fraction
    )
    if created:
        audit(
            request,
            session,
            action="dataset.freeze",
            brand=access.brand,
            target=f"version {version.version}",
            **version.counts,
        )
    return version, created


@api.get("/brands/{slug}/datasets", response_model=list[DatasetOut])
def api_datasets(access: CreativeBrand, session: SessionDep) -> list[DatasetOut]:
    return [
        DatasetOut.model_validate(d) for d in datasets_list(session=session, brand=access.brand)
    ]


@api.get("/brands/{slug}/datasets/{version}", response_model=DatasetDetail)
def api_dataset(version: int, access: CreativeBrand, session: SessionDep) -> DatasetDetail:
    found = dataset_get(session=session, brand=access.brand, version=version)
    return DatasetDetail(
        **DatasetOut.model_validate(found).model_dump(),
        items=[ItemOut.model_validate(i) for i in found.items],
    )


@api.get("/brands/{slug}/datasets/{version}/diff/{other}", response_model=DiffOut)
def api_dataset_diff(
    version: int, other: int, access: CreativeBrand, session: SessionDep
) -> DiffOut:
    """What changed from version `version` to version `other`."""
    diff = dataset_diff(
        old=dataset_get(session=session, brand=access.brand, version=version),
        new=dataset_get(session=session, brand=access.brand, version=other),
    )
    return DiffOut(
        added=[ItemOut.model_validate(i) for i in diff.added],
        removed=[ItemOut.model_validate(i) for i in diff.removed],
        changed=[
            {"before": ItemOut.model_validate(a), "after": ItemOut.model_validate(b)}
            for a, b in diff.changed
        ],
    )


@pages.get("/brands/{slug}/datasets", response_class=HTMLResponse)
def datasets_page(
    request: Request, access: CreativeBrand, session: SessionDep, error: str | None = None
) -> HTMLResponse:
    """The brand's dataset versions, a freeze button for admins, and a comparison form."""
    return page(
        request,
        "datasets/list.html",
        brand=access.brand,
        access=access,
        versions=datasets_list(session=session, brand=access.brand),
        error=error,
    )


@pages.post("/brands/{slug}/datasets", response_class=HTMLResponse, response_model=None)
def dataset_freeze_form(
    request: Request, access: AdminBrand, session: SessionDep, settings: SettingsDep
) -> HTMLResponse | RedirectResponse:
    """Freeze the approved images; the new version's page (or the latest, if unchanged)."""
    try:
        version, _ = _freeze(request, access, session, settings.RUN_VALIDATION_FRACTION)
    except Invalid as exc:
        session.rollback()
        return page(
            request,
            "datasets/list.html",
            status_code=422,
            brand=access.brand,
            access=access,
            versions=datasets_list(session=session, brand=access.brand),
            error=str(exc),
        )
    return RedirectResponse(
        request.app.url_path_for(
            "dataset_page", slug=access.brand.slug, version=str(version.version)
        ),
        status_code=303,
    )


@pages.get("/brands/{slug}/datasets/{version}", response_class=HTMLResponse)
def dataset_page(
    request: Request, version: int, access: CreativeBrand, session: SessionDep
) -> HTMLResponse:
    """One version: its counts and its items as frozen."""
    return page(
        request,
        "datasets/version.html",
        brand=access.brand,
        access=access,
        dataset=dataset_get(session=session, brand=access.brand, version=version),
        versions=datasets_list(session=session, brand=access.brand),
    )


@pages.get("/brands/{slug}/datasets/{version}/diff/{other}", response_class=HTMLResponse)
def dataset_diff_page(
    request: Request, version: int, other: int, access: CreativeBrand, session: SessionDep
) -> HTMLResponse:
    """What changed from one version to another."""
    old = dataset_get(session=session, brand=access.brand, version=version)
    new = dataset_get(session=session, brand=access.brand, version=other)
    return page(
        request,
        "datasets/diff.html",
        brand=access.brand,
        access=access,
        old=old,
        new=new,
        diff=dataset_diff(old=old, new=new),
    )


@pages.get("/brands/{slug}/datasets-compare", response_class=RedirectResponse)
def dataset_compare_form(
    request: Request, access: CreativeBrand, version: int, other: int
) -> RedirectResponse:
    """The comparison form's GET, as a link to the diff page."""
    return RedirectResponse(
        request.app.url_path_for(
            "dataset_diff_page", slug=access.brand.slug, version=str(version), other=str(other)
        ),
        status_code=303,
    )
