"""Optional tracing: spans reach an OTLP/HTTP collector, or nothing happens.

Needs the `tracing` extra (pip install -e '.[dev,tracing]') for the collector
test; the not-configured test needs nothing.
"""

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitoring import tracing
from research.models import StageEvent

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Collector:
    """An OTLP/HTTP receiver on loopback that keeps every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                collector.requests.append(
                    (self.path, self.headers.get("Content-Type", ""), body)
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def spans(self) -> list[Any]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        found = []
        for _, _, body in self.requests:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    found.extend(scope_spans.spans)
        return found

    def service_names(self) -> set[str]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        names: set[str] = set()
        for _, _, body in self.requests:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                names.update(
                    attribute.value.string_value
                    for attribute in resource_spans.resource.attributes
                    if attribute.key == "service.name"
                )
        return names


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    pytest.importorskip("opentelemetry.sdk")
    pytest.importorskip("opentelemetry.proto")
    receiver = Collector()
    receiver.thread.start()
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    tracing.shutdown()
    yield receiver
    tracing.shutdown()
    receiver.server.shutdown()
    receiver.server.server_close()


def event(
    session_id: uuid.UUID, seq: int, stage: str, status: str, **fields: Any
) -> StageEvent:
    return StageEvent(
        session_id=session_id,
        seq=seq,
        stage=stage,
        status=status,
        attempt=fields.pop("attempt", 1),
        timestamp=datetime.now(UTC),
        **fields,
    )


def attributes(span: Any) -> dict[str, Any]:
    values = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value"))
    return values


def run_traced_session(session_id: uuid.UUID) -> None:
    """What the pipeline does: a skipped stage, a completed one, a retried
    attempt, then an attempt that raises."""
    with tracing.session_trace(session_id) as trace:
        tracing.note_event(
            event(
                session_id,
                1,
                "intent",
                "skipped",
                details={"reason": "restored from checkpoint"},
            )
        )
        with tracing.stage_span(session_id, "planning", 1):
            tracing.note_event(event(session_id, 2, "planning", "started"))
            tracing.note_event(
                event(
                    session_id,
                    3,
                    "planning",
                    "completed",
                    duration_seconds=0.25,
                    details={"sections": 4, "revised": False},
                )
            )
        with tracing.stage_span(session_id, "search", 1):
            tracing.note_event(event(session_id, 4, "search", "started"))
            tracing.note_event(
                event(
                    session_id,
                    5,
                    "search",
                    "retrying",
                    duration_seconds=0.1,
                    error="corpus busy",
                    details={"retry_in_seconds": 0.05},
                )
            )
        with (
            pytest.raises(RuntimeError, match="index vanished"),
            tracing.stage_span(session_id, "search", 2),
        ):
            tracing.note_event(event(session_id, 6, "search", "started", attempt=2))
            raise RuntimeError("index vanished")
        trace.finish("failed")


def test_spans_reach_the_collector_as_otlp_protobuf(collector: Collector) -> None:
    session_id = uuid.uuid4()

    run_traced_session(session_id)

    assert collector.requests, "no spans were sent"
    assert {path for path, _, _ in collector.requests} == {"/v1/traces"}
    assert {kind for _, kind, _ in collector.requests} == {"application/x-protobuf"}
    assert collector.service_names() == {"prowzi"}

    spans = collector.spans()
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert sorted(by_name) == [
        "research session",
        "stage intent",
        "stage planning",
        "stage search",
    ]
    assert {span.trace_id for span in spans} == {session_id.bytes}

    (root,) = by_name["research session"]
    assert root.parent_span_id == b""
    assert attributes(root) == {
        "prowzi.session_id": str(session_id),
        "prowzi.status": "failed",
    }
    stage_spans = [span for span in spans if span is not root]
    assert all(span.parent_span_id == root.span_id for span in stage_spans)


def test_stage_spans_carry_status_duration_details_and_errors(
    collector: Collector,
) -> None:
    from opentelemetry.proto.trace.v1.trace_pb2 import Status

    session_id = uuid.uuid4()

    run_traced_session(session_id)

    spans = {
        (span.name, attributes(span)["prowzi.attempt"]): span
        for span in collector.spans()
        if span.name.startswith("stage ")
    }

    skipped = spans["stage intent", 1]
    assert attributes(skipped)["prowzi.status"] == "skipped"
    assert attributes(skipped)["prowzi.details.reason"] == "restored from checkpoint"

    planning = attributes(spans["stage planning", 1])
    assert planning["prowzi.session_id"] == str(session_id)
    assert planning["prowzi.stage"] == "planning"
    assert planning["prowzi.status"] == "completed"
    assert planning["prowzi.duration_seconds"] == 0.25
    assert planning["prowzi.details.sections"] == 4
    assert planning["prowzi.details.revised"] is False
    assert spans["stage planning", 1].status.code != Status.STATUS_CODE_ERROR

    retried = spans["stage search", 1]
    assert attributes(retried)["prowzi.status"] == "retrying"
    assert retried.status.code == Status.STATUS_CODE_ERROR
    assert retried.status.message == "corpus busy"
    assert [e.name for e in retried.events] == ["exception"]

    crashed = spans["stage search", 2]
    assert attributes(crashed)["prowzi.status"] == "started"
    assert crashed.status.code == Status.STATUS_CODE_ERROR
    (exception,) = crashed.events
    recorded = attributes(exception)
    assert recorded["exception.type"] == "RuntimeError"
    assert recorded["exception.message"] == "index vanished"


def test_an_unreachable_collector_holds_a_session_briefly_and_raises_nothing(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    collector.server.shutdown()
    collector.server.server_close()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    tracing.shutdown()
    session_id = uuid.uuid4()

    started = time.monotonic()
    with tracing.session_trace(session_id) as trace:
        with tracing.stage_span(session_id, "intent", 1):
            tracing.note_event(event(session_id, 1, "intent", "completed"))
        trace.finish("completed")

    assert time.monotonic() - started < 6
    assert collector.requests == []


# Runs in a fresh interpreter without OTEL_* variables. BLOCK=1 makes
# opentelemetry unimportable, as where the tracing extra is not installed.
NOT_CONFIGURED = """
import os
import sys
import uuid
from importlib.abc import MetaPathFinder
from types import SimpleNamespace


class Blocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"blocked: {name}")
        return None


if os.environ["BLOCK"] == "1":
    sys.meta_path.insert(0, Blocker())

import django

django.setup()

import research.leases
import research.pipeline
from monitoring import tracing


def loaded():
    return {name for name in sys.modules if name.split(".")[0] == "opentelemetry"}


before = loaded()
session_id = uuid.uuid4()
event = SimpleNamespace(
    session_id=session_id, seq=1, stage="intent", status="completed", attempt=1,
    duration_seconds=0.1, details={}, error="",
)
assert not tracing.enabled()
with tracing.session_trace(session_id) as trace:
    tracing.note_event(event)
    with tracing.stage_span(session_id, "intent", 1):
        tracing.note_event(event)
    trace.finish("completed")
print(sorted(loaded() - before))
print(sorted(name for name in loaded() if "sdk.trace" in name or "exporter" in name))
print(sorted(before))
"""


def run_not_configured(block: bool) -> list[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("OTEL_")
    }
    env["DJANGO_SETTINGS_MODULE"] = "prowzi_site.settings"
    env["BLOCK"] = "1" if block else "0"

    result = subprocess.run(
        [sys.executable, "-c", NOT_CONFIGURED],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_without_an_endpoint_tracing_imports_nothing_from_opentelemetry() -> None:
    added, tracing_modules, _ = run_not_configured(block=False)

    # redis-py imports opentelemetry's metrics SDK by itself when it is
    # installed; tracing must add nothing to that.
    assert added == "[]"
    assert tracing_modules == "[]"


def test_without_the_packages_sessions_are_traced_by_nobody() -> None:
    added, _, before = run_not_configured(block=True)

    assert added == "[]"
    assert before == "[]"
