"""Ingest: a zip of product photos with a manifest through Atelier's real ingest path, against a
bare loop that only decodes and thumbnails the same files with Pillow, measured in one run.

The photos are the demo catalogue's products (`app/demo/render.py`) at a catalogue photo's size,
JPEG at quality 90, each one different bytes. Atelier's side is `asset_ingest`, the function
the upload API and `atelier import` call, on a migrated SQLite database and a local blob folder
in a temporary directory, with one commit for the upload, as the API does. The baseline opens
the same zip and, per member, decodes the JPEG, shrinks it to the same 320-pixel thumbnail and
encodes it as WebP, as Atelier does, and nothing else. Each side runs in a fresh process, whose
peak RSS (VmHWM) is its own; the ratio is Atelier's images/s over the baseline's (goal:
at least 0.7), and the peak RSS is compared at two archive sizes (goal: the same).
"""

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image

from app.demo.catalogue import catalogue
from app.demo.render import product_render
from app.migrate import db_upgrade

DISTINCT = 12  # products rendered; the rest are these with a comment of their own (new bytes)

# Peak RSS is read from /proc/self/status (VmHWM), the high-water mark of this process's own
# memory: getrusage's ru_maxrss carries the parent's over fork and exec on Linux, so a child of a
# big process would report at least the parent's size.
_HWM = """
import os
def cpu():  # seconds of CPU this process used: steady when other processes load the machine
    t = os.times()
    return t.user + t.system
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""

_ATELIER = (
    _HWM
    + """
import json, sys, time
from pathlib import Path
from sqlalchemy.orm import Session
from app.assets.images import Limits
from app.assets.service import IngestReport, asset_ingest
from app.brands.models import Brand
from app.db import make_engine
from app.storage import LocalBlobStore
archive, url, blobs = sys.argv[1], sys.argv[2], sys.argv[3]
engine = make_engine(url)
with Session(engine) as session:
    brand = Brand(slug="bench", name="Bench")
    session.add(brand)
    session.commit()
    brand_id = brand.id
before = hwm()
store, report = LocalBlobStore(Path(blobs)), IngestReport()
start, start_cpu = time.perf_counter(), cpu()
with Session(engine) as session, open(archive, "rb") as handle:
    brand = session.get_one(Brand, brand_id)
    asset_ingest(session=session, store=store, brand=brand, filename="photos.zip",
                 fileobj=handle, limits=Limits(), report=report)
    session.commit()
seconds, cpu_seconds = time.perf_counter() - start, cpu() - start_cpu
assert not report.rejected, report.rejected[:3]
print(json.dumps({"seconds": seconds, "cpu": cpu_seconds, "images": len(report.accepted),
                  "before_kib": before,
                  "peak_kib": hwm()}))
"""
)

_BARE = (
    _HWM
    + """
import io, json, sys, time, zipfile
from PIL import Image
before = hwm()
start, start_cpu, images = time.perf_counter(), cpu(), 0
with zipfile.ZipFile(sys.argv[1]) as archive:
    for info in archive.infolist():
        if not info.filename.endswith(".jpg"):
            continue
        image = Image.open(io.BytesIO(archive.read(info)))
        image.load()
        image.thumbnail((320, 320))
        image.save(io.BytesIO(), "WEBP", quality=80)
        images += 1
seconds, cpu_seconds = time.perf_counter() - start, cpu() - start_cpu
print(json.dumps({"seconds": seconds, "cpu": cpu_seconds, "images": images, "before_kib": before,
                  "peak_kib": hwm()}))
"""
)


def _marked(jpeg: bytes, i: int) -> bytes:
    """The same picture as other bytes: a JPEG comment segment (FF FE) after the start marker."""
    comment = f"photo {i:05d}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def photos_zip(path: Path, n: int, side: int) -> int:
    """Write `n` distinct product photos (`side` pixels square, JPEG) and a manifest.csv."""
    products = catalogue(DISTINCT, seed=21)
    encoded = []
    for product in products:
        buffer = io.BytesIO()
        product_render(product, size=side).save(buffer, "JPEG", quality=90)
        encoded.append(buffer.getvalue())
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["file", "caption", "tags"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:  # JPEGs do not deflate
        for i in range(n):
            k = i % DISTINCT
            name = f"photos/{i:05d}.jpg"
            archive.writestr(name, _marked(encoded[k], i))
            tags = ";".join([products[k].line.lower(), products[k].colour])
            writer.writerow([name.removeprefix("photos/"), products[k].brand_caption, tags])
        archive.writestr("photos/manifest.csv", rows.getvalue())
    return path.stat().st_size


def _run(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the measured process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def atelier_ingest(archive: Path, folder: Path) -> dict[str, float]:
    """Atelier's ingest of `archive` in a fresh process, on a fresh database and blob folder."""
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'bench.db'}"
    db_upgrade(url)
    return _run(_ATELIER, str(archive), url, str(folder / "blobs"))


def bare_loop(archive: Path) -> dict[str, float]:
    return _run(_BARE, str(archive))


def _mb(kib: float) -> str:
    return f"{kib * 1024 / 1e6:.0f} MB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--small", type=int, default=200, help="the other archive's images")
    parser.add_argument("--side", type=int, default=1024, help="pixels of each photo's side")
    args = parser.parse_args(argv)
    Image.init()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(
            f"{args.side} x {args.side} JPEG product photos (quality 90) in a zip with a manifest"
        )
        print(
            "images/s: per second of wall time; per CPU-second of the process (steady on a "
            "busy machine); ratios against the bare loop"
        )
        print(
            f"{'archive':<24}{'what':<11}{'images/s':>9}{'ratio':>7}{'per CPU-s':>10}"
            f"{'ratio':>7}{'peak RSS':>10}{'before':>8}{'growth':>8}"
        )
        peaks = {}
        for n in (args.small, args.images):
            archive = root / f"photos-{n}.zip"
            started = time.perf_counter()
            size = photos_zip(archive, n, args.side)
            label = f"{n:,} images, {size / 1e6:.0f} MB"
            bare = bare_loop(archive)
            ours = atelier_ingest(archive, root / f"atelier-{n}")
            assert ours["images"] == bare["images"] == n, (ours, bare)
            sides = (("bare", bare), ("ours", ours))
            rate = {k: r["images"] / r["seconds"] for k, r in sides}
            per_cpu = {k: r["images"] / r["cpu"] for k, r in sides}
            for what, r in (("bare loop", bare), ("Atelier", ours)):
                key = "bare" if what == "bare loop" else "ours"
                print(
                    f"{label:<24}{what:<11}{rate[key]:>9.1f}{rate[key] / rate['bare']:>6.2f}x"
                    f"{per_cpu[key]:>10.1f}{per_cpu[key] / per_cpu['bare']:>6.2f}x"
                    f"{_mb(r['peak_kib']):>10}{_mb(r['before_kib']):>8}"
                    f"{_mb(r['peak_kib'] - r['before_kib']):>8}"
                )
            peaks[n] = ours["peak_kib"]
            print(f"{'':<24}({time.perf_counter() - started:.0f}s for this size, the zip included)")
        growth = peaks[args.images] / peaks[args.small]
        print(
            f"Atelier's peak RSS at {args.images:,} images / at {args.small:,}: {growth:.2f}x "
            "(flat is 1.00)"
        )
