"""A large archive through a real `cpu` worker process: the upload answers 202 at once, the
library polls the job's progress, a worker killed with `kill -9` mid-import leaves it to the
next, which answers every member exactly once; then the report is the inline upload's."""

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.imports.models import ImportFile, ImportJob
from app.storage import LocalBlobStore
from tests import corpus
from tests.worker.e2e import mapped_torch, wait_for, worker_process

pytestmark = [pytest.mark.processes, pytest.mark.faults]
IMAGES = 200


def _archive() -> bytes:
    members = [
        (f"look/{i}.png", corpus.png(size=(24, 16), colour=(i, 255 - i, 90))) for i in range(IMAGES)
    ]
    members += [
        ("look/again.png", corpus.png(size=(24, 16), colour=(0, 255, 90))),  # the bytes of 0.png
        ("look/notes.png", b"not an image"),
        ("../escape.png", corpus.png()),
        (
            "look/manifest.csv",
            b"file,caption,tags\n0.png,Camille tote,tote;burgundy\nghost.png,x,\n",
        ),
    ]
    return corpus.zip_archive(members)


def _job(api: TestClient, job_id: int) -> dict:  # type: ignore[type-arg]
    return api.get(f"/api/v1/imports/{job_id}").json()


def _until_done(session: Session, job_id: int, done: int, log: Path) -> None:
    """Wait until the job has answered `done` members, looking often: a worker imports many
    small images a second."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        session.commit()  # a fresh snapshot
        if session.scalar(select(ImportJob.done).where(ImportJob.id == job_id)) >= done:
            return
        time.sleep(0.005)
    raise AssertionError(f"the import did not start\n{log.read_text()[-3000:]}")


def test_a_large_archive_is_imported_by_a_cpu_worker_that_may_die(
    api: TestClient,
    env: dict[str, str],
    session: Session,
    store: LocalBlobStore,
    tmp_path: Path,
) -> None:
    api.post("/api/v1/brands", json={"slug": "maison", "name": "Maison"})
    api.app.state.settings.IMPORT_INLINE_MAX_FILES = 50  # type: ignore[attr-defined]
    answer = api.post("/api/v1/brands/maison/assets", files=[("files", ("spring.zip", _archive()))])
    assert answer.status_code == 202, answer.text
    job_id, total = answer.json()["imports"][0]["id"], IMAGES + 3
    assert answer.json()["imports"][0]["total"] == total

    page = api.get(f"/imports/{job_id}", headers={"HX-Request": "true"}).text
    assert 'hx-trigger="every 1s"' in page and f"0</strong> of {total} files" in page

    log = tmp_path / "worker.log"
    with worker_process(env, log, queues="cpu") as first:
        _until_done(session, job_id, 3, log)
        os.killpg(first.pid, signal.SIGKILL)  # mid-import, no goodbye
        first.wait()
    interrupted = _job(api, job_id)
    assert interrupted["status"] == "running" and 0 < interrupted["done"] < total, interrupted
    progress = api.get(f"/imports/{job_id}", headers={"HX-Request": "true"}).text
    assert re.search(rf'value="{interrupted["done"]}"', progress), "the bar shows the progress"

    with worker_process(env, log, queues="cpu") as second:
        done = wait_for(
            lambda: _job(api, job_id), lambda j: j["status"] != "running", timeout=180, log=log
        )
        torch_maps = mapped_torch(second.pid)
    assert done["status"] == "succeeded", done["error"]
    assert not torch_maps, torch_maps

    report = done["report"]
    assert (done["done"], done["accepted"], done["duplicates"]) == (total, IMAGES, 1)
    assert len(report["accepted"]) == IMAGES and len(report["duplicates"]) == 1
    refused = {r["filename"]: r["error"] for r in report["rejected"]}
    assert set(refused) == {
        "spring.zip: look/notes.png",
        "spring.zip: ../escape.png",
        "spring.zip: look/manifest.csv line 3",
    }
    assert "not an image" in refused["spring.zip: look/notes.png"]
    tote = next(a["asset"] for a in report["accepted"] if a["filename"].endswith("look/0.png"))
    assert (tote["caption"], tote["tags"]) == ("Camille tote", ["tote", "burgundy"])

    session.commit()  # each member answered once, however the workers fared
    positions = Counter(session.scalars(select(ImportFile.position)))
    assert sorted(positions) == list(range(total + 1)) and set(positions.values()) == {1}
    assert session.scalar(select(func.count()).select_from(Asset)) == IMAGES
    assert not [k for k in store.list_keys() if "/imports/" in k], "the archive is deleted"

    final = api.get(f"/imports/{job_id}", headers={"HX-Request": "true"})
    assert "hx-trigger" not in final.text and final.headers["HX-Trigger"] == "import-finished"
    assert f"<strong>{IMAGES}</strong> added" in final.text
