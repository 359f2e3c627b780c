"""Style guide routes: upload (API and page), the guide's page, and the terms form."""

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from app.auth import BrandAccess, CreativeBrand, audit
from app.deps import SessionDep, SettingsDep, StoreDep
from app.errors import Invalid
from app.styleguides.models import StyleGuideVersion
from app.styleguides.schemas import StyleGuideOut
from app.styleguides.service import (
    styleguide_confirm,
    styleguide_current,
    styleguide_history,
    styleguide_preview,
    styleguide_terms_edit,
    styleguide_upload,
    styleguide_version,
)
from app.styleguides.terms import Term
from app.web import page

api = APIRouter(prefix="/api/v1", tags=["style guides"])
pages = APIRouter(include_in_schema=False)


def _read_capped(upload: UploadFile, max_bytes: int) -> bytes:
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Invalid(f"the style guide is larger than {max_bytes / 1024**2:.0f} MB")
    return data


def _upload(
    request: Request,
    *,
    access: BrandAccess,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    file: UploadFile,
) -> StyleGuideVersion:
    data = _read_capped(file, settings.MAX_STYLEGUIDE_BYTES)
    guide = styleguide_upload(
        session=session,
        store=store,
        brand=access.brand,
        filename=file.filename or "styleguide",
        data=data,
        max_bytes=settings.MAX_STYLEGUIDE_BYTES,
        max_pages=settings.MAX_STYLEGUIDE_PAGES,
        max_seconds=settings.STYLEGUIDE_EXTRACT_SECONDS,
    )
    _audit_upload(request, session, access, guide)
    return guide


def _audit_upload(
    request: Request, session: SessionDep, access: BrandAccess, guide: StyleGuideVersion
) -> None:
    audit(
        request,
        session,
        action="styleguide.upload",
        brand=access.brand,
        target=f"version {guide.version}",
        filename=guide.filename,
        terms=len(guide.terms),
    )


@api.post("/brands/{slug}/styleguides", response_model=StyleGuideOut, status_code=201)
def api_styleguide_upload(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="PDF, Markdown or plain text")],
) -> StyleGuideOut:
    """Upload a new version of the brand's style guide; answers its text and parsed terms."""
    guide = _upload(
        request, access=access, session=session, store=store, settings=settings, file=file
    )
    return StyleGuideOut.model_validate(guide)


@api.get("/brands/{slug}/styleguides/{version}", response_model=StyleGuideOut)
def api_styleguide_get(version: int, access: CreativeBrand, session: SessionDep) -> StyleGuideOut:
    guide = styleguide_version(session=session, brand=access.brand, version=version)
    return StyleGuideOut.model_validate(guide)


def _refused(
    request: Request, access: BrandAccess, session: SessionDep, error: str
) -> HTMLResponse:
    """The guide page again, saying why the change was refused; nothing of it is kept."""
    session.rollback()
    current = styleguide_current(session=session, brand=access.brand)
    return _guide_page(
        request, access=access, session=session, guide=current, error=error, status_code=422
    )


def _guide_page(
    request: Request,
    *,
    access: BrandAccess,
    session: SessionDep,
    guide: StyleGuideVersion | None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "styleguides/guide.html",
        status_code=status_code,
        brand=access.brand,
        access=access,
        guide=guide,
        history=styleguide_history(session=session, brand=access.brand),
        error=error,
    )


@pages.get("/brands/{slug}/styleguide", response_class=HTMLResponse)
def styleguide_page(
    request: Request, access: CreativeBrand, session: SessionDep, version: int | None = None
) -> HTMLResponse:
    brand = access.brand
    guide = (
        styleguide_version(session=session, brand=brand, version=version)
        if version
        else styleguide_current(session=session, brand=brand)
    )
    return _guide_page(request, access=access, session=session, guide=guide)


@pages.post("/brands/{slug}/styleguide", response_class=HTMLResponse, response_model=None)
def styleguide_upload_form(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
) -> HTMLResponse | RedirectResponse:
    """The first guide is kept at once; a later one first shows what it changes in the terms."""
    current = styleguide_current(session=session, brand=access.brand)
    try:
        if current is None:
            _upload(
                request, access=access, session=session, store=store, settings=settings, file=file
            )
        else:
            preview = styleguide_preview(
                session=session,
                store=store,
                brand=access.brand,
                filename=file.filename or "styleguide",
                data=_read_capped(file, settings.MAX_STYLEGUIDE_BYTES),
                max_bytes=settings.MAX_STYLEGUIDE_BYTES,
                max_pages=settings.MAX_STYLEGUIDE_PAGES,
                max_seconds=settings.STYLEGUIDE_EXTRACT_SECONDS,
            )
            return page(
                request,
                "styleguides/preview.html",
                brand=access.brand,
                access=access,
                guide=current,
                preview=preview,
            )
    except Invalid as exc:
        return _refused(request, access, session, f"{file.filename}: {exc}")
    return RedirectResponse(
        request.app.url_path_for("styleguide_page", slug=access.brand.slug), 303
    )


@pages.post("/brands/{slug}/styleguide/confirm", response_class=HTMLResponse, response_model=None)
def styleguide_confirm_form(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    sha256: Annotated[str, Form()],
    filename: Annotated[str, Form()],
) -> HTMLResponse | RedirectResponse:
    """Keep the previewed guide as the new version."""
    try:
        guide = styleguide_confirm(
            session=session,
            store=store,
            brand=access.brand,
            filename=filename,
            sha256=sha256,
            max_bytes=settings.MAX_STYLEGUIDE_BYTES,
            max_pages=settings.MAX_STYLEGUIDE_PAGES,
            max_seconds=settings.STYLEGUIDE_EXTRACT_SECONDS,
        )
    except Invalid as exc:
        return _refused(request, access, session, str(exc))
    _audit_upload(request, session, access, guide)
    return RedirectResponse(
        request.app.url_path_for("styleguide_page", slug=access.brand.slug), 303
    )


@pages.post("/brands/{slug}/styleguide/terms", response_class=HTMLResponse, response_model=None)
def styleguide_terms_form(
    request: Request,
    access: CreativeBrand,
    session: SessionDep,
    kind: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    term: Annotated[list[str], Form()] = [],  # noqa: B006
    instead_of: Annotated[list[str], Form()] = [],  # noqa: B006
    remove: Annotated[list[str], Form()] = [],  # noqa: B006
) -> HTMLResponse | RedirectResponse:
    """Rows of (kind, term, instead of); a blank row or one ticked for removal is dropped."""
    try:
        terms = _terms_from_form(kinds=kind, words=term, instead=instead_of, removed=set(remove))
        guide = styleguide_terms_edit(session=session, brand=access.brand, terms=terms)
    except Invalid as exc:
        return _refused(request, access, session, str(exc))
    audit(
        request,
        session,
        action="styleguide.terms_edit",
        brand=access.brand,
        target=f"version {guide.version}",
        terms=len(terms),
    )
    return RedirectResponse(
        request.app.url_path_for("styleguide_page", slug=access.brand.slug), 303
    )


def _terms_from_form(
    *, kinds: list[str], words: list[str], instead: list[str], removed: set[str]
) -> list[Term]:
    if not len(kinds) == len(words) == len(instead):
        raise Invalid("the terms form arrived incomplete; reload the page and try again")
    terms = []
    for row, (kind, word, alternatives) in enumerate(zip(kinds, words, instead, strict=True)):
        word = " ".join(word.split())
        if str(row) in removed or not word:
            continue
        if kind not in ("prefer", "avoid"):
            raise Invalid(f"row {row + 1}: choose 'prefer' or 'avoid'")
        if len(word) > 200:
            raise Invalid(f"row {row + 1}: the term is longer than 200 characters")
        others = tuple(w for w in (" ".join(a.split()) for a in alternatives.split(",")) if w)
        if kind == "avoid" and others:
            raise Invalid(f"row {row + 1}: an avoided term has no 'instead of' words")
        terms.append(Term(kind=kind, term=word, instead_of=others))  # type: ignore[arg-type]
    return terms
