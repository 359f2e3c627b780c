"""Sending jobs to the workers, by task name: the web process never imports the worker."""

from celery import Celery


def celery_client(broker_url: str) -> Celery:
    """A Celery app that only sends (no tasks registered, results ignored)."""
    client = Celery("atelier-web", broker=broker_url)
    client.conf.update(
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=False,
        task_ignore_result=True,
    )
    return client


def broker_ping(client: Celery) -> None:
    """Raise unless the broker answers within a few seconds."""
    with client.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=3)
