"""A brand's members (admins only): invite by e-mail, change roles, remove."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.accounts.models import Role
from app.accounts.service import (
    invitation_create,
    invitation_revoke,
    invitations_pending,
    members_list,
    membership_in,
    membership_remove,
    membership_set,
)
from app.auth import AdminBrand, BrandAccess, audit
from app.deps import SessionDep, SettingsDep
from app.errors import DomainError, Invalid
from app.members.schemas import MemberAdd, MemberAdded, MemberOut, MemberRole
from app.web import page

api = APIRouter(prefix="/api/v1", tags=["members"])
pages = APIRouter(include_in_schema=False)


def _add(
    request: Request,
    *,
    access: BrandAccess,
    session: SessionDep,
    settings: SettingsDep,
    email: str,
    role: Role,
) -> MemberAdded:
    """Invite by e-mail: the person joins when they accept, whether they have an account or not."""
    invitation, token = invitation_create(
        session=session,
        brand=access.brand,
        email=email,
        role=role,
        invited_by=access.user,
        settings=settings,
    )
    audit(
        request,
        session,
        action="member.invite",
        brand=access.brand,
        target=invitation.email,
        role=role.value,
    )
    # The secret rides in the fragment: browsers never send it, so no log records it.
    return MemberAdded(
        email=invitation.email,
        role=invitation.role,
        invite_url=f"{request.url_for('invitation_page')}#{token}",
        invite_expires_at=invitation.expires_at,
    )


@api.get("/brands/{slug}/members", response_model=list[MemberOut])
def api_members(access: AdminBrand, session: SessionDep) -> list[MemberOut]:
    return [MemberOut.model_validate(m) for m in members_list(session=session, brand=access.brand)]


@api.post("/brands/{slug}/members", response_model=MemberAdded, status_code=201)
def api_member_add(
    request: Request,
    body: MemberAdd,
    access: AdminBrand,
    session: SessionDep,
    settings: SettingsDep,
) -> MemberAdded:
    """Invite a member by e-mail; answers the invitation link to hand over."""
    return _add(
        request, access=access, session=session, settings=settings, email=body.email, role=body.role
    )


@api.patch("/brands/{slug}/members/{user_id}", response_model=MemberOut)
def api_member_role(
    request: Request, user_id: int, body: MemberRole, access: AdminBrand, session: SessionDep
) -> MemberOut:
    membership = membership_in(session=session, brand=access.brand, user_id=user_id)
    membership_set(session=session, brand=access.brand, user=membership.user, role=body.role)
    audit(
        request,
        session,
        action="member.role",
        brand=access.brand,
        target=membership.user.email,
        role=body.role.value,
    )
    return MemberOut.model_validate(membership)


@api.delete("/brands/{slug}/members/{user_id}", status_code=204)
def api_member_remove(
    request: Request, user_id: int, access: AdminBrand, session: SessionDep
) -> Response:
    membership = membership_remove(session=session, brand=access.brand, user_id=user_id)
    audit(
        request, session, action="member.remove", brand=access.brand, target=membership.user.email
    )
    return Response(status_code=204)


def _members_page(
    request: Request,
    access: BrandAccess,
    session: SessionDep,
    *,
    added: MemberAdded | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "members/members.html",
        status_code=status_code,
        brand=access.brand,
        access=access,
        members=members_list(session=session, brand=access.brand),
        invitations=invitations_pending(session=session, brand=access.brand),
        roles=list(Role),
        added=added,
        error=error,
    )


@pages.get("/brands/{slug}/members", response_class=HTMLResponse)
def members_page(request: Request, access: AdminBrand, session: SessionDep) -> HTMLResponse:
    return _members_page(request, access, session)


@pages.post("/brands/{slug}/members", response_class=HTMLResponse)
def member_add_form(
    request: Request,
    access: AdminBrand,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()],
    role: Annotated[str, Form()],
) -> HTMLResponse:
    try:
        added = _add(
            request,
            access=access,
            session=session,
            settings=settings,
            email=email,
            role=_role(role),
        )
    except DomainError as exc:
        session.rollback()
        return _members_page(request, access, session, error=str(exc), status_code=422)
    return _members_page(request, access, session, added=added)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid(f"role must be one of {', '.join(Role)}") from None


@pages.post(
    "/brands/{slug}/members/{user_id}/role", response_class=HTMLResponse, response_model=None
)
def member_role_form(
    request: Request,
    user_id: int,
    access: AdminBrand,
    session: SessionDep,
    role: Annotated[str, Form()],
) -> HTMLResponse | RedirectResponse:
    try:
        api_member_role(request, user_id, MemberRole(role=_role(role)), access, session)
    except DomainError as exc:
        session.rollback()
        return _members_page(request, access, session, error=str(exc), status_code=422)
    return RedirectResponse(request.app.url_path_for("members_page", slug=access.brand.slug), 303)


@pages.post(
    "/brands/{slug}/members/{user_id}/remove", response_class=HTMLResponse, response_model=None
)
def member_remove_form(
    request: Request, user_id: int, access: AdminBrand, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    try:
        api_member_remove(request, user_id, access, session)
    except DomainError as exc:
        session.rollback()
        return _members_page(request, access, session, error=str(exc), status_code=422)
    return RedirectResponse(request.app.url_path_for("members_page", slug=access.brand.slug), 303)


@pages.post("/brands/{slug}/invitations/{invitation_id}/revoke", response_model=None)
def invitation_revoke_form(
    request: Request, invitation_id: int, access: AdminBrand, session: SessionDep
) -> RedirectResponse:
    invitation = invitation_revoke(session=session, brand=access.brand, invitation_id=invitation_id)
    audit(
        request, session, action="member.invite_revoke", brand=access.brand, target=invitation.email
    )
    return RedirectResponse(request.app.url_path_for("members_page", slug=access.brand.slug), 303)
