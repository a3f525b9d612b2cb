"""How a session's progress reads: the stage table, the summary, history rows.

Shared by the web pages, the list stream and the terminal monitor, so that all
three say the same thing. static/monitoring/session_detail.js repeats the
stage-row rules for live updates; keep the two in step.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.stages import STAGES

ACTIVE_STATUSES = (SessionStatus.QUEUED, SessionStatus.RUNNING)
SYMBOLS = {
    "completed": "✓",
    "skipped": "✓",
    "running": "⟳",
    "retrying": "⟳",
    "pending": "⋯",
    "failed": "✗",
    "stopped": "✗",
}
PROMPT_PREVIEW_CHARS = 80


@dataclass(frozen=True)
class StageRow:
    stage: str
    state: str  # a key of SYMBOLS
    attempt: int | None
    duration_seconds: float | None
    details: str

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.state]


@dataclass(frozen=True)
class Summary:
    total_duration_seconds: float | None
    stages_completed: int
    total_retries: int
    outcome: str  # "Success", "In Progress" or why it did not succeed

    @property
    def stages_total(self) -> int:
        return len(STAGES)


def stage_rows(session: ResearchSession, events: list[StageEvent]) -> list[StageRow]:
    """Return one row per stage, in pipeline order, from the session's events."""
    latest: dict[str, StageEvent] = {}
    durations: dict[str, float] = {}
    for event in events:
        latest[event.stage] = event
        if event.duration_seconds is not None:
            durations[event.stage] = durations.get(event.stage, 0.0)
            durations[event.stage] += event.duration_seconds

    active = session.status in ACTIVE_STATUSES
    rows = []
    for stage in STAGES:
        last = latest.get(stage)
        if last is None:
            rows.append(StageRow(stage, "pending", None, None, "Pending"))
            continue
        state = _state(last.status, active)
        details = describe(stage, state, last.details, last.error)
        rows.append(StageRow(stage, state, last.attempt, durations.get(stage), details))
    return rows


def _state(status: str, active: bool) -> str:
    if status == EventStatus.STARTED:
        return "running" if active else "stopped"
    if status == EventStatus.RETRYING:
        return "retrying" if active else "stopped"
    return status


def describe(stage: str, state: str, details: dict[str, Any], error: str) -> str:
    """Say in a few words what a stage's latest event means."""
    if state == "pending":
        return "Pending"
    if state == "running":
        return "Running..."
    if state == "retrying":
        return "Retrying..."
    if state == "stopped":
        return "Stopped"
    if state == "skipped":
        return "Restored from checkpoint"
    if state == "failed":
        return error or "Failed"
    return _completed_details(stage, details)


def _completed_details(stage: str, details: dict[str, Any]) -> str:
    if stage == "search" and "sources_count" in details:
        return f"Sources: {details['sources_count']}"
    if stage == "verify" and "sources_verified" in details:
        dropped = details.get("sources_dropped", 0)
        return f"Verified: {details['sources_verified']}, dropped: {dropped}"
    if stage == "writing" and "word_count" in details:
        citations = details.get("citations", 0)
        return f"Words: {details['word_count']}, citations: {citations}"
    if stage == "evaluation" and "score" in details:
        revised = ", revised" if details.get("revised") else ""
        return f"Score: {details['score']}{revised}"
    if stage == "turnitin" and "similarity_index" in details:
        return f"Similarity: {float(details['similarity_index']) * 100:.1f}%"
    return ""


def session_duration(session: ResearchSession) -> float | None:
    """Seconds from the session's start to its end, or to now while it runs."""
    if session.started_at is None:
        return None

    end = session.completed_at
    if end is None:
        running = session.status == SessionStatus.RUNNING
        end = timezone.now() if running else session.updated_at
    return round((end - session.started_at).total_seconds(), 3)


def summarize(session: ResearchSession, events: list[StageEvent]) -> Summary:
    rows = stage_rows(session, events)
    return Summary(
        total_duration_seconds=session_duration(session),
        stages_completed=sum(row.state in ("completed", "skipped") for row in rows),
        total_retries=sum(event.status == EventStatus.RETRYING for event in events),
        outcome=outcome(session.status),
    )


def outcome(status: str) -> str:
    if status == SessionStatus.COMPLETED:
        return "Success"
    if status in ACTIVE_STATUSES:
        return "In Progress"
    return f"No ({SessionStatus(status).label.lower()})"


def format_duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}s"


def with_progress(sessions: QuerySet[ResearchSession]) -> QuerySet[ResearchSession]:
    """Add retry and finished-stage counts to each row, in the same query.

    A stage counts once it has a completed or skipped event; the pipeline
    never runs a finished stage again within a session, so this matches the
    stage table. The counts are subqueries rather than a join with GROUP BY,
    so the database computes them only for the rows a page shows instead of
    grouping every session's events first.
    """
    finished = [EventStatus.COMPLETED, EventStatus.SKIPPED]
    return sessions.annotate(
        retries=_event_count(Count("pk"), status=EventStatus.RETRYING),
        stages_done=_event_count(Count("stage", distinct=True), status__in=finished),
    )


def _event_count(aggregate: Count, **filters: Any) -> Coalesce:
    counted = (
        StageEvent.objects.filter(session=OuterRef("pk"), **filters)
        .order_by()
        .values("session")
        .annotate(figure=aggregate)
        .values("figure")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def history_row(session: ResearchSession) -> dict[str, Any]:
    """The fields of a history-page row, for the list stream; needs
    with_progress() annotations."""
    return {
        "id": str(session.id),
        "short_id": session.short_id,
        "url": reverse("monitoring-session-detail", args=[session.id]),
        "prompt": _preview(session.prompt),
        "status": session.status,
        "status_display": session.get_status_display(),
        "current_stage": session.current_stage,
        "retries": getattr(session, "retries", 0),
        "stages_done": getattr(session, "stages_done", 0),
        "stages_total": len(STAGES),
        "duration": format_duration(session_duration(session)),
        "created_at": timezone.localtime(session.created_at).strftime("%Y-%m-%d %H:%M"),
    }


def _preview(prompt: str) -> str:
    text = " ".join(prompt.split())
    if len(text) <= PROMPT_PREVIEW_CHARS:
        return text
    return text[: PROMPT_PREVIEW_CHARS - 1].rstrip() + "…"
