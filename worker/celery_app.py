"""The Celery app of the workers: model work on the `gpu` queue, light work on `cpu`.

State lives in the database, never in Celery results; a task is acknowledged only when it
finishes, so that a worker that dies mid-task leaves it to be redelivered. Every task goes to
the queue `app.jobs.TASK_QUEUES` names for it, whoever sends it (the web process or a worker's
recovery): `atelier worker --queues cpu` is a light worker that never loads the model stack.

The pool is `solo`: the task runs in the worker's own process, which keeps a loaded model
between tasks and receives SIGTERM itself (see `worker.tasks`). A prefork pool's child dies
with its parent when the whole process group is signalled, and the parent then hangs at exit.
"""

import inspect
import logging.config
from typing import Any

from celery import Celery, Task
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init

from app.config import settings
from app.jobs import GPU, TASK_QUEUES
from app.logs import log_context_enter, log_context_exit, logging_config

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
    # Events, so that Flower (or `celery events`) can follow the tasks: sent when a task is
    # sent (by the web process too: app/jobs.py), received, started and finished.
    worker_send_task_events=True,
    task_send_sent_event=True,
)


@worker_init.connect
def _refuse_unsafe_settings(**_: object) -> None:
    """Outside development a worker refuses unsafe settings, however it is started."""
    from app.startup import start_refuse_unsafe

    start_refuse_unsafe(settings, "worker")


def _json_logging(**_: object) -> None:
    config = logging_config(settings)
    assert config is not None
    logging.config.dictConfig(config)


if settings.LOG_FORMAT == "json":  # a receiver of setup_logging replaces Celery's own set-up
    setup_logging.connect(_json_logging)


_task_contexts: dict[str, Any] = {}


@task_prerun.connect
def _task_log_context(task_id: str, task: Task, args: tuple[Any, ...], **kw: Any) -> None:
    """A task's log lines carry its task name and its ids (run_id, job_id, ...), as named by
    its parameters."""
    bound = inspect.signature(task.run).bind_partial(*args, **(kw.get("kwargs") or {}))
    ids = {name: value for name, value in bound.arguments.items() if name.endswith("_id")}
    _task_contexts[task_id] = log_context_enter(task=task.name, task_id=task_id, **ids)


@task_postrun.connect
def _task_log_context_end(task_id: str, **_: object) -> None:
    if (token := _task_contexts.pop(task_id, None)) is not None:
        log_context_exit(token)
