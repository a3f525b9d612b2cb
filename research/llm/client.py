"""A chat-completions client for any OpenAI-compatible endpoint (OpenRouter,
a local Ollama, vLLM or llama.cpp server).

Rate limits (429) and server errors (5xx) are retried with backoff, waiting
as long as Retry-After asks; when they persist the stage fails with a
transient error, so the pipeline's own stage retry applies on top. Any other
4xx is a request the endpoint will never accept: the stage fails at once.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from research.exceptions import StageError, TransientStageError
from research.llm.config import LLMSettings
from research.retries import RetryPolicy

logger = logging.getLogger(__name__)

Message = dict[str, str]

# A Retry-After longer than this is not waited out inside one stage attempt.
LONGEST_WAIT = 60.0
# Rough characters per token, on the high side of the token count.
CHARACTERS_PER_TOKEN = 3
ERROR_MESSAGE_LENGTH = 300


@dataclass(frozen=True)
class Completion:
    content: str
    input_tokens: int
    output_tokens: int


def estimate_tokens(messages: list[Message]) -> int:
    characters = sum(len(message["content"]) + 16 for message in messages)
    return math.ceil(characters / CHARACTERS_PER_TOKEN)


class ChatClient:
    """Sends one stage's chat requests; `check_stop` is called while waiting."""

    def __init__(
        self,
        config: LLMSettings,
        *,
        stage: str,
        session_id: str = "",
        check_stop: Callable[[], None] = lambda: None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.stage = stage
        self.session_id = session_id or "-"
        self.check_stop = check_stop
        self.transport = transport
        self.policy = RetryPolicy.from_settings()

    def complete(self, messages: list[Message], max_tokens: int) -> Completion:
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        if self.config.json_mode:
            payload["response_format"] = {"type": "json_object"}

        attempts = self.config.max_retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            self.check_stop()
            try:
                response = self._post(payload)
            except httpx.HTTPError as error:
                problem = f"could not reach {self.config.base_url} ({error})"
                wait = self.policy.delay_after(attempt)
            else:
                if response.status_code == 200:
                    return self._completion(response)
                if response.status_code != 429 and response.status_code < 500:
                    raise StageError(self._refusal(response))
                problem = (
                    f"answered {response.status_code} ({_error_message(response)})"
                )
                wait = _retry_after(response) or self.policy.delay_after(attempt)

            if attempt == attempts or wait > LONGEST_WAIT:
                break
            logger.warning(
                "Session %s: %s: the model endpoint %s; retrying in %.1fs "
                "(attempt %d of %d)",
                self.session_id,
                self.stage,
                problem,
                wait,
                attempt,
                attempts,
            )
            self._pause(wait)

        raise TransientStageError(
            f"{self.stage}: the model endpoint at {self.config.base_url} {problem}; "
            f"gave up after {attempt} attempts"
        )

    def _post(self, payload: dict[str, Any]) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        with httpx.Client(
            base_url=self.config.base_url.rstrip("/") + "/",
            timeout=self.config.timeout_seconds,
            transport=self.transport,
        ) as http:
            return http.post("chat/completions", json=payload, headers=headers)

    def _completion(self, response: httpx.Response) -> Completion:
        try:
            body = response.json()
            content = body["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise TransientStageError(
                f"{self.stage}: the model endpoint at {self.config.base_url} "
                "answered 200 with something other than a chat completion"
            ) from None

        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        input_tokens = usage.get("prompt_tokens")
        output_tokens = usage.get("completion_tokens")
        if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
            logger.warning(
                "Session %s: %s: the model endpoint reported no token usage; "
                "cost is estimated from the text length",
                self.session_id,
                self.stage,
            )
            request = response.request.content.decode("utf-8", "replace")
            input_tokens = math.ceil(len(request) / CHARACTERS_PER_TOKEN)
            output_tokens = math.ceil(len(content) / CHARACTERS_PER_TOKEN)
        return Completion(str(content), input_tokens, output_tokens)

    def _refusal(self, response: httpx.Response) -> str:
        status = response.status_code
        where = f"The model endpoint at {self.config.base_url}"
        detail = _error_message(response)
        if status in (401, 403):
            return (
                f"{where} refused the credentials ({status}: {detail}); "
                "check PROWZI_LLM_API_KEY."
            )
        if status == 404:
            return (
                f"{where} does not know model {self.config.model!r} or the "
                f"chat-completions path ({status}: {detail}); check "
                "PROWZI_LLM_MODEL and PROWZI_LLM_BASE_URL."
            )
        return f"{where} rejected the {self.stage} request ({status}: {detail})."

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check_stop()
            time.sleep(min(left, 0.2))


def _retry_after(response: httpx.Response) -> float | None:
    """Return the wait Retry-After asks for, in seconds, if it gives one."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, float((when - datetime.now(UTC)).total_seconds()))


def _error_message(response: httpx.Response) -> str:
    """Return the endpoint's own words for an error, shortened."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        message = message or body.get("message")
    text = str(message) if message else response.text or response.reason_phrase
    flat = " ".join(text.split())
    return flat[:ERROR_MESSAGE_LENGTH] or "no detail"
