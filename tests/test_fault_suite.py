"""The fault suite: real worker processes killed, stalled, raced and cut off
from Redis. After each fault the session completes with every stage
completed exactly once, no checkpoint lost, and the same report as an
uninterrupted run.

Repeat it to shake out timing luck:
    for i in $(seq 20); do .venv/bin/pytest tests/test_fault_suite.py -q || break; done
"""

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from prowzi_site import services
from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.sessions import create_session, enqueue, owner_pid
from research.stages import STAGES
from tests.conftest import LITERATURE_REVIEW, Workers

pytestmark = pytest.mark.django_db(transaction=True)

_reference: dict[str, str] = {}


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s")


def _session(session_id: Any) -> ResearchSession:
    return ResearchSession.objects.get(pk=session_id)


def _started(session_id: Any, stage: str) -> Callable[[], bool]:
    return lambda: StageEvent.objects.filter(
        session_id=session_id, stage=stage, status=EventStatus.STARTED
    ).exists()


def _completed(session_id: Any) -> Callable[[], bool]:
    return lambda: _session(session_id).status == SessionStatus.COMPLETED


def _horse_pid(session_id: Any) -> int:
    pid = owner_pid(_session(session_id).lease_owner)
    assert pid is not None
    return pid


def _reference_report(workers: Workers) -> str:
    """The report of an uninterrupted run, computed once for the module."""
    if "report" not in _reference:
        session = create_session(LITERATURE_REVIEW)
        enqueue(session)
        _wait_for(_completed(session.id), timeout=120)
        _reference["report"] = _session(session.id).report
    return _reference["report"]


def _assert_whole(session_id: Any, workers: Workers) -> None:
    session = _session(session_id)
    assert session.status == SessionStatus.COMPLETED
    completed = list(
        StageEvent.objects.filter(
            session_id=session_id, status=EventStatus.COMPLETED
        ).values_list("stage", flat=True)
    )
    assert sorted(completed) == sorted(STAGES), completed
    assert session.checkpoints.count() == len(STAGES)
    assert session.report == _reference_report(workers)


def _kill(mode: str, session_id: Any, worker_pid: int) -> None:
    horse = _horse_pid(session_id)
    if mode in ("everything", "work-horse only"):
        os.kill(horse, signal.SIGKILL)
    if mode in ("everything", "main process only"):
        os.killpg(worker_pid, signal.SIGKILL)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("mode", ["everything", "main process only", "work-horse only"])
def test_session_survives_sigkill(workers, mode, stage):
    workers.start()
    workers.start_watchdog()
    reference = _reference_report(workers)
    services.stop(workers.started[0].process)
    doomed = workers.start(PROWZI_FAULTS=f"{stage}:delay:3")
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)
    _wait_for(_started(session.id, stage), timeout=60)

    _kill(mode, session.id, doomed.process.pid)
    workers.start()

    _wait_for(_completed(session.id), timeout=90)
    _assert_whole(session.id, workers)
    assert _session(session.id).report == reference


def test_stalled_worker_that_wakes_late_writes_nothing(workers):
    reference_worker = workers.start()
    _reference_report(workers)
    services.stop(reference_worker.process)
    stalled = workers.start(PROWZI_FAULTS="writing:delay:2")
    workers.start_watchdog()
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)
    _wait_for(_started(session.id, "writing"), timeout=60)
    horse = _horse_pid(session.id)

    os.kill(horse, signal.SIGSTOP)
    os.kill(stalled.process.pid, signal.SIGSTOP)
    workers.start()
    _wait_for(_completed(session.id), timeout=90)
    os.kill(horse, signal.SIGCONT)
    os.kill(stalled.process.pid, signal.SIGCONT)
    time.sleep(4)

    _assert_whole(session.id, workers)
    assert _session(session.id).runs == 2


def test_two_workers_racing_for_one_session_run_it_once(workers):
    workers.start()
    workers.start()
    _reference_report(workers)
    session = create_session(LITERATURE_REVIEW)

    enqueue(session)
    enqueue(session)

    _wait_for(_completed(session.id), timeout=90)
    time.sleep(2)
    _assert_whole(session.id, workers)
    assert _session(session.id).runs == 1


def test_session_completes_across_a_redis_restart(workers, redis_control):
    workers.start()
    _reference_report(workers)
    services.stop(workers.started[0].process)
    workers.start(PROWZI_FAULTS="writing:delay:3")
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)
    _wait_for(_started(session.id, "writing"), timeout=60)

    redis_control.stop()
    time.sleep(1)
    redis_control.start()

    _wait_for(_completed(session.id), timeout=90)
    _assert_whole(session.id, workers)
    after = create_session(LITERATURE_REVIEW)
    enqueue(after)
    _wait_for(_completed(after.id), timeout=90)
