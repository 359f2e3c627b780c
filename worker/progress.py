"""A run's progress, written to its row as it trains: a lease with a heartbeat, and the
TrainerCallback that reports steps, losses and checkpoints and honours cancel."""

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from app.db import utcnow
from app.runs.models import Run, RunStatus
from app.storage import BlobStore

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


class ProgressCallback(TrainerCallback):
    """Writes step, total, loss, learning rate, epoch and ETA to the run's row; stops at the
    next step when the run is cancelled, its lease is lost or `stopping` is set (the worker is
    stopping: a checkpoint is kept first); keeps checkpoints in the store."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        run_id: int,
        lease: Lease,
        store: BlobStore,
        stopping: threading.Event | None = None,
    ) -> None:
        self.sessions, self.run_id, self.lease, self.store = sessions, run_id, lease, store
        self.stopping = stopping or threading.Event()
        self.cancelled = self.stopped = False
        self._started = time.monotonic()
        self._first_step: int | None = None

    def _update(self, change: Callable[[Run], Any]) -> Run:
        with self.sessions.begin() as session:
            run = session.get_one(Run, self.run_id)
            change(run)
            return run

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._first_step = state.global_step

        def begin(run: Run) -> None:
            run.total_steps = state.max_steps
            # Resumed: the steps after the checkpoint are done again, so their points go.
            run.history = [p for p in run.history if p["step"] <= state.global_step]
            run.started_at = run.started_at or utcnow()
            where = f"from step {state.global_step}" if state.global_step else "from the start"
            log_append(run, f"attempt {run.attempt}: training {state.max_steps} steps, {where}")

        self._update(begin)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or "loss" not in logs:
            return
        point = {
            "step": state.global_step,
            "loss": round(float(logs["loss"]), 5),
            "lr": float(logs.get("learning_rate", 0.0)),
            "epoch": round(state.epoch or 0, 3),
        }

        def record(run: Run) -> None:
            run.history = [*run.history, point]
            run.loss, run.learning_rate, run.epoch = point["loss"], point["lr"], point["epoch"]
            log_append(
                run,
                f"step {point['step']}/{state.max_steps} loss {point['loss']:.4f} "
                f"lr {point['lr']:.2e}",
            )

        self._update(record)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        done = state.global_step - (self._first_step or 0)
        per_step = (time.monotonic() - self._started) / max(done, 1)
        eta = round(per_step * (state.max_steps - state.global_step), 1)

        def step(run: Run) -> None:
            run.step, run.eta_seconds = state.global_step, eta

        if self._update(step).cancel_requested:
            self.cancelled = True
        if self.stopping.is_set() and state.global_step < state.max_steps:
            self.stopped = control.should_save = True  # resumed from this very step
        if self.cancelled or self.stopped or self.lease.lost.is_set():
            control.should_training_stop = True

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        folder = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
        key = f"runs/{self.run_id}/checkpoints/checkpoint-{state.global_step}.zip"
        self.store.put(key, folder_zip(folder))
        with self.sessions.begin() as session:
            run = session.get_one(Run, self.run_id)
            previous = run.checkpoint_key
            run.checkpoint_key, run.checkpoint_step = key, state.global_step
            log_append(run, f"checkpoint at step {state.global_step} kept")
        if previous and previous != key:
            self.store.delete(previous)


def folder_zip(folder: Path) -> bytes:
    """The folder as zip bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = shutil.make_archive(str(Path(tmp) / "archive"), "zip", root_dir=folder)
        return Path(archive).read_bytes()


def folder_unzip(data: bytes, folder: Path) -> Path:
    """Unpack zip bytes made by `folder_zip` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
        handle.write(data)
        handle.flush()
        shutil.unpack_archive(handle.name, folder, "zip")
    return folder
