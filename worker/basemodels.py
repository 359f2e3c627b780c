"""Checking a registered base model: the processor has a chat template, and
AutoModelForImageTextToText loads the weights."""

import logging

from app.basemodels.models import BaseModelStatus, RegisteredModel
from app.basemodels.service import basemodel_location
from app.db import utcnow
from worker.context import sessions

log = logging.getLogger(__name__)


def basemodel_check(model_id: int) -> None:
    """Load the model and its processor once; record ready with facts, or failed with why."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    with sessions()() as session:
        model = session.get_one(RegisteredModel, model_id)
        location, revision = basemodel_location(model), model.revision or None
    try:
        processor = AutoProcessor.from_pretrained(location, revision=revision)
        if not processor.chat_template:
            raise ValueError("its processor has no chat template")
        loaded = AutoModelForImageTextToText.from_pretrained(location, revision=revision)
        detail = {
            "parameters": sum(p.numel() for p in loaded.parameters()),
            "architecture": type(loaded).__name__,
        }
        family, status, error = loaded.config.model_type, BaseModelStatus.ready, ""
    except Exception as exc:  # any reason it does not load is the answer to the check
        log.info("base model %s failed its check: %s", model_id, exc)
        detail, family, status = {}, "", BaseModelStatus.failed
        error = f"{type(exc).__name__}: {exc}"[:1000]
    with sessions().begin() as session:
        model = session.get_one(RegisteredModel, model_id)
        model.status, model.family, model.detail, model.error = status, family, detail, error
        model.checked_at = utcnow()
