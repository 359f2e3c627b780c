"""Scaling: how each cost grows with its size, as a ratio per 10x (1.0: flat; 10: linear).

- Evaluation's captioning (`captions_generate`, batches of 8, the demo captioner in 4-bit with a
  LoRA adapter on top) and auto-tagging (the worker's resident cache, one adapter, the
  caption+tags instruction, batches of AUTOTAG_BATCH_SIZE) at 8, 32 and 128 images: images/s.
- The gallery page (`/brands/{slug}/assets`, HTML, its first page and the pages its cursor leads
  to) at 1k, 10k and 100k assets on SQLite, served by uvicorn on loopback (started and stopped
  here), under 16 concurrent clients (threads, one kept-alive connection each): p50 and p95 latency.

The baseline of each ratio is the smallest size measured in the same run.
"""

import argparse
import http.client
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.accounts.service import membership_set, token_create, user_create
from app.brands.models import Brand
from app.db import make_engine
from app.migrate import db_upgrade
from bench.gallery import _fill
from bench.load import free_port, group_stop, healthy_wait


def _per_10x(sizes: list[int], costs: list[float]) -> float:
    """How much the cost grows per 10x of size, from the smallest to the largest measured."""
    return (costs[-1] / costs[0]) ** (1 / math.log10(sizes[-1] / sizes[0]))


# Captioning and auto-tagging ------------------------------------------------------------


def generation(sizes: list[int]) -> None:
    import torch
    from peft import get_peft_model

    from app.basemodels.models import DEMO_MODEL_SOURCE
    from app.config import ROOT, Settings
    from app.demo.catalogue import catalogue
    from app.demo.render import product_render
    from app.runs.answers import TAGS_INSTRUCTION
    from app.runs.settings import DEFAULT_INSTRUCTION, PRESETS
    from worker.config import lora_config
    from worker.generate import captions_generate
    from worker.resident import Resident
    from worker.train import base_load

    s = PRESETS["quick-demo"]
    model = str(ROOT / DEMO_MODEL_SOURCE)
    photos = [product_render(p, size=128) for p in catalogue(max(sizes), seed=17)]
    base, processor = base_load(model, None, s)
    tuned = get_peft_model(base, lora_config(s)).eval()
    batch = Settings().AUTOTAG_BATCH_SIZE
    resident = Resident(max_bases=1, max_adapters=1)
    loaded, _ = resident.base(model, None, s)
    with tempfile.TemporaryDirectory() as tmp:
        tuned.save_pretrained(tmp)
        name, _ = resident.adapter(loaded, "bench", lambda: Path(tmp))

        def caption(n: int) -> Callable[[], object]:
            return lambda: captions_generate(
                model=tuned,
                processor=processor,
                images=photos[:n],
                instruction=DEFAULT_INSTRUCTION,
                batch_size=8,
                max_image_pixels=s.max_image_pixels,
            )

        def autotag(n: int) -> Callable[[], object]:
            return lambda: captions_generate(
                model=loaded.generator,
                processor=loaded.processor,
                images=photos[:n],
                instruction=TAGS_INSTRUCTION,
                batch_size=batch,
                max_image_pixels=s.max_image_pixels,
                adapter_names=[name] * n,
            )

        print(f"Generation on {'cuda' if torch.cuda.is_available() else 'cpu'}: images/s")
        print(f"{'what':<40}" + "".join(f"{n:>10}" for n in sizes) + f"{'time per 10x':>14}")
        for label, job in (
            ("evaluation captions (batches of 8)", caption),
            (f"auto-tag (resident, batches of {batch})", autotag),
        ):
            job(sizes[0])()  # warm up
            seconds = []
            for n in sizes:
                started = time.perf_counter()
                job(n)()
                seconds.append(time.perf_counter() - started)
            rates = "".join(f"{n / t:>10.1f}" for n, t in zip(sizes, seconds, strict=True))
            print(f"{label:<40}{rates}{_per_10x(sizes, seconds):>13.1f}x")


# The gallery under concurrent clients ---------------------------------------------------


def _library(folder: Path, n: int) -> tuple[str, str]:
    """A SQLite database with `n` assets in brand "bench" and an admin's API token of it."""
    url = f"sqlite:///{folder / 'gallery.db'}"
    db_upgrade(url)
    engine = make_engine(url)
    brand = _fill(engine, n)
    with Session(engine) as session:
        person = user_create(session=session, email="bench@atelier.test", password="x" * 12)
        membership_set(
            session=session, brand=session.get_one(Brand, brand.id), user=person, role=Role.admin
        )
        _, token = token_create(session=session, user=person, name="bench", days=1)
        session.commit()
    engine.dispose()
    return url, token


@contextmanager
def _uvicorn(url: str, folder: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "STORAGE_URL": f"file://{folder / 'blobs'}",
        "BROKER_URL": f"sqla+sqlite:///{folder / 'broker.db'}",
    }
    serve = ["--factory", "app.main:create_app", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *serve, "--log-level", "warning"],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        healthy_wait(base)
        yield base
    finally:
        group_stop(server, timeout=30)


def _browse(base: str, token: str, clients: int, requests: int) -> list[float]:
    """`clients` people at once, each paging the gallery on a kept-alive connection: the first
    page, then the next by its cursor, until `requests` pages were served in all."""
    latencies: list[float] = []
    lock = threading.Lock()
    host, port = base.removeprefix("http://").split(":")

    def person() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        path = "/brands/bench/assets"
        try:
            while True:
                with lock:
                    if len(latencies) >= requests:
                        return
                started = time.perf_counter()
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                answer = connection.getresponse()
                html = answer.read().decode()
                took = time.perf_counter() - started
                if answer.status != 200:
                    raise RuntimeError(f"{answer.status} for {path}")
                with lock:
                    latencies.append(took)
                cursor = _cursor_of(html)
                path = f"/brands/bench/assets?cursor={cursor}" if cursor else "/brands/bench/assets"
        finally:
            connection.close()

    with ThreadPoolExecutor(clients) as pool:
        for done in [pool.submit(person) for _ in range(clients)]:
            done.result()
    return latencies


def _cursor_of(html: str) -> str | None:
    marker = "cursor="
    at = html.find(marker)
    if at < 0:
        return None
    end = at + len(marker)
    while end < len(html) and html[end].isdigit():
        end += 1
    return html[at + len(marker) : end] or None


def gallery(sizes: list[int], clients: int, requests: int) -> None:
    print(f"Gallery page (HTML) under {clients} concurrent clients, SQLite, uvicorn on loopback")
    print(f"{'assets':>10}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>8}")
    p50s = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            url, token = _library(Path(tmp), n)
            with _uvicorn(url, Path(tmp)) as base:
                _browse(base, token, clients, clients * 2)  # warm up
                started = time.perf_counter()
                latencies = _browse(base, token, clients, requests)
                wall = time.perf_counter() - started
        ordered = sorted(latencies)
        p50, p95 = statistics.median(ordered), ordered[int(len(ordered) * 0.95)]
        p50s.append(p50)
        print(
            f"{n:>10,}{len(latencies):>10}{p50 * 1e3:>9.1f}{p95 * 1e3:>9.1f}"
            f"{len(latencies) / wall:>8.1f}"
        )
    print(f"p50 per 10x of assets: {_per_10x(sizes, p50s):.2f}x (flat is 1.0)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scaling", description=__doc__)
    parser.add_argument("--images", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--assets", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=320, help="gallery pages per size")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generation(args.images)
    print()
    gallery(args.assets, args.clients, args.requests)
    print(f"({time.perf_counter() - started:.0f}s)")
