"""The blob store: original uploads, thumbnails and (later) checkpoints and adapters.

Blobs written during a database transaction are *staged* on its session: if the transaction
rolls back they are deleted again, so a failed request leaves no orphaned files behind.
"""

import os
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from sqlalchemy import event
from sqlalchemy.orm import Session

_STAGED = "atelier_staged_blobs"


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def list_keys(self) -> list[str]: ...


class LocalBlobStore:
    """Blobs as files under one folder; writes are atomic (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or key.startswith("/"):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

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


def open_store(url: str) -> BlobStore:
    """Open the blob store a `STORAGE_URL` names (`file:///path`; S3 arrives with production)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalBlobStore(Path(parsed.path))
    raise ValueError(f"unsupported STORAGE_URL scheme: {parsed.scheme!r}")


def blob_stage(*, session: Session, store: BlobStore, key: str, data: bytes) -> None:
    """Write a blob that is deleted again if the session's transaction rolls back (or the
    savepoint it was written in)."""
    store.put(key, data)
    staged = session.info.setdefault(_STAGED, [])
    staged.append((store, key, session.get_nested_transaction()))


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
            store.delete(key)
        else:
            kept.append((store, key, within))
    if kept:
        session.info[_STAGED] = kept
