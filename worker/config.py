"""Worker settings: the same environment as the web process (one Settings for both)."""

from app.config import Settings, settings

__all__ = ["Settings", "settings"]
