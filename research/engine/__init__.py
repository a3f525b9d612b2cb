"""The research engine: one runner per stage, keyed by stage name.

Intent, planning, writing and evaluation go to the model engine
(research.llm) when a model is configured, and to the offline engine
otherwise; the choice is made at each run, from the settings.
"""

from collections.abc import Callable

from pydantic import BaseModel

from research.engine import (
    evaluation,
    intent,
    originality,
    planning,
    search,
    verify,
    writing,
)
from research.stages import StageInput

Runner = Callable[[StageInput], BaseModel]


def _model_or_offline(stage: str, offline: Runner) -> Runner:
    def run(stage_input: StageInput) -> BaseModel:
        from research import llm

        if not llm.enabled():
            return offline(stage_input)

        from research.llm.stages import RUNNERS as MODEL_RUNNERS

        return MODEL_RUNNERS[stage](stage_input)

    run.__name__ = f"run_{stage}"
    return run


RUNNERS: dict[str, Runner] = {
    "intent": _model_or_offline("intent", intent.run),
    "planning": _model_or_offline("planning", planning.run),
    "search": search.run,
    "verify": verify.run,
    "writing": _model_or_offline("writing", writing.run),
    "evaluation": _model_or_offline("evaluation", evaluation.run),
    "turnitin": originality.run,
}

__all__ = ["RUNNERS"]
