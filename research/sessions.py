"""Creating, finding, queueing and resuming research sessions."""

import functools
import hashlib
import json
import logging
import os
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from research.exceptions import (
    AmbiguousSessionError,
    InvalidRequestError,
    QueueUnavailableError,
    SessionNotFoundError,
    SessionStateError,
)
from research.models import ResearchSession, SessionStatus
from research.requests import clean_options, clean_prompt
from research.schemas import SCHEMA_VERSION, ResearchOptions

logger = logging.getLogger(__name__)

# Bump when a stage's behaviour changes so that old checkpoints, made by
# other code, are refused instead of being mixed into a new report.
PIPELINE_VERSION = "1.0"

JOB_PREFIX = "session-"


def fingerprint(prompt: str, options: ResearchOptions) -> str:
    payload = {
        "prompt": prompt,
        "options": options.model_dump(mode="json"),
        "pipeline_version": PIPELINE_VERSION,
        "schema_version": SCHEMA_VERSION,
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def create_session(
    prompt: str,
    options: dict[str, Any] | None = None,
    *,
    owner: User | None = None,
    checkpointing: bool | None = None,
    parent: ResearchSession | None = None,
    session_id: uuid.UUID | None = None,
) -> ResearchSession:
    """Validate the request and store a queued session (not yet enqueued)."""
    text = clean_prompt(prompt)
    cleaned = clean_options(options)
    if checkpointing is None:
        checkpointing = bool(settings.PROWZI_ENABLE_CHECKPOINTING)

    return ResearchSession.objects.create(
        id=session_id or uuid.uuid4(),
        prompt=text,
        options=cleaned.model_dump(mode="json", exclude_defaults=True),
        owner=owner,
        checkpointing=checkpointing,
        fingerprint=fingerprint(text, cleaned),
        pipeline_version=PIPELINE_VERSION,
        parent=parent,
    )


def session_options(session: ResearchSession) -> ResearchOptions:
    return ResearchOptions.model_validate(session.options)


def find_session(reference: str) -> ResearchSession:
    """Return the session whose id is reference or starts with it; the dots
    of a shortened id as `prowzi sessions` shows it ("5a79a773...") may stay."""
    prefix = reference.strip().rstrip(".…").lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef-" for c in prefix):
        raise SessionNotFoundError(
            f"{reference!r} is not a session id (give at least 4 hex characters)."
        )

    matches = list(ResearchSession.objects.filter(id__istartswith=prefix)[:6])
    if not matches:
        raise SessionNotFoundError(f"No session matches {reference!r}.")
    if len(matches) > 1:
        names = ", ".join(sorted(str(match.id) for match in matches[:5]))
        raise AmbiguousSessionError(
            f"{reference!r} matches more than one session ({names}); "
            "give more characters."
        )
    return matches[0]


def enqueue(session: ResearchSession) -> None:
    """Put the session's id on the work queue; the row stays the truth."""
    import django_rq
    from redis.exceptions import RedisError

    from research.jobs import run_session_job

    queue = django_rq.get_queue(settings.PROWZI_QUEUE)
    try:
        queue.enqueue(
            run_session_job,
            str(session.id),
            job_id=f"{JOB_PREFIX}{session.id}-{uuid.uuid4().hex[:8]}",
            job_timeout=settings.RQ_QUEUES[settings.PROWZI_QUEUE]["DEFAULT_TIMEOUT"],
            description=f"research session {session.id}",
        )
    except RedisError as error:
        logger.warning("Could not enqueue session %s: %s", session.id, error)
        raise QueueUnavailableError(
            f"The job queue at {settings.REDIS_URL} cannot be reached ({error}); "
            f"session {session.id} is stored and can be resumed when it is back."
        ) from error

    logger.info("Enqueued session %s", session.id)


def queued_job_ids() -> set[str]:
    """Return the ids of sessions that have a job waiting or running in RQ."""
    import django_rq
    from rq.registry import StartedJobRegistry

    queue = django_rq.get_queue(settings.PROWZI_QUEUE)
    started = StartedJobRegistry(queue=queue)
    job_ids = [*queue.get_job_ids(), *started.get_job_ids()]
    return {
        job_id[len(JOB_PREFIX) : len(JOB_PREFIX) + 36]
        for job_id in job_ids
        if job_id.startswith(JOB_PREFIX)
    }


def lease_is_dead(session: ResearchSession) -> bool:
    """Tell whether a running session's holder has stopped renewing its lease.

    A holder on this host whose process is gone is dead at once; otherwise
    the lease must have expired.
    """
    if session.status != SessionStatus.RUNNING:
        return False

    if session.lease_expires_at is None or session.lease_expires_at < timezone.now():
        return True

    pid = owner_pid_on_this_machine(session.lease_owner)
    if pid is not None:
        return not _process_alive(pid)
    return False


def mark_interrupted(session: ResearchSession, reason: str) -> bool:
    """Mark a running session whose holder died as interrupted; True if done."""
    changed = ResearchSession.objects.filter(
        pk=session.pk,
        status=SessionStatus.RUNNING,
        lease_token=session.lease_token,
    ).update(
        status=SessionStatus.INTERRUPTED,
        error=reason,
        lease_token=None,
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    if changed:
        logger.warning("Session %s interrupted: %s", session.id, reason)
    return changed == 1


def request_resume(session: ResearchSession) -> ResearchSession:
    """Queue a stopped session again; exactly one of racing requests wins."""
    if not session.checkpointing:
        raise SessionStateError(
            f"Session {session.id} was started without checkpointing, so it "
            "cannot be resumed; start a new run instead."
        )

    if lease_is_dead(session):
        mark_interrupted(session, f"its worker ({session.lease_owner}) stopped")
        session.refresh_from_db()

    changed = ResearchSession.objects.filter(
        Q(pk=session.pk) & Q(status__in=SessionStatus.resumable())
    ).update(status=SessionStatus.QUEUED, error="", updated_at=timezone.now())
    session.refresh_from_db()
    if not changed:
        raise SessionStateError(
            f"Session {session.id} is {session.status}; only failed, interrupted "
            "or cancelled sessions can be resumed."
        )

    logger.info("Session %s queued for resume", session.id)
    return session


def lease_deadline() -> Any:
    return timezone.now() + timedelta(seconds=settings.PROWZI_LEASE_SECONDS)


def lease_owner_name() -> str:
    """Name this process as a lease holder: ``host:pid:machine``.

    The host name is for people reading the admin; the machine identity
    (boot id and PID namespace) is what makes a pid comparable, so two
    containers or hosts that share a host name never judge each other's
    processes.
    """
    return f"{_hostname()}:{os.getpid()}:{machine_identity()}"


def owner_pid(owner: str) -> int | None:
    """The process id in a lease owner name, or None when it has none."""
    parts = owner.split(":")
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1])


def owner_pid_on_this_machine(owner: str) -> int | None:
    """The owner's pid when it names a process this one can see, else None."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[2] != machine_identity():
        return None
    return owner_pid(owner)


@functools.cache
def machine_identity() -> str:
    """Identify this kernel boot and PID namespace (pids mean nothing outside).

    Falls back to the host name alone where /proc is missing, which keeps
    the fast path off for owners from elsewhere only as far as host names
    are unique.
    """
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip().replace("-", "")[:12]
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return _hostname().replace(":", "_")
    return f"{boot}.{namespace}"


def _hostname() -> str:
    return os.uname().nodename.replace(":", "_")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_a_zombie(pid)


def _not_a_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def cancel_session(session: ResearchSession) -> bool:
    """Cancel a queued or running session; False if it had already ended.

    A queued session's job finds it cancelled and does nothing. A running
    one loses its lease, so its worker stops at the next safe point (the
    next heartbeat or write) and commits nothing more. Checkpoints stay.
    """
    changed = ResearchSession.objects.filter(
        pk=session.pk, status__in=[SessionStatus.QUEUED, SessionStatus.RUNNING]
    ).update(
        status=SessionStatus.CANCELLED,
        error="cancelled on request",
        lease_token=None,
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    session.refresh_from_db()
    if changed:
        from monitoring.broadcast import publish_session

        logger.info("Session %s cancelled", session.id)
        transaction.on_commit(lambda: publish_session(session.id))
    return changed == 1


def fork_session(
    session: ResearchSession, from_stage: str, owner: User | None = None
) -> ResearchSession:
    """Start a new session that reuses the checkpoints before from_stage."""
    from research.checkpoints import load_results, new_checkpoint
    from research.stages import STAGES

    if from_stage not in STAGES:
        raise InvalidRequestError(
            f"Unknown stage {from_stage!r}; stages are {', '.join(STAGES)}."
        )
    if not session.checkpointing:
        raise SessionStateError(
            f"Session {session.id} kept no checkpoints to re-run from."
        )

    keep = STAGES[: STAGES.index(from_stage)]
    results = load_results(session)
    with transaction.atomic():
        child = create_session(
            session.prompt,
            session.options,
            owner=owner or session.owner,
            parent=session,
        )
        for stage in keep:
            if stage in results:
                new_checkpoint(
                    child, stage, results[stage], {"copied_from": str(session.id)}
                )
    logger.info("Session %s forked from %s at %s", child.id, session.id, from_stage)
    return child
