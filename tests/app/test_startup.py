"""Outside development the web process and a worker refuse unsafe settings, each saying
every reason at once; development starts with every embedded default, as before."""

import os
import subprocess
import sys

import pytest
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.accounts.security import password_hash
from app.config import DEMO_DEFAULT_PASSWORD, Settings
from app.startup import start_problems

pytestmark = pytest.mark.processes

ATELIER = [sys.executable, "-m", "app.cli"]
CELERY = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool", "solo"]
SECRET = "a long random secret of the installation, not the shipped one"


def _demo_admin(session: Session, password: str) -> None:
    session.add(User(email="admin@demo.atelier", password_hash=password_hash(password)))
    session.commit()


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "BROKER_URL": settings.BROKER_URL,
        "STORAGE_URL": settings.STORAGE_URL,
        **extra,
    }


@pytest.mark.parametrize(
    ("process", "argv"),
    [
        ("serve", [*ATELIER, "serve", "--port", "0"]),
        ("worker", [*ATELIER, "worker"]),
        ("worker", CELERY),  # a worker started without the CLI refuses too
    ],
    ids=["atelier serve", "atelier worker", "celery worker"],
)
def test_production_refuses_to_start_and_says_every_reason(
    settings: Settings, session: Session, process: str, argv: list[str]
) -> None:
    _demo_admin(session, DEMO_DEFAULT_PASSWORD)
    env = _env(settings, ENVIRONMENT="production", WORKERS_REMOTE="true")
    env.pop("SECRET_KEY", None)
    started = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    said = started.stderr
    assert started.returncode != 0, said
    assert f"atelier {process} refuses to start (ENVIRONMENT=production)" in said
    expected = [
        "SECRET_KEY is the development value: set a long random secret.",
        "BROKER_URL is the SQLite broker: use Redis (redis://host:6379/0).",
        "STORAGE_URL is a local folder but WORKERS_REMOTE is set",
        "The demo admin admin@demo.atelier still signs in with the shipped password",
    ]
    if settings.DATABASE_URL.startswith("sqlite"):
        expected.append("DATABASE_URL is SQLite: use PostgreSQL (postgresql+psycopg://...).")
    assert [sentence for sentence in expected if sentence not in said] == []
    assert "Traceback" not in said, "sentences, not a trace"


def test_a_safe_production_has_nothing_to_say(settings: Settings, session: Session) -> None:
    _demo_admin(session, "the admin chose this one")
    production = settings.model_copy(
        update={
            "ENVIRONMENT": "production",
            "SECRET_KEY": SECRET,
            "DATABASE_URL": settings.DATABASE_URL,
            "BROKER_URL": "redis://redis.internal:6379/0",
            "WORKERS_REMOTE": False,  # the workers share the web host's folder
        }
    )
    found = start_problems(production)
    if settings.DATABASE_URL.startswith("sqlite"):
        assert found == ["DATABASE_URL is SQLite: use PostgreSQL (postgresql+psycopg://...)."]
    else:
        assert found == [], "PostgreSQL, Redis, a real secret, the demo admin's own password"


def test_development_keeps_every_embedded_default(settings: Settings, session: Session) -> None:
    """SQLite, the SQLite broker, the development secret, a local folder, the demo admin with
    its published password: all fine on a laptop (the servers of tests/app/cli/test_serve.py
    and tests/app/test_logs.py start so)."""
    _demo_admin(session, DEMO_DEFAULT_PASSWORD)
    development = settings.model_copy(update={"WORKERS_REMOTE": True})
    assert development.ENVIRONMENT == "development" and start_problems(development) == []
