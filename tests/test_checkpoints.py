"""Checkpoints: typed JSON round trips, and refusing ones made for other inputs."""

import json
import uuid

import pytest

from research.checkpoints import CheckpointManager, load_results
from research.exceptions import CheckpointMismatchError, SessionStateError
from research.models import Checkpoint, ResearchSession, SessionStatus
from research.pipeline import run_session
from research.schemas import Constraints, IntentAnalysis
from research.sessions import create_session, request_resume

pytestmark = pytest.mark.django_db

INTENT = IntentAnalysis(
    document_type="literature_review",
    topic="renewable energy",
    key_concepts=["renewable energy", "grid"],
    constraints=Constraints(citation_style="apa"),
    language="en",
)


def test_saved_checkpoint_loads_back_as_typed_results():
    manager = CheckpointManager()
    session_id = str(uuid.uuid4())

    manager.save_checkpoint(
        session_id=session_id,
        stage="intent",
        prompt="Test prompt",
        context={"intent": INTENT},
        stage_metrics={"duration": 1.5},
    )
    checkpoint = manager.load_checkpoint(session_id)

    assert checkpoint is not None
    assert checkpoint.intent == INTENT
    assert checkpoint.metadata.session_id == session_id
    assert checkpoint.metadata.stage == "intent"
    assert checkpoint.stage_metrics == {"intent": {"duration": 1.5}}


def test_checkpoint_is_stored_as_plain_json():
    session = create_session("Write about the power grid")
    CheckpointManager().save_checkpoint(
        str(session.id), "intent", session.prompt, {"intent": INTENT}
    )

    stored = Checkpoint.objects.get(session=session).result
    assert json.loads(json.dumps(stored)) == INTENT.model_dump(mode="json")


def test_checkpoint_made_for_other_inputs_is_refused_by_name():
    session = create_session("Write about the power grid")
    CheckpointManager().save_checkpoint(
        str(session.id), "intent", session.prompt, {"intent": INTENT}
    )
    Checkpoint.objects.filter(session=session).update(fingerprint="0" * 64)

    with pytest.raises(CheckpointMismatchError, match=f"{session.id}_intent"):
        load_results(session)


def test_checkpoint_of_another_schema_version_is_refused():
    session = create_session("Write about the power grid")
    CheckpointManager().save_checkpoint(
        str(session.id), "intent", session.prompt, {"intent": INTENT}
    )
    Checkpoint.objects.filter(session=session).update(schema_version=99)

    with pytest.raises(CheckpointMismatchError, match="schema version 99"):
        load_results(session)


@pytest.mark.django_db(transaction=True)
def test_resume_over_a_mismatched_checkpoint_fails_and_names_it():
    session = create_session("Write about the power grid")
    CheckpointManager().save_checkpoint(
        str(session.id), "intent", session.prompt, {"intent": INTENT}
    )
    Checkpoint.objects.filter(session=session).update(fingerprint="0" * 64)
    ResearchSession.objects.filter(pk=session.pk).update(status=SessionStatus.FAILED)

    request_resume(session)
    assert run_session(session.id) == SessionStatus.FAILED

    session.refresh_from_db()
    assert f"{session.id}_intent" in session.error
    assert session.report == ""


def test_session_without_checkpoints_cannot_be_resumed():
    session = create_session("Write about the power grid", checkpointing=False)
    ResearchSession.objects.filter(pk=session.pk).update(status=SessionStatus.FAILED)
    session.refresh_from_db()

    with pytest.raises(SessionStateError, match="without checkpointing"):
        request_resume(session)


def test_completed_session_cannot_be_resumed():
    session = create_session("Write about the power grid")
    ResearchSession.objects.filter(pk=session.pk).update(status=SessionStatus.COMPLETED)
    session.refresh_from_db()

    with pytest.raises(SessionStateError, match="completed"):
        request_resume(session)
