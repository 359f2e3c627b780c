"""Exports through a real `cpu` worker process: queued by the API, built by a light worker that
never maps torch; a worker killed with `kill -9` mid-zip leaves the job to the next, which the
recovery round sends it to and which builds the zip from the start; the download is then the
zip the inline export gives for the same data, and nothing of the first attempt is left."""

import io
import os
import signal
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.assets.models import Asset, AssetStatus
from app.exports.models import ExportJob
from app.storage import LocalBlobStore
from tests import corpus
from tests.worker.e2e import blob_stalled, mapped_torch, wait_for, worker_process

pytestmark = [pytest.mark.processes, pytest.mark.faults]
IMAGES = 30


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def _library(api: TestClient, session: Session) -> list[str]:
    """A brand with IMAGES approved, captioned images; their originals' keys, in export order."""
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
    return [asset.original_key for asset in session.scalars(select(Asset).order_by(Asset.id))]


def test_an_export_survives_a_killed_cpu_worker_and_is_built_again_from_the_start(
    api: TestClient, env: dict[str, str], session: Session, store: LocalBlobStore, tmp_path: Path
) -> None:
    originals = _library(api, session)
    queued = api.post("/api/v1/brands/maison/exports", json={"format": "sharegpt"})
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["id"]

    def job() -> dict:  # type: ignore[type-arg]
        return api.get(f"/api/v1/exports/{job_id}").json()

    log = tmp_path / "worker.log"
    # The 20th image's read waits, as on a stalled disk: the kill lands mid-zip.
    with blob_stalled(store, originals[19]), worker_process(env, log, queues="cpu") as first:
        wait_for(job, lambda j: j["status"] == "running", timeout=60, log=log)
        torch_maps = mapped_torch(first.pid)  # a light worker, busy with its export
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert not torch_maps, torch_maps
    interrupted = job()
    assert interrupted["status"] == "running" and interrupted["size_bytes"] == 0, interrupted
    early = api.get(f"/api/v1/exports/{job_id}/download")
    assert early.status_code == 409 and "running" in early.json()["detail"]

    with worker_process(env, log, queues="cpu") as second:
        done = wait_for(job, lambda j: j["status"] in ("succeeded", "failed"), timeout=60, log=log)
        assert not mapped_torch(second.pid)
    assert (done["status"], done["done"], done["total"], done["error"]) == (
        "succeeded",
        IMAGES,
        IMAGES,
        "",
    )
    assert f"export {job_id} lost its worker; sending it again" in log.read_text()
    session.commit()
    assert session.scalar(select(ExportJob.attempt).where(ExportJob.id == job_id)) == 2

    download = api.get(f"/api/v1/exports/{job_id}/download")
    assert download.status_code == 200, download.text
    inline = api.get("/api/v1/brands/maison/export?format=sharegpt")
    assert _members(download.content) == _members(inline.content)
    brand_id = session.scalar(select(ExportJob.brand_id).where(ExportJob.id == job_id))
    zips = [k for k in store.list_keys() if "/exports/" in k]
    assert zips == [f"brands/{brand_id}/exports/{job_id}.zip"], "one zip, nothing left over"
