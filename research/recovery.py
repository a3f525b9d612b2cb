"""Finding sessions that RQ would leave stuck, and putting them back to work.

RQ notices a dead worker's job only minutes later, and loses jobs when Redis
restarts without persistence. The database knows better: a running session
whose lease ran out has lost its worker, and a queued session with no job on
the queue will never start. One pass of recover() fixes both; the watchdog
process runs it every few seconds.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from research.exceptions import ProwziError
from research.models import ResearchSession, SessionStatus
from research.sessions import (
    enqueue,
    lease_is_dead,
    mark_interrupted,
    queued_job_ids,
    request_resume,
)

logger = logging.getLogger(__name__)

# A queued session younger than this may have its job on the way to Redis.
QUEUED_GRACE = timedelta(seconds=10)


@dataclass
class RecoveryReport:
    interrupted: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)


def recover() -> RecoveryReport:
    """Run one recovery pass and say what it did."""
    report = RecoveryReport()
    _recover_running(report)
    _recover_queued(report)
    return report


def _recover_running(report: RecoveryReport) -> None:
    for session in ResearchSession.objects.filter(status=SessionStatus.RUNNING):
        if not lease_is_dead(session):
            continue
        reason = f"its worker ({session.lease_owner}) stopped renewing its lease"
        if not mark_interrupted(session, reason):
            continue
        report.interrupted.append(str(session.id))

        if settings.PROWZI_AUTO_RESUME and session.checkpointing:
            _resume(session, report)


def _resume(session: ResearchSession, report: RecoveryReport) -> None:
    try:
        enqueue(request_resume(session))
    except ProwziError as error:
        logger.warning("Session %s not resumed automatically: %s", session.id, error)
        return
    report.resumed.append(str(session.id))


def _recover_queued(report: RecoveryReport) -> None:
    cutoff = timezone.now() - QUEUED_GRACE
    stale = ResearchSession.objects.filter(
        status=SessionStatus.QUEUED, updated_at__lt=cutoff
    )
    if not stale.exists():
        return

    on_queue = queued_job_ids()
    for session in stale:
        if str(session.id) in on_queue:
            continue
        logger.warning("Session %s was queued but had no job; enqueuing", session.id)
        try:
            enqueue(session)
        except ProwziError as error:
            logger.warning("Session %s not re-enqueued: %s", session.id, error)
            continue
        ResearchSession.objects.filter(pk=session.pk).update(updated_at=timezone.now())
        report.requeued.append(str(session.id))


def watch(interval: float, passes: int | None = None) -> None:
    """Run recovery passes forever (or `passes` times), logging what each did."""
    done = 0
    while passes is None or done < passes:
        close_old_connections()
        try:
            report = recover()
        except Exception:
            # The watchdog must outlive a passing database or Redis outage.
            logger.exception("Recovery pass failed; trying again in %.0fs", interval)
        else:
            if report.interrupted or report.requeued:
                logger.warning("Recovery: %s", report)
        done += 1
        time.sleep(interval)
