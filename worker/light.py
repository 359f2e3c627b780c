"""Celery tasks of the `cpu` queue: light work that must never wait behind training. This
module and everything it imports load no model code (`tests/worker/test_light_worker.py`), so
`atelier worker --queues cpu` runs beside a busy GPU worker, or on a machine without one."""

from worker.celery_app import app
from worker.context import stopping


@app.task(name="atelier.cpu_ping")
def cpu_ping() -> str:
    """Answer 'pong' from the `cpu` queue: proves a light worker consumes it."""
    return "pong"


@app.task(name="atelier.import")
def import_archive(job_id: int) -> None:
    """Ingest a large uploaded archive member by member; a redelivered job resumes."""
    from worker.imports import import_execute

    import_execute(job_id, stopping=stopping)


@app.task(name="atelier.export")
def export_zip(export_id: int) -> None:
    """Build an export's zip and keep it in the store; a redelivered job starts it over."""
    from worker.exports import export_execute

    export_execute(export_id, stopping=stopping)
