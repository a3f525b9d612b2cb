"""Human-readable JSON files mirroring checkpoints and telemetry.

The database is the truth; these files are for people and scripts that read
PROWZI_CHECKPOINT_DIR as the operators' guide describes. Each file is written
whole to a temporary name and renamed, so a reader never sees half of one.
A failure to write is logged and does not stop the run.
"""

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from research.config import ProwziConfig, get_config
from research.models import ResearchSession

logger = logging.getLogger(__name__)


def checkpoint_path(directory: Path, session_id: object, stage: str) -> Path:
    # Only the session's UUID and a fixed stage name make up the file name;
    # nothing a user typed ever becomes part of a path.
    return directory / f"{session_id}_{stage}.json"


def telemetry_path(directory: Path, session_id: object) -> Path:
    return directory / "telemetry" / f"telemetry_{session_id}.json"


def write_checkpoint_file(
    session: ResearchSession, stage: str, config: ProwziConfig | None = None
) -> None:
    config = config or get_config()
    row = session.checkpoints.filter(stage=stage).first()
    if row is None:
        return

    payload = {
        "metadata": {
            "session_id": str(session.id),
            "stage": stage,
            "timestamp": row.created_at.isoformat().replace("+00:00", "Z"),
            "schema_version": row.schema_version,
            "fingerprint": row.fingerprint,
            "pipeline_version": row.pipeline_version,
        },
        "prompt": session.prompt,
        "stage_metrics": row.stage_metrics,
        "result": row.result,
    }
    _write_json(checkpoint_path(config.checkpoint_dir, session.id, stage), payload)


def write_telemetry_file(
    session: ResearchSession, config: ProwziConfig | None = None
) -> None:
    config = config or get_config()
    if not config.enable_telemetry:
        return

    from monitoring.export import strict
    from monitoring.telemetry import workflow_metrics

    session.refresh_from_db()
    metrics = strict(workflow_metrics(session).model_dump(mode="python"))
    _write_json(telemetry_path(config.checkpoint_dir, session.id), metrics)


def _write_json(path: Path, payload: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, indent=2, ensure_ascii=False, allow_nan=False)
            stream.write("\n")
        os.replace(temporary, path)
    except (OSError, ValueError):
        logger.exception("Could not write mirror file %s", path)
