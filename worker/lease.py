"""The right to work on a run, held by one worker at a time, and the run's log."""

import threading
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.runs.models import Run, RunStatus

LOG_LINES = 400  # the run's log keeps its latest lines


class Lease:
    """The right to work on a run. Claimed atomically; renewed by a heartbeat; a lease that
    runs out is another worker's to take (and that worker resumes from the last checkpoint)."""

    def __init__(
        self, sessions: sessionmaker[Session], run_id: int, owner: str, seconds: int
    ) -> None:
        self.sessions, self.run_id, self.owner, self.seconds = sessions, run_id, owner, seconds
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def claim(self) -> bool:
        """Take the run if it is queued, or running under a lease that has run out."""
        now = utcnow()
        with self.sessions.begin() as session:
            result = session.execute(
                update(Run)
                .where(
                    Run.id == self.run_id,
                    Run.status.in_([RunStatus.queued, RunStatus.running]),
                    Run.cancel_requested.is_(False),
                    or_(Run.lease_expires_at.is_(None), Run.lease_expires_at < now),
                )
                .values(
                    lease_owner=self.owner,
                    attempt=Run.attempt + 1,
                    lease_expires_at=now + timedelta(seconds=self.seconds),
                    status=RunStatus.running,
                )
            )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def renew(self) -> bool:
        with self.sessions.begin() as session:
            result = session.execute(
                update(Run)
                .where(Run.id == self.run_id, Run.lease_owner == self.owner)
                .values(lease_expires_at=utcnow() + timedelta(seconds=self.seconds))
            )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self.seconds / 3):
                if not self.renew():
                    self.lost.set()
                    return

        self._thread = threading.Thread(target=beat, name=f"lease-run-{self.run_id}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.sessions.begin() as session:
            session.execute(
                update(Run)
                .where(Run.id == self.run_id, Run.lease_owner == self.owner)
                .values(lease_owner="", lease_expires_at=None)
            )


def log_append(run: Run, line: str) -> None:
    stamp = utcnow().strftime("%H:%M:%S")
    lines = [*run.log.splitlines(), f"{stamp} {line}"]
    run.log = "\n".join(lines[-LOG_LINES:])
