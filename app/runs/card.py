"""The run card: how an adapter was made and what it cost. The worker writes it when a run
succeeds; the run's page and the API read it back. Stored as JSON on the run's row."""

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class RunCard:
    base_model: str
    base_revision: str
    dataset_version: int
    dataset_hash: str
    settings_hash: str
    preset: str
    trainable_params: int
    total_params: int
    trainable_share: float
    base_weights_bytes_4bit: int
    base_weights_bytes_16bit: int
    peak_rss_bytes: int
    cuda_max_allocated_bytes: int | None
    adapter_bytes: int
    wall_seconds: float
    samples_per_second: float
    tokens_per_second: float
    steps: int
    train_loss: float  # the mean of the run's training loss, not the last step's
    # Tokens one image took (Qwen-VL's depend on its size, capped by max_image_pixels); cards of
    # runs from before they were counted have none.
    image_tokens_max: int | None = None
    image_tokens_mean: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, stored: dict[str, Any]) -> "RunCard | None":
        """The card stored on a run; None before the run has succeeded."""
        if not stored:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in stored.items() if k in known})
