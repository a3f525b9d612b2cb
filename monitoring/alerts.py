"""Alerts: too many retries, a stage much slower than usual, a failed session.

Each is logged at warning, naming the session and stage, when the event that
raises it is stored; session_alerts() derives the same flags for the pages.
"""

import logging
import statistics
import uuid

from django.conf import settings

from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent

logger = logging.getLogger(__name__)

# Fewer earlier runs than this say too little about a stage's usual time.
MIN_SAMPLES = 5
SAMPLE_SIZE = 50


def check_event(event: StageEvent) -> None:
    """Log the alert this newly stored event raises, if any."""
    if event.status == EventStatus.RETRYING:
        retries = StageEvent.objects.filter(
            session_id=event.session_id, status=EventStatus.RETRYING
        ).count()
        if retries == settings.PROWZI_ALERT_RETRIES + 1:
            logger.warning(
                "Alert: session %s passed %d retries (stage %s)",
                event.session_id,
                settings.PROWZI_ALERT_RETRIES,
                event.stage,
            )
    elif event.status == EventStatus.COMPLETED:
        usual = usual_duration(event.stage, exclude_session=event.session_id)
        if usual and _is_slow(event.duration_seconds, usual):
            logger.warning(
                "Alert: session %s stage %s took %.2fs, usual %.2fs",
                event.session_id,
                event.stage,
                event.duration_seconds,
                usual,
            )
    elif event.status == EventStatus.FAILED:
        logger.warning(
            "Alert: session %s failed at stage %s: %s",
            event.session_id,
            event.stage,
            event.error,
        )


def session_alerts(session: ResearchSession) -> list[str]:
    """Return the alerts that apply to the session, as sentences for a page."""
    alerts = []
    events = list(session.events.order_by("seq"))
    retries = sum(event.status == EventStatus.RETRYING for event in events)
    if retries > settings.PROWZI_ALERT_RETRIES:
        alerts.append(
            f"{retries} retries, more than the alert threshold of "
            f"{settings.PROWZI_ALERT_RETRIES}."
        )

    for event in events:
        if event.status != EventStatus.COMPLETED:
            continue
        usual = usual_duration(event.stage, exclude_session=session.pk)
        if usual and _is_slow(event.duration_seconds, usual):
            factor = settings.PROWZI_ALERT_SLOW_FACTOR
            alerts.append(
                f"Stage {event.stage} took {event.duration_seconds:.2f}s, more "
                f"than {factor:g} times its usual {usual:.2f}s."
            )

    if session.status == SessionStatus.FAILED:
        alerts.append(f"The session failed: {session.error}")
    return alerts


def usual_duration(stage: str, exclude_session: uuid.UUID) -> float | None:
    """Median duration of the stage's recent completed attempts elsewhere."""
    durations = list(
        StageEvent.objects.filter(
            stage=stage, status=EventStatus.COMPLETED, duration_seconds__isnull=False
        )
        .exclude(session_id=exclude_session)
        .order_by("-id")
        .values_list("duration_seconds", flat=True)[:SAMPLE_SIZE]
    )
    if len(durations) < MIN_SAMPLES:
        return None
    return float(statistics.median(d for d in durations if d is not None))


def _is_slow(duration: float | None, usual: float) -> bool:
    return duration is not None and duration > settings.PROWZI_ALERT_SLOW_FACTOR * usual
