"""Exports in the background, through the API and the pages: queued with 202, built by a real
light worker process, downloaded as the very zip the inline export gives for the same data;
refused with a sentence when there is nothing to export, hidden from other brands, 409 until
done, 410 once deleted for age; the inline export refuses what is past its size."""

import io
import os
import re
import subprocess
import sys
import zipfile
from datetime import timedelta
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.brands.models import Brand
from app.config import Settings
from app.db import utcnow
from app.exports.models import ExportJob
from app.storage import LocalBlobStore
from tests.app.interchange.test_export import ingest_and_approve
from tests.app.members.test_members import bearer_for

EXPORTS = "/api/v1/brands/maison/exports"
MODEL_STACK = {"torch", "transformers", "peft", "bitsandbytes"}


def work(settings: Settings, code: str) -> str:
    """Run worker code in a process of its own, as a light worker would (its last line says
    which of the model stack it loaded)."""
    env = {
        "DATABASE_URL": settings.DATABASE_URL,
        "BROKER_URL": settings.BROKER_URL,
        "STORAGE_URL": settings.STORAGE_URL,
    }
    check = f"\nimport sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & {MODEL_STACK}))"
    result = subprocess.run(
        [sys.executable, "-c", code + check],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr
    return result.stdout


def build(settings: Settings, *job_ids: int) -> None:
    """The export jobs built by the light worker's task."""
    work(settings, f"import worker.light\nfor i in {list(job_ids)}: worker.light.export_zip(i)")


def queue(client: TestClient, **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post(EXPORTS, json=body)
    assert response.status_code == 202, response.text
    return response.json()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_queued_export_downloads_as_the_inline_export_gives_it(
    client: TestClient, brand: Brand, settings: Settings
) -> None:
    ingest_and_approve(client)
    dataset = client.post("/api/v1/brands/maison/datasets", json={"validation_fraction": 0.5})
    asked = [
        *({"format": fmt} for fmt in ("csv", "jsonl", "coco", "sharegpt")),
        {"format": "sharegpt", "dataset_id": dataset.json()["id"]},
        {"format": "csv", "dataset_id": dataset.json()["id"]},
    ]
    jobs = [queue(client, **body) for body in asked]
    first = jobs[0]
    assert (first["status"], first["total"], first["done"]) == ("queued", 3, 0)
    assert first["filename"] == "maison-csv.zip" and jobs[4]["filename"] == "maison-v1-sharegpt.zip"
    early = client.get(f"/api/v1/exports/{first['id']}/download")
    assert early.status_code == 409
    assert "queued (0 of 3 images written)" in early.json()["detail"]

    build(settings, *(job["id"] for job in jobs))
    for body, job in zip(asked, jobs, strict=True):
        done = client.get(f"/api/v1/exports/{job['id']}").json()
        assert (done["status"], done["done"], done["error"]) == ("succeeded", 3, ""), done
        download = client.get(f"/api/v1/exports/{job['id']}/download")
        assert download.status_code == 200, download.text
        inline = client.get(f"/api/v1/brands/maison/export?{urlencode(body)}")
        assert inline.status_code == 200
        assert download.headers["content-type"] == "application/zip"
        assert download.headers["content-disposition"] == inline.headers["content-disposition"]
        assert (
            int(download.headers["content-length"]) == len(download.content) == done["size_bytes"]
        )
        # The same members in the same order, byte for byte (the zips' timestamps differ).
        assert list(members(download.content).items()) == list(members(inline.content).items())


def test_nothing_to_export_unknown_datasets_and_other_brands_are_refused(
    client: TestClient, brand: Brand, session: Session, settings: Settings
) -> None:
    nothing = client.post(EXPORTS, json={"format": "csv"})
    assert nothing.status_code == 422
    assert nothing.json()["detail"] == "nothing to export: Maison Test has no approved image yet"
    assert client.post(EXPORTS, json={"format": "xml"}).status_code == 422
    assert client.post(EXPORTS, json={}).status_code == 422

    assert client.post("/api/v1/brands", json={"slug": "rival", "name": "Rival"}).is_success
    ingest_and_approve(client, slug="rival")
    theirs = client.post("/api/v1/brands/rival/datasets", json={"validation_fraction": 0.5})
    ingest_and_approve(client)
    for dataset_id in (theirs.json()["id"], 999_999):
        missing = client.post(EXPORTS, json={"format": "csv", "dataset_id": dataset_id})
        assert (missing.status_code, missing.json()["detail"]) == (404, f"no dataset {dataset_id}")
    assert client.get("/api/v1/exports/999999").status_code == 404

    job = queue(client, format="jsonl")
    session.commit()
    rival = session.scalars(select(Brand).where(Brand.slug == "rival")).one()
    outsider = bearer_for(session, rival, "outsider@rival.test", Role.admin)
    creative = bearer_for(session, session.get_one(Brand, brand.id), "c@maison.test", Role.creative)
    for path in ("", "/download"):
        assert client.get(f"/api/v1/exports/{job['id']}{path}", headers=outsider).status_code == 404
    assert client.get(f"/exports/{job['id']}", headers=outsider).status_code == 404
    assert client.post(EXPORTS, json={"format": "csv"}, headers=outsider).status_code == 404
    by_creative = client.post(EXPORTS, json={"format": "csv"}, headers=creative)
    assert by_creative.status_code == 202
    assert client.get(f"/api/v1/exports/{job['id']}", headers=creative).status_code == 200


def test_the_inline_export_refuses_past_its_size_and_points_at_the_job(
    client: TestClient, brand: Brand, settings: Settings
) -> None:
    ingest_and_approve(client)
    settings.EXPORT_INLINE_MAX_IMAGES = 2
    refused = client.get("/api/v1/brands/maison/export?format=csv")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "this export holds 3 images, more than the 2 built while you wait: queue it with "
        "POST /api/v1/brands/maison/exports and download it once it is done"
    )
    settings.EXPORT_INLINE_MAX_IMAGES = 3
    assert client.get("/api/v1/brands/maison/export?format=csv").status_code == 200


def test_the_library_form_queues_an_export_whose_page_ends_in_a_download(
    client: TestClient, brand: Brand, settings: Settings
) -> None:
    ingest_and_approve(client)
    library = client.get("/brands/maison/assets").text
    assert re.search(r'id="export" method="post" action="/brands/maison/exports"', library)
    token = re.search(r'name="csrf-token" content="([^"]+)"', library)
    assert token is not None
    form = {"format": "coco", "csrf_token": token.group(1)}
    queued = client.post("/brands/maison/exports", data=form, follow_redirects=False)
    assert queued.status_code == 303, queued.text
    job_id = int(queued.headers["location"].rsplit("/", 1)[1])
    assert queued.headers["location"] == f"/exports/{job_id}"

    polled = client.get(f"/exports/{job_id}", headers={"HX-Request": "true"}).text
    assert 'hx-trigger="every 1s"' in polled and "0</strong> of 3 images" in polled
    assert "Download" not in polled
    build(settings, job_id)
    final = client.get(f"/exports/{job_id}", headers={"HX-Request": "true"}).text
    assert "hx-trigger" not in final
    assert f'href="/api/v1/exports/{job_id}/download"' in final and "maison-coco.zip" in final
    page = client.get(f"/exports/{job_id}")
    assert page.status_code == 200 and "<title>Export" in page.text


def test_a_job_with_nothing_left_to_export_fails_with_the_reason(
    client: TestClient, brand: Brand, settings: Settings
) -> None:
    assets = ingest_and_approve(client)
    job = queue(client, format="csv")
    for asset in assets.values():  # unapproved before any worker takes the job
        client.patch(f"/api/v1/assets/{asset['id']}", json={"status": "rejected"})
    build(settings, job["id"])
    failed = client.get(f"/api/v1/exports/{job['id']}").json()
    assert failed["status"] == "failed"
    assert failed["error"] == "nothing to export: Maison Test has no approved image yet"
    download = client.get(f"/api/v1/exports/{job['id']}/download")
    assert download.status_code == 409 and failed["error"] in download.json()["detail"]
    page = client.get(f"/exports/{job['id']}", headers={"HX-Request": "true"}).text
    assert "The export failed: nothing to export" in page


def test_zips_older_than_the_keep_hours_are_deleted_by_the_recovery_round(
    client: TestClient, brand: Brand, session: Session, settings: Settings, store: LocalBlobStore
) -> None:
    ingest_and_approve(client)
    old, recent = queue(client, format="csv"), queue(client, format="jsonl")
    build(settings, old["id"], recent["id"])
    session.commit()
    jobs = {j.id: j for j in session.scalars(select(ExportJob))}
    jobs[old["id"]].finished_at = utcnow() - timedelta(hours=72, minutes=1)
    jobs[recent["id"]].finished_at = utcnow() - timedelta(hours=71)
    session.commit()
    keys = {i: j.result_key for i, j in jobs.items()}
    assert all(store.exists(k) for k in keys.values())

    # Two rounds: each zip is deleted and its job expired once.
    rounds = "import worker.exports as e\nprint(e.exports_clean(), e.exports_clean())"
    assert work(settings, rounds).splitlines()[0] == "1 0"
    assert not store.exists(keys[old["id"]]) and store.exists(keys[recent["id"]])
    gone = client.get(f"/api/v1/exports/{old['id']}/download")
    assert gone.status_code == 410
    assert "being older than the exports are kept; export again" in gone.json()["detail"]
    assert client.get(f"/api/v1/exports/{old['id']}").json()["expired_at"] is not None
    assert client.get(f"/api/v1/exports/{recent['id']}/download").status_code == 200
    page = client.get(f"/exports/{old['id']}").text
    assert "expired" in page and "Download" not in page


PROGRESS = """
import worker.exports as exports
from app.exports.models import ExportJob

exports.PROGRESS_SECONDS = 0  # every image's count written, and read back after each
seen, hear = [], exports._Progress.__call__
def heard(self, done):
    hear(self, done)
    with exports.sessions()() as session:
        seen.append(session.get_one(ExportJob, self.job_id).done)
exports._Progress.__call__ = heard
exports.export_execute({job_id})
print(seen)
"""


def test_the_worker_records_the_images_written_as_it_goes(
    client: TestClient, brand: Brand, settings: Settings
) -> None:
    ingest_and_approve(client)
    job = queue(client, format="csv")
    seen = work(settings, PROGRESS.format(job_id=job["id"]))
    assert seen.splitlines()[0] == "[1, 2, 3]"
    assert client.get(f"/api/v1/exports/{job['id']}").json()["status"] == "succeeded"
