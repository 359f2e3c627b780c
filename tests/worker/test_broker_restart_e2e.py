"""A broker restarted without persistence forgets the messages of queued runs and auto-tag
jobs: the rows stay queued, the workers' recovery sends them again, and each is done once."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from app.config import Settings
from tests import corpus
from tests.servers import Redis
from tests.worker.e2e import model_ready, run_get, run_queue, wait_for, worker_process

pytestmark = [pytest.mark.faults, pytest.mark.processes]


@pytest.fixture
def redis_server(settings: Settings, tmp_path: Path) -> Iterator[Redis]:
    if not settings.DATABASE_URL.startswith("postgresql"):
        pytest.skip("the production pair: PostgreSQL and Redis")
    server = Redis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker(redis_server: Redis) -> str:
    """This module's broker: its own Redis, which the test restarts."""
    return redis_server.url


def _job(api: TestClient, job_id: int) -> dict:  # type: ignore[type-arg]
    return api.get(f"/api/v1/autotag/{job_id}").json()


def test_a_restarted_broker_loses_no_run_and_no_job(
    api: TestClient,
    prepared: dict[str, int],
    env: dict[str, str],
    redis_server: Redis,
    tmp_path: Path,
) -> None:
    broker = redis_server.url
    log = tmp_path / "worker.log"
    env = {**env, "QUEUED_RESEND_SECONDS": "3"}
    with worker_process(env, log):  # an adapter to auto-tag with
        model_ready(api, prepared["model"], log)
        first = run_queue(api, prepared)
        trained = wait_for(
            lambda: run_get(api, first), lambda r: r["status"] in ("succeeded", "failed"), log=log
        )
        assert trained["status"] == "succeeded", trained["error"]
    files = [("files", (f"n{i}.png", corpus.png(size=(48, 40), colour=(i * 40, 90, 90))))
             for i in range(3)]  # fmt: skip
    assert len(api.post("/api/v1/brands/maison/assets", files=files).json()["accepted"]) == 3
    job = api.post("/api/v1/brands/maison/autotag", json={"run_id": first, "untagged": True})
    assert job.status_code == 202, job.text
    run_id, job_id = run_queue(api, prepared), job.json()["id"]
    assert redis.Redis.from_url(broker).llen("gpu") >= 2  # the messages reached the broker

    redis_server.stop()  # no persistence: it comes back empty, on the same port
    redis_server.start()
    assert redis.Redis.from_url(broker).llen("gpu") == 0, "the messages are lost"

    with worker_process(env, log):
        run = wait_for(
            lambda: run_get(api, run_id), lambda r: r["status"] in ("succeeded", "failed"), log=log
        )
        tagged = wait_for(
            lambda: _job(api, job_id), lambda j: j["status"] in ("succeeded", "failed"), log=log
        )
        time.sleep(6)  # past another resend deadline: a late duplicate finds nothing to do
        again, job_again = run_get(api, run_id), _job(api, job_id)
    assert run["status"] == "succeeded", run["error"]
    assert tagged["status"] == "succeeded", tagged["error"]
    assert again["attempt"] == 1 and job_again["status"] == "succeeded"
    assert [p["step"] for p in again["history"]] == list(range(1, 7))
    suggestions = api.get("/api/v1/brands/maison/suggestions", params={"job_id": job_id})
    assert len(suggestions.json()["items"]) == 3, "each asset suggested once"
    assert "still queued after 3s; sending it again" in log.read_text()


def test_messages_that_never_reached_the_broker_are_sent_again_once(
    api: TestClient,
    prepared: dict[str, int],
    env: dict[str, str],
    redis_server: Redis,
    tmp_path: Path,
) -> None:
    """Two ways a committed run's message is lost: the broker is down when the run is queued
    (the request still answers, the row stays queued), and `FLUSHALL` while runs wait."""
    log = tmp_path / "worker.log"
    env = {**env, "QUEUED_RESEND_SECONDS": "3"}
    with worker_process(env, log):  # checks the base model, so that runs may be queued
        model_ready(api, prepared["model"], log)
    broker = redis.Redis.from_url(redis_server.url)
    redis_server.stop()
    unsent = run_queue(api, prepared)  # committed; its message found no broker
    redis_server.start()
    flushed = run_queue(api, prepared)
    assert broker.llen("gpu") == 1, "only the second message reached the broker"
    broker.flushall()

    with worker_process(env, log):
        runs = [
            wait_for(lambda r=r: run_get(api, r), lambda r: r["status"] in ("succeeded", "failed"),
                     log=log)
            for r in (unsent, flushed)
        ]  # fmt: skip
        time.sleep(6)  # past another resend deadline: a late duplicate finds nothing to do
        again = [run_get(api, r) for r in (unsent, flushed)]
    for run, later in zip(runs, again, strict=True):
        assert run["status"] == "succeeded", run["error"]
        assert later["attempt"] == 1, "claimed once"
        assert [p["step"] for p in later["history"]] == list(range(1, 7)), "every step once"
