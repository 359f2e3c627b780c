"""An upload answers inline, as ever, unless one of its archives holds more files than
IMPORT_INLINE_MAX_FILES: that archive waits in the blob store for a `cpu` worker, and the
answer is its import job (202); its progress is on the job and on the library page."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.brands.models import Brand
from app.config import Settings
from app.imports.models import ImportJob
from app.storage import LocalBlobStore
from tests import corpus
from tests.broker import queued

UPLOAD = "/api/v1/brands/maison/assets"


def _archive(count: int, start: int = 0) -> bytes:
    return corpus.zip_archive(
        [(f"{i}.png", corpus.png(colour=(i, 100, 200))) for i in range(start, start + count)]
        + [("manifest.csv", b"file,caption,tags\n0.png,Camille tote,tote\n")]
    )


@pytest.fixture
def inline_max(settings: Settings) -> int:
    settings.IMPORT_INLINE_MAX_FILES = 3
    return 3


def test_an_archive_at_the_inline_limit_is_answered_inline(
    client: TestClient, brand: Brand, session: Session, inline_max: int
) -> None:
    response = client.post(UPLOAD, files=[("files", ("set.zip", _archive(inline_max)))])
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"accepted", "duplicates", "rejected"}
    assert len(response.json()["accepted"]) == inline_max
    assert session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_a_larger_archive_becomes_an_import_job_on_the_cpu_queue(
    client: TestClient,
    brand: Brand,
    session: Session,
    store: LocalBlobStore,
    settings: Settings,
    inline_max: int,
) -> None:
    data = _archive(inline_max + 1)
    files = [("files", ("photo.png", corpus.png())), ("files", ("big.zip", data))]
    response = client.post(UPLOAD, files=files)
    assert response.status_code == 202, response.text
    body = response.json()
    assert [f["filename"] for f in body["accepted"]] == ["photo.png"]  # answered inline
    [job] = body["imports"]
    assert (job["filename"], job["status"], job["total"], job["done"]) == (
        "big.zip",
        "queued",
        inline_max + 1,  # the manifest is no file of the report
        0,
    )
    session.commit()
    assert session.scalar(select(func.count()).select_from(Asset)) == 1
    row = session.get_one(ImportJob, job["id"])
    assert store.get(row.archive_key) == data  # kept for the worker, byte for byte
    assert queued(settings.BROKER_URL) == [("cpu", "atelier.import", [job["id"]])]

    status = client.get(f"/api/v1/imports/{job['id']}")
    assert status.status_code == 200
    assert status.json()["status"] == "queued" and status.json()["report"] is None


def test_an_archive_refused_as_a_whole_is_refused_inline(
    client: TestClient, brand: Brand, session: Session, settings: Settings, inline_max: int
) -> None:
    settings.MAX_ARCHIVE_MEMBERS = inline_max + 2
    response = client.post(UPLOAD, files=[("files", ("many.zip", _archive(inline_max + 3)))])
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == []
    assert "7 files" in response.json()["rejected"][0]["error"]  # the manifest counts
    assert session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_a_failed_request_keeps_neither_the_job_nor_its_archive(
    client: TestClient,
    brand: Brand,
    session: Session,
    store: LocalBlobStore,
    settings: Settings,
    inline_max: int,
) -> None:
    from app.assets import views

    original = views.asset_ingest

    def crash(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    views.asset_ingest = crash
    try:
        with pytest.raises(RuntimeError):
            client.post(
                UPLOAD,
                files=[("files", ("big.zip", _archive(inline_max + 1))), ("files", ("x.png", b""))],
            )
    finally:
        views.asset_ingest = original
    session.commit()
    assert session.scalar(select(func.count()).select_from(ImportJob)) == 0
    assert store.list_keys() == []
    assert queued(settings.BROKER_URL) == []


def test_the_library_shows_the_import_under_way(
    client: TestClient, brand: Brand, inline_max: int
) -> None:
    page = client.get("/brands/maison/assets")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None
    answer = client.post(
        "/brands/maison/upload",
        files=[("files", ("big.zip", _archive(inline_max + 2)))],
        headers={"HX-Request": "true", "X-CSRF-Token": token.group(1)},
    )
    assert answer.status_code == 200, answer.text
    job_id = re.search(r'id="import-(\d+)"', answer.text)
    assert job_id is not None
    polls = f'hx-get="/imports/{job_id.group(1)}" hx-trigger="every 1s"'
    assert polls in answer.text and "0</strong> of 5 files" in answer.text
    assert 'class="summary"' not in answer.text  # no empty inline report beside it
    assert polls in client.get("/brands/maison/assets").text  # and after a reload
    fragment = client.get(f"/imports/{job_id.group(1)}", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith("<section") and polls in fragment.text
