"""Telling open dashboards what happened, through the Channels layer.

Called after the transaction that stored an event commits. Messages go out
in order from one long-lived event loop per process, so the caller never
waits for Redis and the layer reuses its connections. A broadcast that fails
is logged and dropped: the event is safe in the database, and a page that
missed it catches up by asking for events after the last seq it saw.
"""

import asyncio
import logging
import os
import threading
import uuid
from typing import Any

from channels.layers import get_channel_layer

from research.models import ResearchSession, StageEvent

logger = logging.getLogger(__name__)

SESSIONS_GROUP = "sessions"


def session_group(session_id: object) -> str:
    return f"session.{uuid.UUID(str(session_id)).hex}"


def publish_event(event: StageEvent) -> None:
    """Send the event, with the session's new state, to its watchers."""
    summary = _summary(event.session_id)
    message = {"type": "stage.event", "event": event.as_dict(), "session": summary}
    _sender().submit(session_group(event.session_id), message)
    if summary is not None:
        _sender().submit(SESSIONS_GROUP, {"type": "session.status", "session": summary})


def publish_session(session_id: uuid.UUID | str) -> None:
    summary = _summary(session_id)
    if summary is None:
        return

    message = {"type": "session.status", "session": summary}
    _sender().submit(session_group(session_id), message)
    _sender().submit(SESSIONS_GROUP, message)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every message submitted so far was sent; False on timeout.

    A process about to exit calls this, or its last messages are lost.
    """
    sender = _current
    return sender.flush(timeout) if sender is not None else True


def _summary(session_id: uuid.UUID | str) -> dict[str, Any] | None:
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


class _Sender:
    """An event loop on a daemon thread that sends queued messages in order."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.pending = 0
        self.idle = threading.Condition()
        thread = threading.Thread(target=self._run, name="broadcast", daemon=True)
        thread.start()

    def submit(self, group: str, message: dict[str, Any]) -> None:
        with self.idle:
            self.pending += 1
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (group, message))

    def flush(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.pending == 0, timeout=timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        while True:
            group, message = await self.queue.get()
            try:
                await self._send(group, message)
            finally:
                with self.idle:
                    self.pending -= 1
                    self.idle.notify_all()

    async def _send(self, group: str, message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            await asyncio.wait_for(layer.group_send(group, message), timeout=5)
        except Exception as error:
            logger.warning("Broadcast to %s failed: %s", group, error)


_current: _Sender | None = None
_lock = threading.Lock()


def _sender() -> _Sender:
    """Return this process's sender; a forked child starts its own."""
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = _Sender()
        return _current
