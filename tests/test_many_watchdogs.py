"""Several watchdogs at once: each session is recovered once, and runs once."""

import os
import signal
import time
import uuid
from collections.abc import Callable

import pytest

from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.sessions import create_session, enqueue, owner_pid
from research.stages import STAGES
from tests.conftest import LITERATURE_REVIEW, Workers

pytestmark = pytest.mark.django_db(transaction=True)

WATCHDOGS = 3


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s")


def _status(session_id: uuid.UUID) -> str:
    return str(ResearchSession.objects.get(pk=session_id).status)


def _completed_stages(session_id: uuid.UUID) -> list[str]:
    events = StageEvent.objects.filter(
        session_id=session_id, status=EventStatus.COMPLETED
    )
    return list(events.values_list("stage", flat=True))


def test_several_watchdogs_resume_a_dead_workers_session_exactly_once(
    workers: Workers,
) -> None:
    doomed = workers.start(PROWZI_FAULTS="writing:delay:8")
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)
    _wait_for(
        lambda: StageEvent.objects.filter(session=session, stage="writing").exists(),
        timeout=60,
    )
    workers.start()
    for _ in range(WATCHDOGS):
        workers.start_watchdog()

    horse = owner_pid(ResearchSession.objects.get(pk=session.id).lease_owner)
    assert horse is not None
    os.kill(horse, signal.SIGKILL)
    os.killpg(doomed.process.pid, signal.SIGKILL)
    _wait_for(lambda: _status(session.id) == SessionStatus.COMPLETED, timeout=90)

    assert ResearchSession.objects.get(pk=session.id).runs == 2
    completed = _completed_stages(session.id)
    assert sorted(completed) == sorted(STAGES)


def test_several_watchdogs_enqueue_lost_jobs_and_each_session_runs_once(
    workers: Workers,
) -> None:
    sessions = [create_session(LITERATURE_REVIEW) for _ in range(4)]
    # Queued long ago with no job on the queue, as after a Redis restart.
    ResearchSession.objects.filter(pk__in=[s.pk for s in sessions]).update(
        updated_at=sessions[0].created_at.replace(year=2000)
    )
    for _ in range(WATCHDOGS):
        workers.start_watchdog()
    workers.start()
    workers.start()

    ids = [session.id for session in sessions]
    _wait_for(lambda: all(_status(id_) == SessionStatus.COMPLETED for id_ in ids), 120)
    for session in sessions:
        assert ResearchSession.objects.get(pk=session.id).runs == 1
        assert sorted(_completed_stages(session.id)) == sorted(STAGES)
