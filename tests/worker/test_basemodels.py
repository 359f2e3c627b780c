"""What users see of a base model that failed its check: a sentence, never the loader's text."""

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from app.basemodels.models import RegisteredModel
from app.basemodels.service import basemodel_location
from app.config import Settings
from worker.basemodels import basemodel_failure


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
