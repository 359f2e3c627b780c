"""Tiny models of three families, built and saved once per session, and a few product images.

Each model loads through AutoProcessor / AutoModelForImageTextToText from its folder, as a hub
checkpoint would. Training runs that several tests inspect also run once per session.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import torch
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from transformers import (
    AutoProcessor,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

import worker.basemodels
from app.basemodels.models import RegisteredModel
from app.basemodels.service import basemodel_location
from app.config import Settings
from app.db import make_sessionmaker
from app.main import create_app
from app.runs.settings import TrainSettings, settings_resolve
from tests import corpus, services
from worker.data import Collator, Example
from worker.modelkit import FAMILIES, Family, vlm_build, vlm_save
from worker.train import TrainResult, qlora_train

CAPTIONS = [
    "a red handbag with a short handle",
    "a blue sneaker with white laces",
    "a green wool scarf with a fringe",
    "a black leather belt with a silver buckle",
]
COLOURS = [(200, 30, 30), (30, 40, 200), (30, 160, 60), (20, 20, 20)]
# The tokenizers learn their merges from these: product captions of the kind the demo uses.
TEXTS = [
    *CAPTIONS,
    "a brown leather wallet with a zip",
    "a white cotton shirt with long sleeves",
    "a yellow raincoat with a hood",
    "a pair of grey trousers with a slim cut",
    "a pink silk dress with thin straps",
    "a navy backpack with two pockets",
]


def product_image(colour: tuple[int, int, int], size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A flat background with a lighter square: enough for a tiny vision tower to tell apart."""
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((8, 8, 24, 24), fill=tuple(min(255, c + 80) for c in colour))
    return image


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[Family, Path]:
    """One tiny saved model per family."""
    root = tmp_path_factory.mktemp("models")
    return {f: vlm_save(*vlm_build(f, TEXTS * 3, seed=1), root / f) for f in FAMILIES}


@pytest.fixture(scope="session")
def examples() -> list[Example]:
    return [Example(product_image(c), t) for c, t in zip(COLOURS, CAPTIONS, strict=True)]


def tiny_settings(**overrides: object) -> TrainSettings:
    """The quick demo preset, small enough for the tests' models and a CPU."""
    return settings_resolve("quick-demo", {"max_image_pixels": 48 * 40, **overrides})


@dataclass
class Recorder(TrainerCallback):
    """Records the logged losses and, at the end, the in-memory model's logits on `batch`."""

    batch: dict[str, torch.Tensor] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    logits: torch.Tensor | None = None

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: object
    ) -> None:
        logs = kw["logs"]
        assert isinstance(logs, dict)
        if "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: object
    ) -> None:
        model = kw["model"]
        assert isinstance(model, torch.nn.Module)
        model.eval()
        with torch.no_grad():
            self.logits = model(**self.batch).logits


@dataclass
class Overfit:
    result: TrainResult
    recorder: Recorder
    settings: TrainSettings
    base: Path


@pytest.fixture(scope="session")
def overfit(
    model_dirs: dict[Family, Path],
    examples: list[Example],
    tmp_path_factory: pytest.TempPathFactory,
) -> Overfit:
    """Idefics3 (SmolVLM's architecture) trained 30 steps on the four examples."""
    s = tiny_settings(
        max_steps=30,
        learning_rate=1e-2,
        lr_scheduler="constant",
        warmup_ratio=0.0,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        checkpoint_steps=100,
    )
    processor = AutoProcessor.from_pretrained(model_dirs["idefics3"])
    batch = Collator(processor, s.instruction, s.max_length, s.max_image_pixels)(examples)
    recorder = Recorder(batch=batch)
    result = qlora_train(
        base=str(model_dirs["idefics3"]),
        revision=None,
        examples=examples,
        s=s,
        output_dir=tmp_path_factory.mktemp("overfit"),
        callbacks=[recorder],
    )
    return Overfit(result, recorder, s, model_dirs["idefics3"])


# --- a real worker process: its broker, environment, API client and prepared brand -----


@pytest.fixture
def broker(settings: Settings, worker_id: str) -> str:
    if settings.DATABASE_URL.startswith("sqlite"):
        return settings.BROKER_URL  # the embedded default: a SQLite file per test
    number = 10 + (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    url = services.redis_url(number)
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


@pytest.fixture
def api(settings: Settings, broker: str, operator_token: str) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"BROKER_URL": broker}))
    with TestClient(app, headers={"Authorization": f"Bearer {operator_token}"}) as client:
        yield client


@pytest.fixture
def prepared(api: TestClient, model_dirs: dict[str, Path]) -> dict[str, int]:
    """A brand with four approved, captioned images frozen into a dataset, and a base model."""
    return brand_prepare(api, model_dirs["idefics3"], "tiny idefics3")


def brand_prepare(api: TestClient, base: Path, name: str) -> dict[str, int]:
    """The brand `maison` with four approved, captioned images frozen into a dataset (one for
    validation), and the model in `base` registered: the ids of both."""
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
    model = api.post("/api/v1/base-models", json={"source": str(base), "name": name})
    assert model.status_code == 202 and model.json()["status"] == "checking"
    return {"dataset": dataset.json()["id"], "model": model.json()["id"]}


@pytest.fixture
def basemodel_checked(
    settings: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Path], RegisteredModel]:
    """Register a folder and check it with the worker's own `basemodel_check`, in this process,
    on the test's database and models folders: the row as the check left it."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    monkeypatch.setattr(worker.basemodels, "sessions", lambda: make_sessionmaker(engine))
    monkeypatch.setattr(
        worker.basemodels, "basemodel_location", lambda m: basemodel_location(m, settings)
    )

    def check(folder: Path) -> RegisteredModel:
        model = RegisteredModel(name=folder.name, source=str(folder))
        session.add(model)
        session.commit()
        worker.basemodels.basemodel_check(model.id)
        session.expire_all()
        return session.get_one(RegisteredModel, model.id)

    return check
