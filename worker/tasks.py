"""Celery tasks of the `gpu` queue: thin wrappers that take ids and call plain functions (heavy
imports inside); and what every worker does beside its tasks: recover orphaned rows, stop."""

import logging
import threading
from typing import TYPE_CHECKING

from celery.signals import worker_ready, worker_shutting_down

from app.config import settings
from worker.celery_app import app
from worker.context import stopping

if TYPE_CHECKING:
    from worker.lease import LeasedTable

log = logging.getLogger(__name__)


@app.task(name="atelier.ping")
def ping() -> str:
    """Answer 'pong': proves a worker consumes the queue (used by tests and health tooling)."""
    return "pong"


@app.task(name="atelier.run_train")
def run_train(run_id: int) -> None:
    """Train a run; a redelivered or duplicate message finds the run not claimable and stops."""
    from worker.execute import run_execute

    run_execute(run_id, stopping=stopping)


@app.task(name="atelier.run_evaluate")
def run_evaluate(evaluation_id: int) -> None:
    """Caption a run's validation split three ways and score them (for any finished run)."""
    from worker.compare import evaluation_execute

    evaluation_execute(evaluation_id)


@app.task(name="atelier.base_model_check")
def base_model_check(model_id: int) -> None:
    """Check that a registered base model loads and has a chat template."""
    from worker.basemodels import basemodel_check

    basemodel_check(model_id)


@app.task(name="atelier.autotag")
def autotag(job_id: int) -> None:
    """Caption and tag a job's assets with its adapter; a redelivered job resumes."""
    from worker.autotag import autotag_execute

    autotag_execute(job_id, stopping=stopping)


@app.task(name="atelier.try")
def try_image(try_id: int) -> None:
    """Answer one image with a run's base model and with its adapter."""
    from worker.autotag import try_execute

    try_execute(try_id)


def recover_orphans() -> None:
    """Send the runs and jobs whose worker died or stopped again, and those queued so long
    that their message was likely lost; the next worker resumes or starts them (an export
    starts its zip over). Each goes to its own task's queue (`app.jobs.TASK_QUEUES`): an
    import or an export never waits behind training."""
    from worker.context import sessions
    from worker.lease import orphans, unclaimed

    waited = settings.QUEUED_RESEND_SECONDS
    for table, task, noun in _leased():
        for row_id in orphans(sessions(), table):
            log.warning("%s %s lost its worker; sending it again to be resumed", noun, row_id)
            app.send_task(task, args=[row_id])
        for row_id in unclaimed(sessions(), table, waited):
            log.warning("%s %s still queued after %ss; sending it again", noun, row_id, waited)
            app.send_task(task, args=[row_id])


def _leased() -> list[tuple["LeasedTable", str, str]]:
    """The tables of claimable rows, the task that works on one, and what a person calls it."""
    from app.autotag.models import AutotagJob
    from app.exports.models import ExportJob
    from app.imports.models import ImportJob
    from app.runs.models import Run

    return [
        (Run, "atelier.run_train", "run"),
        (AutotagJob, "atelier.autotag", "auto-tag job"),
        (ImportJob, "atelier.import", "import"),
        (ExportJob, "atelier.export", "export"),
    ]


def _recovery_loop() -> None:
    from worker.exports import exports_clean

    # A round at once: a run the previous worker gave up when it stopped resumes now.
    while True:
        try:
            recover_orphans()
            exports_clean()  # the zips older than EXPORT_KEEP_HOURS
        except Exception:  # the database may be away for a moment: try again next round
            log.exception("recovering orphaned runs or expiring exports failed")
        if stopping.wait(settings.RUN_LEASE_SECONDS / 2):
            return


@worker_ready.connect
def _start_recovery(**_: object) -> None:
    """Watch for orphaned runs, in a thread beside the tasks (it only reads rows and sends)."""
    threading.Thread(target=_recovery_loop, name="run-recovery", daemon=True).start()


@worker_shutting_down.connect
def _stop(**_: object) -> None:
    """Runs in the signal handler, in the thread that runs the task (the pool is solo)."""
    stopping.set()
