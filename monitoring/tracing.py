"""Optional OpenTelemetry traces: one trace per session, one span per stage attempt.

Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and OTEL_SDK_DISABLED is not true;
spans then go out over OTLP/HTTP (protobuf), configured by the standard OTEL_*
variables. When it is off these functions do nothing and nothing from
opentelemetry is imported, so the packages (the `tracing` extra) are needed
only where tracing is used.

A session's trace id is its UUID: every run of a session (a resume, a takeover
after a worker died) lands in the same trace, and a trace is found from the
session id alone. Each run is a root span "research session" in it; each
stage attempt is a child span "stage <name>" carrying the stage, attempt,
status, duration, details and error of the events recorded during it.
"""

import contextvars
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from research.models import StageEvent

logger = logging.getLogger(__name__)

SERVICE_NAME = "prowzi"
# Spans are queued in memory and sent in batches; a session's last ones are
# pushed out when it ends, since an RQ work-horse exits without running the
# exit hooks that would flush them. An unreachable collector thus holds the
# worker for about EXPORT_TIMEOUT after each session (unless
# OTEL_EXPORTER_OTLP_TIMEOUT says otherwise), and the spans are dropped.
FLUSH_MILLIS = 2000
EXPORT_TIMEOUT = 2.0
TERMINAL_STATUSES = frozenset({"completed", "failed", "retrying"})
ERROR_STATUSES = frozenset({"failed", "retrying"})

_provider: Any = None
_checked = False
# The session whose trace a new root span belongs to.
_trace_session: contextvars.ContextVar[uuid.UUID | None] = contextvars.ContextVar(
    "prowzi_trace_session", default=None
)
_stage: contextvars.ContextVar["_StageSpan | None"] = contextvars.ContextVar(
    "prowzi_stage_span", default=None
)


def enabled() -> bool:
    """Tell whether an OTLP endpoint is configured and the SDK not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


class SessionTrace:
    """A run of a session; finish() records how the run ended."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def finish(self, status: str | None) -> None:
        if self._span is not None:
            self._span.set_attribute("prowzi.status", status or "stopped")


@contextmanager
def session_trace(session_id: uuid.UUID | str) -> Iterator[SessionTrace]:
    """Trace one run of a session; stage spans opened inside belong to it."""
    tracer = _tracer()
    if tracer is None:
        yield SessionTrace()
        return

    key = uuid.UUID(str(session_id))
    token = _trace_session.set(key)
    try:
        with tracer.start_as_current_span(
            "research session",
            attributes={"prowzi.session_id": str(key)},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield SessionTrace(span)
            except BaseException as error:
                _record_exception(span, error)
                raise
    finally:
        _trace_session.reset(token)
        _flush()


@contextmanager
def stage_span(session_id: uuid.UUID | str, stage: str, attempt: int) -> Iterator[None]:
    """Span one stage attempt; note_event() fills in what happened.

    The span ends at the attempt's terminal event (completed, failed or
    retrying), so a retry's back-off wait is not counted in it, or when the
    block exits, recording any exception that leaves it.
    """
    tracer = _tracer()
    if tracer is None:
        yield
        return

    key = uuid.UUID(str(session_id))
    session_token = _trace_session.set(key)
    span = tracer.start_span(
        f"stage {stage}",
        attributes={
            "prowzi.session_id": str(key),
            "prowzi.stage": stage,
            "prowzi.attempt": attempt,
        },
        record_exception=False,
        set_status_on_exception=False,
    )
    handle = _StageSpan(span)
    stage_token = _stage.set(handle)
    try:
        yield
    except BaseException as error:
        if not handle.ended:
            _record_exception(span, error)
        raise
    finally:
        _stage.reset(stage_token)
        _trace_session.reset(session_token)
        handle.end()


def note_event(event: "StageEvent") -> None:
    """Put a stored stage event on its attempt's span.

    Called after the event commits. An event outside any stage span (a stage
    skipped because its checkpoint was restored) becomes a span of its own.
    """
    tracer = _tracer()
    if tracer is None:
        return

    handle = _stage.get()
    if handle is None or handle.ended:
        _instant_span(tracer, event)
        return

    _annotate(handle.span, event)
    if event.status in TERMINAL_STATUSES:
        handle.end()


def shutdown() -> None:
    """Send what is queued and stop exporting; the environment is read again
    on next use."""
    global _provider, _checked

    if _provider is not None:
        _provider.shutdown()
    _provider = None
    _checked = False


@dataclass
class _StageSpan:
    span: Any
    ended: bool = False

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.span.end()


def _annotate(span: Any, event: "StageEvent") -> None:
    span.set_attribute("prowzi.status", str(event.status))
    span.set_attribute("prowzi.seq", event.seq)
    if event.duration_seconds is not None:
        span.set_attribute("prowzi.duration_seconds", event.duration_seconds)
    for name, value in (event.details or {}).items():
        span.set_attribute(f"prowzi.details.{name}", _attribute_value(value))
    if event.status in ERROR_STATUSES:
        _mark_error(span, event.error or str(event.status))


def _instant_span(tracer: Any, event: "StageEvent") -> None:
    session_token = _trace_session.set(uuid.UUID(str(event.session_id)))
    try:
        end = time.time_ns()
        duration = int((event.duration_seconds or 0.0) * 1e9)
        span = tracer.start_span(
            f"stage {event.stage}",
            start_time=end - duration,
            attributes={
                "prowzi.session_id": str(event.session_id),
                "prowzi.stage": event.stage,
                "prowzi.attempt": event.attempt,
            },
        )
        _annotate(span, event)
        span.end(end_time=end)
    finally:
        _trace_session.reset(session_token)


def _mark_error(span: Any, message: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, message))
    span.add_event("exception", {"exception.message": message})


def _record_exception(span: Any, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    cause = error.__cause__ or error
    span.record_exception(cause)
    span.set_status(Status(StatusCode.ERROR, str(cause) or type(cause).__name__))


def _attribute_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _flush() -> None:
    if _provider is not None and not _provider.force_flush(FLUSH_MILLIS):
        logger.warning("Tracing: spans not sent within %d ms", FLUSH_MILLIS)


def _tracer() -> Any:
    global _provider, _checked

    if not _checked:
        _checked = True
        if enabled():
            _provider = _new_provider()
    return _provider.get_tracer(__name__) if _provider is not None else None


def _new_provider() -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class SessionIds(RandomIdGenerator):
        """Root spans take the trace id of the session being traced."""

        def generate_trace_id(self) -> int:
            session = _trace_session.get()
            return session.int if session is not None else super().generate_trace_id()

    attributes = (
        {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    )
    provider = TracerProvider(
        resource=Resource.create(attributes), id_generator=SessionIds()
    )
    configured = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    exporter = OTLPSpanExporter(timeout=None if configured else EXPORT_TIMEOUT)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    logger.info("Tracing sessions to %s", _endpoint())
    return provider


def _endpoint() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT", ""
    )
