"""A run end to end with its blobs in an S3 bucket (moto's server on loopback): the images
reach the worker, its checkpoints go up and come back down when the next worker resumes, and
the adapter leaves by a presigned URL. Nothing reaches a worker except through the store."""

import io
import re
import signal
import urllib.request
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.storage import open_store
from tests.s3 import MotoServer
from tests.worker.e2e import model_ready, run_get, run_queue, wait_for, worker_process

pytestmark = pytest.mark.processes


@pytest.fixture
def settings(settings: Settings, moto_server: MotoServer) -> Settings:
    """This module's settings: the blobs in a new bucket (the AWS_* variables are set, so the
    worker process inherits them)."""
    return settings.model_copy(
        update={"STORAGE_URL": moto_server.url(moto_server.bucket(), "atelier")}
    )


def test_a_run_on_s3_resumes_from_its_stored_checkpoint_and_its_adapter_downloads(
    api: TestClient, prepared: dict[str, int], env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with worker_process(env, log) as first:
        model_ready(api, prepared["model"], log)
        run_id = run_queue(api, prepared, max_steps=24, checkpoint_steps=1000)
        wait_for(lambda: run_get(api, run_id), lambda r: r["step"] >= 3, log=log)
        first.send_signal(signal.SIGTERM)  # keeps a checkpoint in the bucket, gives up the run
        first.wait(timeout=30)
    given_up = run_get(api, run_id)
    [kept] = re.findall(r"checkpoint at step (\d+) kept", given_up["log"])
    store = open_store(env["STORAGE_URL"])
    checkpoint = f"runs/{run_id}/checkpoints/checkpoint-{kept}.zip"
    assert store.exists(checkpoint)
    with worker_process(env, log):
        run = wait_for(
            lambda: run_get(api, run_id), lambda r: r["status"] in ("succeeded", "failed"), log=log
        )
    assert run["status"] == "succeeded", run["error"]
    assert f"attempt 2: training 24 steps, from step {kept}" in run["log"]
    assert [p["step"] for p in run["history"]] == list(range(1, 25))
    assert f"runs/{run_id}/adapter.zip" in store.list_keys()

    redirect = api.get(run["adapter_url"], follow_redirects=False)
    assert redirect.status_code == 307
    with urllib.request.urlopen(redirect.headers["location"], timeout=30) as answer:
        body = answer.read()
    names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert {"adapter_config.json", "adapter_model.safetensors"} <= names
