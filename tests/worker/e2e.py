"""Helpers of the tests that run a real worker process: start and stop it, wait for a state,
and the few API calls every such test makes."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.storage import LocalBlobStore

QUICK = {
    "max_steps": 6,
    "checkpoint_steps": 3,
    "batch_size": 2,
    "max_image_pixels": 2304,
    "max_length": 128,
    "gradient_checkpointing": False,
    "logging_steps": 1,
}


@contextmanager
def worker_process(
    env: dict[str, str], log: Path, queues: str = "gpu"
) -> Iterator[subprocess.Popen[bytes]]:
    """`atelier worker`, in a process group of its own (so that a test can kill it whole)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--queues", queues],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def blob_stalled(store: LocalBlobStore, key: str) -> Iterator[None]:
    """The blob under `key` becomes a pipe that nobody writes to: a worker reading it waits
    there, as on a stalled disk, until the blob is put back. A kill then lands mid-job however
    fast the worker is."""
    path = store.root / key
    kept = path.read_bytes()
    path.unlink()
    os.mkfifo(path)
    try:
        yield
    finally:
        path.unlink()
        path.write_bytes(kept)


def mapped_torch(pid: int) -> list[str]:
    """The torch libraries a live process has loaded (its memory maps name them)."""
    with open(f"/proc/{pid}/maps") as maps:
        return sorted({line.split()[-1] for line in maps if "/torch/" in line})


def wait_for(
    fetch: Callable[[], dict[str, Any]],
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 240,
    log: Path | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = fetch()
        if done(state):
            return state
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out; last state {json.dumps(state)[:800]}\n{tail}")


def model_ready(api: TestClient, model_id: int, log: Path) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        return next(m for m in api.get("/api/v1/base-models").json() if m["id"] == model_id)

    return wait_for(fetch, lambda m: m["status"] != "checking", log=log)


def run_queue(api: TestClient, prepared: dict[str, int], **settings: object) -> int:
    response = api.post(
        "/api/v1/brands/maison/runs",
        json={
            "base_model": prepared["model"],
            "dataset_id": prepared["dataset"],
            "preset": "quick-demo",
            "settings": {**QUICK, **settings},
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return int(response.json()["id"])


def run_get(api: TestClient, run_id: int) -> dict[str, Any]:
    return api.get(f"/api/v1/runs/{run_id}").json()
