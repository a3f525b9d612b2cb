"""Template filters for the dashboard's figures."""

from django import template

from monitoring.progress import format_duration
from monitoring.progress import session_duration as duration_of
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
