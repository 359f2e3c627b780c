"""Checking a registered base model: the processor has a chat template, and
AutoModelForImageTextToText loads the weights (safetensors only, no code from the model)."""

import logging
import re
from importlib import metadata
from typing import TYPE_CHECKING

from app.basemodels.models import BaseModelStatus, RegisteredModel
from app.basemodels.service import basemodel_location
from app.db import utcnow
from app.errors import Invalid
from worker.context import sessions

if TYPE_CHECKING:
    from transformers import PreTrainedModel, ProcessorMixin

log = logging.getLogger(__name__)


class NoChatTemplate(ValueError):
    """The processor has no chat template, so prompts cannot be built for it."""


def basemodel_failure(exc: BaseException) -> str:
    """What users see of a failed check: a sentence by the kind of failure, never the raw
    text, which may show paths and whether they exist (the log keeps it)."""
    why = "it failed to load (the worker's log has the details)"
    if isinstance(exc, Invalid):
        why = str(exc)  # our own sentence: the source is not one this installation allows
    elif isinstance(exc, NoChatTemplate):
        why = "its processor has no chat template"
    elif isinstance(exc, OSError):
        why = "its config.json, safetensors weights or processor files could not be found or read"
    elif isinstance(exc, (ValueError, KeyError)):
        why = "its configuration is not an image-text-to-text model transformers knows"
    elif isinstance(exc, ImportError):
        why = _library_missing(exc)
    elif isinstance(exc, MemoryError):
        why = "it does not fit in this worker's memory"
    return f"The model could not be loaded: {why}."


def _library_missing(exc: ImportError) -> str:
    """Which library a model needs that the worker lacks, and what to install: transformers
    says "X requires the Torchvision library but it was not found" (Qwen-VL's video processor,
    which its processor always builds); Python names a module it could not find."""
    named = re.search(r"requires the ([\w.-]+) library", str(exc))
    library = (named.group(1) if named else exc.name or "").lower()
    if library == "torchvision":
        return (
            "it needs torchvision, which this worker does not have: install the torchvision "
            f"release made for the worker's torch {_version('torch')} (torch 2.14.1 goes with "
            "torchvision 0.29.1)"
        )
    if re.fullmatch(r"[a-z0-9_.-]{1,40}", library):
        return f"it needs the {library} library, which this worker does not have: install it"
    return "it needs a library this worker does not have"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "(none installed)"


def basemodel_check(model_id: int) -> None:
    """Load the model and its processor once; record ready with facts, or failed with why."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    with sessions()() as session:
        model = session.get_one(RegisteredModel, model_id)
        source, revision = model.source, model.revision or None
    try:
        location = basemodel_location(model)
        processor = AutoProcessor.from_pretrained(
            location, revision=revision, trust_remote_code=False
        )
        if not processor.chat_template:
            raise NoChatTemplate("its processor has no chat template")
        loaded = AutoModelForImageTextToText.from_pretrained(
            location, revision=revision, use_safetensors=True, trust_remote_code=False
        )
        detail = {
            "parameters": sum(p.numel() for p in loaded.parameters()),
            "architecture": type(loaded).__name__,
        }
        family, status, error = loaded.config.model_type, BaseModelStatus.ready, ""
        architecture = _architecture(loaded, processor, model_id)
    except Exception as exc:  # any reason it does not load is the answer to the check
        log.warning("base model %s (%s) failed its check", model_id, source, exc_info=True)
        detail, family, status, architecture = {}, "", BaseModelStatus.failed, None
        error = basemodel_failure(exc)
    with sessions().begin() as session:
        model = session.get_one(RegisteredModel, model_id)
        model.status, model.family, model.detail, model.error = status, family, detail, error
        model.architecture = architecture
        model.checked_at = utcnow()


def _architecture(
    loaded: "PreTrainedModel", processor: "ProcessorMixin", model_id: int
) -> dict[str, int] | None:
    """The numbers of the run form's memory estimate; None (no estimate, the model still
    serves) when they cannot be counted, e.g. a processor this probe does not understand."""
    from worker.architecture import architecture_count, image_tokens_count

    try:
        tokens = image_tokens_count(processor, loaded)
        return architecture_count(loaded, image_tokens=tokens).to_json()
    except Exception:
        log.warning("base model %s: its architecture was not counted", model_id, exc_info=True)
        return None
