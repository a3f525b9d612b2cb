"""Workflow metrics, derived from a session's stage events.

The shape is the operators' guide's: a workflow object with per-stage event
objects (stage, status, attempt, duration_seconds, timestamp, details, error).
Nothing here is stored twice; every figure is computed from the events.
"""

from datetime import datetime
from typing import Any

from django.utils import timezone
from pydantic import BaseModel, ConfigDict

from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent


class StageMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    status: str
    attempt: int
    duration_seconds: float | None
    timestamp: datetime
    details: dict[str, Any]
    error: str | None


class WorkflowMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str
    prompt: str
    started_at: datetime | None
    completed_at: datetime | None
    total_duration_seconds: float | None
    total_retries: int
    failed_stages: list[str]
    success: bool | None
    stages: list[StageMetrics]

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)


def workflow_metrics(session: ResearchSession) -> WorkflowMetrics:
    """Return the session's workflow metrics as of now."""
    events = list(session.events.order_by("seq"))
    return WorkflowMetrics(
        session_id=str(session.id),
        prompt=session.prompt,
        started_at=session.started_at,
        completed_at=session.completed_at,
        total_duration_seconds=_total_duration(session),
        total_retries=sum(event.status == EventStatus.RETRYING for event in events),
        failed_stages=failed_stages(events),
        success=_success(session),
        stages=[_stage_metrics(event) for event in events],
    )


def stage_table(events: list[StageEvent]) -> dict[str, StageEvent]:
    """Return each stage's latest event, in the order stages first appear."""
    latest: dict[str, StageEvent] = {}
    for event in events:
        latest[event.stage] = event
    return latest


def failed_stages(events: list[StageEvent]) -> list[str]:
    return [
        stage
        for stage, event in stage_table(events).items()
        if event.status == EventStatus.FAILED
    ]


def stages_completed(events: list[StageEvent]) -> int:
    done = {EventStatus.COMPLETED, EventStatus.SKIPPED}
    return sum(event.status in done for event in stage_table(events).values())


def _stage_metrics(event: StageEvent) -> StageMetrics:
    return StageMetrics(
        stage=event.stage,
        status=event.status,
        attempt=event.attempt,
        duration_seconds=event.duration_seconds,
        timestamp=event.timestamp,
        details=event.details,
        error=event.error or None,
    )


def _total_duration(session: ResearchSession) -> float | None:
    if session.started_at is None:
        return None

    end = session.completed_at
    if end is None and session.status == SessionStatus.RUNNING:
        end = timezone.now()
    if end is None:
        end = session.updated_at
    return round((end - session.started_at).total_seconds(), 3)


def _success(session: ResearchSession) -> bool | None:
    if session.status == SessionStatus.COMPLETED:
        return True
    if session.status in (SessionStatus.QUEUED, SessionStatus.RUNNING):
        return None
    return False
