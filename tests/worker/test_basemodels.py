"""What users see of a base model that failed its check: a sentence, never the loader's text."""

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from app.basemodels.models import BaseModelStatus, RegisteredModel
from app.basemodels.service import basemodel_location
from app.config import Settings
from tests.families import torchvision_works
from worker.basemodels import basemodel_failure
from worker.modelkit import qwen_save_parts

from .conftest import TEXTS


def _raised(load) -> BaseException:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as caught:
        load()
    return caught.value


def test_a_missing_folder_reads_as_a_sentence_without_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    exc = _raised(lambda: AutoProcessor.from_pretrained(str(missing)))
    said = basemodel_failure(exc)
    assert said.startswith("The model could not be loaded: ") and said.endswith(".")
    assert str(tmp_path) not in said and type(exc).__name__ not in said


def test_pickled_weights_are_not_loaded(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """A checkpoint with only a pickle (.bin) is refused: unpickling can run code."""
    pickled = tmp_path / "pickled"
    shutil.copytree(model_dirs["idefics3"], pickled)
    weights = load_file(pickled / "model.safetensors")
    (pickled / "model.safetensors").unlink()
    torch.save(weights, pickled / "pytorch_model.bin")
    assert AutoModelForImageTextToText.from_pretrained(pickled) is not None  # loads if allowed
    exc = _raised(
        lambda: AutoModelForImageTextToText.from_pretrained(pickled, use_safetensors=True)
    )
    assert "safetensors" in basemodel_failure(exc)


def test_the_worker_checks_the_source_again_where_it_reads_it(tmp_path: Path) -> None:
    model = RegisteredModel(name="x", source="/etc", revision="")
    with pytest.raises(Exception) as caught:
        basemodel_location(model, Settings(MODELS_ROOTS=[tmp_path]))
    assert "outside the models folders" in basemodel_failure(caught.value)


def test_a_qwen_model_on_a_worker_without_torchvision_says_what_to_install(
    basemodel_checked, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Qwen2-VL's model builds and loads without torchvision; its processor does not (the video
    processor it always holds needs it). The check's answer names what to install."""
    if torchvision_works():
        pytest.skip("torchvision works here: the families tier checks that the model loads")
    folder = qwen_save_parts("qwen2_vl", TEXTS * 3, tmp_path / "qwen2_vl", seed=1)
    loaded = AutoModelForImageTextToText.from_pretrained(folder, use_safetensors=True)
    assert type(loaded).__name__ == "Qwen2VLForConditionalGeneration"
    model = basemodel_checked(folder)
    assert model.status == BaseModelStatus.failed and not model.family
    assert model.error == (
        "The model could not be loaded: it needs torchvision, which this worker does not have: "
        f"install the torchvision release made for the worker's torch {torch.__version__} "
        "(torch 2.14.1 goes with torchvision 0.29.1)."
    )
