from sqlalchemy import select
from sqlalchemy.orm import Session

from app.brands.models import Brand
from app.errors import Conflict, NotFound


def brand_get(*, session: Session, slug: str) -> Brand:
    """The brand with this slug, or NotFound."""
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"no brand {slug!r}")
    return brand


def brand_list(*, session: Session) -> list[Brand]:
    """Every brand, by name."""
    return list(session.scalars(select(Brand).order_by(Brand.name)))


def brand_create(*, session: Session, slug: str, name: str) -> Brand:
    """Create a brand; its slug must be new."""
    if session.scalar(select(Brand.id).where(Brand.slug == slug)) is not None:
        raise Conflict(f"a brand with slug {slug!r} exists already")
    brand = Brand(slug=slug, name=name)
    session.add(brand)
    session.flush()
    return brand
