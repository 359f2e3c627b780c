"""Faults a production installation meets, with real worker processes: workers killed again and
again mid-run, and a broker that restarts and forgets its queue. Nothing is lost and nothing
is done twice."""

import os
import re
import signal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.worker.e2e import model_ready, run_get, run_queue, wait_for, worker_process

pytestmark = [pytest.mark.faults, pytest.mark.processes]

KILLS = 10
# Each worker keeps a checkpoint or two (every 2 steps) before it dies: 10 kills fit in 60.
STEPS = 60


def only_on(settings: Settings, backend: str) -> None:
    """Some fault tests take a minute or more: they run on the one backend they are about."""
    if not settings.DATABASE_URL.startswith(backend):
        pytest.skip(f"runs on {backend} only")


def checkpoints_kept(log: str) -> list[int]:
    return [int(step) for step in re.findall(r"checkpoint at step (\d+) kept", log)]


def test_ten_kills_in_a_row_lose_nothing_and_repeat_nothing(
    api: TestClient,
    prepared: dict[str, int],
    env: dict[str, str],
    settings: Settings,
    tmp_path: Path,
) -> None:
    # SQLite only: ten worker starts take about two minutes; the single kill of
    # test_runs_e2e.py covers PostgreSQL and Redis.
    only_on(settings, "sqlite")
    log = tmp_path / "worker.log"
    env = {**env, "RUN_MAX_ATTEMPTS": str(KILLS + 1)}  # a storm, not a broken run
    with worker_process(env, log):
        model_ready(api, prepared["model"], log)
    # Many small checkpoints, so that each worker gets one in before it is killed.
    run_id = run_queue(api, prepared, max_steps=STEPS, checkpoint_steps=2)
    for kill in range(1, KILLS + 1):
        before = checkpoints_kept(run_get(api, run_id)["log"])
        with worker_process(env, log) as worker:
            wait_for(
                lambda: run_get(api, run_id),
                lambda r, before=before: len(checkpoints_kept(r["log"])) > len(before),
                timeout=120,
                log=log,
            )
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        killed = run_get(api, run_id)
        assert killed["status"] == "running" and killed["attempt"] == kill, killed["log"]
    with worker_process(env, log):
        run = wait_for(
            lambda: run_get(api, run_id),
            lambda r: r["status"] in ("succeeded", "failed"),
            timeout=300,
            log=log,
        )
    assert run["status"] == "succeeded", run["error"]
    assert run["attempt"] == KILLS + 1
    assert [p["step"] for p in run["history"]] == list(range(1, STEPS + 1)), "every step once"
    starts = [int(s) for s in re.findall(rf"training {STEPS} steps, from step (\d+)", run["log"])]
    assert len(starts) == KILLS and starts == sorted(starts), run["log"]
    print(f"{KILLS} kills; attempts resumed from steps {starts}")
