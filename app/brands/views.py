"""Brand routes: the API list/create, the brand list and each brand's home page."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.assets.service import AssetFilter, asset_counts, asset_page, tag_names
from app.brands.schemas import BrandCreate, BrandOut
from app.brands.service import brand_create, brand_list
from app.deps import BrandDep, SessionDep
from app.styleguides.service import styleguide_current
from app.web import page

api = APIRouter(prefix="/api/v1", tags=["brands"])
pages = APIRouter(include_in_schema=False)


@api.get("/brands", response_model=list[BrandOut])
def api_brands_list(session: SessionDep) -> list[BrandOut]:
    return [BrandOut.model_validate(b) for b in brand_list(session=session)]


@api.post("/brands", response_model=BrandOut, status_code=201)
def api_brand_create(body: BrandCreate, session: SessionDep) -> BrandOut:
    return BrandOut.model_validate(brand_create(session=session, slug=body.slug, name=body.name))


@pages.get("/", response_class=HTMLResponse, response_model=None)
def home_page(request: Request, session: SessionDep) -> HTMLResponse | RedirectResponse:
    brands = brand_list(session=session)
    if len(brands) == 1:
        return RedirectResponse(request.url_for("brand_page", slug=brands[0].slug), 303)
    return page(request, "brands/list.html", brands=brands)


@pages.get("/brands/{slug}", response_class=HTMLResponse)
def brand_page(request: Request, brand: BrandDep, session: SessionDep) -> HTMLResponse:
    recent, _ = asset_page(
        session=session, brand=brand, filters=AssetFilter(), cursor=None, limit=12
    )
    return page(
        request,
        "brands/home.html",
        brand=brand,
        recent=recent,
        counts=asset_counts(session=session, brand=brand),
        tags=tag_names(session=session, brand=brand),
        guide=styleguide_current(session=session, brand=brand),
    )
