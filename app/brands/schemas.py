from datetime import datetime

from pydantic import BaseModel, Field

from app.accounts.models import Role
from app.brands.models import Brand


class BrandCreate(BaseModel):
    slug: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    name: str = Field(min_length=1, max_length=200)


class BrandOut(BaseModel):
    slug: str
    name: str
    created_at: datetime
    role: Role

    @classmethod
    def of(cls, brand: Brand, role: Role) -> "BrandOut":
        return cls(slug=brand.slug, name=brand.name, created_at=brand.created_at, role=role)
