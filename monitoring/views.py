"""Dashboard pages: session history and one session's stages and report."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from monitoring.telemetry import stage_table, stages_completed, workflow_metrics
from research.models import ResearchSession
from research.stages import STAGES


def _sessions_for_user(request: HttpRequest) -> QuerySet[ResearchSession]:
    sessions = ResearchSession.objects.all()
    if not request.user.is_staff:
        sessions = sessions.filter(owner_id=request.user.pk)
    return sessions


def _session_for_user(request: HttpRequest, session_id: object) -> ResearchSession:
    return get_object_or_404(_sessions_for_user(request), pk=session_id)


@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(_sessions_for_user(request).order_by("-created_at"), 25)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "monitoring/session_list.html", {"page": page})


@login_required
def session_detail(request: HttpRequest, session_id: object) -> HttpResponse:
    session = _session_for_user(request, session_id)
    events = list(session.events.order_by("seq"))
    latest = stage_table(events)
    rows = [(stage, latest.get(stage)) for stage in STAGES]
    context = {
        "session": session,
        "rows": rows,
        "events": events,
        "metrics": workflow_metrics(session),
        "stages_completed": stages_completed(events),
    }
    return render(request, "monitoring/session_detail.html", context)
