"""The Celery app of the workers: model work on the `gpu` queue, light work on `cpu`.

State lives in the database, never in Celery results; a task is acknowledged only when it
finishes, so that a worker that dies mid-task leaves it to be redelivered. Every task goes to
the queue `app.jobs.TASK_QUEUES` names for it, whoever sends it (the web process or a worker's
recovery): `atelier worker --queues cpu` is a light worker that never loads the model stack.

The pool is `solo`: the task runs in the worker's own process, which keeps a loaded model
between tasks and receives SIGTERM itself (see `worker.tasks`). A prefork pool's child dies
with its parent when the whole process group is signalled, and the parent then hangs at exit.
"""

from celery import Celery

from app.config import settings
from app.jobs import GPU, TASK_QUEUES

app = Celery("atelier", broker=settings.BROKER_URL, include=["worker.tasks", "worker.light"])
app.conf.update(
    task_default_queue=GPU,
    task_routes={name: {"queue": queue} for name, queue in TASK_QUEUES.items()},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_concurrency=1,
    worker_pool="solo",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
