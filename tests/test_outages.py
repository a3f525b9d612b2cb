"""Redis down at submit time, and stages that run past their time limit."""

import time

import pytest

from prowzi_site.services import free_port
from research.models import ResearchSession, SessionStatus
from research.recovery import recover
from tests.conftest import LITERATURE_REVIEW

pytestmark = pytest.mark.django_db(transaction=True)


def test_submit_with_redis_down_keeps_the_session_and_says_so(prowzi, workers):
    dead = f"redis://127.0.0.1:{free_port()}/0"

    result = prowzi("run", LITERATURE_REVIEW, REDIS_URL=dead)

    assert result.returncode == 1
    assert "cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr
    session = ResearchSession.objects.get()
    assert session.status == SessionStatus.QUEUED

    ResearchSession.objects.filter(pk=session.pk).update(
        updated_at=session.created_at.replace(year=2000)
    )
    assert recover().requeued == [str(session.id)]
    workers.start()
    deadline = time.monotonic() + 60
    while session.status != SessionStatus.COMPLETED and time.monotonic() < deadline:
        time.sleep(0.2)
        session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED


def test_stage_past_its_time_limit_is_recorded_and_resumable(workers, prowzi):
    workers.start(PROWZI_FAULTS="verify:delay:5", PROWZI_STAGE_TIMEOUT="1")

    run = prowzi("run", LITERATURE_REVIEW, "--wait")

    assert run.returncode == 1
    session = ResearchSession.objects.get()
    assert session.status == SessionStatus.FAILED
    assert "verify timed out after" in session.error
    failed = session.events.get(stage="verify", status="failed")
    assert failed.duration_seconds >= 1
    assert session.checkpoints.count() == 3
