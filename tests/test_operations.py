"""Operating Prowzi: /healthz, /metrics, exports, retention, event lines, alerts."""

import json
import logging
import os
import signal
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.alerts import check_event, session_alerts
from monitoring.eventlog import write_event_line
from monitoring.export import metrics_json, metrics_prometheus
from monitoring.retention import RetentionReport, cleanup, parse_age
from monitoring.telemetry import workflow_metrics
from research.exceptions import InvalidRequestError
from research.models import Checkpoint, ResearchSession, SessionStatus, StageEvent
from research.sessions import create_session

pytestmark = pytest.mark.django_db(transaction=True)


def _session_with_events(status=SessionStatus.COMPLETED, durations=(0.5, 1.25)):
    session = create_session("Write about the power grid")
    ResearchSession.objects.filter(pk=session.pk).update(
        status=status, started_at=timezone.now() - timedelta(seconds=5)
    )
    for seq, duration in enumerate(durations, start=1):
        StageEvent.objects.create(
            session=session,
            seq=seq,
            stage="search",
            status="completed",
            duration_seconds=duration,
            timestamp=timezone.now(),
        )
    StageEvent.objects.create(
        session=session,
        seq=len(durations) + 1,
        stage="verify",
        status="retrying",
        timestamp=timezone.now(),
        error="transient",
    )
    session.refresh_from_db()
    return session


def _families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_equal_what_the_database_holds(client, redis_server):
    _session_with_events()
    _session_with_events(status=SessionStatus.FAILED, durations=(3.0,))

    response = client.get("/metrics")

    assert response.status_code == 200
    families = _families(response.content.decode())
    events = {
        (s.labels["stage"], s.labels["status"]): s.value
        for s in families["prowzi_stage_events"].samples
        if s.name == "prowzi_stage_events_total"
    }
    assert events[("search", "completed")] == 3
    assert events[("verify", "retrying")] == 2
    histogram = {
        (s.name, s.labels.get("le")): s.value
        for s in families["prowzi_stage_duration_seconds"].samples
    }
    assert histogram[("prowzi_stage_duration_seconds_count", None)] == 3
    assert histogram[("prowzi_stage_duration_seconds_bucket", "1.0")] == 1
    assert histogram[("prowzi_stage_duration_seconds_sum", None)] == 4.75
    sessions = {
        s.labels["status"]: s.value for s in families["prowzi_sessions"].samples
    }
    assert sessions["completed"] == 1 and sessions["failed"] == 1
    redis_up = families["prowzi_redis_up"].samples[0].value
    assert redis_up == 1


def test_metrics_need_the_token_when_one_is_set(client):
    with override_settings(PROWZI_METRICS_TOKEN="s3cret-token"):
        assert client.get("/metrics").status_code == 403
        ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
        assert ok.status_code == 200


def test_metrics_refuse_other_addresses_without_a_token(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403


def test_health_reports_each_dependency(client, workers, caplog):
    with caplog.at_level(logging.WARNING):
        unhealthy = client.get("/healthz")
    # One warning naming what failed, not a server error per probe.
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("monitoring.health", "WARNING", "Unhealthy: {'workers': '0 alive'}")
    ]
    assert unhealthy.status_code == 503
    assert unhealthy.json()["checks"]["workers"]["ok"] is False
    assert unhealthy.json()["checks"]["database"]["ok"] is True

    workers.start()
    deadline = timezone.now() + timedelta(seconds=30)
    while client.get("/healthz").status_code != 200 and timezone.now() < deadline:
        pass
    healthy = client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.json()["checks"]["redis"]["ok"] is True


def _workers_alive(client) -> float:
    families = _families(client.get("/metrics").content.decode())
    return families["prowzi_workers_alive"].samples[0].value


@override_settings(PROWZI_WORKER_TTL=16)
def test_health_and_metrics_stop_counting_a_killed_worker(client, workers):
    # With a TTL of 16 s an idle worker writes a heartbeat every second.
    worker = workers.start(PROWZI_WORKER_TTL="16")
    deadline = time.monotonic() + 30
    while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/healthz").status_code == 200
    assert _workers_alive(client) == 1

    # SIGKILL leaves the worker in RQ's registry with its key still set.
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.wait_dead()
    killed_at = time.monotonic()
    while (
        client.get("/healthz").status_code == 200 and time.monotonic() < killed_at + 60
    ):
        time.sleep(0.5)

    unhealthy = client.get("/healthz")
    assert unhealthy.status_code == 503
    assert unhealthy.json()["checks"]["workers"] == {"ok": False, "detail": "0 alive"}
    assert _workers_alive(client) == 0


def test_exported_json_is_strict_even_with_missing_and_odd_values():
    session = _session_with_events(status=SessionStatus.RUNNING)
    StageEvent.objects.filter(session=session, seq=1).update(
        duration_seconds=float("nan")
    )
    ResearchSession.objects.filter(pk=session.pk).update(started_at=None)
    session.refresh_from_db()

    text = metrics_json(workflow_metrics(session))

    payload = json.loads(text, parse_constant=lambda name: pytest.fail(name))
    assert payload["started_at"] is None
    assert payload["total_duration_seconds"] is None
    assert payload["stages"][0]["duration_seconds"] is None
    assert payload["stages"][1]["duration_seconds"] == 1.25


def test_exported_prometheus_text_parses():
    session = _session_with_events()

    families = _families(metrics_prometheus(workflow_metrics(session)))

    assert families["prowzi_session_retries"].samples[0].value == 1
    stage_samples = families["prowzi_session_stage_duration_seconds"].samples
    assert {s.labels["stage"] for s in stage_samples} == {"search"}


def test_export_command_prints_both_formats(prowzi):
    session = _session_with_events()

    as_json = prowzi("export", str(session.id))
    as_text = prowzi("export", str(session.id), "--format", "prometheus")

    assert json.loads(as_json.stdout)["session_id"] == str(session.id)
    assert "prowzi_session_retries" in as_text.stdout


def test_cleanup_removes_old_checkpoints_but_not_running_sessions(tmp_path):
    old = _session_with_events()
    running = _session_with_events(status=SessionStatus.RUNNING)
    for session in (old, running):
        Checkpoint.objects.create(
            session=session,
            stage="intent",
            schema_version=1,
            fingerprint=session.fingerprint,
            pipeline_version="1",
            result={},
        )
    long_ago = timezone.now() - timedelta(days=30)
    ResearchSession.objects.update(updated_at=long_ago)

    dry = cleanup(parse_age("7d"), dry_run=True)
    assert dry.checkpoints == 1 and Checkpoint.objects.count() == 2

    done = cleanup(parse_age("7d"), delete_sessions=True)
    assert done.sessions == 1
    assert list(ResearchSession.objects.values_list("pk", flat=True)) == [running.pk]
    assert Checkpoint.objects.filter(session=running).exists()


def test_cleanup_report_counts_each_thing_in_the_right_number():
    one = RetentionReport(sessions=1, checkpoints=1, files=1)
    many = RetentionReport(sessions=2, checkpoints=7, files=0, dry_run=True)

    assert str(one) == "Removed 1 checkpoint and 1 mirror file of 1 session."
    assert str(many) == "Would remove 7 checkpoints and 0 mirror files of 2 sessions."


def test_bad_age_is_refused_with_an_example():
    with pytest.raises(InvalidRequestError, match="7d"):
        parse_age("a week")


def test_each_event_is_one_json_line(tmp_path):
    session = _session_with_events()
    target = tmp_path / "events.jsonl"

    with override_settings(PROWZI_EVENT_LOG=str(target)):
        for event in session.events.order_by("seq"):
            write_event_line(event)

    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert all(line["session_id"] == str(session.id) for line in lines)


def test_retry_threshold_and_failure_are_flagged(caplog):
    session = _session_with_events(status=SessionStatus.FAILED)
    for seq in range(10, 16):
        event = StageEvent.objects.create(
            session=session,
            seq=seq,
            stage="search",
            status="retrying",
            timestamp=timezone.now(),
        )
        with caplog.at_level(logging.WARNING, logger="monitoring.alerts"):
            check_event(event)

    assert any("passed 5 retries" in r.getMessage() for r in caplog.records)
    assert any(str(session.id) in r.getMessage() for r in caplog.records)
    alerts = session_alerts(session)
    assert any("7 retries" in alert for alert in alerts)
    assert any("failed" in alert for alert in alerts)


def test_stage_much_slower_than_usual_is_flagged():
    for _ in range(5):
        _session_with_events(durations=(1.0,))
    slow = _session_with_events(durations=(10.0,))

    alerts = session_alerts(slow)

    assert any("Stage search took 10.00s" in alert for alert in alerts)
