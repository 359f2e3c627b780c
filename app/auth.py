"""Who is asking, and may they: authentication, the access rule of every route, and CSRF.

Every route declares one rule as a dependency: `Public()`, `SignedIn()`, `Superuser()`,
`BrandRole(role)` (the brand named by `{slug}`), `AssetRole(role)` (the
brand of `{asset_id}`) or `RunRole(role)` (the brand of `{run_id}`). A person who is not a
member of the brand gets 404, exactly as for a brand that does not exist; a member whose role
is too low gets 403. The route-matrix test reads these
rules from the route table, so a route without one fails the suite.
"""

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, Request, Response, params
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts.models import ApiToken, LoginSession, Membership, Role, User
from app.accounts.service import (
    membership_get,
    session_resolve,
    token_resolve,
)
from app.assets.models import Asset
from app.assets.service import asset_get
from app.audit.service import audit_record
from app.autotag.models import AutotagJob, Suggestion, Try
from app.brands.models import Brand
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import DomainError, NotFound
from app.exports.models import ExportJob
from app.imports.models import ImportJob
from app.runs.models import Run

SESSION_COOKIE = "atelier_session"
CSRF_COOKIE = "atelier_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# In production both cookies carry the `__Host-` prefix: a browser then accepts them only
# Secure, for Path=/ and without a Domain, so a sibling subdomain cannot plant or shadow them.
HOST_PREFIX = "__Host-"


def session_cookie(settings: Settings) -> str:
    """The session cookie's name under these settings."""
    return HOST_PREFIX + SESSION_COOKIE if settings.secure_cookies else SESSION_COOKIE


def csrf_cookie(settings: Settings) -> str:
    """The CSRF cookie's name under these settings."""
    return HOST_PREFIX + CSRF_COOKIE if settings.secure_cookies else CSRF_COOKIE


class NotSignedIn(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


@dataclass(frozen=True)
class Principal:
    user: User
    via: Literal["session", "token"]
    login_session: LoginSession | None = None
    token: ApiToken | None = None


def client_address(request: Request) -> str:
    """Who is asking: the connection's address or, behind a trusted proxy, the rightmost
    address of X-Forwarded-For that is not a trusted proxy (the ones left of it are the
    client's to write)."""
    peer = request.client.host if request.client else ""
    proxies = [ip_network(p, strict=False) for p in request.app.state.settings.TRUSTED_PROXIES]
    if not _is_among(peer, proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_among(hop, proxies):
            return hop
    return hops[0] if hops else peer


def _is_among(address: str, networks: list[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:  # not an address (a test client's name, a garbled header)
        return False
    return any(ip in network for network in networks)


def bearer_secret(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def authenticate(request: Request, session: SessionDep, settings: SettingsDep) -> Principal | None:
    """The person behind the bearer token or the session cookie, if any (once a request)."""
    if hasattr(request.state, "principal"):
        principal: Principal | None = request.state.principal
        return principal
    principal = None
    if (secret := bearer_secret(request)) is not None:
        token = token_resolve(session=session, secret=secret)
        if token is None:
            raise NotSignedIn("the API token is not valid (revoked, expired or mistyped)")
        principal = Principal(user=token.user, via="token", token=token)
    elif cookie := request.cookies.get(session_cookie(settings)):
        found = session_resolve(session=session, token=cookie, settings=settings)
        if found is not None:
            principal = Principal(user=found.user, via="session", login_session=found)
    request.state.principal = principal
    # A plain copy for the page header: error pages render after the session has closed.
    request.state.viewer = principal.user.email if principal else None
    return principal


PrincipalDep = Annotated[Principal | None, Depends(authenticate)]


class AccessRule:
    """A route's access rule. `minimum` is the brand role it needs, if any."""

    minimum: Role | None = None
    scope: Literal["public", "user", "superuser", "brand", "asset", "run", "metrics"]


class Public(AccessRule):
    scope = "public"

    def __call__(self) -> None:
        return None


class SignedIn(AccessRule):
    scope = "user"

    def __call__(self, principal: PrincipalDep) -> User:
        if principal is None:
            raise NotSignedIn("sign in first")
        return principal.user


class Superuser(AccessRule):
    scope = "superuser"

    def __call__(self, principal: PrincipalDep) -> User:
        user = SignedIn()(principal)
        if not user.is_superuser:
            raise Forbidden("only an operator of this installation may do that")
        return user


class MetricsScraper(AccessRule):
    """A Prometheus scraper: it sends METRICS_TOKEN as its bearer token (a person's API token
    does not do). Without METRICS_TOKEN the metrics are for development on this machine only:
    a loopback connection that no proxy forwarded."""

    scope = "metrics"

    def __call__(self, request: Request, settings: SettingsDep) -> None:
        expected = settings.METRICS_TOKEN
        if expected:
            sent = bearer_secret(request) or ""
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                raise NotSignedIn("the metrics need the scraper's token (METRICS_TOKEN)")
            return
        if not (settings.development and _is_local(request)):
            raise Forbidden("set METRICS_TOKEN to read the metrics from elsewhere")


def _is_local(request: Request) -> bool:
    forwarded = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    peer = request.client.host if request.client else ""
    return not forwarded and _is_among(peer, [ip_network("127.0.0.0/8"), ip_network("::1")])


@dataclass(frozen=True)
class BrandAccess:
    """A member's access to one brand: the brand, the person and their role in it."""

    brand: Brand
    user: User
    role: Role

    def can(self, role: str) -> bool:
        """Whether the person's role includes `role` (for templates)."""
        return self.role.includes(Role(role))

    def require(self, role: Role) -> None:
        """Refuse with 403 unless the person's role includes `role`."""
        if not self.role.includes(role):
            raise Forbidden(f"this needs the {role.value} role in {self.brand.name}")


def _brand_access(session: SessionDep, user: User, slug: str, minimum: Role) -> BrandAccess:
    membership: Membership | None = membership_get(session=session, user=user, brand_slug=slug)
    if membership is None:  # not a member: the brand does not exist, as far as they know
        raise NotFound(f"no brand {slug!r}")
    access = BrandAccess(brand=membership.brand, user=user, role=membership.role)
    access.require(minimum)
    return access


class BrandRole(AccessRule):
    scope = "brand"

    def __init__(self, minimum: Role) -> None:
        self.minimum = minimum

    def __call__(self, slug: str, principal: PrincipalDep, session: SessionDep) -> BrandAccess:
        user = SignedIn()(principal)
        assert self.minimum is not None
        return _brand_access(session, user, slug, self.minimum)


@dataclass(frozen=True)
class AssetAccess(BrandAccess):
    """A member's access to one of the brand's assets."""

    asset: Asset


class AssetRole(AccessRule):
    scope = "asset"

    def __init__(self, minimum: Role) -> None:
        self.minimum = minimum

    def __call__(self, asset_id: int, principal: PrincipalDep, session: SessionDep) -> AssetAccess:
        user = SignedIn()(principal)
        asset = asset_get(session=session, asset_id=asset_id)  # NotFound: "no asset {id}"
        missing = f"no asset {asset_id}"
        access = _owner_access(session, user, asset.brand_id, self.minimum, missing=missing)
        return AssetAccess(brand=access.brand, user=user, role=access.role, asset=asset)


def _owner_access(
    session: SessionDep, user: User, brand_id: int, minimum: Role | None, *, missing: str
) -> BrandAccess:
    """Access to the brand that owns a row; NotFound(`missing`) if the person is not a member
    of its brand, exactly as for a row that does not exist."""
    assert minimum is not None
    try:
        return _brand_access(session, user, session.get_one(Brand, brand_id).slug, minimum)
    except NotFound:
        raise NotFound(missing) from None


@dataclass(frozen=True)
class RunAccess(BrandAccess):
    """A member's access to one of the brand's runs."""

    run: Run


class RunRole(AccessRule):
    scope = "run"

    def __init__(self, minimum: Role) -> None:
        self.minimum = minimum

    def __call__(self, run_id: int, principal: PrincipalDep, session: SessionDep) -> RunAccess:
        user = SignedIn()(principal)
        run = session.get(Run, run_id)
        missing = f"no run {run_id}"
        if run is None:
            raise NotFound(missing)
        access = _owner_access(session, user, run.brand_id, self.minimum, missing=missing)
        return RunAccess(brand=access.brand, user=user, role=access.role, run=run)


Owned = TypeVar("Owned", AutotagJob, Suggestion, Try, ImportJob, ExportJob)


@dataclass(frozen=True)
class RowAccess(BrandAccess, Generic[Owned]):
    """A member's access to one row of the brand's: a job, a suggestion, a try, an import,
    an export."""

    row: Owned


class RowRole(AccessRule, Generic[Owned]):
    """The brand of the row named by the path parameter `param` (a table with `brand_id`)."""

    def __init__(self, table: type[Owned], param: str, noun: str, minimum: Role) -> None:
        self.table: type[Owned] = table
        self.param, self.noun, self.minimum = param, noun, minimum
        self.scope = noun  # type: ignore[assignment]

    def __call__(
        self, request: Request, principal: PrincipalDep, session: SessionDep
    ) -> RowAccess[Owned]:
        user = SignedIn()(principal)
        raw = str(request.path_params[self.param])
        row = session.get(self.table, int(raw)) if raw.isdigit() else None
        missing = f"no {self.noun} {raw}"
        if row is None:
            raise NotFound(missing)
        access = _owner_access(session, user, row.brand_id, self.minimum, missing=missing)
        return RowAccess(brand=access.brand, user=user, role=access.role, row=row)


CreativeBrand = Annotated[BrandAccess, Depends(BrandRole(Role.creative))]
MerchandiserBrand = Annotated[BrandAccess, Depends(BrandRole(Role.merchandiser))]
AdminBrand = Annotated[BrandAccess, Depends(BrandRole(Role.admin))]
CreativeAsset = Annotated[AssetAccess, Depends(AssetRole(Role.creative))]
CurrentUser = Annotated[User, Depends(SignedIn())]
CreativeRun = Annotated[RunAccess, Depends(RunRole(Role.creative))]
MerchandiserRun = Annotated[RunAccess, Depends(RunRole(Role.merchandiser))]
AdminRun = Annotated[RunAccess, Depends(RunRole(Role.admin))]


# Request bodies ----------------------------------------------------------------------------
# FastAPI reads and parses a body before it resolves any dependency, access rules included.


class BodyLimits:
    """Cap every request body, and let only a signed-in person send an upload route a large
    one: known from the headers, before the body is read.

    A body may hold MAX_BODY_BYTES; on an upload route, MAX_REQUEST_BYTES once the bearer
    token or session cookie resolves to a person, and otherwise the answer is 401 without
    reading the body. The route's own access rule still decides the rest. Starlette's
    limiter counts the bytes (Content-Length up front, then as they arrive). FastAPI's own
    `max_body_size` is not used: its per-route limits are fixed at import, ours come from each
    application's settings, and an application-wide one is applied again at every route.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        uploads: Sequence[APIRoute],
        refuse: Callable[[Request, DomainError], Awaitable[Response]],
    ) -> None:
        self.app = app
        self.settings = settings
        self.uploads = uploads
        self.refuse = refuse
        self.small = RequestBodyLimitMiddleware(app, max_body_size=settings.MAX_BODY_BYTES)
        self.large = RequestBodyLimitMiddleware(app, max_body_size=settings.MAX_REQUEST_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(
            route.matches(scope)[0] == Match.FULL for route in self.uploads
        ):
            return await self.small(scope, receive, send)
        request = Request(scope)
        refusal = await run_in_threadpool(self._refusal, request)
        if refusal is not None:
            response = await self.refuse(request, NotSignedIn(refusal))
            return await response(scope, receive, send)
        await self.large(scope, receive, send)

    def _refusal(self, request: Request) -> str | None:
        """Why the caller is not signed in, or None; reads only (the route resolves again)."""
        with request.app.state.sessionmaker() as session:
            if (secret := bearer_secret(request)) is not None:
                if token_resolve(session=session, secret=secret) is None:
                    return "the API token is not valid (revoked, expired or mistyped)"
                return None
            cookie = request.cookies.get(session_cookie(self.settings))
            if cookie and session_resolve(session=session, token=cookie, settings=self.settings):
                return None
        return "sign in first"


def takes_files(route: APIRoute) -> bool:
    """Whether a route's body carries uploaded files (multipart): an upload route."""
    return any(isinstance(p.field_info, params.File) for p in route.dependant.body_params)


# CSRF ------------------------------------------------------------------------------------
# A signed double-submit cookie: the cookie holds a random value, forms and htmx send its
# HMAC under SECRET_KEY. A cross-site page can neither read the cookie nor forge the HMAC.


def csrf_token_for(settings: Settings, cookie: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), cookie.encode(), hashlib.sha256).hexdigest()


class CsrfCookie:
    """Give every browser a CSRF cookie and expose the matching token on request.state."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cookie = Request(scope).cookies.get(csrf_cookie(self.settings))
        fresh = cookie is None
        cookie = cookie or secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_token"] = csrf_token_for(self.settings, cookie)

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", csrf_cookie_header(self.settings, cookie)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def csrf_cookie_header(settings: Settings, value: str) -> bytes:
    secure = "; Secure" if settings.secure_cookies else ""
    name = csrf_cookie(settings)
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}".encode()


async def csrf_protect(request: Request) -> None:
    """Refuse a state-changing request that a browser may have been tricked into sending.

    Bearer-token calls carry no ambient credential and need no token; every other unsafe
    request to a page, or to the API with a session cookie, must carry the CSRF token.
    """
    if request.method not in UNSAFE_METHODS or bearer_secret(request) is not None:
        return
    is_api = request.url.path.startswith("/api/")
    if is_api and session_cookie(request.app.state.settings) not in request.cookies:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        sent = str((await request.form()).get(CSRF_FIELD, ""))
    expected = getattr(request.state, "csrf_token", None)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden(
            "the form has expired or did not come from this site; reload the page and try again"
        )


def audit(
    request: Request,
    session: Session,
    *,
    action: str,
    brand: Brand | None = None,
    target: str = "",
    **detail: Any,
) -> None:
    """Record what the person behind this request did."""
    principal: Principal | None = getattr(request.state, "principal", None)
    audit_record(
        session=session,
        actor=principal.user if principal else None,
        brand=brand,
        action=action,
        target=target,
        address=client_address(request),
        **detail,
    )


MerchandiserJob = Annotated[
    RowAccess[AutotagJob],
    Depends(RowRole(AutotagJob, "job_id", "auto-tag job", Role.merchandiser)),
]
MerchandiserSuggestion = Annotated[
    RowAccess[Suggestion],
    Depends(RowRole(Suggestion, "suggestion_id", "suggestion", Role.merchandiser)),
]
CreativeTry = Annotated[RowAccess[Try], Depends(RowRole(Try, "try_id", "try", Role.creative))]
CreativeImport = Annotated[
    RowAccess[ImportJob], Depends(RowRole(ImportJob, "import_id", "import", Role.creative))
]
CreativeExport = Annotated[
    RowAccess[ExportJob], Depends(RowRole(ExportJob, "export_id", "export", Role.creative))
]
