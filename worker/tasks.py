"""Celery tasks: thin wrappers that take ids and call plain functions."""

from worker.celery_app import app


@app.task(name="atelier.ping")
def ping() -> str:
    """Answer 'pong': proves a worker consumes the queue (used by tests and health tooling)."""
    return "pong"
