"""The blob store, local folder and S3 bucket (moto's server on loopback) alike: blobs in and
out, whole and streamed, and staged on a session, following its transaction and savepoints."""

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.config import Settings
from app.storage import BlobStore, S3BlobStore, StorageUnavailable, blob_stage, open_store
from tests.s3 import MotoServer

pytestmark = pytest.mark.processes  # moto's server

MiB = 1024**2


def test_staged_blobs_follow_savepoints_and_the_outer_transaction(
    clean_db: Engine, blobs: BlobStore
) -> None:
    with Session(clean_db) as session:
        session.execute(text("SELECT 1"))
        blob_stage(session=session, store=blobs, key="a", data=b"a")
        with session.begin_nested():  # released: "a" is not kept yet, "b" joins it
            blob_stage(session=session, store=blobs, key="b", data=io.BytesIO(b"b"))
        with pytest.raises(ValueError), session.begin_nested():
            blob_stage(session=session, store=blobs, key="c", data=iter([b"c"]))
            raise ValueError  # the savepoint rolls back: its blob goes, the others stay
        assert blobs.list_keys() == ["a", "b"]
        session.rollback()  # the whole transaction: every blob of it goes
        assert blobs.list_keys() == []

        session.execute(text("SELECT 1"))
        blob_stage(session=session, store=blobs, key="d", data=b"d")
        with session.begin_nested():
            blob_stage(session=session, store=blobs, key="e", data=io.BytesIO(b"e"))
        session.commit()
        session.rollback()  # nothing left to undo
        assert blobs.list_keys() == ["d", "e"]


def test_a_rollback_with_the_store_away_logs_the_blobs_it_could_not_delete(
    clean_db: Engine, doomed_server: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    blobs = open_store(doomed_server.url(doomed_server.bucket()))
    with Session(clean_db) as session:
        session.execute(text("SELECT 1"))
        blob_stage(session=session, store=blobs, key="a", data=b"a")
        blob_stage(session=session, store=blobs, key="b", data=b"b")
        doomed_server.kill()
        session.rollback()  # does not raise over the error that caused it
    logged = [r.getMessage() for r in caplog.records if r.name == "app.storage"]
    assert len(logged) == 2 and "'a' of a rolled-back transaction" in logged[0]


def test_blobs_go_in_and_out_by_key(blobs: BlobStore) -> None:
    assert blobs.list_keys() == []
    blobs.put("brands/1/originals/x.png", b"png bytes")
    blobs.put("brands/1/thumbnails/x.webp", b"webp")
    blobs.put("runs/2/adapter.zip", b"zip")
    assert blobs.get("brands/1/originals/x.png") == b"png bytes"
    assert blobs.exists("runs/2/adapter.zip") and not blobs.exists("runs/2/other.zip")
    assert blobs.list_keys() == [
        "brands/1/originals/x.png",
        "brands/1/thumbnails/x.webp",
        "runs/2/adapter.zip",
    ]
    blobs.put("runs/2/adapter.zip", b"replaced")
    assert blobs.get("runs/2/adapter.zip") == b"replaced"
    blobs.delete("runs/2/adapter.zip")
    blobs.delete("runs/2/adapter.zip")  # deleting what is gone is no error
    assert not blobs.exists("runs/2/adapter.zip")
    with pytest.raises(FileNotFoundError):
        blobs.get("runs/2/adapter.zip")
    with pytest.raises(FileNotFoundError):
        blobs.open("runs/2/adapter.zip")
    for escaping in ("/etc/passwd", "../outside", "brands/../../outside"):
        with pytest.raises(ValueError, match="escapes the store"):
            blobs.put(escaping, b"no")


def test_large_blobs_stream_in_and_out_in_chunks(blobs: BlobStore, tmp_path: Path) -> None:
    """20 MiB from a file (a multipart upload on S3: three parts) and from chunks, read back a
    chunk at a time."""
    data = os.urandom(20 * MiB)
    source = tmp_path / "large.bin"
    source.write_bytes(data)
    with source.open("rb") as handle:
        assert blobs.put_stream("large/file.bin", handle) == len(data)
    chunks = (data[i : i + MiB // 3] for i in range(0, len(data), MiB // 3))
    assert blobs.put_stream("large/chunks.bin", chunks) == len(data)
    for key in ("large/file.bin", "large/chunks.bin"):
        digest, reads = hashlib.sha256(), 0
        with blobs.open(key) as blob:
            while chunk := blob.read(MiB):
                digest.update(chunk)
                reads += 1
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        assert reads >= 20, "read a chunk at a time"
    if isinstance(blobs, S3BlobStore):
        for key in ("large/file.bin", "large/chunks.bin"):
            head = blobs.client.head_object(Bucket=blobs.bucket, Key=f"atelier/{key}")
            assert head["ETag"].strip('"').endswith("-3"), "uploaded in three parts"


def test_a_local_streaming_put_holds_chunks_not_the_file(
    settings: Settings, tmp_path: Path
) -> None:
    blobs = open_store(settings.STORAGE_URL)
    source = tmp_path / "large.bin"
    source.write_bytes(os.urandom(32 * MiB))
    tracemalloc.start()
    try:
        with source.open("rb") as handle:
            blobs.put_stream("large.bin", handle)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB held for a 32 MiB blob"


def test_an_s3_streaming_put_holds_a_few_parts_not_the_blob(moto_server: MotoServer) -> None:
    """96 MiB from a generator goes up in 8 MiB parts, at most a few of them in memory (with
    s3transfer's default read-ahead of ten parts, the whole blob was: 98 MiB)."""
    blobs = open_store(moto_server.url(moto_server.bucket()))
    chunk = os.urandom(MiB)
    tracemalloc.start()
    try:
        assert blobs.put_stream("large.bin", (chunk for _ in range(96))) == 96 * MiB
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        blobs.delete("large.bin")
    assert peak < 64 * MiB, f"{peak / MiB:.1f} MiB held for a 96 MiB blob"


def test_a_missing_bucket_is_a_clear_error(moto_server: MotoServer) -> None:
    blobs = open_store(moto_server.url("no-such-bucket"))
    for attempt in (
        lambda: blobs.put("a", b"a"),
        lambda: blobs.put_stream("a", io.BytesIO(b"a")),
        lambda: blobs.get("a"),
        lambda: blobs.exists("a"),
        blobs.list_keys,
    ):
        with pytest.raises(StorageUnavailable, match="the bucket 'no-such-bucket' does not exist"):
            attempt()


def test_an_unreachable_server_is_a_clear_error(aws_credentials: None) -> None:
    server = MotoServer()  # never started: nothing listens on its port
    blobs = open_store(server.url("bucket"))
    with pytest.raises(StorageUnavailable, match="is unreachable"):
        blobs.put("a", b"a")
    with pytest.raises(StorageUnavailable, match="is unreachable"):
        blobs.get("a")


def test_storage_urls_name_the_backend() -> None:
    blobs = open_store("s3://bucket/some/prefix?endpoint_url=http://127.0.0.1:9&region=eu-west-3")
    assert isinstance(blobs, S3BlobStore)
    assert (blobs.bucket, blobs.prefix, blobs.endpoint_url) == (
        "bucket",
        "some/prefix",
        "http://127.0.0.1:9",
    )
    assert blobs.client.meta.region_name == "eu-west-3"
    assert blobs.browser_origin == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="names its bucket"):
        open_store("s3:///prefix")
    with pytest.raises(ValueError, match="unsupported"):
        open_store("gs://bucket")
