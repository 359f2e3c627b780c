"""An adapter at work, end to end on a real worker process: a caption+tags run is trained, an
auto-tag job suggests for new images, survives its worker's kill -9 without suggesting twice,
a second job finds base and adapter loaded, and a try answers with both."""

import os
import signal
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.autotag.models import AutotagJob
from app.storage import LocalBlobStore
from tests import corpus
from tests.worker.e2e import (
    blob_stalled,
    model_ready,
    run_get,
    run_queue,
    wait_for,
    worker_process,
)

NEW_IMAGES = 12


def _job(api: TestClient, job_id: int) -> dict:  # type: ignore[type-arg]
    return api.get(f"/api/v1/autotag/{job_id}").json()


def _suggestions(api: TestClient, job_id: int) -> list[dict]:  # type: ignore[type-arg]
    found, cursor = [], None
    while True:
        params = {"job_id": job_id, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/brands/maison/suggestions", params=params).json()
        found += page["items"]
        if not (cursor := page["next_cursor"]):
            return found


def test_auto_tag_survives_a_killed_worker_and_reuses_the_loaded_model(
    api: TestClient,
    prepared: dict[str, int],
    env: dict[str, str],
    session: Session,
    store: LocalBlobStore,
    tmp_path: Path,
) -> None:
    log, env = tmp_path / "worker.log", {**env, "AUTOTAG_BATCH_SIZE": "1"}
    with worker_process(env, log):
        model_ready(api, prepared["model"], log)
        run_id = run_queue(api, prepared, task="caption+tags")
        run = wait_for(
            lambda: run_get(api, run_id), lambda r: r["status"] in ("succeeded", "failed")
        )
        assert run["status"] == "succeeded", run["error"]
    assert run["instruction"] == "Describe this product, then list its tags."

    files = [
        ("files", (f"new-{i}.png", corpus.png(size=(48, 40), colour=(i * 5, 90, 200 - i * 4))))
        for i in range(NEW_IMAGES)
    ]
    new = [
        a["asset"]["id"]
        for a in api.post("/api/v1/brands/maison/assets", files=files).json()["accepted"]
    ]
    job = api.post("/api/v1/brands/maison/autotag", json={"run_id": run_id, "untagged": True})
    assert job.status_code == 202 and job.json()["total"] == NEW_IMAGES, job.text
    job_id = job.json()["id"]

    fourth = session.get_one(Asset, session.get_one(AutotagJob, job_id).asset_ids[3])
    with blob_stalled(store, fourth.original_key), worker_process(env, log) as first:
        wait_for(lambda: _job(api, job_id), lambda j: j["done"] >= 3, log=log)
        os.killpg(first.pid, signal.SIGKILL)  # mid-job, no goodbye
        first.wait()
    interrupted = _job(api, job_id)
    assert (interrupted["status"], interrupted["done"]) == ("running", 3), interrupted

    with worker_process(env, log):
        done = wait_for(
            lambda: _job(api, job_id),
            lambda j: j["status"] in ("succeeded", "failed"),
            timeout=600,
            log=log,
        )
        assert done["status"] == "succeeded", done["error"]
        assert done["detail"]["base_loaded"], "a fresh worker loads the base"

        second = api.post(
            "/api/v1/brands/maison/autotag", json={"run_id": run_id, "asset_ids": new[:3]}
        )
        warm = wait_for(
            lambda: _job(api, second.json()["id"]), lambda j: j["status"] == "succeeded", log=log
        )
        assert not warm["detail"]["base_loaded"] and not warm["detail"]["adapter_loaded"], warm

        tried = api.post(
            f"/api/v1/runs/{run_id}/try", files={"file": ("t.png", corpus.png(size=(48, 40)))}
        )
        assert tried.status_code == 202, tried.text
        answer = wait_for(
            lambda: api.get(f"/api/v1/tries/{tried.json()['id']}").json(),
            lambda t: t["status"] in ("succeeded", "failed"),
            log=log,
        )
    assert answer["status"] == "succeeded", answer["error"]

    suggestions = _suggestions(api, job_id)
    assert done["done"] == NEW_IMAGES and len(suggestions) == NEW_IMAGES
    assert Counter(s["asset_id"] for s in suggestions) == Counter(new), "each asset once"
    assert all(s["run_id"] == run_id and len(s["adapter_sha256"]) == 64 for s in suggestions)
    for s in suggestions:  # parsed into caption and tags, or flagged: never an error
        assert (s["caption"] != "") or s["flags"][0]["kind"] == "unparsed", s
