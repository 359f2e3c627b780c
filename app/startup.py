"""What the web process and a worker check before they start: outside development they
refuse unsafe settings, listing every problem at once, one sentence each.

Besides the settings themselves (`Settings.problems`), the demo admin is checked in the
database: `atelier demo` refuses the shipped password outside development, but a database
seeded in development and then put into production keeps the account with the password that
the README publishes. The setting alone is harmless (no demo seeded, no such account), so the
account is what is checked: it exists and the shipped password opens it.
"""

import logging
import sys

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.config import DEMO_DEFAULT_PASSWORD, Settings

log = logging.getLogger(__name__)


def start_problems(settings: Settings) -> list[str]:
    """Every reason not to start with these settings; empty in development."""
    if settings.development:
        return []
    found = settings.problems()
    if _demo_admin_has_the_shipped_password(settings):
        found.append(
            f"The demo admin {settings.DEMO_ADMIN_EMAIL} still signs in with the shipped "
            "password: change it on its account page, or remove the account."
        )
    return found


def start_refuse_unsafe(settings: Settings, process: str) -> None:
    """Exit with status 2, the problems on stderr, unless these settings are safe to start."""
    problems = start_problems(settings)
    if not problems:
        return
    lines = [f"atelier {process} refuses to start (ENVIRONMENT={settings.ENVIRONMENT}):"]
    sys.stderr.write("\n".join([*lines, *(f"  - {p}" for p in problems)]) + "\n")
    sys.stderr.flush()
    raise SystemExit(2)


def _demo_admin_has_the_shipped_password(settings: Settings) -> bool:
    from app.accounts.models import User
    from app.accounts.security import password_verify
    from app.db import make_engine

    engine = make_engine(settings.DATABASE_URL, immediate=False)
    try:
        with engine.connect() as connection:
            query = select(User.password_hash).where(User.email == settings.DEMO_ADMIN_EMAIL)
            stored = connection.execute(query).scalar_one_or_none()
    except SQLAlchemyError as exc:  # not reachable or not migrated yet: nothing to check
        log.warning("the demo admin could not be checked: %s", type(exc).__name__)
        return False
    finally:
        engine.dispose()
    return stored is not None and password_verify(stored, DEMO_DEFAULT_PASSWORD)
