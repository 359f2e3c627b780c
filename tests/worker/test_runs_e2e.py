"""Runs end to end: the API queues, a real Celery worker process trains. On SQLite the broker
is the embedded one (`sqla+sqlite`), on PostgreSQL it is Redis, as in production."""

import hashlib
import io
import json
import os
import re
import signal
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

from app.assets.images import image_to_rgb
from app.runs.settings import DEFAULT_INSTRUCTION, TrainSettings
from app.storage import open_store
from tests import corpus
from tests.worker.e2e import QUICK, model_ready, run_get, run_queue, wait_for, worker_process
from worker.config import quantization_config
from worker.generate import captions_generate


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
        checked = model_ready(api, prepared["model"], log)
        assert checked["status"] == "ready"
        # The check counted what the run form's memory estimate needs (worker/architecture.py).
        assert checked["architecture"]["quantized_tensors"] == 14
        assert checked["architecture"]["image_tokens"] == 4
        run_id = run_queue(api, prepared, style_terms_in_prompt=True)
        seen = {run_get(api, run_id)["status"]}
        run = wait_for(
            lambda: run_get(api, run_id),
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
    assert card["image_tokens_max"] == card["image_tokens_mean"] == 4  # Idefics3's, pooled
    assert (
        "<th>Image tokens</th><td>4 at most per image · 4.0 on average"
        in api.get(f"/runs/{run_id}").text
    )

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
    # Named as registered (a folder of the worker's machine by its name), not the worker's path.
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny idefics3"
    weights = (folder / "adapter_model.safetensors").read_bytes()
    assert comparison["adapter"]["sha256"] == hashlib.sha256(weights).hexdigest()

    # The comparison's "base" captions are the base model's own: a plain 4-bit load agrees.
    plain = AutoModelForImageTextToText.from_pretrained(
        model_dirs["idefics3"], quantization_config=quantization_config(TrainSettings())
    )
    processor = AutoProcessor.from_pretrained(model_dirs["idefics3"])
    store = open_store(env["STORAGE_URL"])
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
        checked = model_ready(api, model.json()["id"], log)
    assert checked["status"] == "failed"
    # A sentence for every signed-in user to read, not the loader's text with its paths.
    assert checked["error"].startswith("The model could not be loaded: ")
    assert str(tmp_path) not in checked["error"]


def test_cancel_stops_a_running_run(
    api: TestClient, prepared: dict[str, int], env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with worker_process(env, log):
        model_ready(api, prepared["model"], log)
        run_id = run_queue(api, prepared, max_steps=400, checkpoint_steps=1000)
        wait_for(lambda: run_get(api, run_id), lambda r: r["step"] >= 2, log=log)
        cancelled = api.post(f"/api/v1/runs/{run_id}/cancel")
        assert cancelled.status_code == 200, (cancelled.text, run_get(api, run_id))
        assert cancelled.json()["cancel_requested"]
        run = wait_for(lambda: run_get(api, run_id), lambda r: r["status"] == "cancelled", log=log)
    assert run["step"] < 400
    assert run["adapter_url"] is None
    assert api.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409


def test_a_killed_worker_is_resumed_from_its_checkpoint_once(
    api: TestClient, prepared: dict[str, int], env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with worker_process(env, log) as first:
        model_ready(api, prepared["model"], log)
        # Long enough that the kill lands mid-run: the tiny model trains ~10 steps a second.
        run_id = run_queue(api, prepared, max_steps=48, checkpoint_steps=4)
        wait_for(
            lambda: run_get(api, run_id),
            lambda r: r["history"] and r["history"][-1]["step"] >= 6,
            log=log,
        )
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker, mid-run, no goodbye
        first.wait()
    interrupted = run_get(api, run_id)
    assert interrupted["status"] == "running" and interrupted["attempt"] == 1
    with worker_process(env, log):
        run = wait_for(
            lambda: run_get(api, run_id), lambda r: r["status"] in ("succeeded", "failed"), log=log
        )
        time.sleep(6)  # longer than a lease: nothing runs it a third time
        again = run_get(api, run_id)
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


@pytest.mark.processes
def test_a_stopped_worker_gives_its_run_up_and_the_next_resumes_it(
    api: TestClient, prepared: dict[str, int], env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with worker_process(env, log) as first:
        model_ready(api, prepared["model"], log)
        # No checkpoint of its own before the end: the one kept is the stop's.
        run_id = run_queue(api, prepared, max_steps=60, checkpoint_steps=1000)
        wait_for(lambda: run_get(api, run_id), lambda r: r["step"] >= 3, log=log)
        started = time.monotonic()
        first.send_signal(signal.SIGTERM)  # as `atelier serve` stops its worker
        first.wait(timeout=30)
        took = time.monotonic() - started
    assert first.returncode == 0, "a warm shutdown, not a kill"
    assert took < 10, f"{took:.1f}s from SIGTERM to exit"
    given_up = run_get(api, run_id)
    assert given_up["status"] == "running" and given_up["attempt"] == 1, given_up["log"]
    kept = re.findall(r"checkpoint at step (\d+) kept", given_up["log"])
    assert len(kept) == 1 and "the worker stopped; the run will resume" in given_up["log"]
    with worker_process(env, log):
        run = wait_for(
            lambda: run_get(api, run_id), lambda r: r["status"] in ("succeeded", "failed"), log=log
        )
    assert run["status"] == "succeeded", run["error"]
    assert run["attempt"] == 2
    assert f"attempt 2: training 60 steps, from step {kept[0]}" in run["log"]
    assert [p["step"] for p in run["history"]] == list(range(1, 61))
    print(f"SIGTERM to exit mid-run: {took:.2f}s, stopped at step {kept[0]}")
