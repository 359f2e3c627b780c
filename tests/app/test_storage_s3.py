"""The application on an S3 bucket (moto's server on loopback): uploads land in the bucket,
originals, adapters and export zips reach the browser by short-lived presigned URLs after the
same access check, and a missing bucket or a server that goes down mid-request keeps nothing."""

import io
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.assets.models import Asset
from app.brands.models import Brand
from app.brands.service import brand_create
from app.config import Settings
from app.leases import JobStatus
from app.main import create_app
from app.runs.models import Run
from app.storage import BlobStore, S3BlobStore, Source
from tests import corpus
from tests.app.exports.test_exports import build
from tests.app.members.test_members import bearer_for
from tests.s3 import MotoServer
from worker.context import folder_store

pytestmark = pytest.mark.processes  # moto's server

ASSETS = "/api/v1/brands/maison/assets"
PRESIGN_SECONDS = 2


def _client(app: FastAPI, token: str) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def s3_app(s3_settings: Settings) -> Iterator[FastAPI]:
    app = create_app(s3_settings.model_copy(update={"STORAGE_PRESIGN_SECONDS": PRESIGN_SECONDS}))
    yield app
    app.state.engine.dispose()


@pytest.fixture
def s3_client(s3_app: FastAPI, operator_token: str) -> Iterator[TestClient]:
    with _client(s3_app, operator_token) as client:
        assert client.post("/api/v1/brands", json={"slug": "maison", "name": "Maison"}).is_success
        yield client


def _fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET a URL as a browser would, with nothing of the application's (no cookie, no token)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read(), {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read(), {k.lower(): v for k, v in refused.headers.items()}


def _bucket_keys(store: BlobStore) -> list[str]:
    assert isinstance(store, S3BlobStore)
    listing = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_an_upload_lands_in_the_bucket_and_its_original_is_a_short_lived_presigned_url(
    s3_app: FastAPI, s3_client: TestClient, session: Session
) -> None:
    png = corpus.png(colour=(200, 30, 60))
    files = [("files", ("a.png", png)), ("files", ("b.jpg", corpus.jpeg()))]
    accepted = s3_client.post(ASSETS, files=files).json()["accepted"]
    assert len(accepted) == 2
    keys = _bucket_keys(s3_app.state.store)
    assert len(keys) == 4 and all(key.startswith("atelier/brands/") for key in keys)
    asset = session.get_one(Asset, accepted[0]["asset"]["id"])
    assert f"atelier/{asset.original_key}" in keys

    original = f"/api/v1/assets/{asset.id}/original"
    answer = s3_client.get(original, follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["cache-control"] == "no-store"
    url = answer.headers["location"]
    endpoint = s3_app.state.store.endpoint_url
    assert url.startswith(f"{endpoint}/")
    status, body, headers = _fetch(url)
    assert (status, body, headers["content-type"]) == (200, png, "image/png")
    # The asset page shows the original as an image: the policy lets it come from the bucket.
    page = s3_client.get(f"/brands/maison/assets/{asset.id}")
    assert f"img-src 'self' data: blob: {endpoint}" in page.headers["content-security-policy"]
    # Thumbnails are still answered by the application.
    assert s3_client.get(f"/api/v1/assets/{asset.id}/thumbnail").content.startswith(b"RIFF")

    # moto does not enforce a presigned URL's expiry (5.2.5 checks no query signature): what
    # S3 enforces is the signed X-Amz-Date + X-Amz-Expires, so check those.
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == [str(PRESIGN_SECONDS)]
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed).total_seconds()) < 60


def test_the_access_check_comes_before_any_presigned_url(
    s3_app: FastAPI, s3_client: TestClient, session: Session
) -> None:
    asset_id = s3_client.post(ASSETS, files=[("files", ("a.png", corpus.png()))]).json()[
        "accepted"
    ][0]["asset"]["id"]
    original = f"/api/v1/assets/{asset_id}/original"
    rival = brand_create(session=session, slug="rival", name="Rival")
    outsider = bearer_for(session, rival, "outsider@rival.test", Role.admin)
    with TestClient(s3_app) as anon:
        refused = anon.get(original, follow_redirects=False)
        assert refused.status_code == 401 and "location" not in refused.headers
        refused = anon.get(original, headers=outsider, follow_redirects=False)
        assert refused.status_code == 404 and "location" not in refused.headers


def test_an_adapter_kept_by_a_worker_downloads_through_a_presigned_url(
    s3_app: FastAPI, s3_client: TestClient, session: Session, tmp_path: Path
) -> None:
    for i in range(2):
        asset = s3_client.post(
            ASSETS, files=[("files", (f"{i}.png", corpus.png(colour=(i, 9, 9))))]
        )
        asset_id = asset.json()["accepted"][0]["asset"]["id"]
        s3_client.patch(f"/api/v1/assets/{asset_id}", json={"status": "approved", "caption": "x"})
    dataset = s3_client.post("/api/v1/brands/maison/datasets").json()
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 16}')
    (adapter / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 4096)
    folder_store(s3_app.state.store, "runs/1/adapter.zip", adapter)  # as a worker keeps it
    brand = session.scalars(select(Brand).where(Brand.slug == "maison")).one()
    run = Run(
        brand_id=brand.id,
        base_model_id=1,
        dataset_id=dataset["id"],
        status=JobStatus.succeeded,
        name="catalogue",
        settings={},
        settings_hash="0" * 64,
        instruction="Describe this product.",
        adapter_key="runs/1/adapter.zip",
    )
    session.add(run)
    session.commit()

    answer = s3_client.get(f"/api/v1/runs/{run.id}/adapter", follow_redirects=False)
    assert answer.status_code == 307
    status, body, headers = _fetch(answer.headers["location"])
    assert status == 200 and headers["content-type"] == "application/zip"
    name = f"atelier-maison-run-{run.id}-adapter.zip"
    assert headers["content-disposition"] == f'attachment; filename="{name}"'
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.read("adapter_model.safetensors") == bytes(range(256)) * 4096
        assert archive.read("adapter_config.json") == b'{"r": 16}'


def test_an_export_built_by_a_worker_downloads_through_a_presigned_url(
    s3_app: FastAPI, s3_client: TestClient, session: Session
) -> None:
    for i in range(2):
        asset = s3_client.post(
            ASSETS, files=[("files", (f"{i}.png", corpus.png(colour=(i, 9, 9))))]
        )
        asset_id = asset.json()["accepted"][0]["asset"]["id"]
        s3_client.patch(f"/api/v1/assets/{asset_id}", json={"status": "approved", "caption": "x"})
    job = s3_client.post("/api/v1/brands/maison/exports", json={"format": "jsonl"}).json()
    build(s3_app.state.settings, job["id"])  # a light worker process, on the same bucket
    download = f"/api/v1/exports/{job['id']}/download"
    rival = brand_create(session=session, slug="rival", name="Rival")
    outsider = bearer_for(session, rival, "outsider@rival.test", Role.admin)
    refused = s3_client.get(download, headers=outsider, follow_redirects=False)
    assert refused.status_code == 404 and "location" not in refused.headers

    answer = s3_client.get(download, follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["cache-control"] == "no-store"
    status, body, headers = _fetch(answer.headers["location"])
    assert status == 200 and headers["content-type"] == "application/zip"
    assert headers["content-disposition"] == 'attachment; filename="maison-jsonl.zip"'
    inline = s3_client.get("/api/v1/brands/maison/export?format=jsonl").content
    with zipfile.ZipFile(io.BytesIO(body)) as built, zipfile.ZipFile(io.BytesIO(inline)) as now:
        assert [(n, built.read(n)) for n in built.namelist()] == [
            (n, now.read(n)) for n in now.namelist()
        ]


def test_a_missing_bucket_answers_503_and_keeps_nothing(
    settings: Settings, moto_server: MotoServer, operator_token: str, session: Session
) -> None:
    app = create_app(settings.model_copy(update={"STORAGE_URL": moto_server.url("gone")}))
    try:
        with _client(app, operator_token) as client:
            client.post("/api/v1/brands", json={"slug": "maison", "name": "Maison"})
            answer = client.post(ASSETS, files=[("files", ("a.png", corpus.png()))])
    finally:
        app.state.engine.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"].startswith("The storage is unavailable: nothing")
    session.commit()
    assert session.scalar(select(func.count()).select_from(Asset)) == 0


class KilledAfter:
    """A bucket whose server is killed before the store's `writes`+1-th write."""

    def __init__(self, store: BlobStore, server: MotoServer, writes: int) -> None:
        self.store, self.server, self.left = store, server, writes

    def _write(self) -> None:
        if self.left == 0:
            self.server.kill()
        self.left -= 1

    def put(self, key: str, data: bytes) -> None:
        self._write()
        self.store.put(key, data)

    def put_stream(self, key: str, source: Source) -> int:
        self._write()
        return self.store.put_stream(key, source)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_the_server_going_down_mid_upload_answers_503_and_keeps_no_row(
    settings: Settings, doomed_server: MotoServer, operator_token: str, session: Session
) -> None:
    url = doomed_server.url(doomed_server.bucket())
    app = create_app(settings.model_copy(update={"STORAGE_URL": url}))
    app.state.store = KilledAfter(app.state.store, doomed_server, writes=3)
    files = [("files", (f"{i}.png", corpus.png(colour=(i * 50, 20, 20)))) for i in range(3)]
    try:
        with _client(app, operator_token) as client:
            client.post("/api/v1/brands", json={"slug": "maison", "name": "Maison"})
            answer = client.post(ASSETS, files=files)
    finally:
        app.state.engine.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"].startswith("The storage is unavailable: nothing")
    assert app.state.store.left < 0, "the server went down mid-request, after blobs were written"
    session.commit()
    assert session.scalar(select(func.count()).select_from(Asset)) == 0
