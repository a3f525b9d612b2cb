"""The offline research engine: one runner per stage, keyed by stage name."""

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

RUNNERS: dict[str, Callable[[StageInput], BaseModel]] = {
    "intent": intent.run,
    "planning": planning.run,
    "search": search.run,
    "verify": verify.run,
    "writing": writing.run,
    "evaluation": evaluation.run,
    "turnitin": originality.run,
}

__all__ = ["RUNNERS"]
