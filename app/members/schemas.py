from datetime import datetime

from pydantic import AliasPath, BaseModel, Field

from app.accounts.models import Role
from app.schemas import Out


class MemberOut(Out):
    """A membership, read with its user."""

    user_id: int
    email: str = Field(validation_alias=AliasPath("user", "email"))
    name: str = Field(validation_alias=AliasPath("user", "name"))
    role: Role
    since: datetime = Field(validation_alias="created_at")


class MemberAdd(BaseModel):
    email: str = Field(max_length=320)
    role: Role


class MemberRole(BaseModel):
    role: Role


class MemberAdded(BaseModel):
    """An invitation link to hand over; the same whether the address has an account or not."""

    email: str
    role: Role
    invite_url: str
    invite_expires_at: datetime
