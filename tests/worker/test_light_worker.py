"""A light worker (`atelier worker --queues cpu`) never loads the model stack: its Celery app,
its task modules, its recovery and a whole import run in a process that has no torch,
transformers, peft or bitsandbytes in `sys.modules` afterwards."""

import os
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.brands.models import Brand
from app.config import Settings
from tests import corpus

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
