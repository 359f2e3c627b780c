"""Many workers on one broker and one database: each GPU worker takes one run, and two runs
train at once, each claimed once (the production pair, PostgreSQL and Redis)."""

import time
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.worker.e2e import model_ready, run_get, run_queue, wait_for, worker_process

pytestmark = [pytest.mark.processes]


def _ready(log: Path) -> bool:
    return log.exists() and " ready." in log.read_text()


def test_two_workers_train_two_runs_at_once_each_claimed_once(
    api: TestClient, prepared: dict[str, int], env: dict[str, str], settings: Settings,
    tmp_path: Path,
) -> None:  # fmt: skip
    if not settings.DATABASE_URL.startswith("postgresql"):
        pytest.skip("the production pair: PostgreSQL and Redis")
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    with worker_process(env, logs[0]), worker_process(env, logs[1]):
        model_ready(api, prepared["model"], logs[0])
        deadline = time.monotonic() + 120
        while not all(_ready(log) for log in logs) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert all(_ready(log) for log in logs), "both workers consume the queue"
        ids = [run_queue(api, prepared, max_steps=24, checkpoint_steps=100) for _ in range(2)]
        runs = [
            wait_for(lambda r=r: run_get(api, r), lambda r: r["status"] in ("succeeded", "failed"),
                     log=logs[0])
            for r in ids
        ]  # fmt: skip
    for run in runs:
        assert run["status"] == "succeeded", run["error"]
        assert run["attempt"] == 1, "claimed once"
        assert [p["step"] for p in run["history"]] == list(range(1, 25)), "every step once"
    owners = {line.split("on worker ")[1] for r in runs for line in r["log"].splitlines()
              if "on worker " in line}  # fmt: skip
    assert len(owners) == 2, f"each run trained by its own worker: {owners}"
    (a_start, a_end), (b_start, b_end) = (
        (datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"]))
        for r in runs
    )
    assert a_start < b_end and b_start < a_end, "the two runs trained at the same time"
