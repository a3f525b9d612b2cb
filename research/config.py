"""The operators' guide's configuration object, read from Django settings."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass
class ProwziConfig:
    enable_checkpointing: bool = True
    enable_telemetry: bool = True
    checkpoint_dir: Path = Path("./prowzi_checkpoints")


def get_config() -> ProwziConfig:
    """Return a config holding this process's settings; callers may change it."""
    return ProwziConfig(
        enable_checkpointing=bool(settings.PROWZI_ENABLE_CHECKPOINTING),
        enable_telemetry=bool(settings.PROWZI_ENABLE_TELEMETRY),
        checkpoint_dir=Path(settings.PROWZI_CHECKPOINT_DIR),
    )
