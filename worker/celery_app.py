"""The Celery app of the workers. Model work runs on the `gpu` queue, one task at a time.

State lives in the database, never in Celery results; a task is acknowledged only when it
finishes, so that a worker that dies mid-task leaves it to be redelivered.

The pool is `solo`: the task runs in the worker's own process, which keeps a loaded model
between tasks and receives SIGTERM itself (see `worker.tasks`). A prefork pool's child dies
with its parent when the whole process group is signalled, and the parent then hangs at exit.
"""

from celery import Celery

from app.config import settings

app = Celery("atelier", broker=settings.BROKER_URL, include=["worker.tasks"])
app.conf.update(
    task_default_queue="gpu",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_concurrency=1,
    worker_pool="solo",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
