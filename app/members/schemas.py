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
    """Either the new member (the person had an account) or an invitation link to hand over."""

    member: MemberOut | None = None
    invite_url: str | None = None
    invite_expires_at: datetime | None = None
