from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamped
from app.leases import JobStatus, Leased

if TYPE_CHECKING:
    from app.basemodels.models import RegisteredModel
    from app.brands.models import Brand
    from app.datasets.models import DatasetVersion


RunStatus = JobStatus  # a run goes through the states of every leased job


class Run(Leased, Timestamped, Base):
    """A QLoRA fine-tuning run. Its progress lives here, written by the worker as it trains."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_brand_id_id", "brand_id", "id"),
        Index("ix_runs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    base_model_id: Mapped[int] = mapped_column(ForeignKey("base_models.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What the brand calls the adapter this run makes ("catalogue captions"); may be empty.
    name: Mapped[str] = mapped_column(String(100), default="")
    preset: Mapped[str] = mapped_column(String(50), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings_hash: Mapped[str] = mapped_column(String(64))
    # What the adapter is asked, fixed when the run is queued: the settings' instruction, and
    # the style guide's preferred terms of that moment when the settings ask for them.
    # Training and the evaluation of the adapted model both use exactly this text.
    instruction: Mapped[str] = mapped_column(Text)

    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    epoch: Mapped[float] = mapped_column(Float, default=0.0)
    loss: Mapped[float | None] = mapped_column(Float, default=None)
    learning_rate: Mapped[float | None] = mapped_column(Float, default=None)
    eta_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    log: Mapped[str] = mapped_column(Text, default="")

    checkpoint_key: Mapped[str] = mapped_column(String(300), default="")
    checkpoint_step: Mapped[int] = mapped_column(Integer, default=0)
    adapter_key: Mapped[str] = mapped_column(String(300), default="")
    adapter_sha256: Mapped[str] = mapped_column(String(64), default="")  # of its weights file
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_summary: Mapped[str] = mapped_column(String(500), default="")
    error_trace: Mapped[str] = mapped_column(Text, default="")

    # What a run is of, loaded with it (one join each): every view of a run names them.
    brand: Mapped["Brand"] = relationship(lazy="joined", viewonly=True, foreign_keys=[brand_id])
    base_model: Mapped["RegisteredModel"] = relationship(lazy="joined", viewonly=True)
    dataset: Mapped["DatasetVersion"] = relationship(lazy="joined", viewonly=True)
