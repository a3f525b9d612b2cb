"""Stage events as JSON lines, for log shippers such as Splunk or Datadog."""

import json
import logging
import sys
import threading
from typing import Any

from django.conf import settings

from research.models import StageEvent

logger = logging.getLogger(__name__)
_lock = threading.Lock()


def write_event_line(event: StageEvent) -> None:
    """Append the event as one JSON line where PROWZI_EVENT_LOG says."""
    target = settings.PROWZI_EVENT_LOG
    if not target:
        return

    line = json.dumps(_record(event), ensure_ascii=False, allow_nan=False) + "\n"
    try:
        with _lock:
            if target == "-":
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                # One write() of a line opened for append lands whole even
                # when several worker processes share the file.
                with open(target, "a", encoding="utf-8") as stream:
                    stream.write(line)
    except (OSError, ValueError):
        logger.exception("Could not write the event line to %s", target)


def _record(event: StageEvent) -> dict[str, Any]:
    return {"session_id": str(event.session_id), **event.as_dict()}
