"""Brand routes: the API list/create, the brand list and each brand's home page."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.accounts.models import Role, User
from app.accounts.service import membership_set, memberships_of
from app.assets.service import AssetFilter, asset_counts, asset_page, tag_names
from app.auth import CreativeBrand, CurrentUser, Superuser, audit
from app.brands.schemas import BrandCreate, BrandOut
from app.brands.service import brand_create
from app.deps import SessionDep
from app.evaluations.service import ratings_open
from app.styleguides.service import styleguide_current
from app.web import page

api = APIRouter(prefix="/api/v1", tags=["brands"])
pages = APIRouter(include_in_schema=False)


@api.get("/brands", response_model=list[BrandOut])
def api_brands_list(user: CurrentUser, session: SessionDep) -> list[BrandOut]:
    """The brands the caller belongs to, with their role in each."""
    return [BrandOut.of(m.brand, m.role) for m in memberships_of(session=session, user=user)]


@api.post("/brands", response_model=BrandOut, status_code=201)
def api_brand_create(
    request: Request,
    body: BrandCreate,
    session: SessionDep,
    user: Annotated[User, Depends(Superuser())],
) -> BrandOut:
    """Create a brand (operators only); its creator becomes its first admin."""
    brand = brand_create(session=session, slug=body.slug, name=body.name)
    membership_set(session=session, brand=brand, user=user, role=Role.admin)
    audit(request, session, action="brand.create", brand=brand, target=brand.slug)
    return BrandOut.of(brand, Role.admin)


@pages.get("/", response_class=HTMLResponse, response_model=None)
def home_page(
    request: Request, user: CurrentUser, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    memberships = memberships_of(session=session, user=user)
    if len(memberships) == 1:
        return RedirectResponse(
            request.app.url_path_for("brand_page", slug=memberships[0].brand.slug), 303
        )
    return page(request, "brands/list.html", memberships=memberships)


@pages.get("/brands/{slug}", response_class=HTMLResponse)
def brand_page(request: Request, access: CreativeBrand, session: SessionDep) -> HTMLResponse:
    brand = access.brand
    recent, _ = asset_page(
        session=session, brand=brand, filters=AssetFilter(), cursor=None, limit=12
    )
    return page(
        request,
        "brands/home.html",
        brand=brand,
        access=access,
        recent=recent,
        counts=asset_counts(session=session, brand=brand),
        tags=tag_names(session=session, brand=brand),
        guide=styleguide_current(session=session, brand=brand),
        rating=ratings_open(session=session, brand=brand, rater=access.user, limit=5)
        if access.can("merchandiser")
        else [],
    )
