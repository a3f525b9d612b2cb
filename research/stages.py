"""The seven stages: their order, result types and the engine that runs each."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from research.schemas import (
    EvaluationOutcome,
    IntentAnalysis,
    OriginalityResult,
    ResearchOptions,
    ResearchPlan,
    SearchResult,
    VerificationResult,
    WritingResult,
)

if TYPE_CHECKING:
    from research.corpus import Corpus

STAGES: tuple[str, ...] = (
    "intent",
    "planning",
    "search",
    "verify",
    "writing",
    "evaluation",
    "turnitin",
)

RESULT_TYPES: dict[str, type[BaseModel]] = {
    "intent": IntentAnalysis,
    "planning": ResearchPlan,
    "search": SearchResult,
    "verify": VerificationResult,
    "writing": WritingResult,
    "evaluation": EvaluationOutcome,
    "turnitin": OriginalityResult,
}


def _no_stop() -> None:
    return None


@dataclass(frozen=True)
class StageInput:
    """What a stage sees: the request, the corpus and earlier stages' results.

    Long stages call check_stop() between units of work; it raises when the
    run must stop (cancelled, or the lease on the session was lost).
    """

    prompt: str
    options: ResearchOptions
    corpus: "Corpus"
    results: Mapping[str, BaseModel] = field(default_factory=dict)
    check_stop: Callable[[], None] = _no_stop
    # Names the session in log lines; empty when a stage runs outside one.
    session_id: str = ""

    def result(self, stage: str) -> Any:
        return self.results[stage]


def run_stage(stage: str, stage_input: StageInput) -> BaseModel:
    """Run one stage of the offline engine and return its typed result."""
    from research.engine import RUNNERS

    result: BaseModel = RUNNERS[stage](stage_input)
    return result


def telemetry_details(result: BaseModel) -> dict[str, Any]:
    details = getattr(result, "telemetry_details", None)
    return dict(details()) if callable(details) else {}


def final_draft(results: Mapping[str, BaseModel]) -> WritingResult | None:
    """Return the revised draft if evaluation made one, else the first draft."""
    outcome = results.get("evaluation")
    if isinstance(outcome, EvaluationOutcome) and outcome.revised_draft is not None:
        return outcome.revised_draft

    draft = results.get("writing")
    return draft if isinstance(draft, WritingResult) else None
