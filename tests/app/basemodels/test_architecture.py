"""Migration 0012: base models get their architecture numbers; the demo captioner's are filled,
so the run form can estimate its memory before any worker has checked it."""

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from app.basemodels.models import DEMO_ARCHITECTURE, DEMO_MODEL_SOURCE
from app.migrate import db_upgrade
from app.runs.memory import Architecture
from tests import services
from tests.conftest import BACKENDS, _postgres_admin


@pytest.fixture(params=BACKENDS)
def blank_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database of one backend, to migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('migrate') / 'old.db'}"
        return
    name = f"atelier_migrate_{uuid.uuid4().hex[:12]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{services.postgres_url()}/{name}"
    finally:
        with _postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_fills_the_demo_models_architecture_and_leaves_others_empty(
    blank_url: str,
) -> None:
    db_upgrade(blank_url, "0011")
    engine = create_engine(blank_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO base_models (name, source, revision, status, is_default, family,"
                " detail, error, created_at) VALUES ('other', 'models/other', '', 'ready', false,"
                " 'llava', '{}', '', '2026-01-01')"
            )
        )
    db_upgrade(blank_url, "0012")
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT source, architecture FROM base_models")).all())
    engine.dispose()
    demo = rows[DEMO_MODEL_SOURCE]
    demo = demo if isinstance(demo, dict) else json.loads(demo)  # SQLite answers text
    assert demo == DEMO_ARCHITECTURE
    assert Architecture.of(demo) is not None
    assert rows["models/other"] is None
