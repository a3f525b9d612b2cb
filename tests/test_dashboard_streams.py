"""The live streams: one session's events and the session list, through the
ASGI application with channels' communicator, and through a real daphne with
a real websocket client. Redis from the redis_server fixture carries the
channel layer."""

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from websockets.sync.client import connect

from monitoring.broadcast import session_group
from prowzi_site.asgi import application
from research.leases import Lease, claim, record_event
from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.sessions import create_session, enqueue
from tests.conftest import LITERATURE_REVIEW
from tests.web_fixtures import WebServer, make_user, session_cookie, web_server

__all__ = ["make_user", "web_server"]

pytestmark = pytest.mark.django_db(transaction=True)

FINAL = {"completed", "failed", "cancelled", "interrupted"}


@pytest.fixture(autouse=True)
def channel_layer(redis_server: str) -> Iterator[None]:
    yield
    import redis

    redis.Redis.from_url(redis_server).flushall()


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user("owner")


def _communicator(path: str, cookie: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


def _running(owner: User | None) -> tuple[ResearchSession, Lease]:
    session = create_session(LITERATURE_REVIEW, owner=owner)
    lease = claim(session.id)
    assert lease is not None
    return session, lease


async def _record(lease: Lease, stage: str, status: str) -> StageEvent:
    event: StageEvent = await sync_to_async(record_event)(lease, stage, status)
    return event


async def _events_until(
    communicator: WebsocketCommunicator, last_seq: int
) -> list[dict[str, Any]]:
    """Read messages until the event with last_seq; return the events read."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["seq"] < last_seq:
        message = await communicator.receive_json_from(timeout=10)
        if message["type"] == "event":
            events.append(message["event"])
    return events


def test_stream_sends_the_backlog_after_since_then_live_events(owner: User) -> None:
    session, lease = _running(owner)
    cookie = session_cookie(owner)
    path = f"/ws/sessions/{session.id}/?since=1"

    async def scenario() -> list[int]:
        await _record(lease, "intent", EventStatus.STARTED)
        await _record(lease, "intent", EventStatus.COMPLETED)
        await _record(lease, "planning", EventStatus.STARTED)
        communicator = _communicator(path, cookie)
        connected, _ = await communicator.connect()
        assert connected
        backlog = await _events_until(communicator, 3)
        await _record(lease, "planning", EventStatus.COMPLETED)
        live = await _events_until(communicator, 4)
        await communicator.disconnect()
        return [event["seq"] for event in backlog + live]

    assert asyncio.run(scenario()) == [2, 3, 4]


def test_stream_drops_repeats_and_fills_a_gap_from_the_database(owner: User) -> None:
    session, lease = _running(owner)
    cookie = session_cookie(owner)

    async def scenario() -> list[int]:
        communicator = _communicator(f"/ws/sessions/{session.id}/", cookie)
        assert (await communicator.connect())[0]
        first = await _record(lease, "intent", EventStatus.STARTED)
        seqs = [event["seq"] for event in await _events_until(communicator, 1)]

        layer = get_channel_layer()
        repeat = {"type": "stage.event", "event": first.as_dict()}
        await layer.group_send(session_group(session.id), repeat)
        await sync_to_async(_event_without_broadcast)(session, 2)
        await _record(lease, "intent", EventStatus.COMPLETED)
        seqs += [event["seq"] for event in await _events_until(communicator, 3)]
        await communicator.disconnect()
        return seqs

    assert asyncio.run(scenario()) == [1, 2, 3]


def _event_without_broadcast(session: ResearchSession, seq: int) -> None:
    StageEvent.objects.create(
        session=session,
        seq=seq,
        stage="intent",
        status=EventStatus.RETRYING,
        timestamp=session.created_at,
    )
    ResearchSession.objects.filter(pk=session.pk).update(last_seq=seq)


def test_stream_tells_of_status_changes(owner: User) -> None:
    session, lease = _running(owner)
    cookie = session_cookie(owner)

    async def scenario() -> list[str]:
        communicator = _communicator(f"/ws/sessions/{session.id}/", cookie)
        assert (await communicator.connect())[0]
        statuses = [
            (await communicator.receive_json_from(timeout=10))["session"]["status"]
        ]
        await _record(lease, "intent", EventStatus.STARTED)
        while len(statuses) < 2:
            message = await communicator.receive_json_from(timeout=10)
            if message["type"] == "session":
                statuses.append(message["session"]["status"])
        await communicator.disconnect()
        return statuses

    assert asyncio.run(scenario()) == ["running", "running"]


def test_garbage_messages_get_an_error_reply_and_the_stream_stays_open(
    owner: User,
) -> None:
    session, _ = _running(owner)
    cookie = session_cookie(owner)

    async def scenario() -> list[str]:
        communicator = _communicator(f"/ws/sessions/{session.id}/", cookie)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from(timeout=10)  # the status snapshot
        replies = []
        for garbage in ("not json", "[1, 2]", '{"type": "subscribe"}', "\x00" * 100):
            await communicator.send_to(text_data=garbage)
            replies.append((await communicator.receive_json_from(timeout=5))["type"])
        await communicator.send_to(bytes_data=b"\xff\xfe")
        replies.append((await communicator.receive_json_from(timeout=5))["type"])
        await communicator.send_json_to({"type": "ping"})
        replies.append((await communicator.receive_json_from(timeout=5))["type"])
        await communicator.disconnect()
        return replies

    assert asyncio.run(scenario()) == ["error"] * 5 + ["pong"]


@pytest.mark.parametrize(
    ("who", "path", "code"),
    [
        ("anonymous", "/ws/sessions/{id}/", 4403),
        ("stranger", "/ws/sessions/{id}/", 4403),
        ("owner", "/ws/sessions/00000000-0000-4000-8000-000000000000/", 4404),
        ("owner", "/ws/sessions/{id}/?since=abc", 4400),
        ("owner", "/ws/sessions/{id}/?since=-4", 4400),
        ("anonymous", "/ws/sessions/", 4403),
    ],
)
def test_streams_close_with_a_code_for_whoever_may_not_watch(
    owner: User, make_user: Callable[..., User], who: str, path: str, code: int
) -> None:
    session, _ = _running(owner)
    user = {"anonymous": None, "owner": owner, "stranger": make_user("stranger")}[who]
    cookie = session_cookie(user) if user is not None else None
    communicator = _communicator(path.format(id=session.id), cookie)

    async def scenario() -> tuple[bool, int | str | None]:
        result: tuple[bool, int | str | None] = await communicator.connect()
        await communicator.wait()
        return result

    assert asyncio.run(scenario()) == (False, code)


def test_staff_may_watch_any_session(
    owner: User, make_user: Callable[..., User]
) -> None:
    session, lease = _running(owner)
    staff = make_user("auditor", staff=True)
    cookie = session_cookie(staff)

    async def scenario() -> list[int]:
        communicator = _communicator(f"/ws/sessions/{session.id}/", cookie)
        assert (await communicator.connect())[0]
        await _record(lease, "intent", EventStatus.STARTED)
        events = await _events_until(communicator, 1)
        await communicator.disconnect()
        return [event["seq"] for event in events]

    assert asyncio.run(scenario()) == [1]


def test_list_stream_sends_only_the_users_own_rows_and_all_to_staff(
    owner: User, make_user: Callable[..., User]
) -> None:
    other = make_user("other")
    staff = make_user("auditor", staff=True)
    mine, my_lease = _running(owner)
    theirs, their_lease = _running(other)

    async def rows(cookie: str) -> list[str]:
        communicator = _communicator("/ws/sessions/", cookie)
        assert (await communicator.connect())[0]
        await _record(their_lease, "intent", EventStatus.STARTED)
        await _record(my_lease, "intent", EventStatus.STARTED)
        seen = []
        while str(mine.id) not in seen:
            message = await communicator.receive_json_from(timeout=10)
            assert message["type"] == "session"
            seen.append(message["session"]["id"])
            assert message["session"]["stages_total"] == 7
        await communicator.disconnect()
        return seen

    assert asyncio.run(rows(session_cookie(owner))) == [str(mine.id)]
    staff_rows = asyncio.run(rows(session_cookie(staff)))
    assert set(staff_rows) == {str(mine.id), str(theirs.id)}


# A real daphne and a real websocket client


def _read_until(socket: Any, events: list[dict[str, Any]], done: Any) -> None:
    """Read messages into events until done(status) holds for the newest
    session status seen (None before the first)."""
    status: dict[str, Any] | None = None
    deadline = time.monotonic() + 120
    while not done(status):
        assert time.monotonic() < deadline, "the stream went quiet"
        message = json.loads(socket.recv(timeout=60))
        if message["type"] == "event":
            events.append(message["event"])
        elif message["type"] == "session":
            status = message["session"]


def test_a_client_that_reconnects_with_its_last_seq_ends_with_exactly_the_events(
    workers: Any, web_server: WebServer, owner: User
) -> None:
    workers.start(PROWZI_FAULTS="intent:delay:1,search:delay:2,writing:delay:2")
    session = create_session(LITERATURE_REVIEW, owner=owner)
    enqueue(session)
    headers = {"Cookie": session_cookie(owner), "Origin": web_server.url}
    url = f"{web_server.ws_url}/ws/sessions/{session.id}/"
    events: list[dict[str, Any]] = []

    with connect(f"{url}?since=0", additional_headers=headers) as socket:
        _read_until(socket, events, lambda status: len(events) >= 1)
    time.sleep(2.5)  # events happen while the client is away

    def finished(status: dict[str, Any] | None) -> bool:
        if status is None or status["status"] not in FINAL:
            return False
        return bool(events) and events[-1]["seq"] >= status["last_seq"]

    since = events[-1]["seq"]
    with connect(f"{url}?since={since}", additional_headers=headers) as socket:
        _read_until(socket, events, finished)

    session.refresh_from_db()
    stored = [event.as_dict() for event in session.events.order_by("seq")]
    assert session.status in (SessionStatus.COMPLETED, SessionStatus.FAILED)
    assert events == stored
    assert [event["seq"] for event in events] == list(range(1, len(stored) + 1))
