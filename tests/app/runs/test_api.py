"""Datasets and runs through the API, without a worker: freezing, diffs, validation of runs,
and jobs sent only after the commit."""

import socket

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.basemodels.models import DEMO_ARCHITECTURE, BaseModelStatus, RegisteredModel
from app.brands.models import Brand
from app.datasets.models import Split
from app.datasets.service import split_of
from app.jobs import celery_client
from app.runs.card import RunCard
from app.runs.memory import Architecture, RunShape, human_bytes, memory_estimate
from app.runs.models import Run, RunStatus
from app.runs.settings import PRESETS
from tests import corpus

DATASETS = "/api/v1/brands/maison/datasets"
RUNS = "/api/v1/brands/maison/runs"


def approve(client: TestClient, n: int, caption: str = "Camille tote", start: int = 0) -> list[int]:
    files = [
        ("files", (f"{i}.png", corpus.png(colour=(i, 2 * i, 3 * i))))
        for i in range(start, start + n)
    ]
    ids = [
        a["asset"]["id"]
        for a in client.post("/api/v1/brands/maison/assets", files=files).json()["accepted"]
    ]
    for asset_id in ids:
        client.patch(
            f"/api/v1/assets/{asset_id}",
            json={"status": "approved", "caption": f"{caption} {asset_id}"},
        )
    return ids


def test_freeze_is_versioned_content_hashed_and_diffable(client: TestClient, brand: Brand) -> None:
    assert client.post(DATASETS).status_code == 422, "nothing approved yet"
    ids = approve(client, 10)
    first = client.post(DATASETS)
    assert first.status_code == 201
    body = first.json()
    assert body["version"] == 1 and len(body["content_hash"]) == 64
    assert body["counts"]["total"] == 10
    assert body["counts"]["train"] + body["counts"]["validation"] == 10
    assert body["counts"]["train"] > 0 and body["counts"]["validation"] > 0
    same = client.post(DATASETS)
    assert same.status_code == 200 and same.json()["version"] == 1, "unchanged: no new version"

    client.patch(f"/api/v1/assets/{ids[0]}", json={"caption": "Odette scarf"})
    client.patch(f"/api/v1/assets/{ids[1]}", json={"status": "rejected"})
    approve(client, 1, caption="Margaux pump", start=50)
    second = client.post(DATASETS).json()
    assert second["version"] == 2 and second["content_hash"] != body["content_hash"]
    diff = client.get(f"{DATASETS}/1/diff/2").json()
    assert len(diff["added"]) == 1 and diff["added"][0]["caption"].startswith("Margaux")
    assert [r["asset_id"] for r in diff["removed"]] == [ids[1]]
    assert [(c["before"]["caption"], c["after"]["caption"]) for c in diff["changed"]] == [
        (f"Camille tote {ids[0]}", "Odette scarf")
    ]
    v1 = client.get(f"{DATASETS}/1").json()
    assert len(v1["items"]) == 10, "a frozen version never changes"
    splits = {i["sha256"]: i["split"] for i in v1["items"]}
    v2 = client.get(f"{DATASETS}/2").json()
    assert all(splits[i["sha256"]] == i["split"] for i in v2["items"] if i["sha256"] in splits)


def test_split_is_by_hash_alone() -> None:
    assert split_of("00000000" + "0" * 56, 0.2) == Split.validation
    assert split_of("ffffffff" + "0" * 56, 0.2) == Split.train


def test_a_run_is_committed_then_sent(
    client: TestClient, brand: Brand, session: Session, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    approve(client, 4)
    dataset = client.post(DATASETS).json()
    sent: list[tuple[str, list[int], bool]] = []

    def record(name: str, args: list[int], queue: str) -> None:
        with session.bind.connect() as connection:  # type: ignore[union-attr]
            committed = connection.execute(select(Run.id).where(Run.id == args[0])).first()
        sent.append((name, args, committed is not None))

    monkeypatch.setattr(client.app.state.celery, "send_task", record)  # type: ignore[attr-defined]
    response = client.post(RUNS, json={"dataset_id": dataset["id"], "preset": "quick-demo"})
    assert response.status_code == 202
    run = response.json()
    assert run["status"] == "queued" and run["base_model"]["source"] == "models/demo-captioner"
    assert run["settings"]["lora_r"] == PRESETS["quick-demo"].lora_r == 64
    assert sent == [("atelier.run_train", [run["id"]], True)], "sent once, after the commit"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"preset": "turbo"}, 422, "unknown preset 'turbo'; choose one of"),
        ({"settings": {"lora_r": 0}}, 422, "lora_r"),
        ({"settings": {"warp_drive": True}}, 422, "warp_drive"),
        ({"base_model": 999}, 404, "no base model"),
        ({"dataset_id": 999}, 404, "no dataset"),
    ],
)
def test_bad_runs_are_refused_and_nothing_is_queued(
    client: TestClient, brand: Brand, session: Session, body: dict, status: int, message: str
) -> None:
    approve(client, 3)
    dataset = client.post(DATASETS).json()
    response = client.post(RUNS, json={"dataset_id": dataset["id"], **body})
    assert response.status_code == status and message in response.text
    session.commit()
    assert session.scalars(select(Run)).all() == []


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("max_steps", 10**12, "max_steps must be -1, or at least 1 and at most 100000"),
        ("max_steps", 0, "max_steps must be -1, or at least 1 and at most 100000"),
        ("batch_size", 100_000, "batch_size must be at least 1 and at most 256"),
        ("lora_r", 10**6, "lora_r must be at least 1 and at most 256"),
        ("lora_alpha", 2048, "lora_alpha must be at least 1 and at most 1024"),
        ("grad_accum", 257, "grad_accum must be at least 1 and at most 256"),
        ("epochs", 1000.5, "epochs must be above 0 and at most 1000"),
        ("epochs", 0, "epochs must be above 0 and at most 1000"),
        ("max_image_pixels", 4096 * 4096 + 1, "max_image_pixels must be at least 1024 and at"),
        ("max_length", 8193, "max_length must be at least 16 and at most 8192"),
        ("checkpoint_steps", 100_001, "checkpoint_steps must be at least 1 and at most 100000"),
        ("logging_steps", 10_001, "logging_steps must be at least 1 and at most 10000"),
        ("seed", 2**31, "seed must be at least 0 and at most 2147483647"),
        ("weight_decay", 2.0, "weight_decay must be at least 0 and at most 1"),
        ("max_grad_norm", 1e9, "max_grad_norm must be above 0 and at most 1000"),
        ("learning_rate", 1.0, "learning_rate must be above 0 and below 1"),
        ("warmup_ratio", 1.0, "warmup_ratio must be at least 0 and below 1"),
    ],
)
def test_every_numeric_setting_is_bounded_and_the_error_names_its_range(
    client: TestClient, brand: Brand, setting: str, value: float, message: str
) -> None:
    approve(client, 3)
    dataset = client.post(DATASETS).json()
    body = {"dataset_id": dataset["id"], "settings": {setting: value}}
    response = client.post(RUNS, json=body)
    assert response.status_code == 422 and message in response.json()["detail"], response.text


def test_the_bounds_themselves_are_accepted() -> None:
    """Each range's own ends are allowed, so the message says exactly what may be sent."""
    from app.runs.settings import RANGES, settings_resolve

    for name, bounds in RANGES.items():
        ends = [bounds.low] * (not bounds.low_open) + [bounds.high] * (not bounds.high_open)
        for value in ends:
            kind = type(getattr(settings_resolve(None, {}), name))
            # The best checkpoint by validation loss needs a checkpoint at each evaluation.
            paired = {"checkpoint_steps": value} if name == "eval_steps" and value else {}
            resolved = settings_resolve(None, {name: kind(value), **paired})
            assert getattr(resolved, name) == value


def test_a_base_model_that_is_not_ready_is_refused(
    client: TestClient, brand: Brand, session: Session
) -> None:
    approve(client, 3)
    dataset = client.post(DATASETS).json()
    checking = RegisteredModel(name="x", source="some/model", status=BaseModelStatus.checking)
    session.add(checking)
    session.commit()
    response = client.post(RUNS, json={"dataset_id": dataset["id"], "base_model": checking.id})
    assert response.status_code == 409 and "not ready" in response.text


def test_cancel_a_queued_run_at_once(client: TestClient, brand: Brand) -> None:
    approve(client, 3)
    dataset = client.post(DATASETS).json()
    run = client.post(RUNS, json={"dataset_id": dataset["id"]}).json()
    cancelled = client.post(f"/api/v1/runs/{run['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert client.get(f"/api/v1/runs/{run['id']}/adapter").status_code == 404
    page = client.get(f"/runs/{run['id']}")
    assert page.status_code == 200 and "hx-trigger" not in page.text, "a finished run stops polling"


def test_registering_a_base_model_twice_is_a_conflict(client: TestClient, brand: Brand) -> None:
    first = client.post("/api/v1/base-models", json={"source": "org/model", "revision": "abc"})
    assert first.status_code == 202 and first.json()["status"] == "checking"
    assert (
        client.post(
            "/api/v1/base-models", json={"source": "org/model", "revision": "abc"}
        ).status_code
        == 409
    )
    models = client.get("/api/v1/base-models").json()
    assert models[0]["is_default"] and models[0]["source"] == "models/demo-captioner"


def test_a_run_fixes_its_instruction_with_the_guides_terms_when_queued(
    client: TestClient, brand: Brand
) -> None:
    approve(client, 4)
    dataset = client.post(DATASETS).json()["id"]
    guide = "Prefer: burgundy (not: dark red)\nPrefer: calfskin\nAvoid: cheap\n"
    client.post("/api/v1/brands/maison/styleguides", files={"file": ("guide.md", guide.encode())})
    plain = client.post(RUNS, json={"dataset_id": dataset, "preset": "quick-demo"}).json()
    assert plain["instruction"] == "Describe this product."
    termed = client.post(
        RUNS,
        json={
            "dataset_id": dataset,
            "preset": "quick-demo",
            "settings": {"style_terms_in_prompt": True, "instruction": "Caption it."},
        },
    ).json()
    assert termed["instruction"] == "Caption it. Use these terms: burgundy, calfskin."
    # A later guide does not change what a queued run trains with.
    client.post(
        "/api/v1/brands/maison/styleguides", files={"file": ("guide.md", b"Prefer: noir\n")}
    )
    again = client.get(f"/api/v1/runs/{termed['id']}").json()
    assert again["instruction"] == termed["instruction"]


def test_the_run_form_estimates_each_presets_steps_and_time(
    client: TestClient, brand: Brand, session: Session
) -> None:
    approve(client, 10)  # 8 to train on, with a fifth held out
    form = client.get("/brands/maison/runs").text
    # quick-demo: 20 epochs of 8 images in batches of 4.
    assert "quick-demo · 40 steps · about 0.1 min" in form
    assert "standard · 6 steps</option>" in form, "no time to go by for standard yet"
    dataset = client.post(DATASETS).json()
    run = Run(
        brand_id=brand.id,
        base_model_id=1,
        dataset_id=dataset["id"],
        status=RunStatus.succeeded,
        preset="standard",
        settings={},
        settings_hash="0" * 64,
        instruction="x",
        card=RunCard(
            **dict.fromkeys(("base_model", "base_revision", "dataset_hash"), "x"),
            **dict.fromkeys(("settings_hash", "preset"), "x"),
            **dict.fromkeys(("dataset_version", "trainable_params", "total_params"), 1),
            **dict.fromkeys(("base_weights_bytes_4bit", "base_weights_bytes_16bit"), 1),
            **dict.fromkeys(("peak_rss_bytes", "cuda_max_allocated_bytes", "adapter_bytes"), 1),
            **dict.fromkeys(("trainable_share", "samples_per_second", "tokens_per_second"), 1.0),
            train_loss=1.0,
            steps=6,
            wall_seconds=120.0,
        ).to_json(),
    )
    session.add(run)
    session.commit()
    form = client.get("/brands/maison/runs").text
    assert "standard · 6 steps · about 2.0 min" in form, "measured on the brand's last run"


@pytest.mark.parametrize(
    "edit", [{"caption": "Odette scarf"}, {"tags": ["scarf", "silk"]}], ids=["caption", "tags"]
)
def test_editing_only_a_caption_or_only_the_tags_freezes_a_new_version(
    client: TestClient, brand: Brand, edit: dict
) -> None:
    """The content hash covers each item's caption and its tags, not only its image."""
    ids = approve(client, 2)
    first = client.post(DATASETS).json()
    assert client.patch(f"/api/v1/assets/{ids[0]}", json=edit).status_code == 200
    second = client.post(DATASETS)
    assert second.status_code == 201, "an edit of the words is a new version"
    assert second.json()["version"] == 2
    assert second.json()["content_hash"] != first["content_hash"]


def test_a_run_whose_message_finds_no_broker_is_still_queued(
    client: TestClient, brand: Brand, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """The row is committed before the send: a broker that is down costs the message only,
    which the workers' recovery sends again (`QUEUED_RESEND_SECONDS`)."""
    approve(client, 4)
    dataset = client.post(DATASETS).json()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    client.app.state.celery = celery_client(f"redis://127.0.0.1:{closed}/0")  # type: ignore[attr-defined]
    response = client.post(RUNS, json={"dataset_id": dataset["id"], "preset": "quick-demo"})
    assert response.status_code == 202 and response.json()["status"] == "queued"
    session.commit()
    assert session.get_one(Run, response.json()["id"]).status == RunStatus.queued
    assert "the broker did not take atelier.run_train" in caplog.text


def test_the_run_form_estimates_each_presets_peak_memory_on_the_demo_model(
    client: TestClient, brand: Brand
) -> None:
    """Without a worker: the demo captioner's architecture comes with migration 0012."""
    form = client.get("/brands/maison/runs").text
    assert 'id="memory"' in form
    table = form[form.index('id="memory"') : form.index("</table>", form.index('id="memory"'))]
    for preset in PRESETS:
        assert f"<td>{preset}</td>" in table
    # quick-demo on the demo captioner: 16 image tokens and 64 of text at most.
    assert "(80 tokens an example)" in table
    assert "GB" in table or "MB" in table
    assert 'id="memory-warning"' not in form and 'class="over"' not in form


def test_the_run_form_warns_when_a_preset_exceeds_the_workers_memory(
    app: FastAPI, client: TestClient, brand: Brand
) -> None:
    demo = Architecture.of(DEMO_ARCHITECTURE)
    assert demo is not None
    totals = {n: memory_estimate(demo, RunShape.of(p)).total for n, p in PRESETS.items()}
    assert totals["quick-demo"] > totals["standard"]  # rank 64 against 16
    limit = totals["standard"] + 1  # standard fits, quick-demo does not
    app.state.settings = app.state.settings.model_copy(update={"WORKER_MEMORY_BYTES": limit})
    form = client.get("/brands/maison/runs").text
    warning = form[form.index('id="memory-warning"') :].split("</p>", 1)[0]
    assert f"with quick-demo needs about {human_bytes(totals['quick-demo'])}" in warning
    assert "with standard" not in warning
    assert f"more than the worker's {human_bytes(limit)}" in warning
    flagged = form.count('<tr class="over">')
    assert flagged == sum(total > limit for total in totals.values())
