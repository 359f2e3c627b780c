"""The blob store: original uploads, thumbnails, checkpoints and adapters.

Two backends behind one interface: a local folder (the embedded default) and an S3-compatible
bucket (`STORAGE_URL=s3://BUCKET[/PREFIX]?endpoint_url=...`). Large blobs are written from a
file object and read as one, never held whole in memory.

Blobs written during a database transaction are *staged* on its session: if the transaction
rolls back they are deleted again, so a failed request leaves no orphaned files behind.
"""

import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import parse_qs, urlparse, urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_STAGED = "atelier_staged_blobs"
CHUNK_BYTES = 1024**2

# What a streaming put reads from: a file object, or an iterator of byte chunks.
Source = IO[bytes] | Iterable[bytes]


class StorageUnavailable(Exception):
    """The store could not be reached, or refused: the sentence says which, for the log."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def put_stream(self, key: str, source: Source) -> int: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> IO[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def list_keys(self) -> list[str]: ...
    def presigned_url(
        self, key: str, *, seconds: int, media_type: str, disposition: str
    ) -> str | None:
        """A URL a browser may fetch the blob from for `seconds`, answered with this type and
        Content-Disposition; None where the store has none (the web process serves it)."""
        ...

    @property
    def browser_origin(self) -> str | None:
        """Where presigned URLs point (the pages' content policy must allow it), or None."""
        ...


def _check_key(key: str) -> None:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"blob key escapes the store: {key!r}")


def _as_file(source: Source) -> IO[bytes]:
    """A file object over a streaming put's source (chunks are read as they come)."""
    if hasattr(source, "read"):
        return source  # type: ignore[return-value]
    return io.BufferedReader(_ChunksReader(iter(source)), CHUNK_BYTES)


class _ChunksReader(io.RawIOBase):
    """A readable raw stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._left = chunks, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = memoryview(chunk)  # sliced below without copying the rest
        size = min(len(buffer), len(self._left))
        buffer[:size], self._left = self._left[:size], self._left[size:]
        return size


class _Counted(io.RawIOBase):
    """Reads through to a file object, counting the bytes (what a streaming put stored)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.count = inner, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class LocalBlobStore:
    """Blobs as files under one folder; writes are atomic (temporary file, then rename)."""

    browser_origin = None

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or key.startswith("/"):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        self.put_stream(key, io.BytesIO(data))

    def put_stream(self, key: str, source: Source) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        counted = _Counted(_as_file(source))
        try:
            with os.fdopen(fd, "wb") as handle:
                shutil.copyfileobj(counted, handle, CHUNK_BYTES)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return counted.count

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open(self, key: str) -> IO[bytes]:
        return self._path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list_keys(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def presigned_url(self, key: str, *, seconds: int, media_type: str, disposition: str) -> None:
        return None  # the web process streams the file itself


class S3BlobStore:
    """Blobs as objects in an S3-compatible bucket, under an optional key prefix.

    Credentials come from the usual AWS_* variables (or boto3's other sources). Large blobs go
    up as multipart uploads from a file object; errors of the connection or the bucket raise
    StorageUnavailable with a sentence for the log, a missing blob FileNotFoundError as the
    local store does.
    """

    # Multipart above this, in parts of this size, at most this many in flight: what a
    # streaming put holds in memory.
    PART_BYTES = 8 * 1024**2
    PARTS_IN_FLIGHT = 4

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint_url = endpoint_url
        config = Config(
            region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            signature_version="s3v4",  # presigned URLs too (SigV2 is retired; 7 days at most)
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=60,
            # Custom endpoints (MinIO, Ceph, moto) rarely resolve bucket host names.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            # Many S3-compatible servers refuse the newer default trailing checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self.transfer = TransferConfig(
            multipart_threshold=self.PART_BYTES,
            multipart_chunksize=self.PART_BYTES,
            max_concurrency=self.PARTS_IN_FLIGHT,
        )
        # s3transfer's own bound on parts read ahead (10 by default); boto3 does not pass it.
        self.transfer.max_in_memory_upload_chunks = self.PARTS_IN_FLIGHT

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _failed(self, exc: Exception, key: str = "") -> Exception:
        """The exception to raise for a client error: missing blob, missing bucket, or away."""
        where = f"{self.endpoint_url or 'AWS S3'}"
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound") and key:
                return FileNotFoundError(f"no blob {key!r} in bucket {self.bucket!r}")
            if code == "NoSuchBucket":
                return StorageUnavailable(f"the bucket {self.bucket!r} does not exist at {where}")
            return StorageUnavailable(f"bucket {self.bucket!r} at {where} refused: {code} {exc}")
        return StorageUnavailable(f"the object store at {where} is unreachable: {exc}")

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc) from exc

    def put_stream(self, key: str, source: Source) -> int:
        counted = _Counted(_as_file(source))
        try:
            self.client.upload_fileobj(
                io.BufferedReader(counted, CHUNK_BYTES),
                self.bucket,
                self._key(key),
                Config=self.transfer,
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc) from exc
        return counted.count

    def get(self, key: str) -> bytes:
        with self.open(key) as handle:
            try:
                return handle.read()
            except BotoCoreError as exc:
                raise self._failed(exc) from exc

    def open(self, key: str) -> IO[bytes]:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc, key) from exc
        body: IO[bytes] = answer["Body"]
        return body

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            failed = self._failed(exc, key)
            if not isinstance(failed, FileNotFoundError):
                raise failed from exc
            # A HEAD answer has no body to tell a missing key from a missing bucket.
            self._bucket_check()
            return False
        except BotoCoreError as exc:
            raise self._failed(exc) from exc
        return True

    def _bucket_check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
                where = self.endpoint_url or "AWS S3"
                raise StorageUnavailable(
                    f"the bucket {self.bucket!r} does not exist at {where}"
                ) from exc
            raise self._failed(exc) from exc
        except BotoCoreError as exc:
            raise self._failed(exc) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc) from exc

    def list_keys(self) -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        try:
            return sorted(
                item["Key"][len(start) :] for page in pages for item in page.get("Contents", [])
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc) from exc

    def presigned_url(self, key: str, *, seconds: int, media_type: str, disposition: str) -> str:
        """A GET URL signed for `seconds`, answered with this type and Content-Disposition."""
        params = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "ResponseContentType": media_type,
            "ResponseContentDisposition": disposition,
        }
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=seconds
        )
        return url

    @property
    def browser_origin(self) -> str:
        """The scheme and host of presigned URLs (signing is local: nothing is sent)."""
        parts = urlsplit(self.presigned_url("origin", seconds=1, media_type="x", disposition="x"))
        return f"{parts.scheme}://{parts.netloc}"


def open_store(url: str) -> BlobStore:
    """Open the blob store a `STORAGE_URL` names: `file:///path`, or
    `s3://BUCKET[/PREFIX][?endpoint_url=http://HOST:PORT&region=REGION]`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalBlobStore(Path(parsed.path))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError("an s3:// STORAGE_URL names its bucket: s3://BUCKET[/PREFIX]")
        query = {name: values[-1] for name, values in parse_qs(parsed.query).items()}
        return S3BlobStore(
            parsed.netloc,
            parsed.path,
            endpoint_url=query.get("endpoint_url"),
            region=query.get("region"),
        )
    raise ValueError(f"unsupported STORAGE_URL scheme: {parsed.scheme!r}")


def blob_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """An opened blob's bytes, a chunk at a time, and the handle closed after (a response body)."""
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def blob_stage(*, session: Session, store: BlobStore, key: str, data: bytes | Source) -> int:
    """Write a blob (bytes, or streamed from a file object or chunks) that is deleted again if
    the session's transaction rolls back (or the savepoint it was written in); its size."""
    if isinstance(data, bytes):
        store.put(key, data)
        size = len(data)
    else:
        size = store.put_stream(key, data)
    staged = session.info.setdefault(_STAGED, [])
    staged.append((store, key, session.get_nested_transaction()))
    return size


def _delete_quietly(store: BlobStore, key: str) -> None:
    """Delete a blob of a rolled-back transaction; a store that is away then leaves it behind,
    logged, rather than turn the rollback into a second error."""
    try:
        store.delete(key)
    except (OSError, StorageUnavailable) as exc:
        log.error("blob %r of a rolled-back transaction could not be deleted: %s", key, exc)


# SQLAlchemy sends after_commit and after_rollback for savepoints too: a released savepoint
# hands its blobs to the transaction around it, and only the outermost commit keeps them.
@event.listens_for(Session, "after_commit")
def _keep_staged(session: Session) -> None:
    savepoint = session.get_nested_transaction()
    if savepoint is None:
        session.info.pop(_STAGED, None)
        return
    around = savepoint.parent if savepoint.parent and savepoint.parent.nested else None
    session.info[_STAGED] = [
        (store, key, around if within is savepoint else within)
        for store, key, within in session.info.get(_STAGED, [])
    ]


@event.listens_for(Session, "after_rollback")
def _drop_staged(session: Session) -> None:
    savepoint = session.get_nested_transaction()
    kept = []
    for store, key, within in session.info.pop(_STAGED, []):
        if savepoint is None or within is savepoint:
            _delete_quietly(store, key)
        else:
            kept.append((store, key, within))
    if kept:
        session.info[_STAGED] = kept
