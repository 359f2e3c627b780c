"""Checkpoints and adapters reach a worker only through the blob store, as zip archives
streamed both ways: a round trip on the local folder and on an S3 bucket (moto's server)."""

import io
import os
import tracemalloc
from pathlib import Path

import pytest

from app.storage import BlobStore
from worker.context import blob_spooled, file_sha256, folder_fetch, folder_store

pytestmark = pytest.mark.processes  # moto's server


def _checkpoint(folder: Path) -> Path:
    """A checkpoint-like folder: weights larger than one S3 part, and nested state."""
    (folder / "optimizer").mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(os.urandom(9 * 1024**2))
    (folder / "adapter_config.json").write_text('{"r": 16, "lora_alpha": 32}')
    (folder / "optimizer" / "state.pt").write_bytes(os.urandom(1000))
    return folder


def _files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_checkpoint_goes_into_the_store_and_comes_back_whole(
    blobs: BlobStore, tmp_path: Path
) -> None:
    kept = _checkpoint(tmp_path / "checkpoint-40")
    key = "runs/7/checkpoints/checkpoint-40.zip"
    size = folder_store(blobs, key, kept)
    assert blobs.exists(key) and blobs.list_keys() == [key]
    assert size == len(blobs.get(key))
    resumed = folder_fetch(blobs, key, tmp_path / "elsewhere" / "checkpoint-40")
    assert _files(resumed) == _files(kept)
    assert len(_files(resumed)) == 3


def test_fetching_a_checkpoint_that_is_gone_fails_plainly(blobs: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        folder_fetch(blobs, "runs/7/checkpoints/checkpoint-1.zip", tmp_path / "x")


def test_a_blob_spooled_for_reading_is_never_whole_in_memory(blobs: BlobStore) -> None:
    """An import's archive reaches the worker like this: on disk, at its start, seekable."""
    data = os.urandom(24 * 1024**2)
    blobs.put_stream("imports/1/spring.zip", io.BytesIO(data))
    tracemalloc.start()
    try:
        with blob_spooled(blobs, "imports/1/spring.zip") as spooled:
            _, peak = tracemalloc.get_traced_memory()
            assert spooled.tell() == 0 and spooled.seek(0, os.SEEK_END) == len(data)
            spooled.seek(-4096, os.SEEK_END)
            assert spooled.read() == data[-4096:]
    finally:
        tracemalloc.stop()
    assert peak < 12 * 1024**2, f"{peak / 1024**2:.1f} MiB held while spooling 24 MiB"
