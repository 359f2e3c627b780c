"""The Qwen-VL families through the one code path: Qwen2-VL and Qwen2.5-VL, built from configs
with their own tokens and chat template, collated with answer-only labels, held to the run's
pixel budget, registered, trained in 4-bit, evaluated and auto-tagged by a real worker.

Their processors need torchvision, which the main tier's torch build has none of: these tests
run in the families tier (`make test-families`) and are skipped, saying so, elsewhere.
"""

from pathlib import Path

import bitsandbytes as bnb
import pytest
import torch
from fastapi.testclient import TestClient
from peft import get_peft_model
from transformers import AutoProcessor

from app.basemodels.models import BaseModelStatus
from app.runs.settings import DEFAULT_INSTRUCTION
from tests.worker.e2e import QUICK, model_ready, run_get, run_queue, wait_for, worker_process
from worker.config import lora_config
from worker.data import IGNORE_INDEX, Collator, Example, image_token_id
from worker.modelkit import (
    QWEN_MERGE,
    QWEN_PATCH,
    TORCHVISION_FAMILIES,
    Family,
    qwen_save_parts,
    vlm_build,
    vlm_save,
)
from worker.train import base_load

from .conftest import TEXTS, brand_prepare, product_image, tiny_settings

pytestmark = pytest.mark.families

FACTOR = QWEN_PATCH * QWEN_MERGE  # an image token covers FACTOR x FACTOR pixels


@pytest.fixture(scope="session")
def qwen_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[Family, Path]:
    """One tiny saved model per Qwen-VL family, processor included."""
    root = tmp_path_factory.mktemp("qwen")
    return {f: vlm_save(*vlm_build(f, TEXTS * 3, seed=1), root / f) for f in TORCHVISION_FAMILIES}


@pytest.mark.parametrize("family", TORCHVISION_FAMILIES)
def test_labels_are_exactly_the_answer_tokens(
    family: Family, qwen_dirs: dict[Family, Path]
) -> None:
    processor = AutoProcessor.from_pretrained(qwen_dirs[family])
    captions = ["a red bag", "a blue sneaker with white laces and a thick sole"]
    examples = [
        Example(product_image((200, 0, 0), (48, 40)), captions[0]),
        Example(product_image((0, 0, 200), (32, 64)), captions[1]),
    ]
    batch = Collator(processor, DEFAULT_INSTRUCTION)(examples)
    # What the processor returns reaches the model: Qwen's grid of patches per image too.
    assert {"pixel_values", "image_grid_thw", "mm_token_type_ids"} <= set(batch)
    assert batch["image_grid_thw"].tolist() == [[1, 40 // 4, 48 // 4], [1, 64 // 4, 32 // 4]]
    tokenizer = processor.tokenizer
    for row, caption in enumerate(captions):
        ids, labels = batch["input_ids"][row], batch["labels"][row]
        # ChatML: the answer is the caption and the end of the assistant's turn, nothing else.
        answer = tokenizer(caption + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
        assert labels[labels != IGNORE_INDEX].tolist() == answer
        start = int((labels != IGNORE_INDEX).nonzero()[0])
        assert tokenizer.decode(ids[:start]).endswith(
            f"<|vision_end|>{DEFAULT_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n"
        )
        grid = batch["image_grid_thw"][row].prod() // QWEN_MERGE**2
        assert int((ids == image_token_id(processor)).sum()) == grid  # one per merged patch
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]  # padded right


@pytest.mark.parametrize("family", TORCHVISION_FAMILIES)
def test_the_pixel_budget_holds_qwens_own_resizing(
    family: Family, qwen_dirs: dict[Family, Path]
) -> None:
    """A 44x44 image under a budget of 44*44 pixels: Qwen's processor rounds each side to a
    multiple of 8, 44 up to 48 (36 tokens, 2304 pixels); held to the budget, it rounds down."""
    processor = AutoProcessor.from_pretrained(qwen_dirs[family])
    budget = 44 * 44
    image = product_image((30, 160, 60), (44, 44))
    own = processor(text=["<|image_pad|>"], images=[[image]], return_tensors="pt")
    assert own["image_grid_thw"].prod() // QWEN_MERGE**2 == 36  # over budget by itself
    batch = Collator(processor, DEFAULT_INSTRUCTION, max_image_pixels=budget)(
        [Example(image, "a green bag")]
    )
    tokens = int((batch["input_ids"][0] == image_token_id(processor)).sum())
    assert tokens == 25 <= budget // FACTOR**2
    assert batch["image_grid_thw"].tolist() == [[1, 40 // 4, 40 // 4]]


@pytest.mark.parametrize("family", TORCHVISION_FAMILIES)
def test_the_language_model_loads_in_4bit_and_the_vision_tower_whole(
    family: Family, qwen_dirs: dict[Family, Path]
) -> None:
    model, _ = base_load(str(qwen_dirs[family]), None, tiny_settings())
    linears = {n: type(m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    language = {n: t for n, t in linears.items() if "language_model" in n}
    vision = {n: t for n, t in linears.items() if "visual" in n}
    assert len(language) == 14 and all(t is bnb.nn.Linear4bit for t in language.values())
    assert vision and all(t is torch.nn.Linear for t in vision.values())
    assert type(model.lm_head) is torch.nn.Linear
    adapted = get_peft_model(model, lora_config(tiny_settings(lora_vision=True)))
    wrapped = {n for n, _ in adapted.named_modules() if n.endswith(".base_layer")}
    assert sum("language_model" in n for n in wrapped) == 14
    blocks = [n for n in wrapped if ".visual.blocks." in n]
    assert blocks and not any("merger" in n for n in wrapped)  # encoder yes, projector no


def test_registration_checks_that_a_qwen_model_loads(
    qwen_dirs: dict[Family, Path], basemodel_checked, tmp_path_factory: pytest.TempPathFactory
) -> None:  # type: ignore[no-untyped-def]
    """Both as `save_pretrained` writes it and as the published checkpoints lie (weights,
    tokenizer, image processor and template; the processor assembled when loaded)."""
    parts = qwen_save_parts(
        "qwen2_vl", TEXTS * 3, tmp_path_factory.mktemp("parts") / "qwen2_vl", seed=1
    )
    for folder, family in [*((qwen_dirs[f], f) for f in TORCHVISION_FAMILIES), (parts, "qwen2_vl")]:
        model = basemodel_checked(folder)
        assert model.status == BaseModelStatus.ready, model.error
        assert model.family == family and model.detail["parameters"] > 0


@pytest.mark.processes
@pytest.mark.parametrize("family", TORCHVISION_FAMILIES)
def test_a_worker_trains_evaluates_and_auto_tags_a_qwen_model(
    family: Family,
    qwen_dirs: dict[Family, Path],
    api: TestClient,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Registered, checked, trained in 4-bit, evaluated (base with the adapter off, adapted
    with it on), then an auto-tag job and a try (one batch, base and adapter rows mixed)."""
    prepared = brand_prepare(api, qwen_dirs[family], f"tiny {family}")
    log = tmp_path / "worker.log"
    with worker_process(env, log):
        model = model_ready(api, prepared["model"], log)
        assert model["status"] == "ready" and model["family"] == family, model
        run_id = run_queue(api, prepared, learning_rate=5e-3)
        run = wait_for(
            lambda: run_get(api, run_id), lambda r: r["status"] in ("succeeded", "failed"), log=log
        )
        assert run["status"] == "succeeded", run["error"]
        comparison = wait_for(
            lambda: api.get(f"/api/v1/runs/{run_id}/comparison").json(),
            lambda c: c.get("status") in ("succeeded", "failed"),
            log=log,
        )
        assert comparison["status"] == "succeeded", comparison["error"]
        job = api.post("/api/v1/brands/maison/autotag", json={"run_id": run_id})
        assert job.status_code == 202, job.text
        done = wait_for(
            lambda: api.get(f"/api/v1/autotag/{job.json()['id']}").json(),
            lambda j: j["status"] in ("succeeded", "failed"),
            log=log,
        )
        [item] = comparison["items"]  # one validation image of four
        asset = api.get(f"/api/v1/assets/{item['asset_id']}").json()
        original = api.get(asset["original_url"]).content
        attempt = api.post(f"/api/v1/runs/{run_id}/try", files={"file": ("v.png", original)})
        assert attempt.status_code == 202, attempt.text
        tried = wait_for(
            lambda: api.get(f"/api/v1/tries/{attempt.json()['id']}").json(),
            lambda t: t["status"] in ("succeeded", "failed"),
            log=log,
        )

    card = run["card"]
    tokens = (48 // FACTOR) * (40 // FACTOR)  # the images are 48x40, within QUICK's budget
    assert card["image_tokens_max"] == tokens and card["image_tokens_mean"] == tokens
    assert (
        f"{tokens} at most per image · {tokens:.1f} on average" in api.get(f"/runs/{run_id}").text
    )
    assert card["steps"] == QUICK["max_steps"] and card["trainable_params"] > 0
    assert set(comparison["summary"]) == {"base", "prompted", "adapted"}
    assert done["status"] == "succeeded" and done["done"] == done["total"] == 4, done
    assert tried["status"] == "succeeded", tried["error"]
    # The adapter off and on, by the evaluation's path and by the auto-tagger's mixed batch:
    # the same answers for the same image.
    assert (tried["base"], tried["adapted"]) == (item["base"], item["adapted"])
    assert tried["base"] != tried["adapted"]  # the adapter changed what the model says
