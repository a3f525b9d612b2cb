"""Telling open dashboards what happened, through the Channels layer.

Called after the transaction that stored an event commits. A broadcast that
fails is logged and dropped: the event is safe in the database, and a page
that missed it catches up by asking for events after the last seq it saw.
"""

import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from research.models import ResearchSession, StageEvent

logger = logging.getLogger(__name__)

SESSIONS_GROUP = "sessions"


def session_group(session_id: object) -> str:
    return f"session.{uuid.UUID(str(session_id)).hex}"


def publish_event(event: StageEvent) -> None:
    message = {"type": "stage.event", "event": event.as_dict()}
    _send(session_group(event.session_id), message)
    publish_session(event.session_id)


def publish_session(session_id: uuid.UUID | str) -> None:
    session = ResearchSession.objects.filter(pk=session_id).first()
    if session is None:
        return

    summary = {
        "id": str(session.id),
        "status": session.status,
        "current_stage": session.current_stage,
        "last_seq": session.last_seq,
        "error": session.error,
    }
    _send(session_group(session_id), {"type": "session.status", "session": summary})
    _send(SESSIONS_GROUP, {"type": "session.status", "session": summary})


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception as error:
        logger.warning("Broadcast to %s failed: %s", group, error)
