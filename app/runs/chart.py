"""The loss curve as an inline SVG polyline: drawn by the server, nothing from a CDN."""

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PAD = 640, 220, 36


@dataclass(frozen=True)
class Chart:
    points: str  # "x,y x,y …" in SVG units
    y_ticks: list[tuple[float, str]]  # (y, label)
    x_ticks: list[tuple[float, str]]
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD


def loss_chart(history: list[dict[str, Any]], total_steps: int) -> Chart | None:
    """Scale the (step, loss) points of a run into the chart's box; None before any point."""
    if not history:
        return None
    steps = [float(p["step"]) for p in history]
    losses = [float(p["loss"]) for p in history]
    low, high = min(losses), max(losses)
    span = (high - low) or 1.0
    last = max(float(total_steps), max(steps), 1.0)

    def x(step: float) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * step / last, 1)

    def y(loss: float) -> float:
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (loss - low) / span, 1)

    return Chart(
        points=" ".join(f"{x(s)},{y(v)}" for s, v in zip(steps, losses, strict=True)),
        y_ticks=[(y(v), f"{v:.3g}") for v in (low, low + span / 2, high)],
        x_ticks=[(x(s), str(int(s))) for s in (0.0, last / 2, last)],
    )
