"""People, memberships, invitations, sign-in with its slow-down, sessions and API tokens."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from app.accounts.models import (
    ApiToken,
    Invitation,
    LoginSession,
    LoginThrottle,
    Membership,
    Role,
    User,
)
from app.accounts.security import (
    password_hash,
    password_problem,
    password_verify,
    token_digest,
    token_new,
)
from app.brands.models import Brand
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, DomainError, Invalid, NotFound


class InvalidCredentials(DomainError):
    status_code = 401


class Throttled(DomainError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} seconds")
        self.retry_after = retry_after


def email_normalise(email: str) -> str:
    """Trimmed, lower-case; refuses what cannot be an address."""
    clean = email.strip().lower()
    local, _, domain = clean.partition("@")
    if not local or "." not in domain or " " in clean or len(clean) > 320:
        raise Invalid(f"{email!r} is not an e-mail address")
    return clean


def user_create(
    *, session: Session, email: str, password: str, name: str = "", is_superuser: bool = False
) -> User:
    """Create a person who signs in with this e-mail and password."""
    email = email_normalise(email)
    if problem := password_problem(password):
        raise Invalid(problem)
    if user_by_email(session=session, email=email) is not None:
        raise Conflict(f"{email} has an account already")
    user = User(
        email=email,
        name=name.strip()[:200],
        password_hash=password_hash(password),
        is_superuser=is_superuser,
    )
    session.add(user)
    session.flush()
    return user


def user_by_email(*, session: Session, email: str) -> User | None:
    """The person with this e-mail address, if any."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def user_password_change(
    *, session: Session, user: User, current: str, new: str, revoke_tokens: bool = False
) -> None:
    """Change a password, given the current one; other sessions are signed out, and the
    person's API tokens revoked if asked (a leaked password may have minted some)."""
    if not password_verify(user.password_hash, current):
        raise Invalid("the current password is not right")
    if problem := password_problem(new):
        raise Invalid(problem)
    user.password_hash = password_hash(new)
    for other in sessions_active(session=session, user=user):
        other.revoked_at = utcnow()
    if revoke_tokens:
        for token in tokens_of(session=session, user=user):
            token.revoked_at = token.revoked_at or utcnow()


# Memberships -----------------------------------------------------------------------------


def membership_get(*, session: Session, user: User, brand_slug: str) -> Membership | None:
    """The person's membership of the brand with this slug (with the brand), if any."""
    return session.scalar(
        select(Membership)
        .join(Brand, Brand.id == Membership.brand_id)
        .where(Membership.user_id == user.id, Brand.slug == brand_slug)
        .options(joinedload(Membership.brand))
    )


def memberships_of(*, session: Session, user: User) -> list[Membership]:
    """The person's memberships, with their brands, by brand name."""
    return list(
        session.scalars(
            select(Membership)
            .join(Brand, Brand.id == Membership.brand_id)
            .where(Membership.user_id == user.id)
            .options(joinedload(Membership.brand))
            .order_by(Brand.name)
        )
    )


def members_list(*, session: Session, brand: Brand) -> list[Membership]:
    """The brand's members with their accounts, by e-mail."""
    return list(
        session.scalars(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.brand_id == brand.id)
            .options(joinedload(Membership.user))
            .order_by(User.email)
        )
    )


def membership_set(*, session: Session, brand: Brand, user: User, role: Role) -> Membership:
    """Give the person this role in the brand, adding them if they are not a member."""
    membership = session.scalar(
        select(Membership).where(Membership.brand_id == brand.id, Membership.user_id == user.id)
    )
    if membership is None:
        membership = Membership(brand_id=brand.id, user_id=user.id, role=role)
        session.add(membership)
    else:
        if membership.role == Role.admin and role != Role.admin:
            _keep_an_admin(session=session, brand=brand)
        membership.role = role
    session.flush()
    return membership


def membership_in(*, session: Session, brand: Brand, user_id: int) -> Membership:
    """The person's membership of the brand, with the person; NotFound if they are none."""
    membership = session.scalar(
        select(Membership)
        .where(Membership.brand_id == brand.id, Membership.user_id == user_id)
        .options(joinedload(Membership.user))
    )
    if membership is None:
        raise NotFound(f"no member {user_id}")
    return membership


def membership_remove(*, session: Session, brand: Brand, user_id: int) -> Membership:
    """Remove a person from the brand (never its last admin)."""
    membership = membership_in(session=session, brand=brand, user_id=user_id)
    if membership.role == Role.admin:
        _keep_an_admin(session=session, brand=brand)
    session.delete(membership)
    session.flush()
    return membership


def _keep_an_admin(*, session: Session, brand: Brand) -> None:
    admins = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.brand_id == brand.id, Membership.role == Role.admin)
    )
    if (admins or 0) <= 1:
        raise Conflict("a brand keeps at least one admin")


# Invitations -----------------------------------------------------------------------------


def invitation_create(
    *, session: Session, brand: Brand, email: str, role: Role, invited_by: User, settings: Settings
) -> tuple[Invitation, str]:
    """An invitation to join the brand, and its secret (shown once, to put in a link).

    Whether an account uses the address or not, the answer is the same: nobody joins a brand
    without accepting, and the admin learns nothing about other brands' people."""
    email = email_normalise(email)
    member = session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.brand_id == brand.id, User.email == email)
    )
    if member is not None:  # the admin sees the brand's members anyway
        raise Conflict(f"{email} is a member of {brand.name} already")
    token = token_new("inv")
    invitation = Invitation(
        brand_id=brand.id,
        email=email,
        role=role,
        token_hash=token_digest(token),
        invited_by_id=invited_by.id,
        expires_at=utcnow() + timedelta(days=settings.INVITATION_DAYS),
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def invitation_open(*, session: Session, token: str) -> Invitation:
    """The invitation behind this secret, if it is still open."""
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == token_digest(token))
    )
    if invitation is None or invitation.accepted_at or invitation.expires_at < utcnow():
        raise NotFound("this invitation is not valid any more; ask for a new one")
    return invitation


def invitations_pending(*, session: Session, brand: Brand) -> list[Invitation]:
    """The brand's invitations that are neither accepted nor expired, newest first."""
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.brand_id == brand.id,
                Invitation.accepted_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.id.desc())
        )
    )


def invitation_accept(
    *, session: Session, invitation: Invitation, name: str, password: str
) -> User:
    """Create the invited person's account and membership."""
    if user_by_email(session=session, email=invitation.email) is not None:
        raise Conflict("an account uses this address already: sign in, then open the link again")
    user = user_create(session=session, email=invitation.email, password=password, name=name)
    invitation_join(session=session, invitation=invitation, user=user)
    return user


def invitation_join(*, session: Session, invitation: Invitation, user: User) -> Membership:
    """The signed-in addressee accepts: they join the brand with the invited role."""
    if user.email != invitation.email:
        raise Conflict(
            f"this invitation is for another address than {user.email}; sign in with that one"
        )
    brand = session.get_one(Brand, invitation.brand_id)
    membership = membership_set(session=session, brand=brand, user=user, role=invitation.role)
    invitation.accepted_at = utcnow()
    session.flush()
    return membership


def invitation_revoke(*, session: Session, brand: Brand, invitation_id: int) -> Invitation:
    """Withdraw an open invitation."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.brand_id != brand.id or invitation.accepted_at:
        raise NotFound(f"no open invitation {invitation_id}")
    invitation.expires_at = utcnow()
    session.flush()
    return invitation


# Sign-in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    email: str
    address: str
    at: datetime


def login_check(*, session: Session, attempt: Attempt, password: str, settings: Settings) -> User:
    """The person these credentials belong to; slowed down after repeated failures."""
    keys = {
        f"email:{attempt.email.strip().lower()}": settings.LOGIN_FREE_FAILURES,
        f"addr:{attempt.address}": settings.LOGIN_FREE_FAILURES_PER_ADDRESS,
    }
    for key, free in keys.items():
        _throttle_check(session=session, key=key, free=free, attempt=attempt, settings=settings)
    user = user_by_email(session=session, email=attempt.email)
    if not password_verify(user.password_hash if user else None, password) or (
        user is not None and not user.is_active
    ):
        for key in keys:
            _throttle_fail(session=session, key=key, at=attempt.at)
        raise InvalidCredentials("the e-mail or the password is not right")
    assert user is not None
    throttle = session.get(LoginThrottle, f"email:{user.email}")
    if throttle is not None:
        session.delete(throttle)
    return user


def _throttle_check(
    *, session: Session, key: str, free: int, attempt: Attempt, settings: Settings
) -> None:
    # Locked until the attempt's transaction ends (PostgreSQL): a concurrent attempt on the
    # same key waits, then sees this one's failure counted.
    throttle = session.get(LoginThrottle, key, with_for_update=True)
    if throttle is None or throttle.failures < free:
        return
    wait = min(2 ** (throttle.failures - free), settings.LOGIN_MAX_WAIT_SECONDS)
    remaining = throttle.last_failure_at + timedelta(seconds=wait) - attempt.at
    if remaining.total_seconds() > 0:
        raise Throttled(retry_after=int(remaining.total_seconds()) + 1)


def _throttle_fail(*, session: Session, key: str, at: datetime) -> None:
    """Count one failure on the key: an increment in the database, never lost to a race."""
    counted = session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(failures=LoginThrottle.failures + 1, last_failure_at=at)
        .execution_options(synchronize_session="fetch")
    )
    if counted.rowcount == 1:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(LoginThrottle(key=key, failures=1, last_failure_at=at))
    except IntegrityError:  # a concurrent failure created it meanwhile: count on it
        _throttle_fail(session=session, key=key, at=at)


# Sessions --------------------------------------------------------------------------------


def session_start(
    *, session: Session, user: User, address: str, user_agent: str, settings: Settings
) -> str:
    """Open a browser session for the person; returns the cookie's secret."""
    token = token_new("ses")
    now = utcnow()
    session.add(
        LoginSession(
            user_id=user.id,
            token_hash=token_digest(token),
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.SESSION_MAX_SECONDS),
            address=address[:64],
            user_agent=user_agent[:300],
        )
    )
    session.flush()
    return token


def session_resolve(*, session: Session, token: str, settings: Settings) -> LoginSession | None:
    """The live session behind a cookie: not revoked, not idle too long, not past its end."""
    found = session.scalar(
        select(LoginSession)
        .where(LoginSession.token_hash == token_digest(token))
        .options(joinedload(LoginSession.user))
    )
    now = utcnow()
    if found is None or found.revoked_at is not None or found.expires_at <= now:
        return None
    if now - found.last_seen_at > timedelta(seconds=settings.SESSION_IDLE_SECONDS):
        return None
    if not found.user.is_active:
        return None
    if now - found.last_seen_at > timedelta(seconds=60):  # one write a minute, not a request
        found.last_seen_at = now
    return found


def sessions_active(*, session: Session, user: User) -> list[LoginSession]:
    """The person's sessions that are not revoked or past their end, newest first."""
    return list(
        session.scalars(
            select(LoginSession)
            .where(
                LoginSession.user_id == user.id,
                LoginSession.revoked_at.is_(None),
                LoginSession.expires_at > utcnow(),
            )
            .order_by(LoginSession.id.desc())
        )
    )


def session_revoke(*, session: Session, user: User, session_id: int) -> LoginSession:
    """Sign one of the person's sessions out."""
    found = session.get(LoginSession, session_id)
    if found is None or found.user_id != user.id:
        raise NotFound(f"no session {session_id}")
    found.revoked_at = found.revoked_at or utcnow()
    session.flush()
    return found


# API tokens ------------------------------------------------------------------------------


TOKEN_MAX_DAYS = 3650  # as the API's schema says; far more overflows the date


def token_create(
    *, session: Session, user: User, name: str, days: int | None
) -> tuple[ApiToken, str]:
    """A personal API token; the secret is returned here once and never stored."""
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise Invalid("name the token (up to 100 characters)")
    if days is not None and not 1 <= days <= TOKEN_MAX_DAYS:
        raise Invalid(f"a token lasts 1 to {TOKEN_MAX_DAYS} days (or leave the days empty)")
    secret = token_new("atl")
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[:8],
        token_hash=token_digest(secret),
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    session.add(token)
    session.flush()
    return token, secret


def token_resolve(*, session: Session, secret: str) -> ApiToken | None:
    """The live token behind a bearer secret; records its use."""
    token = session.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == token_digest(secret))
        .options(joinedload(ApiToken.user))
    )
    now = utcnow()
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(seconds=60):
        token.last_used_at = now
    return token


def tokens_of(*, session: Session, user: User) -> list[ApiToken]:
    """The person's tokens that are not revoked, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def token_revoke(*, session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the person's tokens."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"no token {token_id}")
    token.revoked_at = token.revoked_at or utcnow()
    session.flush()
    return token
