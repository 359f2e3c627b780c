"""Lease.claim on both leased tables: one holder at a time, a lapsed lease taken over (one more
attempt), nothing claimed once cancelled or finished, and exactly one winner of a race."""

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from app.autotag.models import AutotagJob
from app.basemodels.service import basemodel_default
from app.brands.service import brand_create
from app.config import settings
from app.datasets.models import DatasetVersion
from app.db import make_engine, make_sessionmaker, utcnow
from app.leases import JobStatus
from app.runs.models import Run
from worker.lease import Lease, LeasedTable, unclaimed

TABLES = [Run, AutotagJob]


@pytest.fixture
def sessions(clean_db: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions as a worker opens them (SQLite: writers take the lock up front)."""
    engine = make_engine(clean_db.url.render_as_string(hide_password=False))
    yield make_sessionmaker(engine)
    engine.dispose()


def _row(sessions: sessionmaker[Session], table: LeasedTable) -> int:
    """A queued run, or a queued auto-tag job of a finished run."""
    with sessions.begin() as session:
        brand = brand_create(session=session, slug="maison", name="Maison")
        dataset = DatasetVersion(
            brand_id=brand.id, version=1, content_hash="0" * 64, validation_fraction=0.2
        )
        session.add(dataset)
        session.flush()
        run = Run(
            brand_id=brand.id,
            base_model_id=basemodel_default(session=session).id,
            dataset_id=dataset.id,
            settings={},
            settings_hash="0" * 64,
            instruction="Describe this product.",
        )
        session.add(run)
        session.flush()
        if table is Run:
            return run.id
        run.status = JobStatus.succeeded
        job = AutotagJob(brand_id=brand.id, run_id=run.id, asset_ids=[], total=0)
        session.add(job)
        session.flush()
        return job.id


def _read(sessions: sessionmaker[Session], table: LeasedTable, row_id: int) -> Run | AutotagJob:
    with sessions() as session:
        row = session.get_one(table, row_id)
        session.expunge(row)
        return row


def _set(sessions: sessionmaker[Session], table: LeasedTable, row_id: int, **values) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        session.execute(update(table).where(table.id == row_id).values(**values))


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__tablename__)
def test_a_live_lease_is_not_claimed_again(
    sessions: sessionmaker[Session], table: LeasedTable
) -> None:
    row_id = _row(sessions, table)
    assert Lease(sessions, table, row_id, "worker-a", 60).claim()
    assert not Lease(sessions, table, row_id, "worker-b", 60).claim()
    assert not Lease(sessions, table, row_id, "worker-a", 60).claim(), "not even by its holder"
    row = _read(sessions, table, row_id)
    assert (row.lease_owner, row.attempt, row.status) == ("worker-a", 1, JobStatus.running)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__tablename__)
def test_a_lapsed_lease_is_taken_over_with_one_more_attempt(
    sessions: sessionmaker[Session], table: LeasedTable
) -> None:
    row_id = _row(sessions, table)
    assert Lease(sessions, table, row_id, "worker-a", 60).claim()
    started = _read(sessions, table, row_id).started_at
    _set(sessions, table, row_id, lease_expires_at=utcnow() - timedelta(seconds=1))
    assert Lease(sessions, table, row_id, "worker-b", 60).claim()
    row = _read(sessions, table, row_id)
    assert (row.lease_owner, row.attempt, row.status) == ("worker-b", 2, JobStatus.running)
    assert row.started_at == started, "the row started with its first claim"
    assert row.lease_expires_at is not None and row.lease_expires_at > utcnow()


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__tablename__)
@pytest.mark.parametrize(
    "state",
    [
        {"cancel_requested": True},
        {"status": JobStatus.cancelled},
        {"status": JobStatus.succeeded},
        {"status": JobStatus.failed},
    ],
    ids=["cancel-requested", "cancelled", "succeeded", "failed"],
)
def test_a_cancelled_or_finished_row_is_not_claimed(
    sessions: sessionmaker[Session], table: LeasedTable, state: dict[str, object]
) -> None:
    row_id = _row(sessions, table)
    _set(sessions, table, row_id, **state)
    assert not Lease(sessions, table, row_id, "worker-a", 60).claim()
    assert _read(sessions, table, row_id).attempt == 0


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__tablename__)
def test_racing_claims_leave_exactly_one_winner(
    sessions: sessionmaker[Session], table: LeasedTable
) -> None:
    """Each worker in its own session, released together: the claim is one atomic UPDATE."""
    row_id = _row(sessions, table)
    workers = 8
    barrier = threading.Barrier(workers)
    won: list[str] = []

    def claim(owner: str) -> None:
        lease = Lease(sessions, table, row_id, owner, 60)
        barrier.wait(timeout=10)
        if lease.claim():
            won.append(owner)

    threads = [threading.Thread(target=claim, args=(f"worker-{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(won) == 1
    row = _read(sessions, table, row_id)
    assert (row.lease_owner, row.attempt) == (won[0], 1)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__tablename__)
def test_a_row_queued_past_the_deadline_is_resent_once_per_deadline(
    sessions: sessionmaker[Session], table: LeasedTable
) -> None:
    row_id = _row(sessions, table)
    assert unclaimed(sessions, table, 60) == [], "just sent"
    _set(sessions, table, row_id, sent_at=utcnow() - timedelta(seconds=61))
    assert unclaimed(sessions, table, 60) == [row_id]
    assert unclaimed(sessions, table, 60) == [], "marked sent: another worker sends nothing"
    _set(sessions, table, row_id, sent_at=utcnow() - timedelta(seconds=61))
    assert Lease(sessions, table, row_id, "w", 30).claim()
    assert unclaimed(sessions, table, 60) == [], "a claimed row is the lease's business"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__tablename__)
def test_a_claim_knows_its_attempt_and_the_attempt_past_the_limit_is_worn_out(
    sessions: sessionmaker[Session], table: LeasedTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "RUN_MAX_ATTEMPTS", 2)
    row_id = _row(sessions, table)
    leases = []
    for owner in ("worker-a", "worker-b", "worker-c"):
        lease = Lease(sessions, table, row_id, owner, 60)
        assert lease.claim()
        leases.append(lease)
        _set(sessions, table, row_id, lease_expires_at=utcnow() - timedelta(seconds=1))
    assert [(lease.attempt, lease.worn_out()) for lease in leases] == [
        (1, ""),
        (2, ""),
        (3, "interrupted 2 times and not tried again"),
    ]
    refused = Lease(sessions, table, row_id, "worker-d", 60)
    _set(sessions, table, row_id, status=JobStatus.failed)
    assert not refused.claim() and refused.attempt == 0
