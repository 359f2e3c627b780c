import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamped, UTCDateTime

DEMO_MODEL_SOURCE = "models/demo-captioner"  # relative to the project: shipped with it
# The shipped demo captioner's parts, as a worker's check counts them (worker/architecture.py;
# tests/worker/test_architecture.py holds the two equal): migration 0012 and the seed store them.
DEMO_ARCHITECTURE: dict[str, int] = {
    "quantized_params": 1474560,
    "quantized_tensors": 28,
    "kept_params": 790592,
    "vision_params": 430592,
    "projector_params": 98304,
    "embedding_params": 129984,
    "head_params": 129984,
    "lora_per_rank": 13056,
    "vision_lora_per_rank": 5376,
    "hidden_size": 192,
    "intermediate_size": 384,
    "layers": 4,
    "heads": 4,
    "vocab_size": 677,
    "image_tokens": 16,
    "vision_tokens": 64,
    "vision_hidden_size": 128,
}


class BaseModelStatus(enum.StrEnum):
    checking = "checking"
    ready = "ready"
    failed = "failed"


class RegisteredModel(Timestamped, Base):
    """A vision-language model runs start from: a hub id or a local path, at a revision."""

    __tablename__ = "base_models"
    __table_args__ = (UniqueConstraint("source", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500))
    # "" means the default branch; a commit sha or tag pins it.
    revision: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[BaseModelStatus] = mapped_column(
        Enum(BaseModelStatus, native_enum=False, length=16, validate_strings=True),
        default=BaseModelStatus.checking,
    )
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    family: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The numbers its memory estimate needs (app.runs.memory.Architecture), counted by the
    # worker that checked it; None until then, or when they could not be counted.
    architecture: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    registered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
