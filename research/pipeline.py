"""Runs one session through the seven stages under a lease.

After each successful stage its checkpoint and its "completed" event commit in
one transaction before the next stage begins, so a worker may die at any
moment and lose no finished stage. A resumed run restores the checkpointed
results, records those stages as skipped, and goes on from the next one.
"""

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from pydantic import BaseModel

from monitoring import broadcast
from monitoring.broadcast import publish_session
from monitoring.mirror import write_checkpoint_file, write_telemetry_file
from monitoring.tracing import session_trace, stage_span
from research.checkpoints import load_results, new_checkpoint
from research.config import ProwziConfig, get_config
from research.corpus import get_corpus
from research.exceptions import (
    CheckpointMismatchError,
    LeaseLostError,
    StageError,
    StageTimeoutError,
)
from research.faults import Fault, inject, parse_faults
from research.leases import Heartbeat, Lease, claim, record_event
from research.models import EventStatus, ResearchSession, SessionStatus
from research.retries import TRANSIENT_ERRORS, RetryPolicy
from research.sessions import session_options
from research.stages import (
    STAGES,
    StageInput,
    final_draft,
    run_stage,
    telemetry_details,
)

logger = logging.getLogger(__name__)


class StageFailed(Exception):
    """Raised inside the runner when a stage gave up; the session is failed."""


def run_session(
    session_id: uuid.UUID | str, config: ProwziConfig | None = None
) -> str | None:
    """Claim a queued session and run it; return its final status.

    Returns None when the session was not queued (another worker has it, it
    was cancelled, or it already finished), which makes a duplicate job
    harmless.
    """
    close_old_connections()
    lease = claim(session_id)
    if lease is None:
        logger.info("Session %s is not queued; nothing to run", session_id)
        return None

    logger.info("Session %s claimed by %s", session_id, lease.owner)
    try:
        with Heartbeat(lease), session_trace(lease.session_id) as trace:
            try:
                status = SessionRun(lease, config or get_config()).run()
            except LeaseLostError as error:
                logger.warning("Session %s: stopped, %s", session_id, error)
                status = None
            trace.finish(status)
            return status
    finally:
        # RQ's work-horse leaves with os._exit: send what is queued first.
        broadcast.flush()


class SessionRun:
    def __init__(self, lease: Lease, config: ProwziConfig) -> None:
        self.lease = lease
        self.config = config
        self.session = ResearchSession.objects.get(pk=lease.session_id)
        self.options = session_options(self.session)
        self.policy = RetryPolicy.from_settings()
        self.faults: list[Fault] = parse_faults(settings.PROWZI_FAULTS)
        self.results: dict[str, BaseModel] = {}

    def run(self) -> str:
        try:
            self.results = self._restore()
        except CheckpointMismatchError as error:
            return self._fail(error.stage, str(error), attempt=1, duration=None)

        try:
            for stage in STAGES:
                if stage in self.results:
                    self._skip(stage)
                else:
                    self.results[stage] = self._run_with_retries(stage)
        except StageFailed:
            return SessionStatus.FAILED

        return self._complete()

    def _restore(self) -> dict[str, BaseModel]:
        if not self.session.checkpointing:
            return {}

        results = load_results(self.session)
        if results:
            logger.info(
                "Session %s: resuming after %s", self.session.id, list(results)[-1]
            )
        return results

    def _skip(self, stage: str) -> None:
        record_event(
            self.lease,
            stage,
            EventStatus.SKIPPED,
            details={"reason": "restored from checkpoint"},
        )

    def _run_with_retries(self, stage: str) -> BaseModel:
        for attempt in range(1, self.policy.attempts + 1):
            with stage_span(self.session.id, stage, attempt):
                result = self._run_attempt(stage, attempt)
            if result is not None:
                return result
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _run_attempt(self, stage: str, attempt: int) -> BaseModel | None:
        """Run one attempt; return its result, or None to try again."""
        record_event(
            self.lease,
            stage,
            EventStatus.STARTED,
            attempt=attempt,
            extra_writes=lambda: self._set_current_stage(stage),
        )
        started = time.monotonic()
        try:
            result = self._attempt(stage, attempt)
        except LeaseLostError:
            raise
        except TRANSIENT_ERRORS as error:
            duration = time.monotonic() - started
            if attempt == self.policy.attempts:
                self._fail(stage, _describe(error), attempt, duration)
                raise StageFailed from error
            self._retry_later(stage, attempt, duration, error)
            return None
        except StageError as error:
            self._fail(stage, str(error), attempt, time.monotonic() - started)
            raise StageFailed from error
        except Exception as error:
            logger.exception("Session %s: stage %s crashed", self.session.id, stage)
            message = f"internal error in {stage}: {_describe(error)}"
            self._fail(stage, message, attempt, time.monotonic() - started)
            raise StageFailed from error

        self._commit(stage, result, attempt, time.monotonic() - started)
        return result

    def _attempt(self, stage: str, attempt: int) -> BaseModel:
        check_stop = self._stop_check(stage)
        inject(self.faults, stage, attempt, check_stop)
        stage_input = StageInput(
            prompt=self.session.prompt,
            options=self.options,
            corpus=get_corpus(),
            results=dict(self.results),
            check_stop=check_stop,
            session_id=str(self.session.id),
        )
        result = run_stage(stage, stage_input)
        check_stop()
        return result

    def _stop_check(self, stage: str) -> Callable[[], None]:
        """Return the check a stage calls between units of work: it raises
        when the lease is gone (cancelled, or taken over) or time is up."""
        started = time.monotonic()
        limit = settings.PROWZI_STAGE_TIMEOUT

        def check_stop() -> None:
            self.lease.check()
            elapsed = time.monotonic() - started
            if elapsed > limit:
                raise StageTimeoutError(
                    f"{stage} timed out after {elapsed:.1f}s (limit {limit:.0f}s)"
                )

        return check_stop

    def _retry_later(
        self, stage: str, attempt: int, duration: float, error: BaseException
    ) -> None:
        delay = self.policy.delay_after(attempt)
        logger.warning(
            "Session %s: stage %s attempt %d failed (%s); retrying in %.2fs",
            self.session.id,
            stage,
            attempt,
            error,
            delay,
        )
        record_event(
            self.lease,
            stage,
            EventStatus.RETRYING,
            attempt=attempt,
            duration_seconds=duration,
            details={"retry_in_seconds": round(delay, 3)},
            error=_describe(error),
        )
        _sleep_checking(delay, self.lease)

    def _commit(
        self, stage: str, result: BaseModel, attempt: int, duration: float
    ) -> None:
        details = telemetry_details(result)
        metrics = {"duration_seconds": duration, "attempt": attempt, **details}

        def write_checkpoint() -> None:
            if self.session.checkpointing:
                new_checkpoint(self.session, stage, result, metrics)

        record_event(
            self.lease,
            stage,
            EventStatus.COMPLETED,
            attempt=attempt,
            duration_seconds=duration,
            details=details,
            extra_writes=write_checkpoint,
        )
        logger.info(
            "Session %s: stage %s completed in %.2fs (attempt %d)",
            self.session.id,
            stage,
            duration,
            attempt,
        )
        self._write_mirror(stage)

    def _fail(
        self, stage: str, message: str, attempt: int, duration: float | None
    ) -> str:
        def mark_failed() -> None:
            _finish_row(self.session, SessionStatus.FAILED, error=message)

        record_event(
            self.lease,
            stage,
            EventStatus.FAILED,
            attempt=attempt,
            duration_seconds=duration,
            error=message,
            extra_writes=mark_failed,
        )
        logger.error("Session %s failed at %s: %s", self.session.id, stage, message)
        write_telemetry_file(self.session, self.config)
        return SessionStatus.FAILED

    def _complete(self) -> str:
        draft = final_draft(self.results)
        report = draft.markdown if draft is not None else ""
        with transaction.atomic():
            self.lease.fenced()
            _finish_row(self.session, SessionStatus.COMPLETED, report=report)

        publish_session(self.session.id)
        logger.info("Session %s completed", self.session.id)
        write_telemetry_file(self.session, self.config)
        return SessionStatus.COMPLETED

    def _set_current_stage(self, stage: str) -> None:
        ResearchSession.objects.filter(pk=self.session.pk).update(current_stage=stage)

    def _write_mirror(self, stage: str) -> None:
        if self.session.checkpointing:
            write_checkpoint_file(self.session, stage, self.config)
        write_telemetry_file(self.session, self.config)


def _finish_row(session: ResearchSession, status: str, **fields: Any) -> None:
    ResearchSession.objects.filter(pk=session.pk).update(
        status=status,
        completed_at=timezone.now() if status == SessionStatus.COMPLETED else None,
        lease_token=None,
        lease_expires_at=None,
        updated_at=timezone.now(),
        **fields,
    )


def _sleep_checking(seconds: float, lease: Lease) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        lease.check()
        time.sleep(min(left, 0.2))


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
