"""Base models: listed to everyone signed in, registered by operators, checked by a worker.

A base model serves every brand of the installation, and registering one makes a worker read
a folder or download from the hub: that is an operator's decision, not a brand admin's."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.accounts.models import User
from app.auth import CreativeBrand, CurrentUser, Superuser, audit
from app.basemodels.schemas import BaseModelIn, BaseModelOut
from app.basemodels.service import basemodel_register, basemodels_list
from app.deps import SessionDep, SettingsDep
from app.errors import DomainError
from app.web import page

api = APIRouter(prefix="/api/v1", tags=["base models"])
pages = APIRouter(include_in_schema=False)


@api.get("/base-models", response_model=list[BaseModelOut])
def api_basemodels(user: CurrentUser, session: SessionDep) -> list[BaseModelOut]:
    """The registered base models (the demo captioner always among them)."""
    return [BaseModelOut.model_validate(m) for m in basemodels_list(session=session)]


@api.post("/base-models", response_model=BaseModelOut, status_code=202)
def api_basemodel_register(
    request: Request,
    body: BaseModelIn,
    user: Annotated[User, Depends(Superuser())],
    session: SessionDep,
    settings: SettingsDep,
) -> BaseModelOut:
    """Register a base model; it is `checking` until a worker has loaded it once."""
    model = basemodel_register(
        session=session,
        jobs=request.app.state.celery,
        settings=settings,
        name=body.name,
        source=body.source,
        revision=body.revision,
        user=user,
    )
    audit(request, session, action="basemodel.register", target=model.source)
    return BaseModelOut.model_validate(model)


@pages.get("/base-models", response_class=HTMLResponse)
def basemodels_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return page(
        request,
        "basemodels/list.html",
        models=basemodels_list(session=session),
        error=None,
        can_register=user.is_superuser,
    )


@pages.get("/brands/{slug}/base-models", response_class=HTMLResponse)
def brand_basemodels_page(
    request: Request, access: CreativeBrand, session: SessionDep
) -> HTMLResponse:
    """The same list, inside a brand's navigation (its runs start from these)."""
    return page(
        request,
        "basemodels/list.html",
        brand=access.brand,
        access=access,
        models=basemodels_list(session=session),
        error=None,
        can_register=access.user.is_superuser,
    )


@pages.post("/base-models", response_class=HTMLResponse, response_model=None)
def basemodel_register_form(
    request: Request,
    user: Annotated[User, Depends(Superuser())],
    session: SessionDep,
    settings: SettingsDep,
    source: Annotated[str, Form()],
    revision: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    try:
        model = basemodel_register(
            session=session,
            jobs=request.app.state.celery,
            settings=settings,
            name=name,
            source=source,
            revision=revision,
            user=user,
        )
    except DomainError as exc:
        session.rollback()
        return page(
            request,
            "basemodels/list.html",
            status_code=exc.status_code,
            models=basemodels_list(session=session),
            error=str(exc),
            can_register=True,
        )
    audit(request, session, action="basemodel.register", target=model.source)
    return RedirectResponse("/base-models", status_code=303)
