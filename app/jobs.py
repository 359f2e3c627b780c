"""Sending jobs to the workers, by task name: the web process never imports the worker.

Two queues: `gpu` for model work, one task at a time on a worker that holds a model, and `cpu`
for light work (imports of large archives, export zips), so that an upload or an export never
waits behind training.
Each task's queue is written once, here, for the senders and the workers alike.
"""

import logging
from typing import Any

from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session

_AFTER_COMMIT = "atelier_jobs_after_commit"
log = logging.getLogger(__name__)

GPU, CPU = "gpu", "cpu"
QUEUES = (GPU, CPU)
TASK_QUEUES = {
    "atelier.ping": GPU,
    "atelier.run_train": GPU,
    "atelier.run_evaluate": GPU,
    "atelier.base_model_check": GPU,
    "atelier.autotag": GPU,
    "atelier.try": GPU,
    "atelier.cpu_ping": CPU,
    "atelier.import": CPU,
    "atelier.export": CPU,
}


def task_queue(name: str) -> str:
    """The queue of the task `name` (a task missing from the table is a bug: KeyError)."""
    return TASK_QUEUES[name]


def celery_client(broker_url: str) -> Celery:
    """A Celery app that only sends (no tasks registered, results ignored)."""
    client = Celery("atelier-web", broker=broker_url)
    client.conf.update(
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=False,
        task_ignore_result=True,
        task_send_sent_event=True,  # a task-sent event for Flower (the workers send the rest)
    )
    return client


def broker_ping(client: Celery) -> None:
    """Raise unless the broker answers within a few seconds."""
    with client.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=3)


def job_send(*, session: Session, client: Celery, name: str, args: list[Any]) -> None:
    """Send the task `name` to its queue once the session's transaction commits (never if it
    rolls back), so that a worker never looks for a row that is not there yet."""
    session.info.setdefault(_AFTER_COMMIT, []).append((client, name, args, task_queue(name)))


@event.listens_for(Session, "after_commit")
def _send_jobs(session: Session) -> None:
    for client, name, args, queue in session.info.pop(_AFTER_COMMIT, []):
        try:
            client.send_task(name, args=args, queue=queue)
        except Exception:  # the row is committed: the request succeeded, only the message is late
            # The row stays queued, and the workers' recovery sends it again once it has waited
            # QUEUED_RESEND_SECONDS (worker.lease.unclaimed); the claim is atomic, so a message
            # that did arrive after all is never worked twice.
            log.warning(
                "the broker did not take %s%s; it will be sent again", name, args, exc_info=True
            )


@event.listens_for(Session, "after_rollback")
def _drop_jobs(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
