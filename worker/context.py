"""What every task of a worker process shares: its database sessions, its blob store, its name,
and folders kept in the store as zip archives. No torch here: the main process imports it."""

import hashlib
import os
import shutil
import socket
import tempfile
import threading
import uuid
from functools import cache
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

import app.models  # noqa: F401  (every table mapped: relationships name each other)
from app.config import settings
from app.db import make_engine, make_sessionmaker
from app.storage import BlobStore, open_store

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
    """The file's sha256 (an adapter's weights: what tells two adapters apart)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_zip(folder: Path) -> bytes:
    """The folder as zip bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = shutil.make_archive(str(Path(tmp) / "archive"), "zip", root_dir=folder)
        return Path(archive).read_bytes()


def folder_unzip(data: bytes, folder: Path) -> Path:
    """Unpack zip bytes made by `folder_zip` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
        handle.write(data)
        handle.flush()
        shutil.unpack_archive(handle.name, folder, "zip")
    return folder
