"""The audit log also holds what happens outside a page or the API: members added from the
command line, ratings given and taken back, and runs and auto-tag jobs a worker finished."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.audit.models import AuditEvent
from app.autotag.models import AutotagJob
from app.brands.models import Brand
from app.db import make_sessionmaker
from app.leases import JobStatus
from app.runs.models import Run, RunStatus
from tests.app.cli.test_cli import atelier
from tests.app.cli.test_cli import env as env  # the fixture
from tests.app.evaluations.conftest import evaluated as evaluated  # the fixture
from tests.app.evaluations.test_rating import rate
from tests.app.members.test_members import bearer_for
from worker import autotag, execute


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.commit()  # a fresh snapshot
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_member_added_from_the_command_line_is_audited(
    env: dict[str, str],
    brand: Brand,
    session: Session,
) -> None:
    done = atelier(
        env, "user", "create", "new@maison.test", "--brand", "maison", "--role", "merchandiser"
    )
    assert done.returncode == 0, done.stderr
    [event] = _events(session, "member.add")
    assert (event.brand_id, event.target, event.actor) == (brand.id, "new@maison.test", "")
    assert event.detail == {"role": "merchandiser", "via": "cli"}


def test_ratings_and_their_undo_are_audited_without_the_verdict(
    client: TestClient, brand: Brand, session: Session, evaluated: int
) -> None:
    rater = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    rate(client, evaluated, rater)
    client.post(f"/runs/{evaluated}/rate/undo", headers=rater)
    [rated] = _events(session, "rating.record")
    assert rated.actor == "eloise@maison.test" and rated.target.startswith(
        f"run {evaluated}, asset "
    )
    assert "winner" not in rated.detail and "left" not in str(rated.detail)
    assert len(_events(session, "rating.undo")) == 1


@pytest.fixture
def worker_sessions(clean_db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's sessions on the tests' database (a worker process reads DATABASE_URL)."""
    factory = make_sessionmaker(clean_db)
    monkeypatch.setattr(execute, "sessions", lambda: factory)
    monkeypatch.setattr(autotag, "sessions", lambda: factory)


def test_a_finished_or_failed_run_is_audited_by_the_worker(
    client: TestClient, brand: Brand, session: Session, evaluated: int, worker_sessions: None
) -> None:
    execute._finish(evaluated, RunStatus.failed, summary="CUDA out of memory")
    [failed] = _events(session, "run.failed")
    assert (failed.brand_id, failed.actor, failed.target) == (brand.id, "", f"run {evaluated}")
    assert failed.detail == {"summary": "CUDA out of memory"}
    assert session.get_one(Run, evaluated).status == RunStatus.failed


def test_a_finished_auto_tag_job_is_audited_by_the_worker(
    client: TestClient, brand: Brand, session: Session, evaluated: int, worker_sessions: None
) -> None:
    job = AutotagJob(brand_id=brand.id, run_id=evaluated, asset_ids=[], total=3, done=3)
    session.add(job)
    session.commit()
    autotag._job_finish(job.id, JobStatus.succeeded)
    [event] = _events(session, "autotag.succeeded")
    assert (event.target, event.detail) == (f"auto-tag job {job.id}", {"done": 3, "total": 3})
