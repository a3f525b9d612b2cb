"""The operators' guide's Python API, for code that embeds the pipeline."""

import asyncio
import json

import pytest

from monitoring.mirror import checkpoint_path, telemetry_path
from research.config import get_config
from research.models import StageEvent
from research.orchestrator import ProwziOrchestrator
from research.stages import STAGES
from tests.conftest import LITERATURE_REVIEW

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_research_returns_the_report_and_session_id(tmp_path):
    config = get_config()
    config.checkpoint_dir = tmp_path
    orchestrator = ProwziOrchestrator(config=config)

    result = asyncio.run(orchestrator.run_research(prompt=LITERATURE_REVIEW))

    assert result.success, result.error
    assert result.report.startswith("# ")
    session_id = result.metadata["session_id"]
    checkpoint = orchestrator.checkpoint_manager.load_checkpoint(session_id)
    assert checkpoint is not None
    assert checkpoint.turnitin is not None
    assert checkpoint.draft is not None
    assert checkpoint.draft.markdown == result.report


def test_run_writes_the_json_mirror_files(tmp_path):
    config = get_config()
    config.checkpoint_dir = tmp_path
    result = asyncio.run(
        ProwziOrchestrator(config=config).run_research(prompt=LITERATURE_REVIEW)
    )
    session_id = result.metadata["session_id"]

    for stage in STAGES:
        mirror = json.loads(checkpoint_path(tmp_path, session_id, stage).read_text())
        assert mirror["metadata"]["stage"] == stage
        assert mirror["metadata"]["session_id"] == session_id
    telemetry = json.loads(telemetry_path(tmp_path, session_id).read_text())
    assert telemetry["success"] is True
    assert telemetry["session_id"] == session_id
    assert not list(tmp_path.glob("*.pkl"))


def test_run_without_checkpointing_keeps_no_checkpoints(tmp_path):
    config = get_config()
    config.checkpoint_dir = tmp_path
    config.enable_checkpointing = False

    result = asyncio.run(
        ProwziOrchestrator(config=config).run_research(prompt=LITERATURE_REVIEW)
    )

    assert result.success
    assert result.checkpoint is None
    assert not list(tmp_path.glob("*_intent.json"))


def test_resume_from_checkpoint_skips_stages_already_done(tmp_path):
    config = get_config()
    config.checkpoint_dir = tmp_path
    orchestrator = ProwziOrchestrator(config=config)
    first = asyncio.run(orchestrator.run_research(prompt=LITERATURE_REVIEW))
    session_id = first.metadata["session_id"]
    from research.models import Checkpoint, ResearchSession, SessionStatus

    Checkpoint.objects.filter(
        session_id=session_id, stage__in=["evaluation", "turnitin"]
    ).delete()
    ResearchSession.objects.filter(pk=session_id).update(status=SessionStatus.FAILED)

    resumed = asyncio.run(orchestrator.resume_from_checkpoint(checkpoint_id=session_id))

    assert resumed.success
    assert resumed.report == first.report
    skipped = StageEvent.objects.filter(session_id=session_id, status="skipped")
    assert sorted(skipped.values_list("stage", flat=True)) == sorted(
        ["intent", "planning", "search", "verify", "writing"]
    )
