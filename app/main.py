"""The web application: routers, error pages, limits and the health check."""

import errno
import logging
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client.exposition import choose_encoder
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.middleware.trustedhost import TrustedHostMiddleware

from app.accounts import views as account_views
from app.accounts.service import Throttled
from app.adapters import views as adapter_views
from app.assets import views as asset_views
from app.audit import views as audit_views
from app.auth import (
    BodyLimits,
    CsrfCookie,
    MetricsScraper,
    NotSignedIn,
    Public,
    SignedIn,
    csrf_protect,
    takes_files,
)
from app.autotag import views as autotag_views
from app.basemodels import views as basemodel_views
from app.brands import views as brand_views
from app.config import ROOT, Settings, settings
from app.datasets import views as dataset_views
from app.db import make_engine, make_sessionmaker
from app.errors import DomainError, Invalid
from app.evaluations import views as evaluation_views
from app.exports import views as export_views
from app.headers import SecurityHeaders
from app.imports import views as import_views
from app.interchange import views as interchange_views
from app.jobs import broker_ping, celery_client
from app.logs import RequestId, logs_configure
from app.members import views as member_views
from app.metrics import RequestTimer, WorkCollector, metrics_registry
from app.runs import views as run_views
from app.startup import start_refuse_unsafe
from app.storage import StorageUnavailable, open_store
from app.styleguides import views as styleguide_views
from app.web import page

log = logging.getLogger(__name__)

ROUTERS = [
    router
    for module in (
        account_views,
        brand_views,
        member_views,
        asset_views,
        styleguide_views,
        audit_views,
        basemodel_views,
        dataset_views,
        run_views,
        evaluation_views,
        adapter_views,
        autotag_views,
        interchange_views,
        import_views,
        export_views,
    )
    for router in (module.api, module.pages)
]


def route_table(app: FastAPI) -> list[APIRoute]:
    """Every route the application answers, with its dependencies (for the access matrix)."""
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    return routes + [r for r in app.routes if isinstance(r, APIRoute)]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in ("/healthz", "/metrics")


def create_app(config: Settings = settings) -> FastAPI:
    """Build the web application for these settings."""
    app = FastAPI(
        title="Atelier",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, to signed-in people only
        dependencies=[Depends(csrf_protect)],
    )
    app.state.settings = config
    app.state.engine = make_engine(config.DATABASE_URL)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    app.state.store = open_store(config.STORAGE_URL)
    app.state.celery = celery_client(config.BROKER_URL)

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    _add_error_handlers(app)
    _add_health(app)
    _add_metrics(app)
    _add_openapi(app)
    uploads = [route for route in route_table(app) if takes_files(route)]
    app.add_middleware(BodyLimits, settings=config, uploads=uploads, refuse=domain_error)
    app.add_middleware(CsrfCookie, settings=config)  # around BodyLimits: pages need its token
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.TRUSTED_HOSTS)
    # Error answers carry the headers too. Originals may be images from the store.
    app.add_middleware(SecurityHeaders, image_origin=app.state.store.browser_origin)
    app.add_middleware(RequestTimer)
    app.add_middleware(RequestId)  # outermost: every answer and log line has the id
    return app


def serve_app() -> FastAPI:
    """The application of a server process (`atelier serve`, or uvicorn/gunicorn with
    `--factory app.main:serve_app`): unsafe settings refused, LOG_FORMAT applied."""
    start_refuse_unsafe(settings, "web")
    logs_configure(settings)
    return create_app(settings)


def _add_openapi(app: FastAPI) -> None:
    @app.get("/api/v1/openapi.json", include_in_schema=False, dependencies=[Depends(SignedIn())])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())


async def domain_error(request: Request, exc: DomainError) -> Response:
    """The answer to a refused request: JSON for the API, a page (or sign-in) otherwise."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
    if isinstance(exc, NotSignedIn):
        if not _wants_json(request):
            query = f"?{request.url.query}" if request.url.query else ""
            target = quote(request.url.path + query)
            return RedirectResponse(f"/login?next={target}", status_code=303)
        headers = {"WWW-Authenticate": "Bearer"}
    if _wants_json(request):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=headers)
    return page(
        request, "error.html", status_code=exc.status_code, message=str(exc), headers=headers
    )


class Unavailable(DomainError):
    """The database cannot serve now; the request changed nothing."""

    status_code = 503


class StorageFull(DomainError):
    status_code = 507


async def database_away(request: Request, exc: Exception) -> Response:
    """A lost connection (a restarted or failed-over server, a killed backend): 503 for this
    request; the pool checks each connection before use, so the next one gets a fresh one."""
    assert isinstance(exc, DBAPIError)
    if isinstance(exc, DataError):  # an id or number beyond what a column holds
        return await out_of_range(request, exc)
    if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
        raise exc
    log.warning("database unavailable: %s", exc.orig)
    sentence = "The database is unavailable for a moment; nothing was saved. Try again."
    return await domain_error(request, Unavailable(sentence))


async def storage_failed(request: Request, exc: Exception) -> Response:
    """A full disk while blobs are written: the transaction rolled back and its staged blobs
    with it, so the answer can say that nothing was kept."""
    assert isinstance(exc, OSError)
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        raise exc
    log.error("blob store full: %s", exc)
    sentence = "The storage is full: nothing from this request was kept. Try again later."
    return await domain_error(request, StorageFull(sentence))


async def storage_away(request: Request, exc: Exception) -> Response:
    """The object store unreachable, or its bucket missing: the transaction rolled back, so
    nothing of the request was kept (the store's own sentence goes to the log)."""
    log.error("blob store unavailable: %s", exc)
    sentence = "The storage is unavailable: nothing from this request was kept. Try again later."
    return await domain_error(request, Unavailable(sentence))


async def out_of_range(request: Request, exc: Exception) -> Response:
    """An id past 2**63 (SQLite's driver raises OverflowError, PostgreSQL a DataError)."""
    return await domain_error(request, Invalid("A number in the request is out of range."))


def _add_error_handlers(app: FastAPI) -> None:
    app.exception_handler(DomainError)(domain_error)
    app.exception_handler(DBAPIError)(database_away)
    app.exception_handler(OSError)(storage_failed)
    app.exception_handler(StorageUnavailable)(storage_away)
    app.exception_handler(OverflowError)(out_of_range)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": jsonable_errors(exc)}, status_code=422)
        messages = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors()
        )
        return page(request, "error.html", status_code=422, message=messages)


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"], dependencies=[Depends(Public())])
    def healthz() -> JSONResponse:
        """Whether the database and the broker answer."""
        checks = {
            "database": _check(lambda: _db_ping(app)),
            "broker": _check(lambda: broker_ping(app.state.celery)),
        }
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", **checks},
            status_code=200 if healthy else 503,
        )


def _add_metrics(app: FastAPI) -> None:
    work = WorkCollector(app.state.sessionmaker, app.state.settings.BROKER_URL)
    app.state.metrics = metrics_registry(work)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(MetricsScraper())])
    def metrics(request: Request) -> Response:
        """Prometheus metrics (the text format, or OpenMetrics when the scraper asks)."""
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(app.state.metrics), media_type=content_type)


def _db_ping(app: FastAPI) -> None:
    with app.state.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check(probe: Any) -> str:
    """ "ok" or "unreachable": anyone may ask, and the error's text can show hosts and users."""
    try:
        probe()
    except Exception:
        log.exception("health check failed")
        return "unreachable"
    return "ok"
