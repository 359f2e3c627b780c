"""The audit log of a brand, for its admins: filter by action, person and time."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.audit.schemas import AuditEventOut, AuditPage
from app.audit.service import AuditFilter, audit_actions, audit_page
from app.auth import AdminBrand
from app.deps import SessionDep
from app.web import fragment, is_htmx, page

api = APIRouter(prefix="/api/v1", tags=["audit"])
pages = APIRouter(include_in_schema=False)
PAGE = 100


def _filters(
    action: str | None, actor: str | None, since: date | None, until: date | None
) -> AuditFilter:
    """Dates are whole UTC days, `until` included."""
    return AuditFilter(
        action=action or None,
        actor=actor or None,
        since=datetime.combine(since, time(), UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), UTC) if until else None,
    )


@api.get("/brands/{slug}/audit", response_model=AuditPage)
def api_audit(
    access: AdminBrand,
    session: SessionDep,
    action: str | None = None,
    actor: str | None = None,
    since: date | None = None,
    until: date | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
) -> AuditPage:
    """The brand's events, newest first; `action` matches a prefix (`asset.` for all)."""
    items, next_cursor = audit_page(
        session=session,
        brand=access.brand,
        filters=_filters(action, actor, since, until),
        cursor=cursor,
        limit=limit,
    )
    return AuditPage(
        items=[AuditEventOut.model_validate(e) for e in items], next_cursor=next_cursor
    )


@pages.get("/brands/{slug}/audit", response_class=HTMLResponse)
def audit_log_page(
    request: Request,
    access: AdminBrand,
    session: SessionDep,
    action: str | None = None,
    actor: str | None = None,
    since: date | None = None,
    until: date | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    filters = _filters(action, actor, since, until)
    items, next_cursor = audit_page(
        session=session, brand=access.brand, filters=filters, cursor=cursor, limit=PAGE
    )
    context: dict[str, Any] = {
        "brand": access.brand,
        "access": access,
        "items": items,
        "next_cursor": next_cursor,
        "query": {
            "action": action or "",
            "actor": actor or "",
            "since": since.isoformat() if since else "",
            "until": until.isoformat() if until else "",
        },
    }
    if is_htmx(request):
        return fragment(request, "audit/log.html", "rows", **context)
    return page(
        request,
        "audit/log.html",
        actions=audit_actions(session=session, brand=access.brand),
        **context,
    )
