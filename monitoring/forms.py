"""Forms of the dashboard: a new session, history filters, re-run from a
stage, and a report export.

The new-session form takes its choices and bounds from ResearchOptions and
leaves the final word to research.requests, so the web form and the command
line accept exactly the same requests.
"""

import uuid
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from django import forms
from django.conf import settings

from research import exports
from research.exceptions import InvalidRequestError
from research.models import SessionStatus
from research.requests import MAX_PROMPT_CHARS, clean_options, clean_prompt
from research.schemas import ResearchOptions
from research.stages import STAGES

AUTOMATIC = ("", "Automatic")
LABELS = {
    "literature_review": "Literature review",
    "apa": "APA",
    "ieee": "IEEE",
    "mla": "MLA",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
}
EXPORT_LABELS = {
    "md": "Markdown",
    "html": "HTML",
    "docx": "Word (DOCX)",
    "bibtex": "BibTeX",
}


def _choices(name: str) -> list[tuple[str, str]]:
    """The values an option's Literal type allows, for a select."""
    annotation = ResearchOptions.model_fields[name].annotation
    values: list[str] = []
    stack = [annotation]
    while stack:
        current = stack.pop()
        origin = get_origin(current)
        if origin is Literal:
            values.extend(str(value) for value in get_args(current))
        elif origin in (Union, UnionType):
            stack.extend(arg for arg in get_args(current) if arg is not NoneType)
    labels = [
        (value, LABELS.get(value, value.replace("_", " ").title())) for value in values
    ]
    return [AUTOMATIC, *labels]


def _bounds(name: str) -> dict[str, Any]:
    """min_value and max_value of a numeric option, from its Field metadata."""
    bounds: dict[str, Any] = {}
    for item in ResearchOptions.model_fields[name].metadata:
        if isinstance(item, annotated_types.Ge):
            bounds["min_value"] = item.ge
        elif isinstance(item, annotated_types.Le):
            bounds["max_value"] = item.le
    return bounds


def _default(name: str) -> Any:
    return ResearchOptions.model_fields[name].default


class SessionForm(forms.Form):
    prompt = forms.CharField(
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "maxlength": MAX_PROMPT_CHARS,
                "placeholder": "Write a literature review on renewable energy "
                "and the power grid",
            }
        ),
        strip=False,
        help_text=f"What to research, in any script; up to {MAX_PROMPT_CHARS} "
        "characters. Reports are written in English, Spanish or French, and the "
        "bundled corpus holds articles in those three languages only.",
    )
    document_type = forms.ChoiceField(choices=_choices("document_type"), required=False)
    citation_style = forms.ChoiceField(
        choices=_choices("citation_style"), required=False
    )
    language = forms.ChoiceField(choices=_choices("language"), required=False)
    max_sources = forms.IntegerField(
        label="Number of sources",
        initial=_default("max_sources"),
        **_bounds("max_sources"),
    )
    verify_threshold = forms.FloatField(
        initial=_default("verify_threshold"),
        help_text="Sources scoring below this are dropped (0 to 1).",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        **_bounds("verify_threshold"),
    )
    evaluation_threshold = forms.FloatField(
        initial=_default("evaluation_threshold"),
        help_text="A draft scoring below this is revised once (0 to 1).",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        **_bounds("evaluation_threshold"),
    )
    target_words = forms.IntegerField(
        required=False,
        help_text="Leave empty to let the prompt decide.",
        **_bounds("target_words"),
    )
    checkpointing = forms.BooleanField(
        required=False,
        initial=settings.PROWZI_ENABLE_CHECKPOINTING,
        help_text="Keep each stage's result so the session can be resumed.",
    )
    # A fresh id with every rendered form becomes the session's id, so a
    # second POST of the same form (a double click, a resend) cannot create
    # a second session: the database's primary key refuses it.
    submission_id = forms.UUIDField(
        widget=forms.HiddenInput, initial=uuid.uuid4, required=False
    )

    def clean_prompt(self) -> str:
        try:
            return clean_prompt(self.cleaned_data["prompt"])
        except InvalidRequestError as error:
            raise forms.ValidationError(str(error)) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned

        try:
            clean_options(self.options())
        except InvalidRequestError as error:
            raise forms.ValidationError(str(error)) from None
        return cleaned

    def options(self) -> dict[str, Any]:
        """The options as research.requests takes them; empty means default."""
        data = self.cleaned_data
        names = [name for name in ResearchOptions.model_fields if name in data]
        return {name: data[name] for name in names if data[name] not in ("", None)}


class SessionFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *SessionStatus.choices], required=False
    )
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    q = forms.CharField(label="Prompt contains", required=False, max_length=200)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The From date is after the To date.")
        return cleaned


class RerunForm(forms.Form):
    stage = forms.ChoiceField(choices=[(stage, stage) for stage in STAGES])


class ExportForm(forms.Form):
    """The report's export format and citation style, as query parameters.

    Both are required: a link that leaves one out is refused rather than
    guessed, so a file's name always says what is in it.
    """

    format = forms.ChoiceField(
        choices=[(name, EXPORT_LABELS.get(name, name)) for name in exports.FORMATS],
        initial="docx",
    )
    style = forms.ChoiceField(
        label="Citation style",
        choices=[(name, LABELS.get(name, name.title())) for name in exports.STYLES],
    )

    def refusal(self) -> str:
        """Why the request was refused, naming what is accepted; the values
        sent are not repeated back."""
        reasons = []
        if "format" in self.errors:
            reasons.append(
                "The export format must be one of " + ", ".join(exports.FORMATS) + "."
            )
        if "style" in self.errors:
            reasons.append(
                "The citation style must be one of " + ", ".join(exports.STYLES) + "."
            )
        return " ".join(reasons)
