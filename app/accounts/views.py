"""Sign-in and the person's own account: login, logout, API tokens, sessions, password,
and accepting an invitation."""

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.accounts.models import User
from app.accounts.schemas import (
    MembershipOut,
    MeOut,
    TokenCreate,
    TokenCreated,
    TokenInfo,
    TokenOut,
)
from app.accounts.service import (
    Attempt,
    InvalidCredentials,
    Throttled,
    invitation_accept,
    invitation_join,
    invitation_open,
    login_check,
    memberships_of,
    session_resolve,
    session_revoke,
    session_start,
    sessions_active,
    token_create,
    token_revoke,
    tokens_of,
    user_password_change,
)
from app.audit.service import audit_record
from app.auth import (
    CurrentUser,
    PrincipalDep,
    Public,
    audit,
    client_address,
    csrf_cookie_header,
    session_cookie,
)
from app.brands.models import Brand
from app.config import Settings
from app.db import utcnow
from app.deps import SessionDep, SettingsDep
from app.errors import DomainError
from app.web import page

api = APIRouter(prefix="/api/v1/auth", tags=["auth"])
pages = APIRouter(include_in_schema=False)
PUBLIC = [Depends(Public())]


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in; anything else goes home."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _attempt(request: Request, email: str) -> Attempt:
    return Attempt(email=email, address=client_address(request), at=utcnow())


@api.post("/token", response_model=TokenOut, dependencies=PUBLIC)
def api_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    """Exchange e-mail and password for a bearer token (valid API_TOKEN_DAYS days)."""
    try:
        user = login_check(
            session=session, attempt=_attempt(request, email), password=password, settings=settings
        )
    except Throttled as exc:
        return JSONResponse({"detail": str(exc)}, 429, {"Retry-After": str(exc.retry_after)})
    except InvalidCredentials as exc:  # answered, not raised: the failure count must commit
        audit(request, session, action="login.failure", target=email[:300], via="api")
        return JSONResponse({"detail": str(exc)}, 401, {"WWW-Authenticate": "Bearer"})
    token, secret = token_create(
        session=session, user=user, name="API sign-in", days=settings.API_TOKEN_DAYS
    )
    audit(request, session, action="token.create", target=token.prefix, via="api sign-in")
    body = TokenOut(access_token=secret, expires_at=token.expires_at)
    return JSONResponse(body.model_dump(mode="json"))


@api.get("/me", response_model=MeOut)
def api_me(user: CurrentUser, session: SessionDep) -> MeOut:
    memberships = memberships_of(session=session, user=user)
    return MeOut(
        email=user.email,
        name=user.name,
        is_superuser=user.is_superuser,
        brands=[MembershipOut(brand=m.brand.slug, role=m.role) for m in memberships],
    )


@api.get("/tokens", response_model=list[TokenInfo])
def api_tokens(user: CurrentUser, session: SessionDep) -> list[TokenInfo]:
    return [TokenInfo.model_validate(t) for t in tokens_of(session=session, user=user)]


@api.post("/tokens", response_model=TokenCreated, status_code=201)
def api_token_create(
    request: Request, body: TokenCreate, user: CurrentUser, session: SessionDep
) -> TokenCreated:
    """Create a personal token; its secret is in this answer only."""
    token, secret = token_create(session=session, user=user, name=body.name, days=body.days)
    audit(request, session, action="token.create", target=token.prefix, name=token.name)
    return TokenCreated(**TokenInfo.model_validate(token).model_dump(), secret=secret)


@api.delete("/tokens/{token_id}", status_code=204)
def api_token_revoke(
    request: Request, token_id: int, user: CurrentUser, session: SessionDep
) -> Response:
    token = token_revoke(session=session, user=user, token_id=token_id)
    audit(request, session, action="token.revoke", target=token.prefix)
    return Response(status_code=204)


# Pages -----------------------------------------------------------------------------------


@pages.get("/login", response_class=HTMLResponse, dependencies=PUBLIC)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "accounts/login.html", next=safe_next(next), error=None, email="")


@pages.post("/login", response_class=HTMLResponse, response_model=None, dependencies=PUBLIC)
def login_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> HTMLResponse | RedirectResponse:
    """Check the credentials and open a fresh session (a new cookie: no fixation)."""
    try:
        user = login_check(
            session=session, attempt=_attempt(request, email), password=password, settings=settings
        )
    except (InvalidCredentials, Throttled) as exc:
        if isinstance(exc, InvalidCredentials):
            audit(request, session, action="login.failure", target=email[:300], via="page")
        response = page(
            request,
            "accounts/login.html",
            status_code=exc.status_code,
            next=safe_next(next),
            error=str(exc),
            email=email,
        )
        if isinstance(exc, Throttled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return _signed_in(
        request, session=session, settings=settings, user=user, target=safe_next(next)
    )


def _signed_in(
    request: Request, *, session: SessionDep, settings: Settings, user: User, target: str
) -> RedirectResponse:
    """Open a session for the person, closing the one this browser had, and go on."""
    if (old := request.cookies.get(session_cookie(settings))) and (
        previous := session_resolve(session=session, token=old, settings=settings)
    ):
        previous.revoked_at = utcnow()
    secret = session_start(
        session=session,
        user=user,
        address=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
        settings=settings,
    )
    audit_record(
        session=session,
        actor=user,
        brand=None,
        action="login.success",
        target=user.email,
        address=client_address(request),
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        session_cookie(settings),
        secret,
        max_age=settings.SESSION_MAX_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    # A new CSRF secret with the new session: no token seen before sign-in stays valid.
    response.raw_headers.append(
        (b"set-cookie", csrf_cookie_header(settings, secrets.token_urlsafe(32)))
    )
    return response


@pages.post("/logout", response_model=None)
def logout_form(
    request: Request,
    principal: PrincipalDep,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> RedirectResponse:
    """Close this browser's session."""
    if principal is not None and principal.login_session is not None:
        principal.login_session.revoked_at = utcnow()
    audit(request, session, action="logout", target=user.email)
    response = RedirectResponse("/login", status_code=303)
    # Deleted with the attributes it was set with: a browser keeps a __Host- cookie otherwise.
    response.delete_cookie(
        session_cookie(settings), httponly=True, samesite="lax", secure=settings.secure_cookies
    )
    return response


@pages.get("/account", response_class=HTMLResponse)
def account_page(
    request: Request, principal: PrincipalDep, user: CurrentUser, session: SessionDep
) -> HTMLResponse:
    """The person's brands, API tokens, open sessions and password."""
    return _account(request, principal, user, session)


def _account(
    request: Request,
    principal: PrincipalDep,
    user: User,
    session: SessionDep,
    created: TokenCreated | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    current = principal.login_session.id if principal and principal.login_session else None
    return page(
        request,
        "accounts/account.html",
        status_code=status_code,
        user=user,
        memberships=memberships_of(session=session, user=user),
        tokens=tokens_of(session=session, user=user),
        sessions=sessions_active(session=session, user=user),
        current_session=current,
        created=created,
        error=error,
    )


@pages.post("/account/tokens", response_class=HTMLResponse)
def account_token_create(
    request: Request,
    principal: PrincipalDep,
    user: CurrentUser,
    session: SessionDep,
    name: Annotated[str, Form()],
    days: Annotated[str, Form()] = "90",
) -> HTMLResponse:
    """Create a token and show its secret, this once."""
    try:
        token, secret = token_create(
            session=session, user=user, name=name, days=int(days) if days.isdigit() else None
        )
    except DomainError as exc:
        return _account(request, principal, user, session, error=str(exc), status_code=422)
    audit(request, session, action="token.create", target=token.prefix, name=token.name)
    created = TokenCreated(**TokenInfo.model_validate(token).model_dump(), secret=secret)
    return _account(request, principal, user, session, created=created)


@pages.post("/account/tokens/{token_id}/revoke", response_model=None)
def account_token_revoke(
    request: Request, token_id: int, user: CurrentUser, session: SessionDep
) -> RedirectResponse:
    token = token_revoke(session=session, user=user, token_id=token_id)
    audit(request, session, action="token.revoke", target=token.prefix)
    return RedirectResponse("/account", status_code=303)


@pages.post("/account/sessions/{session_id}/revoke", response_model=None)
def account_session_revoke(
    request: Request, session_id: int, user: CurrentUser, session: SessionDep
) -> RedirectResponse:
    session_revoke(session=session, user=user, session_id=session_id)
    audit(request, session, action="session.revoke", target=f"session {session_id}")
    return RedirectResponse("/account", status_code=303)


@pages.post("/account/password", response_class=HTMLResponse, response_model=None)
def account_password(
    request: Request,
    principal: PrincipalDep,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    current: Annotated[str, Form()],
    new: Annotated[str, Form()],
    revoke_tokens: Annotated[bool, Form()] = False,
) -> HTMLResponse | RedirectResponse:
    """Change the password; every session ends and this browser signs in afresh. The form
    offers, ticked, to revoke the person's API tokens too."""
    try:
        user_password_change(
            session=session, user=user, current=current, new=new, revoke_tokens=revoke_tokens
        )
    except DomainError as exc:
        session.rollback()
        return _account(request, principal, user, session, error=str(exc), status_code=422)
    audit(
        request, session, action="password.change", target=user.email, tokens_revoked=revoke_tokens
    )
    return _signed_in(request, session=session, settings=settings, user=user, target="/account")


# The link an admin hands over is /invite#<secret>: the fragment never reaches a server, so
# no access log keeps it. static/invite.js puts it in the form below and posts it.


@pages.get("/invite", response_class=HTMLResponse, dependencies=PUBLIC)
def invitation_page(request: Request) -> HTMLResponse:
    return page(request, "accounts/invite.html", invitation=None, error=None)


@pages.post("/invite", response_class=HTMLResponse, dependencies=PUBLIC)
def invitation_open_form(
    request: Request, principal: PrincipalDep, session: SessionDep, token: Annotated[str, Form()]
) -> HTMLResponse:
    """What the invitation offers: to join with the signed-in account, or with a new one."""
    return _invitation_page(request, session, token=token)


def _invitation_page(
    request: Request,
    session: SessionDep,
    *,
    token: str,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        invitation = invitation_open(session=session, token=token)
    except DomainError as exc:
        return page(
            request, "accounts/invite.html", exc.status_code, invitation=None, error=str(exc)
        )
    brand = session.get_one(Brand, invitation.brand_id)
    return page(
        request,
        "accounts/invite.html",
        status,
        invitation=invitation,
        invited_to=brand,
        token=token,
        error=error,
    )


@pages.post("/invite/accept", response_class=HTMLResponse, response_model=None, dependencies=PUBLIC)
def invitation_accept_form(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Join the brand: signed in, with that account; otherwise with a new one, then sign in."""
    invitation = invitation_open(session=session, token=token)
    brand = session.get_one(Brand, invitation.brand_id)
    try:
        if principal is not None:
            user = principal.user
            invitation_join(session=session, invitation=invitation, user=user)
        else:
            user = invitation_accept(
                session=session, invitation=invitation, name=name, password=password
            )
    except DomainError as exc:
        session.rollback()
        return _invitation_page(
            request, session, token=token, error=str(exc), status=exc.status_code
        )
    audit_record(
        session=session,
        actor=user,
        brand=brand,
        action="invitation.accept",
        target=user.email,
        address=client_address(request),
        role=invitation.role.value,
    )
    target = f"/brands/{quote(brand.slug)}"
    if principal is not None:
        return RedirectResponse(target, status_code=303)
    return _signed_in(request, session=session, settings=settings, user=user, target=target)
