"""Keeping storage bounded: removing old sessions' checkpoints and mirror files.

Run from cron, for example nightly:
    15 3 * * *  cd /srv/prowzi && .venv/bin/prowzi cleanup --older-than 7d
Queued and running sessions are never touched, whatever their age.
"""

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from monitoring.mirror import checkpoint_path, telemetry_path
from research.config import get_config
from research.exceptions import InvalidRequestError
from research.models import Checkpoint, ResearchSession, SessionStatus
from research.stages import STAGES
from research.wording import counted

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass
class RetentionReport:
    sessions: int = 0
    checkpoints: int = 0
    files: int = 0
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "Would remove" if self.dry_run else "Removed"
        return (
            f"{verb} {counted(self.checkpoints, 'checkpoint')} and "
            f"{counted(self.files, 'mirror file')} of "
            f"{counted(self.sessions, 'session')}."
        )


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if not match:
        raise InvalidRequestError(
            f"{text!r} is not an age; write a number and a unit, as in 7d, 12h or 30m."
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def cleanup(
    age: timedelta, *, dry_run: bool = False, delete_sessions: bool = False
) -> RetentionReport:
    cutoff = timezone.now() - age
    old = ResearchSession.objects.filter(updated_at__lt=cutoff).exclude(
        status__in=[SessionStatus.QUEUED, SessionStatus.RUNNING]
    )
    report = RetentionReport(dry_run=dry_run)
    last_pk = None
    while True:
        batch = old.order_by("pk")
        if last_pk is not None:
            batch = batch.filter(pk__gt=last_pk)
        ids = list(batch.values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            break
        last_pk = ids[-1]
        _remove_batch(ids, report, dry_run, delete_sessions)

    logger.info("Retention (%s and older): %s", age, report)
    return report


def _remove_batch(
    ids: list[uuid.UUID], report: RetentionReport, dry_run: bool, delete_sessions: bool
) -> None:
    checkpoints = Checkpoint.objects.filter(session_id__in=ids)
    report.sessions += len(ids)
    report.checkpoints += checkpoints.count()
    report.files += _remove_files(ids, dry_run)
    if dry_run:
        return

    with transaction.atomic():
        if delete_sessions:
            ResearchSession.objects.filter(pk__in=ids).delete()
        else:
            checkpoints.delete()


def _remove_files(ids: list[uuid.UUID], dry_run: bool) -> int:
    directory = get_config().checkpoint_dir
    removed = 0
    for session_id in ids:
        paths = [checkpoint_path(directory, session_id, stage) for stage in STAGES]
        paths.append(telemetry_path(directory, session_id))
        for path in paths:
            if not path.exists():
                continue
            removed += 1
            if not dry_run:
                path.unlink(missing_ok=True)
    return removed
