"""The audit log: who did what and when. Events are added, never changed."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.audit.models import AuditEvent
from app.brands.models import Brand
from app.errors import Invalid


def audit_record(
    *,
    session: Session,
    actor: User | None,
    brand: Brand | None,
    action: str,
    target: str = "",
    address: str = "",
    **detail: Any,
) -> AuditEvent:
    """Add one event to the log (committed with the change it describes)."""
    event = AuditEvent(
        brand_id=brand.id if brand else None,
        user_id=actor.id if actor else None,
        actor=actor.email if actor else "",
        action=action,
        target=target[:300],
        address=address[:64],
        detail=detail,
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_page(
    *, session: Session, brand: Brand, filters: AuditFilter, cursor: str | None, limit: int
) -> tuple[list[AuditEvent], str | None]:
    """One page of the brand's events, newest first, and the cursor of the next page."""
    query = select(AuditEvent).where(AuditEvent.brand_id == brand.id)
    if filters.action:
        query = query.where(AuditEvent.action.startswith(filters.action, autoescape=True))
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor.strip().lower())
    if filters.since:
        query = query.where(AuditEvent.created_at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.created_at < filters.until)
    if cursor:
        if not cursor.isdigit():
            raise Invalid("the cursor is not one this server handed out")
        query = query.where(AuditEvent.id < int(cursor))
    rows = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    return rows[:limit], (str(rows[limit - 1].id) if len(rows) > limit else None)


def audit_actions(*, session: Session, brand: Brand) -> list[str]:
    """The actions that occur in the brand's log, for the filter."""
    return list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.brand_id == brand.id)
            .distinct()
            .order_by(AuditEvent.action)
        )
    )
