"""A real worker on a real Redis: it sends Celery's task events (what Flower reads), the web
process's client sends task-sent, and with LOG_FORMAT=json the task's log lines carry its
run id."""

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from app.config import Settings
from app.jobs import celery_client
from tests.servers import Redis
from tests.worker.e2e import worker_process

pytestmark = pytest.mark.processes
RUN_ID = 424242  # no such run: the worker finds it is not its to do, and says so


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Events:
    """Every event on the broker, captured in a thread, as Flower does."""

    def __init__(self, broker_url: str) -> None:
        self.app = Celery(broker=broker_url)
        self.seen: list[dict[str, Any]] = []
        self.receiver: Any = None
        self.thread = threading.Thread(target=self._capture, daemon=True)

    def _capture(self) -> None:
        with self.app.connection() as connection:
            self.receiver = self.app.events.Receiver(connection, handlers={"*": self.seen.append})
            self.receiver.capture(limit=None, timeout=None, wakeup=False)

    def wait(self, what: str, timeout: float = 180, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.seen):
                if event["type"] == what and all(event.get(k) == v for k, v in fields.items()):
                    return event
            time.sleep(0.2)
        raise AssertionError(f"no {what} event; seen {[e['type'] for e in self.seen]}")

    def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.should_stop = True
        self.thread.join(timeout=10)


def test_the_worker_sends_task_events_and_logs_json_with_the_run_id(
    settings: Settings, redis_server: Redis, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "BROKER_URL": redis_server.url,
        "STORAGE_URL": settings.STORAGE_URL,
        "LOG_FORMAT": "json",
    }
    log = tmp_path / "worker.log"
    events = Events(redis_server.url)
    events.thread.start()
    try:
        with worker_process(env, log):
            events.wait("worker-online")
            task_id = (
                celery_client(redis_server.url)
                .send_task("atelier.run_train", args=[RUN_ID], queue="gpu")
                .id
            )
            events.wait("task-succeeded", uuid=task_id)
    finally:
        events.stop()
    kinds = [e["type"] for e in events.seen if e.get("uuid") == task_id]
    assert kinds[:4] == ["task-sent", "task-received", "task-started", "task-succeeded"]

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    said = next(line for line in lines if "is not ours to do" in line["message"])
    assert said["run_id"] == RUN_ID and said["task"] == "atelier.run_train"
    assert said["task_id"] == task_id and said["logger"] == "worker.lease"
    ready = next(line for line in lines if line["message"].endswith(" ready."))
    assert "run_id" not in ready, "outside a task, no task's ids"
