"""What every task of a worker process shares: its database sessions, its blob store, its name,
and folders kept in the store as zip archives (streamed both ways). No torch here: the main
process imports it."""

import hashlib
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session, sessionmaker

import app.models  # noqa: F401  (every table mapped: relationships name each other)
from app.config import settings
from app.db import make_engine, make_sessionmaker
from app.storage import CHUNK_BYTES, BlobStore, open_store

# Set when the worker is asked to stop (SIGTERM, SIGINT): recovery ends, and a training run,
# an auto-tag job or an import gives itself up at its next step, to be resumed by the next
# worker from what it kept.
stopping = threading.Event()


@cache
def sessions() -> sessionmaker[Session]:
    """The worker's sessions on the application's database (one engine a process)."""
    return make_sessionmaker(make_engine(settings.DATABASE_URL))


@cache
def store() -> BlobStore:
    """The blob store shared with the web process: the only way files reach a worker."""
    return open_store(settings.STORAGE_URL)


def worker_identity() -> str:
    """A name for this worker process that no other process, here or elsewhere, shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def file_sha256(path: Path) -> str:
    """The file's sha256 (an adapter's weights: what tells two adapters apart), read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def folder_store(blobs: BlobStore, key: str, folder: Path) -> int:
    """Keep the folder in the store as a zip archive (a checkpoint, an adapter), written to a
    temporary file and streamed up from it, never whole in memory; its size."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = shutil.make_archive(str(Path(tmp) / "archive"), "zip", root_dir=folder)
        with open(archive, "rb") as handle:
            return blobs.put_stream(key, handle)


@contextmanager
def blob_spooled(blobs: BlobStore, key: str) -> Iterator[IO[bytes]]:
    """The blob in a temporary file, streamed down from the store, at its start: what a zip
    reader needs (it reads its directory from the end), never whole in memory."""
    with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
        with blobs.open(key) as blob:
            shutil.copyfileobj(blob, handle, CHUNK_BYTES)
        handle.flush()
        handle.seek(0)
        yield handle


def folder_fetch(blobs: BlobStore, key: str, folder: Path) -> Path:
    """Unpack the zip archive kept by `folder_store` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with blob_spooled(blobs, key) as handle:
        shutil.unpack_archive(handle.name, folder, "zip")
    return folder
