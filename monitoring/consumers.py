"""Live streams over websockets: one session's events, and the session list.

A session client says which sequence number it has seen (?since=N) and gets
every later event, then the live ones. The consumer joins the session's group
before it reads the backlog, drops any live event at or below the last seq it
sent, and reads the database for any it finds skipped, so there is neither a
gap nor a duplicate.

Close codes: 4400 for a malformed ?since, 4403 when the user may not watch
(not logged in, or someone else's session), 4404 for an unknown session.
"""

import json
import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from monitoring.broadcast import SESSIONS_GROUP, session_group
from monitoring.progress import history_row, with_progress
from research.models import ResearchSession, StageEvent

logger = logging.getLogger(__name__)

BACKLOG_LIMIT = 5000
CLOSE_BAD_REQUEST = 4400
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class StreamConsumer(AsyncWebsocketConsumer):
    """What both streams share: client messages are answered, never obeyed."""

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        try:
            message = json.loads(text_data or "")
        except ValueError:
            message = None

        if isinstance(message, dict) and message.get("type") == "ping":
            await self._send_json({"type": "pong"})
            return

        await self._send_json(
            {
                "type": "error",
                "error": 'This stream only answers {"type": "ping"}; '
                "the message was ignored.",
            }
        )

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message))


class SessionConsumer(StreamConsumer):
    group_name = ""
    session_id = ""
    last_seq = 0

    async def connect(self) -> None:
        session_id = str(self.scope["url_route"]["kwargs"]["session_id"])
        since = _since(self.scope.get("query_string", b""))
        verdict = await _access(self.scope.get("user"), session_id)
        if verdict is not None:
            await self.close(code=verdict)
            return
        if since is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return

        self.session_id = session_id
        self.group_name = session_group(session_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

        self.last_seq = since
        await self._catch_up()
        snapshot = await _session_snapshot(session_id)
        if snapshot is not None:
            await self._send_json({"type": "session", "session": snapshot})

    async def disconnect(self, code: int) -> None:
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def stage_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event["seq"] > self.last_seq + 1:
            # A broadcast went missing; the database has what it said.
            await self._catch_up()
        await self._send_event(event)
        if message.get("session") is not None:
            await self._send_json({"type": "session", "session": message["session"]})

    async def session_status(self, message: dict[str, Any]) -> None:
        await self._send_json({"type": "session", "session": message["session"]})

    async def _catch_up(self) -> None:
        while True:
            backlog = await _events_after(self.session_id, self.last_seq)
            for event in backlog:
                await self._send_event(event)
            if len(backlog) < BACKLOG_LIMIT:
                return

    async def _send_event(self, event: dict[str, Any]) -> None:
        if event["seq"] <= self.last_seq:
            return

        self.last_seq = event["seq"]
        await self._send_json({"type": "event", "event": event})


class SessionListConsumer(StreamConsumer):
    """Row updates for the history page: the user's own sessions, or all for
    staff, whenever a session starts, progresses or ends."""

    joined = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return

        await self.channel_layer.group_add(SESSIONS_GROUP, self.channel_name)
        self.joined = True
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.joined:
            await self.channel_layer.group_discard(SESSIONS_GROUP, self.channel_name)

    async def session_status(self, message: dict[str, Any]) -> None:
        row = await _history_row(self.scope["user"], message["session"]["id"])
        if row is not None:
            await self._send_json({"type": "session", "session": row})


def _since(query_string: bytes) -> int | None:
    values = parse_qs(query_string.decode("latin-1")).get("since", ["0"])
    try:
        since = int(values[0])
    except ValueError:
        return None
    return since if since >= 0 else None


@database_sync_to_async
def _access(user: Any, session_id: str) -> int | None:
    """None if the user may watch the session, else the close code."""
    if user is None or not user.is_authenticated:
        return CLOSE_FORBIDDEN

    row = ResearchSession.objects.filter(pk=session_id).values("owner_id").first()
    if row is None:
        return CLOSE_NOT_FOUND
    if not user.is_staff and row["owner_id"] != user.pk:
        return CLOSE_FORBIDDEN
    return None


@database_sync_to_async
def _events_after(session_id: str, since: int) -> list[dict[str, Any]]:
    events = StageEvent.objects.filter(session_id=uuid.UUID(session_id), seq__gt=since)
    return [event.as_dict() for event in events.order_by("seq")[:BACKLOG_LIMIT]]


@database_sync_to_async
def _session_snapshot(session_id: str) -> dict[str, Any] | None:
    session = ResearchSession.objects.filter(pk=session_id).first()
    if session is None:
        return None
    return {
        "id": str(session.id),
        "status": session.status,
        "current_stage": session.current_stage,
        "last_seq": session.last_seq,
        "error": session.error,
    }


@database_sync_to_async
def _history_row(user: Any, session_id: str) -> dict[str, Any] | None:
    sessions = ResearchSession.objects.filter(pk=uuid.UUID(session_id))
    if not user.is_staff:
        sessions = sessions.filter(owner_id=user.pk)
    session = with_progress(sessions).first()
    return history_row(session) if session is not None else None
