from datetime import datetime

from pydantic import BaseModel, Field

from app.accounts.models import Membership, Role


class MemberOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: Role
    since: datetime

    @classmethod
    def of(cls, membership: Membership) -> "MemberOut":
        return cls(
            user_id=membership.user_id,
            email=membership.user.email,
            name=membership.user.name,
            role=membership.role,
            since=membership.created_at,
        )


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
