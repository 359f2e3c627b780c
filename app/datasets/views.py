"""Dataset versions: freeze (admins), list, read, diff."""

from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from app.auth import AdminBrand, CreativeBrand, audit
from app.datasets.schemas import DatasetDetail, DatasetOut, DiffOut, FreezeIn, ItemOut
from app.datasets.service import dataset_diff, dataset_freeze, dataset_get, datasets_list
from app.deps import SessionDep, SettingsDep

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
    return JSONResponse(
        DatasetOut.model_validate(version).model_dump(), status_code=201 if created else 200
    )


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
