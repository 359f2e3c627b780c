"""Passwords (argon2id) and random tokens (stored as their SHA-256 only)."""

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user, same cost")

MIN_PASSWORD_LENGTH = 10


def password_hash(password: str) -> str:
    return _hasher.hash(password)


def password_verify(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: an unknown account, checked all the same)."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "the password is longer than 1024 characters"
    return None


def token_new(prefix: str) -> str:
    """A random token with a readable prefix (`atl_…` for API tokens)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
