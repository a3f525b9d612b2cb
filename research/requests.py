"""Validation of what users send: the prompt and the session options."""

import unicodedata
from typing import Any

from pydantic import ValidationError

from research.exceptions import InvalidRequestError
from research.schemas import ResearchOptions

MAX_PROMPT_CHARS = 2000
_ALLOWED_CONTROLS = {"\n", "\t"}


def clean_prompt(prompt: str) -> str:
    """Return the prompt with surrounding whitespace removed, or raise.

    Any script is welcome; control characters other than newline and tab are
    refused rather than silently dropped, so what is stored is what was sent.
    """
    text = prompt.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidRequestError("The prompt is empty; describe what to research.")

    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(
            f"The prompt is {len(text)} characters long; the limit is "
            f"{MAX_PROMPT_CHARS}."
        )

    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(char) == "Cc":
            raise InvalidRequestError(
                f"The prompt contains a control character (U+{ord(char):04X}); "
                "remove it and try again."
            )
    return text


def clean_options(raw: dict[str, Any] | None) -> ResearchOptions:
    """Validate user options, naming every field that is wrong."""
    try:
        return ResearchOptions.model_validate(raw or {})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"]) or "options"
            problems.append(f"{field}: {item['msg']}")
        raise InvalidRequestError("Invalid options: " + "; ".join(problems)) from None
