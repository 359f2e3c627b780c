"""Worker settings: the same environment as the web process (one Settings for both), and the
training settings of a run (TrainSettings, with its presets)."""

from app.config import Settings, settings

# The instruction every caption is asked with, in training and in evaluation alike.
DEFAULT_INSTRUCTION = "Describe this product."

__all__ = ["DEFAULT_INSTRUCTION", "Settings", "settings"]
