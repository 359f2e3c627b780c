"""Every table, imported in one place so that metadata (and Alembic) sees them all."""

from app.accounts.models import (
    ApiToken,
    Invitation,
    LoginSession,
    LoginThrottle,
    Membership,
    Role,
    User,
)
from app.assets.models import Asset, AssetStatus, Tag, asset_tags
from app.audit.models import AuditEvent
from app.brands.models import Brand
from app.db import Base
from app.styleguides.models import StyleGuideVersion, StyleTerm, TermKind

__all__ = [
    "ApiToken",
    "Asset",
    "AssetStatus",
    "AuditEvent",
    "Base",
    "Brand",
    "Invitation",
    "LoginSession",
    "LoginThrottle",
    "Membership",
    "Role",
    "StyleGuideVersion",
    "StyleTerm",
    "Tag",
    "TermKind",
    "User",
    "asset_tags",
]
