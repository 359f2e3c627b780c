"""Every table, imported in one place so that metadata (and Alembic) sees them all."""

from app.assets.models import Asset, AssetStatus, Tag, asset_tags
from app.brands.models import Brand
from app.db import Base
from app.styleguides.models import StyleGuideVersion, StyleTerm, TermKind

__all__ = [
    "Asset",
    "AssetStatus",
    "Base",
    "Brand",
    "StyleGuideVersion",
    "StyleTerm",
    "Tag",
    "TermKind",
    "asset_tags",
]
