"""Validation of prompts and options, as every way in applies it."""

import pytest

from research.exceptions import InvalidRequestError
from research.requests import MAX_PROMPT_CHARS, clean_options, clean_prompt


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t "])
def test_empty_prompt_is_refused(prompt):
    with pytest.raises(InvalidRequestError, match="empty"):
        clean_prompt(prompt)


def test_prompt_beyond_the_limit_is_refused_with_the_limit_named():
    with pytest.raises(InvalidRequestError, match=str(MAX_PROMPT_CHARS)):
        clean_prompt("a" * (MAX_PROMPT_CHARS + 1))


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b"])
def test_control_characters_are_refused(char):
    with pytest.raises(InvalidRequestError, match="control character"):
        clean_prompt(f"Write about grids{char}")


@pytest.mark.parametrize(
    "prompt",
    [
        "اكتب مراجعة عن الطاقة المتجددة",
        "写一篇关于电网的文献综述",
        "Essay on solar power ☀️ and <script>alert(1)</script>",
    ],
)
def test_any_script_is_kept_exactly(prompt):
    assert clean_prompt(f"  {prompt}\n") == prompt


def test_unknown_option_is_named_in_the_error():
    with pytest.raises(InvalidRequestError, match="colour"):
        clean_options({"colour": "blue"})


def test_out_of_range_option_is_named_in_the_error():
    with pytest.raises(InvalidRequestError, match="max_sources"):
        clean_options({"max_sources": 0})
