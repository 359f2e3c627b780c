"""The right to work on a run, an auto-tag job, an import or an export, held by one worker at
a time; a run's log."""

import logging
import threading
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.autotag.models import AutotagJob
from app.config import settings
from app.db import utcnow
from app.exports.models import ExportJob
from app.imports.models import ImportJob
from app.leases import JobStatus
from app.runs.models import Run
from worker.context import sessions, worker_identity

log = logging.getLogger(__name__)
LOG_LINES = 400  # the run's log keeps its latest lines


LeasedTable = type[Run] | type[AutotagJob] | type[ImportJob] | type[ExportJob]


class Lease:
    """The right to work on a run or a job. Claimed atomically; renewed by a heartbeat; a
    lease that runs out is another worker's to take, which carries on from what was kept."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        table: LeasedTable,
        row_id: int,
        owner: str,
        seconds: int,
    ) -> None:
        self.sessions, self.table, self.row_id = sessions, table, row_id
        self.owner, self.seconds = owner, seconds
        self.attempt = 0  # this worker's attempt at the row, once claimed
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def claim(self) -> bool:
        """Take the row if it is queued, or running under a lease that has run out."""
        now, t = utcnow(), self.table
        with self.sessions.begin() as session:
            attempt = session.scalar(
                update(t)
                .where(
                    t.id == self.row_id,
                    t.status.in_([JobStatus.queued, JobStatus.running]),
                    t.cancel_requested.is_(False),
                    or_(t.lease_expires_at.is_(None), t.lease_expires_at < now),
                )
                .values(
                    lease_owner=self.owner,
                    attempt=t.attempt + 1,
                    lease_expires_at=now + timedelta(seconds=self.seconds),
                    status=JobStatus.running,
                    started_at=func.coalesce(t.started_at, now),
                )
                .returning(t.attempt)
            )
        self.attempt = attempt or 0
        return attempt is not None

    def worn_out(self) -> str:
        """Why the row is not tried again, once workers died or stopped on it
        `RUN_MAX_ATTEMPTS` times (a step or a file that kills the worker would be tried for
        ever); "" while it may be."""
        if self.attempt <= settings.RUN_MAX_ATTEMPTS:
            return ""
        return f"interrupted {self.attempt - 1} times and not tried again"

    def renew(self) -> bool:
        t = self.table
        with self.sessions.begin() as session:
            result = session.execute(
                update(t)
                .where(t.id == self.row_id, t.lease_owner == self.owner)
                .values(lease_expires_at=utcnow() + timedelta(seconds=self.seconds))
            )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self.seconds / 3):
                if not self.renew():
                    self.lost.set()
                    return

        name = f"lease-{self.table.__tablename__}-{self.row_id}"
        self._thread = threading.Thread(target=beat, name=name, daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        t = self.table
        with self.sessions.begin() as session:
            session.execute(
                update(t)
                .where(t.id == self.row_id, t.lease_owner == self.owner)
                .values(lease_owner="", lease_expires_at=None)
            )


def lease_take(table: LeasedTable, row_id: int, what: str) -> Lease | None:
    """This worker's lease on the row, its heartbeat started; None, and a line in the log,
    when the row is not ours to do (finished, cancelled, or leased by a live worker). The
    caller releases it."""
    lease = Lease(sessions(), table, row_id, worker_identity(), settings.RUN_LEASE_SECONDS)
    if not lease.claim():
        log.info("%s %s is not ours to do (finished, cancelled or leased)", what, row_id)
        return None
    lease.start_heartbeat()
    return lease


def orphans(sessions: sessionmaker[Session], table: LeasedTable) -> list[int]:
    """Rows whose worker died (running, the lease run out) or stopped (running, the lease
    released): each is to be sent again, and the next worker carries on."""
    lapsed = or_(table.lease_expires_at.is_(None), table.lease_expires_at < utcnow())
    with sessions() as session:
        return list(
            session.scalars(select(table.id).where(table.status == JobStatus.running, lapsed))
        )


def unclaimed(sessions: sessionmaker[Session], table: LeasedTable, seconds: int) -> list[int]:
    """Rows still queued `seconds` after their message was sent (a broker that restarted
    without persistence loses it): each is marked sent now, by one worker, and is to be sent
    again. A message that was not lost after all finds the row claimed and does nothing."""
    now = utcnow()
    with sessions.begin() as session:
        return list(
            session.scalars(
                update(table)
                .where(
                    table.status == JobStatus.queued,
                    table.sent_at < now - timedelta(seconds=seconds),
                )
                .values(sent_at=now)
                .returning(table.id)
            )
        )


def log_append(run: Run, line: str) -> None:
    stamp = utcnow().strftime("%H:%M:%S")
    lines = [*run.log.splitlines(), f"{stamp} {line}"]
    run.log = "\n".join(lines[-LOG_LINES:])
