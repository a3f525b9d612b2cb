"""The guide's TelemetryCollector API, recording into the same rows."""

import json
import uuid

import pytest

from monitoring.telemetry import TelemetryCollector
from research.exceptions import InvalidRequestError
from research.models import ResearchSession, SessionStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_collector_records_a_session_as_the_guide_shows(tmp_path):
    telemetry = TelemetryCollector(output_dir=tmp_path)
    session_id = str(uuid.uuid4())

    telemetry.start_session(session_id=session_id, prompt="Test")
    telemetry.record_stage_event(
        session_id=session_id, stage="intent", status="completed", duration=1.5
    )
    telemetry.complete_session(session_id=session_id, success=True, total_duration=10.0)

    metrics = telemetry.get_session_metrics(session_id)
    assert len(metrics.stages) == 1
    assert metrics.total_duration_seconds == 10.0
    assert metrics.success is True
    assert ResearchSession.objects.get(pk=session_id).status == SessionStatus.COMPLETED
    mirror = json.loads(
        (tmp_path / "telemetry" / f"telemetry_{session_id}.json").read_text()
    )
    assert mirror["total_duration_seconds"] == 10.0


def test_load_session_reads_the_mirror_file_of_a_session_not_in_the_database(
    tmp_path,
):
    telemetry = TelemetryCollector(output_dir=tmp_path)
    session_id = str(uuid.uuid4())
    telemetry.start_session(session_id=session_id, prompt="Test")
    telemetry.complete_session(session_id=session_id, success=False)
    ResearchSession.objects.filter(pk=session_id).delete()

    metrics = telemetry.load_session(session_id)

    assert metrics.session_id == session_id
    assert metrics.success is False


def test_unknown_status_is_refused(tmp_path):
    telemetry = TelemetryCollector(output_dir=tmp_path)
    session_id = str(uuid.uuid4())
    telemetry.start_session(session_id=session_id, prompt="Test")

    with pytest.raises(InvalidRequestError, match="Unknown status 'exploded'"):
        telemetry.record_stage_event(session_id, "intent", "exploded")
