"""A light worker (`atelier worker --queues cpu`) never loads the model stack: its Celery app,
its task modules, its recovery and a whole import run in a process that has no torch,
transformers, peft or bitsandbytes in `sys.modules` afterwards."""

import os
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.brands.models import Brand
from app.config import Settings
from tests import corpus
from tests.worker.e2e import worker_process

CODE = """
import sys
import worker.celery_app, worker.tasks, worker.light
worker.tasks.recover_orphans()
worker.light.import_archive(int(sys.argv[1]))
loaded = {m.split('.')[0] for m in sys.modules}
print(sorted(loaded & {'torch', 'transformers', 'peft', 'bitsandbytes'}))
"""


def test_a_light_worker_imports_an_archive_without_the_model_stack(
    client: TestClient, brand: Brand, session: Session, settings: Settings
) -> None:
    settings.IMPORT_INLINE_MAX_FILES = 2
    members = [(f"{i}.png", corpus.png(colour=(i, 50, 50))) for i in range(4)]
    answer = client.post(
        "/api/v1/brands/maison/assets",
        files=[("files", ("set.zip", corpus.zip_archive([*members, ("bad.png", b"nope")])))],
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["imports"][0]["id"]
    env = {
        "DATABASE_URL": settings.DATABASE_URL,
        "BROKER_URL": settings.BROKER_URL,
        "STORAGE_URL": settings.STORAGE_URL,
    }
    result = subprocess.run(
        [sys.executable, "-c", CODE, str(job_id)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
    job = client.get(f"/api/v1/imports/{job_id}").json()
    assert (job["status"], job["done"], job["accepted"], job["rejected"]) == ("succeeded", 5, 4, 1)


def _ping(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "app.cli", "worker-ping", "--timeout", "2"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_a_running_worker_answers_the_healthchecks_ping_and_a_stopped_one_does_not(
    env: dict[str, str], tmp_path: Path
) -> None:
    if not env["BROKER_URL"].startswith("redis"):
        refused = _ping(env)
        assert refused.returncode == 1 and "Redis broker only" in refused.stderr, refused
        return
    with worker_process(env, tmp_path / "worker.log", queues="cpu"):
        deadline = time.monotonic() + 60
        while (answer := _ping(env)).returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.5)  # the worker is still starting
        assert answer.returncode == 0 and answer.stdout.endswith(": pong\n"), answer
    stopped = _ping(env)
    assert stopped.returncode == 1 and "did not answer within 2 s" in stopped.stderr, stopped
