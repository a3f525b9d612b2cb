"""One question to the model whose answer must validate as a given model,
with at most one request to repair an answer that does not."""

import json
import logging
import re
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from research.exceptions import StageError
from research.llm import prompts
from research.llm.budget import Meter
from research.llm.client import ChatClient, Message

logger = logging.getLogger(__name__)

AnswerT = TypeVar("AnswerT", bound=BaseModel)

FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
PROBLEM_LENGTH = 1200


def ask(
    client: ChatClient,
    meter: Meter,
    messages: list[Message],
    answer: type[AnswerT],
    *,
    max_tokens: int,
    check: Callable[[AnswerT], None] | None = None,
) -> AnswerT:
    """Return the model's answer as `answer`; `check` may raise ValueError
    for rules that need more than the answer itself."""
    conversation = list(messages)
    problem = ""
    for round_number in (1, 2):
        meter.reserve(conversation, max_tokens)
        completion = client.complete(conversation, max_tokens)
        meter.record(completion)
        try:
            parsed = parse(completion.content, answer)
            if check is not None:
                check(parsed)
            return parsed
        except (ValueError, ValidationError) as error:
            problem = _describe(error)

        if round_number == 1:
            logger.warning(
                "Session %s: %s: the model's answer did not validate (%s); "
                "asking once for a repair",
                meter.session_id,
                meter.stage,
                problem[:200],
            )
            conversation += prompts.repair(completion.content, problem)

    raise StageError(
        f"The model's {meter.stage} answer did not have the expected shape, even "
        f"after one repair request: {problem[:300]}"
    )


def parse(content: str, answer: type[AnswerT]) -> AnswerT:
    """Read a JSON object out of the model's text, fenced or not."""
    stripped = FENCE.sub("", content.strip())
    start, end = stripped.find("{"), stripped.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the answer holds no JSON object")
    try:
        data = json.loads(stripped[start : end + 1])
    except json.JSONDecodeError as error:
        raise ValueError(f"the answer is not valid JSON ({error})") from None
    return answer.model_validate(data)


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        lines = [
            f"{'.'.join(str(part) for part in item['loc']) or 'answer'}: {item['msg']}"
            for item in error.errors()
        ]
        return "; ".join(lines)[:PROBLEM_LENGTH]
    return str(error)[:PROBLEM_LENGTH]
