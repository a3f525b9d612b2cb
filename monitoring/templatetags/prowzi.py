"""Template filters for the dashboard's figures and report text."""

from django import template
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString

from monitoring.progress import format_duration
from monitoring.progress import session_duration as duration_of
from research.exports.csl import Run
from research.models import ResearchSession

register = template.Library()


@register.filter
def session_duration(session: ResearchSession) -> str:
    return format_duration(duration_of(session))


@register.filter
def seconds(value: float | None) -> str:
    return format_duration(value)


@register.filter
def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


@register.filter
def styled(runs: list[Run]) -> SafeString:
    """Report text with its emphasis shown; the text itself is escaped."""
    return format_html_join("", "{}", ((_styled_html(run),) for run in runs))


def _styled_html(run: Run) -> SafeString:
    if run.bold:
        return format_html("<strong>{}</strong>", run.text)
    if run.italic:
        return format_html("<em>{}</em>", run.text)
    return conditional_escape(run.text)
