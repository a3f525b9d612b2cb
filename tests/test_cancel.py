"""Cancelling: queued sessions never start, running ones stop at a safe point."""

import time

import pytest

from prowzi_site import services
from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.sessions import create_session, enqueue
from tests.conftest import LITERATURE_REVIEW

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s")


def _status(session_id) -> str:
    return ResearchSession.objects.get(pk=session_id).status


def test_cancelled_queued_session_never_starts(workers, prowzi):
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)

    assert prowzi("cancel", str(session.id)).returncode == 0
    workers.start()
    time.sleep(3)

    assert _status(session.id) == SessionStatus.CANCELLED
    assert not StageEvent.objects.filter(session=session).exists()


def test_cancelling_a_running_session_stops_it_and_keeps_checkpoints(workers, prowzi):
    worker = workers.start(PROWZI_FAULTS="writing:delay:30")
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)
    _wait_for(
        lambda: StageEvent.objects.filter(session=session, stage="writing").exists(),
        timeout=60,
    )

    assert prowzi("cancel", str(session.id)[:8]).returncode == 0
    _wait_for(lambda: f"Session {session.id}: stopped" in worker.output(), timeout=10)

    assert _status(session.id) == SessionStatus.CANCELLED
    assert session.checkpoints.count() == 4
    assert not StageEvent.objects.filter(
        session=session, stage="writing", status=EventStatus.COMPLETED
    ).exists()
    second = prowzi("cancel", str(session.id))
    assert "nothing to do" in second.stdout
    assert _status(session.id) == SessionStatus.CANCELLED


def test_cancelled_session_resumes_from_its_checkpoints(workers, prowzi):
    slow = workers.start(PROWZI_FAULTS="writing:delay:30")
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)
    _wait_for(
        lambda: StageEvent.objects.filter(session=session, stage="writing").exists(),
        timeout=60,
    )
    prowzi("cancel", str(session.id))
    services.stop(slow.process)

    workers.start()
    resumed = prowzi("resume", str(session.id), "--wait")

    assert resumed.returncode == 0, resumed.stderr
    assert _status(session.id) == SessionStatus.COMPLETED
