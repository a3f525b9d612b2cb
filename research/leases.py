"""The lease a process holds on the session it runs, and fenced writes under it.

Every write a run makes (events, checkpoints, the final status) happens in a
transaction that first checks the session still carries this run's token. A
process that lost its lease, because it stalled and another run took over,
cannot add a second "completed" or overwrite newer state.
"""

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from monitoring.tracing import note_event
from research.exceptions import LeaseLostError
from research.models import ResearchSession, SessionStatus, StageEvent
from research.sessions import lease_deadline, lease_owner_name

logger = logging.getLogger(__name__)


@dataclass
class Lease:
    session_id: uuid.UUID
    token: uuid.UUID
    owner: str
    lost: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLostError(
                f"Lease on session {self.session_id} was lost; stopping this run."
            )

    def fenced(self, *, bump_seq: bool = False) -> None:
        """Lock the session row for this transaction if the lease still holds,
        renewing the lease and, with bump_seq, taking the next event seq.

        Must be called inside transaction.atomic(); raises LeaseLostError.
        """
        changes: dict[str, Any] = {
            "lease_expires_at": lease_deadline(),
            "updated_at": timezone.now(),
        }
        if bump_seq:
            changes["last_seq"] = F("last_seq") + 1
        changed = ResearchSession.objects.filter(
            pk=self.session_id, lease_token=self.token, status=SessionStatus.RUNNING
        ).update(**changes)
        if changed != 1:
            self.lost.set()
            raise LeaseLostError(
                f"Session {self.session_id} is no longer leased to {self.owner}."
            )

    def current_seq(self) -> int:
        return int(
            ResearchSession.objects.values_list("last_seq", flat=True).get(
                pk=self.session_id
            )
        )


def claim(session_id: uuid.UUID | str) -> Lease | None:
    """Take a queued session for this process; None if someone else has it."""
    token = uuid.uuid4()
    owner = lease_owner_name()
    now = timezone.now()
    with transaction.atomic():
        changed = ResearchSession.objects.filter(
            pk=session_id, status=SessionStatus.QUEUED
        ).update(
            status=SessionStatus.RUNNING,
            lease_token=token,
            lease_owner=owner,
            lease_expires_at=lease_deadline(),
            runs=F("runs") + 1,
            error="",
            updated_at=now,
        )
        if changed != 1:
            return None
        ResearchSession.objects.filter(pk=session_id, started_at__isnull=True).update(
            started_at=now
        )

    return Lease(session_id=uuid.UUID(str(session_id)), token=token, owner=owner)


def record_event(
    lease: Lease,
    stage: str,
    status: str,
    *,
    attempt: int = 1,
    duration_seconds: float | None = None,
    details: dict[str, Any] | None = None,
    error: str | None = None,
    extra_writes: Callable[[], None] | None = None,
) -> StageEvent:
    """Store one stage event under the lease, with any writes that go with it.

    The event and extra_writes commit together or not at all; listeners hear
    of the event only after the commit.
    """
    with transaction.atomic():
        lease.fenced(bump_seq=True)
        if extra_writes is not None:
            extra_writes()
        event = StageEvent.objects.create(
            session_id=lease.session_id,
            seq=lease.current_seq(),
            stage=stage,
            status=status,
            attempt=attempt,
            duration_seconds=duration_seconds,
            timestamp=timezone.now(),
            details=details or {},
            error=error or "",
        )
        transaction.on_commit(lambda: _announce(event))
    note_event(event)
    return event


def _announce(event: StageEvent) -> None:
    from monitoring.alerts import check_event
    from monitoring.broadcast import publish_event
    from monitoring.eventlog import write_event_line

    write_event_line(event)
    publish_event(event)
    check_event(event)


class Heartbeat:
    """Renews a lease in the background until stopped or the lease is lost."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.interval = max(0.2, settings.PROWZI_LEASE_SECONDS / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{lease.session_id}", daemon=True
        )

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                if not self._renew():
                    return
        finally:
            connection.close()

    def _renew(self) -> bool:
        close_old_connections()
        try:
            with transaction.atomic():
                self.lease.fenced()
        except LeaseLostError:
            logger.warning(
                "Session %s: lease lost by %s", self.lease.session_id, self.lease.owner
            )
            return False
        except Exception:
            # A passing database error must not kill the heartbeat; the next
            # beat tries again before the lease runs out.
            logger.exception("Session %s: lease renewal failed", self.lease.session_id)
        return True
