"""A large archive uploaded: how long the upload waits for its answer inline (the baseline, as
before the `cpu` queue) and as an import job, and what the job costs a light worker in all.

One SQLite database and blob folder in a temporary directory; each way ingests the same
archive into a brand of its own. The job is worked in this process by the light worker's own
function (`worker.imports.import_execute`), without Celery: what is timed is the import itself.
"""

import argparse
import io
import os
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image

from app.assets.images import Limits
from app.assets.service import IngestReport, asset_ingest
from app.brands.service import brand_create
from app.config import settings
from app.imports.service import import_if_large
from app.jobs import celery_client
from app.migrate import db_upgrade
from worker.context import sessions, store
from worker.imports import import_execute


def _archive(images: int, size: int) -> bytes:
    """`images` distinct photos-to-be (PNG, `size` pixels square, a gradient each)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(images):
            image = Image.linear_gradient("L").resize((size, size)).convert("RGB")
            image.paste((i % 256, (i * 7) % 256, (i * 13) % 256), (0, 0, 8, 8))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            archive.writestr(f"look/{i}.png", buffer.getvalue())
    return out.getvalue()


def _run(images: int, size: int) -> None:
    data, limits = _archive(images, size), Limits.of(settings)
    jobs = celery_client(settings.BROKER_URL)
    with sessions().begin() as session:
        inline, queued = (
            brand_create(session=session, slug=slug, name=slug) for slug in ("inline", "queued")
        )
    started = time.perf_counter()
    with sessions().begin() as session:
        report = IngestReport()
        asset_ingest(
            session=session,
            store=store(),
            brand=inline,
            filename="look.zip",
            fileobj=io.BytesIO(data),
            limits=limits,
            report=report,
        )
    inline_s = time.perf_counter() - started
    started = time.perf_counter()
    with sessions().begin() as session:
        job = import_if_large(
            session=session,
            store=store(),
            jobs=jobs,
            brand=queued,
            user=None,
            filename="look.zip",
            fileobj=io.BytesIO(data),
            limits=limits,
            inline_max=0,  # whatever the size: the job is what is measured
            report=IngestReport(),
        )
        assert job is not None
    answer_s = time.perf_counter() - started
    started = time.perf_counter()
    import_execute(job.id)
    job_s = time.perf_counter() - started
    print(f"{images} images of {size}x{size} px, {len(data) / 1024**2:.1f} MiB, SQLite")
    print(f"  inline: the upload is answered after {inline_s:.2f} s (baseline)")
    print(f"  import job: answered after {answer_s:.3f} s ({answer_s / inline_s:.3f}x)")
    print(f"  the job on a light worker: {job_s:.2f} s ({job_s / inline_s:.2f}x inline)")
    print(f"  load average {os.getloadavg()[0]:.1f}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench imports", description=__doc__)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--size", type=int, default=512, help="pixels a side")
    args = parser.parse_args(argv)
    kept = (settings.DATABASE_URL, settings.BROKER_URL, settings.STORAGE_URL)
    with tempfile.TemporaryDirectory() as tmp:
        # The worker's sessions and store follow the settings when first asked for.
        settings.DATABASE_URL = f"sqlite:///{Path(tmp) / 'atelier.db'}"
        settings.BROKER_URL = f"sqla+sqlite:///{Path(tmp) / 'broker.db'}"
        settings.STORAGE_URL = f"file://{Path(tmp) / 'blobs'}"
        sessions.cache_clear()
        store.cache_clear()
        db_upgrade(settings.DATABASE_URL)
        try:
            _run(args.images, args.size)
        finally:
            sessions().kw["bind"].dispose()
            sessions.cache_clear()
            store.cache_clear()
            settings.DATABASE_URL, settings.BROKER_URL, settings.STORAGE_URL = kept
