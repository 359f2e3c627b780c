"""Exports through a real `cpu` worker process: queued by the API, built by a light worker that
never maps torch, downloaded as the inline export gives them; an export whose worker died
mid-zip (running, its lease run out, a half-written zip at its key) is sent again by the
recovery round and built from the start, and only the whole zip is ever the download."""

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.assets.models import Asset, AssetStatus
from app.exports.models import ExportFormat, ExportJob
from app.exports.service import export_key
from app.leases import JobStatus
from app.storage import LocalBlobStore
from tests import corpus
from tests.worker.e2e import wait_for, worker_process
from tests.worker.test_imports_e2e import _mapped_torch

pytestmark = [pytest.mark.processes]
IMAGES = 30


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def _library(api: TestClient, session: Session) -> None:
    """A brand with IMAGES approved, captioned images."""
    api.post("/api/v1/brands", json={"slug": "maison", "name": "Maison"})
    images = [
        (f"{i}.png", corpus.png(size=(24, 16), colour=(i, 90, 255 - i))) for i in range(IMAGES)
    ]
    manifest = "file,caption,tags\n" + "".join(f"{i}.png,look {i},tote\n" for i in range(IMAGES))
    archive = corpus.zip_archive([("manifest.csv", manifest.encode()), *images])
    api.app.state.settings.IMPORT_INLINE_MAX_FILES = IMAGES  # type: ignore[attr-defined]
    answer = api.post("/api/v1/brands/maison/assets", files=[("files", ("look.zip", archive))])
    assert answer.status_code == 200 and len(answer.json()["accepted"]) == IMAGES, answer.text
    session.execute(update(Asset).values(status=AssetStatus.approved))
    session.commit()


def test_a_cpu_worker_builds_exports_and_rebuilds_one_whose_worker_died(
    api: TestClient, env: dict[str, str], session: Session, store: LocalBlobStore, tmp_path: Path
) -> None:
    _library(api, session)
    queued = api.post("/api/v1/brands/maison/exports", json={"format": "sharegpt"})
    assert queued.status_code == 202, queued.text
    fresh = queued.json()["id"]
    # A worker died mid-zip: the job running under a lease that ran out, part of a zip left
    # at its key (as a put cut short on a store that is not atomic would leave it).
    orphan = ExportJob(
        brand_id=session.get_one(ExportJob, fresh).brand_id,
        format=ExportFormat.jsonl,
        filename="maison-jsonl.zip",
        total=IMAGES,
        done=7,
        status=JobStatus.running,
        attempt=1,
    )
    session.add(orphan)
    session.commit()
    store.put(export_key(orphan), b"PK\x03\x04 half a zip")
    assert api.get(f"/api/v1/exports/{orphan.id}/download").status_code == 409

    log = tmp_path / "worker.log"
    with worker_process(env, log, queues="cpu") as worker:
        for job_id in (fresh, orphan.id):
            done = wait_for(
                lambda job_id=job_id: api.get(f"/api/v1/exports/{job_id}").json(),
                lambda j: j["status"] in ("succeeded", "failed"),
                timeout=60,
                log=log,
            )
            assert (done["status"], done["done"], done["error"]) == ("succeeded", IMAGES, "")
        torch_maps = _mapped_torch(worker.pid)
    assert not torch_maps, torch_maps
    assert f"export {orphan.id} lost its worker; sending it again" in log.read_text()

    for job_id, fmt in ((fresh, "sharegpt"), (orphan.id, "jsonl")):
        download = api.get(f"/api/v1/exports/{job_id}/download")
        assert download.status_code == 200, download.text
        inline = api.get(f"/api/v1/brands/maison/export?format={fmt}")
        assert _members(download.content) == _members(inline.content)
    session.commit()
    attempts = select(ExportJob.attempt).where(ExportJob.id == orphan.id)
    assert session.scalar(attempts) == 2  # taken over once
