"""Workflow metrics, derived from a session's stage events.

The shape is the operators' guide's: a workflow object with per-stage event
objects (stage, status, attempt, duration_seconds, timestamp, details, error).
Nothing here is stored twice; every figure is computed from the events.
"""

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict

from monitoring.mirror import telemetry_path, write_telemetry_file
from research.config import get_config
from research.exceptions import (
    InvalidRequestError,
    SessionNotFoundError,
    SessionStateError,
)
from research.leases import Lease, claim, record_event
from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.sessions import create_session, find_session


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


class TelemetryCollector:
    """The operators' guide's telemetry API, over the same stage-event rows.

    For code that runs its own stages and wants them watched like Prowzi's:
    start_session() opens a session held by this process (it is marked
    interrupted if the process dies), record_stage_event() adds events,
    complete_session() closes it. Metrics are also mirrored as JSON files
    in output_dir/telemetry/.
    """

    def __init__(self, output_dir: Path | None = None) -> None:
        config = get_config()
        if output_dir is not None:
            config.checkpoint_dir = Path(output_dir)
        self.config = config
        self._leases: dict[str, Lease] = {}

    def start_session(self, session_id: str, prompt: str) -> None:
        session = ResearchSession.objects.filter(pk=_uuid(session_id)).first()
        if session is None:
            session = create_session(prompt, session_id=_uuid(session_id))
        lease = claim(session.pk)
        if lease is None:
            raise SessionStateError(
                f"Session {session_id} is {session.status}; it cannot be started."
            )
        self._leases[str(session.pk)] = lease

    def record_stage_event(
        self,
        session_id: str,
        stage: str,
        status: str,
        duration: float | None = None,
        attempt: int = 1,
        details: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        if status not in EventStatus.values:
            known = ", ".join(EventStatus.values)
            raise InvalidRequestError(f"Unknown status {status!r}; use one of {known}.")
        record_event(
            self._lease(session_id),
            stage,
            status,
            attempt=attempt,
            duration_seconds=duration,
            details=details,
            error=error,
        )

    def complete_session(
        self, session_id: str, success: bool, total_duration: float | None = None
    ) -> None:
        lease = self._lease(session_id)
        session = ResearchSession.objects.get(pk=lease.session_id)
        started = session.started_at or timezone.now()
        finished = (
            started + timedelta(seconds=total_duration)
            if total_duration is not None
            else timezone.now()
        )
        with transaction.atomic():
            lease.fenced()
            ResearchSession.objects.filter(pk=session.pk).update(
                status=SessionStatus.COMPLETED if success else SessionStatus.FAILED,
                completed_at=finished,
                lease_token=None,
                lease_expires_at=None,
            )
        del self._leases[str(lease.session_id)]
        write_telemetry_file(ResearchSession.objects.get(pk=session.pk), self.config)

    def get_session_metrics(self, session_id: str) -> WorkflowMetrics:
        return workflow_metrics(find_session(session_id))

    def load_session(self, session_id: str) -> WorkflowMetrics:
        """Return a session's metrics from the database, else from its file."""
        try:
            return self.get_session_metrics(session_id)
        except SessionNotFoundError:
            path = telemetry_path(self.config.checkpoint_dir, session_id)
            if not path.exists():
                raise
            return WorkflowMetrics.model_validate_json(path.read_text("utf-8"))

    def _lease(self, session_id: str) -> Lease:
        lease = self._leases.get(str(_uuid(session_id)))
        if lease is None:
            raise SessionStateError(
                f"Session {session_id} was not started by this collector."
            )
        return lease


def _uuid(session_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(session_id))
    except ValueError:
        raise InvalidRequestError(
            f"{session_id!r} is not a session id; sessions are named by UUID."
        ) from None
