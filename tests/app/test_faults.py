"""Faults met in a request: the database's connections dropped (between and during requests)
and the blob store's disk full. Each is a clean answer that says what happened, nothing is
left half-written, and the next request works without a restart."""

import errno
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.brands.models import Brand
from app.storage import BlobStore, LocalBlobStore
from tests import corpus, services

pytestmark = pytest.mark.faults


def _admin() -> psycopg.Connection:
    return psycopg.connect(
        services.postgres_url().replace("+psycopg", "") + "/postgres", autocommit=True
    )


@pytest.fixture
def postgres_app(app: FastAPI) -> FastAPI:
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("connections dropped by the server: PostgreSQL")
    return app


def _terminate_all(app: FastAPI) -> int:
    """End every server process of the app's database (as a failover or an operator would)."""
    with _admin() as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [app.state.engine.url.database],
        ).fetchall()
    return len(rows)


class DropDuring:
    """Ends the server process under the app's next `nth` SQL statement, mid-request."""

    def __init__(self, app: FastAPI, nth: int) -> None:
        self.left = nth
        event.listen(app.state.engine, "before_cursor_execute", self)

    def __call__(self, connection: Any, cursor: Any, *args: Any) -> None:
        self.left -= 1
        if self.left == 0:
            with _admin() as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(%s)", [cursor.connection.info.backend_pid]
                )


def test_dropped_connections_give_a_503_and_the_next_request_works(
    postgres_app: FastAPI, client: TestClient, brand: Brand, session: Session
) -> None:
    listing = "/api/v1/brands/maison/assets"
    assert client.get(listing).status_code == 200
    assert _terminate_all(postgres_app) >= 1
    # Between requests: the pool tests each connection before use and replaces a dead one.
    assert client.get(listing).status_code == 200
    for nth in (1, 2, 3):  # during requests: under the session, the access check, the query
        DropDuring(postgres_app, nth)
        answer = client.get(listing)
        assert answer.status_code == 503, answer.text
        assert "database is unavailable" in answer.json()["detail"]
        assert client.get(listing).status_code == 200, "recovered without a restart"
    DropDuring(postgres_app, 3)  # a page: the same sentence, as a page
    page = client.get("/brands/maison")
    assert page.status_code == 503 and "database is unavailable" in page.text
    DropDuring(postgres_app, 4)  # an upload: nothing of it is kept
    files = [("files", ("a.png", corpus.png())), ("files", ("b.png", corpus.jpeg()))]
    assert client.post(listing, files=files).status_code == 503
    session.commit()
    assert session.scalar(select(func.count()).select_from(Asset)) == 0
    assert client.post(listing, files=files).json()["accepted"], "and then it is"


class FullAfter:
    """A blob store whose disk fills up after `room` more blobs."""

    def __init__(self, store: BlobStore, room: int) -> None:
        self.store, self.room = store, room

    def put(self, key: str, data: bytes) -> None:
        if self.room == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        self.store.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def full_disk(app: FastAPI) -> Iterator[FullAfter]:
    real = app.state.store
    app.state.store = FullAfter(real, room=3)
    yield app.state.store
    app.state.store = real


def test_a_full_disk_during_an_upload_keeps_nothing_and_says_so(
    full_disk: FullAfter, client: TestClient, brand: Brand, session: Session, store: LocalBlobStore
) -> None:
    files = [("files", (f"{i}.png", corpus.png(colour=(i * 50, 20, 20)))) for i in range(3)]
    answer = client.post("/api/v1/brands/maison/assets", files=files)
    assert answer.status_code == 507, answer.text
    assert answer.json()["detail"].startswith("The storage is full: nothing")
    assert full_disk.room == 0, "the disk filled up mid-request, after some blobs were written"
    session.commit()
    assert session.scalar(select(func.count()).select_from(Asset)) == 0
    assert store.list_keys() == [], "no blob, not even a partial one"
    assert not list(store.root.rglob(".tmp-*"))
