"""Checkpoints: one validated JSON stage result per completed stage.

Rows in the database are the truth. The JSON files in PROWZI_CHECKPOINT_DIR
are a mirror for people and scripts, written after the row commits.
"""

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from research.exceptions import CheckpointMismatchError, InvalidRequestError
from research.models import Checkpoint, ResearchSession
from research.schemas import (
    SCHEMA_VERSION,
    CheckpointMetadata,
    EvaluationOutcome,
    WorkflowCheckpoint,
    WritingResult,
)
from research.sessions import PIPELINE_VERSION, create_session, find_session
from research.stages import RESULT_TYPES, STAGES

logger = logging.getLogger(__name__)


def new_checkpoint(
    session: ResearchSession,
    stage: str,
    result: BaseModel,
    stage_metrics: dict[str, Any],
) -> Checkpoint:
    """Store a stage's result; call inside the transaction of its event."""
    expected = RESULT_TYPES[stage]
    if not isinstance(result, expected):
        raise TypeError(f"{stage} must produce {expected.__name__}")

    return Checkpoint.objects.create(
        session=session,
        stage=stage,
        schema_version=SCHEMA_VERSION,
        fingerprint=session.fingerprint,
        pipeline_version=PIPELINE_VERSION,
        result=result.model_dump(mode="json"),
        stage_metrics=stage_metrics,
    )


def load_results(session: ResearchSession) -> dict[str, BaseModel]:
    """Return the typed results of the session's completed stages, in order.

    Raises CheckpointMismatchError, naming the checkpoint, when one was made
    for other inputs, another pipeline version or another schema.
    """
    rows = {row.stage: row for row in session.checkpoints.all()}
    results: dict[str, BaseModel] = {}
    for stage in STAGES:
        row = rows.get(stage)
        if row is None:
            break
        results[stage] = _validated(session, row)
    return results


def _validated(session: ResearchSession, row: Checkpoint) -> BaseModel:
    name = f"checkpoint {session.id}_{row.stage}"
    if row.schema_version != SCHEMA_VERSION:
        raise CheckpointMismatchError(
            f"Refusing {name}: it has schema version {row.schema_version}, "
            f"this pipeline reads version {SCHEMA_VERSION}.",
            row.stage,
        )

    if row.fingerprint != session.fingerprint:
        raise CheckpointMismatchError(
            f"Refusing {name}: it was made for other inputs or pipeline "
            f"version {row.pipeline_version} (fingerprint {row.fingerprint[:12]}, "
            f"this run expects {session.fingerprint[:12]}).",
            row.stage,
        )

    try:
        return RESULT_TYPES[row.stage].model_validate(row.result)
    except ValidationError as error:
        raise CheckpointMismatchError(
            f"Refusing {name}: its stored result does not validate ({error}).",
            row.stage,
        ) from None


def assemble(
    session: ResearchSession,
    results: Mapping[str, BaseModel],
    stage_metrics: dict[str, Any] | None = None,
) -> WorkflowCheckpoint:
    """Build the workflow checkpoint from stage results, newest stage last."""
    done = [stage for stage in STAGES if stage in results]
    outcome = results.get("evaluation")
    draft = results.get("writing")
    if isinstance(outcome, EvaluationOutcome) and outcome.revised_draft is not None:
        draft = outcome.revised_draft

    return WorkflowCheckpoint(
        metadata=CheckpointMetadata(
            session_id=str(session.id),
            stage=done[-1] if done else "",
            timestamp=timezone.now(),
            schema_version=SCHEMA_VERSION,
            fingerprint=session.fingerprint,
            pipeline_version=PIPELINE_VERSION,
        ),
        intent=results.get("intent"),
        plan=results.get("planning"),
        search=results.get("search"),
        verification=results.get("verify"),
        draft=draft if isinstance(draft, WritingResult) else None,
        evaluation=outcome.evaluation
        if isinstance(outcome, EvaluationOutcome)
        else None,
        initial_evaluation=(
            outcome.initial_evaluation
            if isinstance(outcome, EvaluationOutcome)
            else None
        ),
        turnitin=results.get("turnitin"),
        stage_metrics=stage_metrics or {},
    )


# The operators' guide names the context entries after the checkpoint's
# fields; map them onto the stages that produce them.
_CONTEXT_KEYS = {
    "intent": "intent",
    "plan": "planning",
    "planning": "planning",
    "search": "search",
    "verification": "verify",
    "verify": "verify",
    "draft": "writing",
    "writing": "writing",
    "evaluation": "evaluation",
    "turnitin": "turnitin",
}


class CheckpointManager:
    """The operators' guide's checkpoint API over the database."""

    def save_checkpoint(
        self,
        session_id: str,
        stage: str,
        prompt: str,
        context: Mapping[str, Any],
        stage_metrics: dict[str, Any] | None = None,
    ) -> Checkpoint:
        if stage not in STAGES:
            raise InvalidRequestError(
                f"Unknown stage {stage!r}; stages are {', '.join(STAGES)}."
            )

        session = self._session(session_id, prompt)
        result = self._stage_result(stage, context)
        with transaction.atomic():
            Checkpoint.objects.filter(session=session, stage=stage).delete()
            return new_checkpoint(session, stage, result, stage_metrics or {})

    def load_checkpoint(self, session_id: str) -> WorkflowCheckpoint | None:
        """Return the session's newest valid workflow checkpoint, or None."""
        session = find_session(session_id)
        results = load_results(session)
        if not results:
            return None

        metrics = {
            row.stage: row.stage_metrics
            for row in session.checkpoints.filter(stage__in=list(results))
        }
        return assemble(session, results, metrics)

    def _session(self, session_id: str, prompt: str) -> ResearchSession:
        try:
            key = uuid.UUID(session_id)
        except ValueError:
            return find_session(session_id)

        existing = ResearchSession.objects.filter(pk=key).first()
        if existing is not None:
            return existing
        return create_session(prompt, session_id=key)

    def _stage_result(self, stage: str, context: Mapping[str, Any]) -> BaseModel:
        for key, value in context.items():
            if _CONTEXT_KEYS.get(key) == stage and isinstance(value, BaseModel):
                if stage == "evaluation" and not isinstance(value, EvaluationOutcome):
                    initial = context.get("initial_evaluation", value)
                    return EvaluationOutcome(
                        initial_evaluation=initial, evaluation=value
                    )
                return value
        raise InvalidRequestError(f"The context holds no result for stage {stage!r}.")
