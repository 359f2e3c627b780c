from datetime import datetime

from pydantic import BaseModel, Field

from app.accounts.models import Role
from app.schemas import Out


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    days: int | None = Field(default=90, ge=1, le=3650, description="None: never expires")


class TokenInfo(Out):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenInfo):
    secret: str = Field(description="shown this once; store it now")


class MembershipOut(BaseModel):
    brand: str
    role: Role


class MeOut(BaseModel):
    email: str
    name: str
    is_superuser: bool
    brands: list[MembershipOut]
