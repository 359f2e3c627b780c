"""Runs end to end: the API queues, a real Celery worker process trains. On SQLite the broker
is the embedded one (`sqla+sqlite`), on PostgreSQL it is Redis, as in production."""

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

from app.assets.images import image_to_rgb
from app.config import Settings
from app.main import create_app
from app.runs.settings import DEFAULT_INSTRUCTION, TrainSettings
from app.storage import LocalBlobStore
from tests import corpus
from worker.config import quantization_config
from worker.generate import captions_generate

QUICK = {
    "max_steps": 6,
    "checkpoint_steps": 3,
    "batch_size": 2,
    "max_image_pixels": 2304,
    "max_length": 128,
    "gradient_checkpointing": False,
    "logging_steps": 1,
}


@pytest.fixture
def broker(settings: Settings, worker_id: str) -> str:
    if settings.DATABASE_URL.startswith("sqlite"):
        return settings.BROKER_URL  # the embedded default: a SQLite file per test
    number = 10 + (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    url = f"redis://127.0.0.1:6379/{number}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def env(settings: Settings, broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "BROKER_URL": broker,
        "STORAGE_URL": settings.STORAGE_URL,
        "MODELS_ROOTS": ",".join(str(root) for root in settings.MODELS_ROOTS),
        "RUN_LEASE_SECONDS": "4",
    }


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`atelier worker`, in a process group of its own (so that a test can kill it whole)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def api(settings: Settings, broker: str, operator_token: str) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"BROKER_URL": broker}))
    with TestClient(app, headers={"Authorization": f"Bearer {operator_token}"}) as client:
        yield client


def wait_for(
    fetch: Callable[[], dict[str, Any]],
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 240,
    log: Path | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = fetch()
        if done(state):
            return state
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out; last state {json.dumps(state)[:800]}\n{tail}")


@pytest.fixture
def prepared(api: TestClient, model_dirs: dict[str, Path]) -> dict[str, int]:
    """A brand with four approved, captioned images frozen into a dataset, and a base model."""
    api.post("/api/v1/brands", json={"slug": "maison", "name": "Maison"})
    colours = [(200, 30, 30), (30, 40, 200), (30, 160, 60), (20, 20, 20)]
    captions = [
        "Camille tote in burgundy",
        "Odette scarf in navy",
        "Bastien loafer in green",
        "Lucien belt in noir",
    ]
    manifest = "file,caption,tags\n" + "".join(f"{i}.png,{c},x\n" for i, c in enumerate(captions))
    members = [(f"{i}.png", corpus.png(size=(48, 40), colour=c)) for i, c in enumerate(colours)]
    archive = corpus.zip_archive([*members, ("manifest.csv", manifest.encode())])
    uploaded = api.post("/api/v1/brands/maison/assets", files=[("files", ("set.zip", archive))])
    for accepted in uploaded.json()["accepted"]:
        api.patch(f"/api/v1/assets/{accepted['asset']['id']}", json={"status": "approved"})
    dataset = api.post("/api/v1/brands/maison/datasets", json={"validation_fraction": 0.25})
    model = api.post(
        "/api/v1/base-models", json={"source": str(model_dirs["idefics3"]), "name": "tiny idefics3"}
    )
    assert model.status_code == 202 and model.json()["status"] == "checking"
    return {"dataset": dataset.json()["id"], "model": model.json()["id"]}


def _model_ready(api: TestClient, model_id: int, log: Path) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        return next(m for m in api.get("/api/v1/base-models").json() if m["id"] == model_id)

    return wait_for(fetch, lambda m: m["status"] != "checking", log=log)


def _queue(api: TestClient, prepared: dict[str, int], **settings: object) -> int:
    response = api.post(
        "/api/v1/brands/maison/runs",
        json={
            "base_model": prepared["model"],
            "dataset_id": prepared["dataset"],
            "preset": "quick-demo",
            "settings": {**QUICK, **settings},
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return int(response.json()["id"])


def _run(api: TestClient, run_id: int) -> dict[str, Any]:
    return api.get(f"/api/v1/runs/{run_id}").json()


def test_a_run_trains_and_its_adapter_loads_in_plain_transformers(
    api: TestClient,
    prepared: dict[str, int],
    env: dict[str, str],
    tmp_path: Path,
    model_dirs: dict[str, Path],
) -> None:
    log = tmp_path / "worker.log"
    guide = b"Prefer: burgundy (not: dark red)\nPrefer: navy\n"
    api.post("/api/v1/brands/maison/styleguides", files={"file": ("guide.md", guide)})
    with worker_process(env, log):
        assert _model_ready(api, prepared["model"], log)["status"] == "ready"
        run_id = _queue(api, prepared, style_terms_in_prompt=True)
        seen = {_run(api, run_id)["status"]}
        run = wait_for(
            lambda: _run(api, run_id),
            lambda r: seen.add(r["status"]) or r["status"] in ("succeeded", "failed"),
            log=log,
        )
        comparison = wait_for(  # measured by the same task, after training
            lambda: api.get(f"/api/v1/runs/{run_id}/comparison").json(),
            lambda c: c.get("status") in ("succeeded", "failed"),
            log=log,
        )
    assert run["status"] == "succeeded", run["error"]
    assert "running" in seen or run["attempt"] == 1
    assert run["step"] == run["total_steps"] == 6
    assert [p["step"] for p in run["history"]] == [1, 2, 3, 4, 5, 6]
    card = run["card"]
    assert 0 < card["trainable_params"] < card["total_params"]
    assert card["adapter_bytes"] > 0 and card["dataset_hash"] and card["settings_hash"]

    assert comparison["status"] == "succeeded", comparison["error"]
    assert set(comparison["summary"]) == {"base", "prompted", "adapted"}
    assert {"bleu4", "chrf", "rouge_l", "cider_d", "tag_f1"} <= set(comparison["summary"]["base"])
    assert "bleu4:base" in comparison["deltas"]
    validation = [
        i
        for i in api.get("/api/v1/brands/maison/datasets/1").json()["items"]
        if i["split"] == "validation"
    ]
    assert len(comparison["items"]) == len(validation)

    adapter = api.get(run["adapter_url"])
    assert adapter.headers["content-type"] == "application/zip"
    folder = tmp_path / "adapter"
    zipfile.ZipFile(io.BytesIO(adapter.content)).extractall(folder)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(os.listdir(folder))
    weights = (folder / "adapter_model.safetensors").read_bytes()
    assert comparison["adapter"]["sha256"] == hashlib.sha256(weights).hexdigest()

    # The comparison's "base" captions are the base model's own: a plain 4-bit load agrees.
    plain = AutoModelForImageTextToText.from_pretrained(
        model_dirs["idefics3"], quantization_config=quantization_config(TrainSettings())
    )
    processor = AutoProcessor.from_pretrained(model_dirs["idefics3"])
    store = LocalBlobStore(Path(env["STORAGE_URL"].removeprefix("file://")))
    images = [image_to_rgb(store.get(f"brands/1/originals/{i['sha256']}")) for i in validation]
    by_asset = {i["asset_id"]: i for i in comparison["items"]}
    expected = captions_generate(
        model=plain,
        processor=processor,
        images=images,
        instruction=DEFAULT_INSTRUCTION,
        max_image_pixels=QUICK["max_image_pixels"],
    )
    assert [by_asset[i["asset_id"]]["base"] for i in validation] == expected

    # The "adapted" captions are the adapter's, asked exactly what it was trained with: the
    # instruction with the style guide's terms.
    assert run["instruction"] == f"{DEFAULT_INSTRUCTION} Use these terms: burgundy, navy."
    adapted = PeftModel.from_pretrained(plain, folder)
    expected = captions_generate(
        model=adapted,
        processor=processor,
        images=images,
        instruction=run["instruction"],
        max_image_pixels=QUICK["max_image_pixels"],
    )
    assert [by_asset[i["asset_id"]]["adapted"] for i in validation] == expected

    base = AutoModelForImageTextToText.from_pretrained(model_dirs["idefics3"])
    tuned = PeftModel.from_pretrained(base, folder)
    [caption] = captions_generate(
        model=tuned,
        processor=processor,
        images=[corpus_image()],
        instruction=DEFAULT_INSTRUCTION,
        max_new_tokens=8,
    )
    assert isinstance(caption, str)


def corpus_image():  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image.open(io.BytesIO(corpus.png(size=(48, 40)))).convert("RGB")


def test_a_bad_base_model_fails_its_check(
    api: TestClient, env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    model = api.post("/api/v1/base-models", json={"source": str(tmp_path / "nothing-here")})
    with worker_process(env, log):
        checked = _model_ready(api, model.json()["id"], log)
    assert checked["status"] == "failed"
    # A sentence for every signed-in user to read, not the loader's text with its paths.
    assert checked["error"].startswith("The model could not be loaded: ")
    assert str(tmp_path) not in checked["error"]


def test_cancel_stops_a_running_run(
    api: TestClient, prepared: dict[str, int], env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with worker_process(env, log):
        _model_ready(api, prepared["model"], log)
        run_id = _queue(api, prepared, max_steps=400, checkpoint_steps=1000)
        wait_for(lambda: _run(api, run_id), lambda r: r["step"] >= 2, log=log)
        cancelled = api.post(f"/api/v1/runs/{run_id}/cancel")
        assert cancelled.status_code == 200, (cancelled.text, _run(api, run_id))
        assert cancelled.json()["cancel_requested"]
        run = wait_for(lambda: _run(api, run_id), lambda r: r["status"] == "cancelled", log=log)
    assert run["step"] < 400
    assert run["adapter_url"] is None
    assert api.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409


def test_a_killed_worker_is_resumed_from_its_checkpoint_once(
    api: TestClient, prepared: dict[str, int], env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with worker_process(env, log) as first:
        _model_ready(api, prepared["model"], log)
        # Long enough that the kill lands mid-run: the tiny model trains ~10 steps a second.
        run_id = _queue(api, prepared, max_steps=48, checkpoint_steps=4)
        wait_for(
            lambda: _run(api, run_id),
            lambda r: r["history"] and r["history"][-1]["step"] >= 6,
            log=log,
        )
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker, mid-run, no goodbye
        first.wait()
    interrupted = _run(api, run_id)
    assert interrupted["status"] == "running" and interrupted["attempt"] == 1
    with worker_process(env, log):
        run = wait_for(
            lambda: _run(api, run_id), lambda r: r["status"] in ("succeeded", "failed"), log=log
        )
        time.sleep(6)  # longer than a lease: nothing runs it a third time
        again = _run(api, run_id)
    assert run["status"] == "succeeded", run["error"]
    assert again["attempt"] == 2 and again["status"] == "succeeded"
    steps = [p["step"] for p in run["history"]]
    assert steps == list(range(1, 49)), "resumed at the checkpoint, every step once"
    assert "attempt 1: training 48 steps, from the start" in run["log"]
    # Attempt 2 starts from the last checkpoint attempt 1 kept (a checkpoint stored just before
    # the kill may not have reached the log), never from the start.
    before_kill = run["log"].split("attempt 2")[0]
    kept = [int(step) for step in re.findall(r"checkpoint at step (\d+) kept", before_kill)]
    resumed = re.search(r"attempt 2: training 48 steps, from step (\d+)", run["log"])
    assert kept and resumed, run["log"]
    start = int(resumed[1])
    assert start % 4 == 0 and kept[-1] <= start < 48, run["log"]
