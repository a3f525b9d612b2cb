"""Sessions whose worker dies are found and resumed by the watchdog alone."""

import os
import signal
import time
from collections.abc import Callable

import pytest

from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.recovery import recover
from research.sessions import create_session, enqueue, owner_pid
from tests.conftest import LITERATURE_REVIEW

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(condition: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s")


def _stage_started(session_id: object, stage: str) -> Callable[[], bool]:
    return lambda: StageEvent.objects.filter(
        session_id=session_id, stage=stage, status=EventStatus.STARTED
    ).exists()


def _horse_pid(session_id: object) -> int:
    pid = owner_pid(ResearchSession.objects.get(pk=session_id).lease_owner)
    assert pid is not None
    return pid


def _completed_once_each(session_id: object) -> bool:
    events = StageEvent.objects.filter(session_id=session_id)
    completed = list(
        events.filter(status=EventStatus.COMPLETED).values_list("stage", flat=True)
    )
    return len(completed) == len(set(completed))


@pytest.mark.parametrize("victims", ["worker and work-horse", "work-horse only"])
def test_session_of_a_killed_worker_resumes_on_another_within_30s(workers, victims):
    # Long enough to be killed inside; short enough if this worker, still
    # alive after losing only its work-horse, picks the resumed job up again.
    doomed = workers.start(PROWZI_FAULTS="writing:delay:8")
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)
    _wait_for(_stage_started(session.id, "writing"), timeout=60)
    workers.start()
    workers.start_watchdog()

    os.kill(_horse_pid(session.id), signal.SIGKILL)
    if victims == "worker and work-horse":
        os.killpg(doomed.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()

    _wait_for(lambda: ResearchSession.objects.get(pk=session.id).runs >= 2, timeout=30)
    assert time.monotonic() - killed_at < 30
    _wait_for(
        lambda: (
            ResearchSession.objects.get(pk=session.id).status == SessionStatus.COMPLETED
        ),
        timeout=90,
    )
    assert _completed_once_each(session.id)
    skipped = StageEvent.objects.filter(session_id=session.id, status="skipped")
    assert {"intent", "planning", "search", "verify"} <= set(
        skipped.values_list("stage", flat=True)
    )


def test_killing_only_the_worker_main_process_lets_the_job_finish(workers):
    doomed = workers.start(PROWZI_FAULTS="writing:delay:2")
    session = create_session(LITERATURE_REVIEW)
    enqueue(session)
    _wait_for(_stage_started(session.id, "writing"), timeout=60)

    os.kill(doomed.process.pid, signal.SIGKILL)

    _wait_for(
        lambda: (
            ResearchSession.objects.get(pk=session.id).status == SessionStatus.COMPLETED
        ),
        timeout=60,
    )
    assert ResearchSession.objects.get(pk=session.id).runs == 1
    assert _completed_once_each(session.id)


def test_queued_session_whose_job_was_lost_is_enqueued_again(workers):
    session = create_session(LITERATURE_REVIEW)
    ResearchSession.objects.filter(pk=session.pk).update(
        updated_at=session.created_at.replace(year=2000)
    )

    report = recover()

    assert report.requeued == [str(session.id)]
    workers.start()
    _wait_for(
        lambda: (
            ResearchSession.objects.get(pk=session.id).status == SessionStatus.COMPLETED
        ),
        timeout=60,
    )
