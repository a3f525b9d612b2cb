"""Workflow metrics derived from stage events, in the operators' guide's shape."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.telemetry import stages_completed, workflow_metrics
from research.models import ResearchSession, SessionStatus, StageEvent
from research.sessions import create_session

pytestmark = pytest.mark.django_db


def _event(session: ResearchSession, seq: int, stage: str, status: str, **kw) -> None:
    StageEvent.objects.create(
        session=session,
        seq=seq,
        stage=stage,
        status=status,
        timestamp=timezone.now(),
        **kw,
    )


def test_metrics_count_retries_and_name_failed_stages():
    session = create_session("Write about the power grid")
    started = timezone.now() - timedelta(seconds=30)
    ResearchSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.FAILED, started_at=started
    )
    session.refresh_from_db()
    _event(session, 1, "intent", "started")
    _event(session, 2, "intent", "completed", duration_seconds=0.5)
    _event(session, 3, "planning", "started")
    _event(session, 4, "planning", "retrying", error="timeout")
    _event(session, 5, "planning", "started", attempt=2)
    _event(session, 6, "planning", "failed", attempt=2, error="gave up")

    metrics = workflow_metrics(session)

    assert metrics.total_retries == 1
    assert metrics.failed_stages == ["planning"]
    assert metrics.success is False
    assert [stage.status for stage in metrics.stages][-1] == "failed"
    assert metrics.total_duration_seconds is not None
    assert stages_completed(list(session.events.all())) == 1


def test_metrics_of_a_running_session_report_success_as_unknown():
    session = create_session("Write about the power grid")
    ResearchSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING, started_at=timezone.now()
    )
    session.refresh_from_db()

    metrics = workflow_metrics(session)

    assert metrics.success is None
    assert metrics.completed_at is None
    assert metrics.stages == []


def test_metrics_json_uses_null_for_missing_values_and_z_times():
    session = create_session("Write about the power grid")
    _event(session, 1, "intent", "started")

    payload = workflow_metrics(session).model_dump(mode="json")

    assert payload["started_at"] is None
    assert payload["stages"][0]["error"] is None
    assert payload["stages"][0]["duration_seconds"] is None
    assert payload["stages"][0]["timestamp"].endswith("Z")
