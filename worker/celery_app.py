"""The Celery app of the workers. Model work runs on the `gpu` queue, one task at a time.

State lives in the database, never in Celery results; a task is acknowledged only when it
finishes, so that a worker that dies mid-task leaves it to be redelivered.
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
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
