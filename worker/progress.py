"""A run's progress, written to its row as it trains: the TrainerCallback that reports steps,
losses and checkpoints, and honours cancel and a lost lease."""

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from app.runs.models import Run
from app.storage import BlobStore
from worker.context import folder_zip
from worker.lease import Lease, log_append


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
            where = f"from step {state.global_step}" if state.global_step else "from the start"
            log_append(
                run,
                f"attempt {run.attempt}: training {state.max_steps} steps, {where}, "
                f"on worker {self.lease.owner}",
            )

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
