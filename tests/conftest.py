"""Shared fixtures: a migrated database per backend (SQLite and PostgreSQL), a clean slate per
test, a blob folder per test and a client of the real application.

Tests that use the database run once per backend. ATELIER_TEST_BACKENDS=sqlite (or
postgresql) narrows that for a quick local run; CI runs both. PostgreSQL and Redis are those
ATELIER_TEST_POSTGRES and ATELIER_TEST_REDIS name (the machine's own by default), or, when they
do not answer, throwaway ones the session starts (tests/services.py).
"""

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.accounts.security import password_hash
from app.accounts.service import token_create
from app.assets.images import Limits
from app.basemodels.service import basemodel_demo_ensure
from app.brands.models import Brand
from app.config import ROOT, Settings
from app.db import Base, make_engine, make_sessionmaker
from app.main import create_app
from app.migrate import db_upgrade
from app.storage import LocalBlobStore
from tests import processes, services
from tests.families import families_skip

BACKENDS = os.environ.get("ATELIER_TEST_BACKENDS", "sqlite,postgresql").split(",")
SERVICES = pytest.StashKey[list[services.Server]]()


def pytest_configure(config: pytest.Config) -> None:
    """PostgreSQL and Redis, started here if they do not answer: in xdist's controller (or a
    session without xdist), before the workers start, so that they inherit one of each."""
    if hasattr(config, "workerinput") or config.option.help or config.option.version:
        return
    config.stash[SERVICES] = services.services_ensure(os.environ, postgres="postgresql" in BACKENDS)


def pytest_unconfigure(config: pytest.Config) -> None:
    services.services_stop(config.stash.get(SERVICES, []))


def pytest_report_header(config: pytest.Config) -> list[str]:
    started = config.stash.get(SERVICES, [])
    return [f"throwaway {s.name}: {s.url} (pid {s.process.pid})" for s in started]


def _postgres_admin() -> psycopg.Connection:
    return psycopg.connect(
        services.postgres_url().replace("+psycopg", "") + "/postgres", autocommit=True
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    families_skip(items)  # the Qwen-VL tier, where torchvision is missing


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """After the last test (of each xdist worker, which checks its own descendants), nothing
    that a test started still runs: a leftover fails the session, named, and is killed."""
    processes.adopt_orphans()
    yield
    services_pids = {s.process.pid for s in services.RUNNING}  # the session's, not a test's
    started = [
        p
        for p in processes.started_by_tests(processes.descendants(os.getpid()))
        if p.pid not in services_pids
    ]
    left = processes.still_alive(started, timeout=10)  # a grace for those being stopped
    if left:
        named = "\n".join(f"  {p.pid}: {processes.command(p)}" for p in left)
        processes.kill(left)
        pytest.fail(f"processes started by the tests outlived them (now killed):\n{named}")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated database of one backend, for the whole test session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'atelier.db'}"
        db_upgrade(url)
        yield url
        return
    name = f"atelier_test_{uuid.uuid4().hex[:12]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{services.postgres_url()}/{name}"
        db_upgrade(url)
        yield url
    finally:
        with _postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The tests' own engine: it arranges and checks, so it takes no write lock up front."""
    engine = make_engine(database_url, immediate=False)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[Engine]:
    """The database, emptied after the test."""
    yield engine
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
    with make_sessionmaker(engine).begin() as session:  # what migrations seed, back again
        basemodel_demo_ensure(session=session)


@pytest.fixture
def settings(
    clean_db: Engine, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        DATABASE_URL=clean_db.url.render_as_string(hide_password=False),
        BROKER_URL=f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        STORAGE_URL=f"file://{tmp_path / 'blobs'}",
        # The shipped demo model, and the tiny models tests build under their temporary folders.
        MODELS_ROOTS=[ROOT / "models", tmp_path_factory.getbasetemp()],
    )


@pytest.fixture
def session(clean_db: Engine) -> Iterator[Session]:
    """A session for arranging and checking rows directly (tests only).

    SQLite readers keep the snapshot their transaction began with: call `session.commit()`
    before checking rows that a request wrote since the session last read.
    """
    with make_sessionmaker(clean_db)() as session:
        yield session


@pytest.fixture
def store(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(Path(settings.STORAGE_URL.removeprefix("file://")))


@pytest.fixture
def limits(settings: Settings) -> Limits:
    from app.deps import get_limits

    return get_limits(settings)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    app.state.engine.dispose()


OPERATOR_EMAIL = "operator@atelier.test"
PASSWORD = "correct horse battery"


@functools.cache
def password_hash_once() -> str:
    """PASSWORD's argon2 hash, computed once: argon2 is slow on purpose."""
    return password_hash(PASSWORD)


@pytest.fixture
def operator_token(session: Session) -> str:
    """An API token of an operator (who may create brands, and administers those it creates)."""
    user = User(email=OPERATOR_EMAIL, password_hash=password_hash_once(), is_superuser=True)
    session.add(user)
    session.flush()
    _, secret = token_create(session=session, user=user, name="tests", days=1)
    session.commit()
    return secret


@pytest.fixture
def anon(app: FastAPI) -> Iterator[TestClient]:
    """A client that has not signed in."""
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(app: FastAPI, operator_token: str) -> Iterator[TestClient]:
    """A client signed in (by bearer token) as the operator, admin of the brands it creates."""
    with TestClient(app, headers={"Authorization": f"Bearer {operator_token}"}) as client:
        yield client


@pytest.fixture
def brand(client: TestClient, session: Session) -> Brand:
    response = client.post("/api/v1/brands", json={"slug": "maison", "name": "Maison Test"})
    assert response.status_code == 201, response.text
    brand = session.query(Brand).filter_by(slug="maison").one()
    session.commit()
    return brand
