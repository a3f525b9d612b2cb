"""The live stream of one session's stage events over a websocket.

A client says which sequence number it has seen (?since=N) and gets every
later event, then the live ones. The consumer joins the session's group
before it reads the backlog, and drops any live event at or below the last
seq it sent, so there is neither a gap nor a duplicate.
"""

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from monitoring.broadcast import session_group
from research.models import ResearchSession, StageEvent

logger = logging.getLogger(__name__)

BACKLOG_LIMIT = 5000


class SessionConsumer(AsyncWebsocketConsumer):
    group_name = ""
    last_seq = 0

    async def connect(self) -> None:
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        since = _since(self.scope.get("query_string", b""))
        if since is None or not await _may_watch(self.scope.get("user"), session_id):
            await self.close(code=4403)
            return

        self.group_name = session_group(session_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

        self.last_seq = since
        for event in await _events_after(session_id, since):
            await self._send_event(event)

    async def disconnect(self, code: int) -> None:
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: Any = None
    ) -> None:
        await self.send(
            text_data=json.dumps(
                {"type": "error", "error": "This stream accepts no messages."}
            )
        )

    async def stage_event(self, message: dict[str, Any]) -> None:
        await self._send_event(message["event"])

    async def session_status(self, message: dict[str, Any]) -> None:
        await self.send(
            text_data=json.dumps({"type": "session", "session": message["session"]})
        )

    async def _send_event(self, event: dict[str, Any]) -> None:
        if event["seq"] <= self.last_seq:
            return

        self.last_seq = event["seq"]
        await self.send(text_data=json.dumps({"type": "event", "event": event}))


def _since(query_string: bytes) -> int | None:
    values = parse_qs(query_string.decode("latin-1")).get("since", ["0"])
    try:
        since = int(values[0])
    except ValueError:
        return None
    return since if since >= 0 else None


@database_sync_to_async
def _may_watch(user: Any, session_id: Any) -> bool:
    if user is None or not user.is_authenticated:
        return False

    sessions = ResearchSession.objects.filter(pk=session_id)
    if not user.is_staff:
        sessions = sessions.filter(owner=user)
    return bool(sessions.exists())


@database_sync_to_async
def _events_after(session_id: Any, since: int) -> list[dict[str, Any]]:
    events = StageEvent.objects.filter(session_id=session_id, seq__gt=since)
    return [event.as_dict() for event in events.order_by("seq")[:BACKLOG_LIMIT]]
