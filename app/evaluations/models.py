import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamped, UTCDateTime, utcnow

SYSTEMS = ("base", "prompted", "adapted")  # zero-shot, with the style guide's terms, tuned

# The metrics of an evaluation's summary (`worker.evaluate.Summary`) and how people read them:
# the results page, the CSV and the JSON all take names and labels from here.
METRICS = {
    "bleu4": "BLEU-4",
    "chrf": "chrF",
    "rouge_l": "ROUGE-L",
    "cider_d": "CIDEr-D",
    "tag_precision": "tag precision",
    "tag_recall": "tag recall",
    "tag_f1": "tag F1",
    "preferred_per_100": "preferred terms / 100",
    "violations_per_100": "replaced words / 100",
    "banned_per_100": "banned words / 100",
    "compliant_share": "captions without violation",
    "mean_length": "mean length (words)",
    "lost_per_100": "attributes lost / 100 images (tags the base named right)",
}
# Those also scored image by image, whose adapted minus base deltas carry bootstrap intervals.
ITEM_METRICS = ("bleu4", "chrf", "rouge_l", "cider_d", "tag_f1")


class EvaluationStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class Evaluation(Timestamped, Base):
    """A run measured on its validation split: base, prompted base and adapted model."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    status: Mapped[EvaluationStatus] = mapped_column(
        Enum(EvaluationStatus, native_enum=False, length=16, validate_strings=True),
        default=EvaluationStatus.queued,
    )
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # system -> metrics
    deltas: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # metric -> interval
    adapter_sha256: Mapped[str] = mapped_column(String(64), default="")
    # Share of items whose adapted caption differs from the base's: 0 means the adapter
    # changed nothing (not applied, or not learned), and the page says so.
    changed_share: Mapped[float | None] = mapped_column(Float, default=None)
    adapter_applied: Mapped[bool | None] = mapped_column(Boolean, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class EvaluationItem(Base):
    """One validation image: its reference and the three systems' captions, with scores."""

    __tablename__ = "evaluation_items"
    __table_args__ = (Index("ix_evaluation_items_evaluation_id_gain", "evaluation_id", "gain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"))
    reference: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    base: Mapped[str] = mapped_column(Text)
    prompted: Mapped[str] = mapped_column(Text)
    adapted: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # system -> metrics
    gain: Mapped[float] = mapped_column(Float, default=0.0)  # adapted minus base, sentence chrF


class Rating(Timestamped, Base):
    """A merchandiser's blind verdict on base against adapted for one image."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("item_id", "rater_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evaluation_items.id", ondelete="CASCADE"))
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Which system was shown on the left: kept to check the order was unbiased.
    left: Mapped[str] = mapped_column(String(16))
    winner: Mapped[str] = mapped_column(String(16))  # base | adapted | tie
    # Given after the rater had seen the run's results, which tell which caption is which:
    # kept, but left out of the win rate.
    unblinded: Mapped[bool] = mapped_column(Boolean, default=False)


class ResultsView(Base):
    """When a person first saw a run's captions by system (results page, JSON or CSV)."""

    __tablename__ = "results_views"
    __table_args__ = (UniqueConstraint("run_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
