"""The per-session spending limit on model calls.

What a session has spent is the sum of the usage recorded in its stages'
results, so it survives a resume with the checkpoints that hold it. Before
each call the meter adds a worst-case estimate of the call (the prompt's
tokens, estimated, and the whole output allowance) and refuses the call if
the total would pass the budget.
"""

import logging
from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from research.exceptions import BudgetExceededError
from research.llm.client import Completion, Message, estimate_tokens
from research.llm.config import LLMSettings
from research.schemas import LLMUsage

logger = logging.getLogger(__name__)


def spent(results: Mapping[str, BaseModel]) -> float:
    """Return what the stages whose results are given spent on model calls."""
    return sum(_costs(results.values()))


def _costs(results: Iterable[BaseModel]) -> Iterable[float]:
    for result in results:
        usage = getattr(result, "llm_usage", None)
        if isinstance(usage, LLMUsage):
            yield usage.cost_usd


class Meter:
    """Counts one stage's model calls against the session's budget."""

    def __init__(
        self, config: LLMSettings, stage: str, session_id: str, spent_before: float
    ) -> None:
        self.config = config
        self.stage = stage
        self.session_id = session_id or "-"
        self.spent_before = spent_before
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0

    def reserve(self, messages: list[Message], max_tokens: int) -> None:
        """Raise BudgetExceededError if this call could pass the budget."""
        estimate = self.config.cost(estimate_tokens(messages), max_tokens)
        total = self.spent_before + self.cost
        if total + estimate <= self.config.budget_usd:
            return

        logger.warning(
            "Session %s: %s: stopping before a model call; $%.4f spent, the "
            "call may cost up to $%.4f, budget $%.4f",
            self.session_id,
            self.stage,
            total,
            estimate,
            self.config.budget_usd,
        )
        raise BudgetExceededError(
            f"The model budget of ${self.config.budget_usd:.4f} for this session "
            f"would be exceeded at {self.stage}: ${total:.4f} spent so far and "
            f"the next call may cost up to ${estimate:.4f}. Raise "
            "PROWZI_LLM_BUDGET_USD and resume the session; finished stages are "
            "kept."
        )

    def record(self, completion: Completion) -> None:
        cost = self.config.cost(completion.input_tokens, completion.output_tokens)
        self.calls += 1
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.cost += cost
        logger.info(
            "Session %s: %s: model call %d used %d input and %d output tokens ($%.4f)",
            self.session_id,
            self.stage,
            self.calls,
            completion.input_tokens,
            completion.output_tokens,
            cost,
        )

    def usage(self) -> LLMUsage:
        return LLMUsage(
            model=self.config.model,
            calls=self.calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=round(self.cost, 8),
        )
