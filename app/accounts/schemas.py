from datetime import datetime

from pydantic import BaseModel, Field

from app.accounts.models import ApiToken, Role


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    days: int | None = Field(default=90, ge=1, le=3650, description="None: never expires")


class TokenInfo(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> "TokenInfo":
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
        )


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
