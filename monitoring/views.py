"""Dashboard pages: session history, a new session, one session and its actions.

Every view that touches a session goes through _session_for_user: owners see
their own sessions, staff see all, anyone else gets a 404.
"""

import logging
import uuid
from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from monitoring.audit import record_action
from monitoring.forms import ExportForm, RerunForm, SessionFilterForm, SessionForm
from monitoring.models import ActionKind
from monitoring.progress import stage_rows, summarize, with_progress
from monitoring.reports import (
    checkpoints_json,
    export_filename,
    report_html_document,
    session_results,
    telemetry_json,
)
from research import exports
from research.exceptions import (
    CheckpointMismatchError,
    ProwziError,
    QueueUnavailableError,
    SessionStateError,
)
from research.models import ResearchSession, SessionStatus
from research.sessions import (
    cancel_session,
    create_session,
    enqueue,
    fork_session,
    request_resume,
)
from research.stages import STAGES

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
QUEUE_DOWN = (
    "Session {id} is stored, but the job queue cannot be reached right now. "
    "It starts by itself when the queue is back, or press Resume on this page "
    "then."
)


def _sessions_for_user(request: HttpRequest) -> QuerySet[ResearchSession]:
    sessions = ResearchSession.objects.all()
    if not request.user.is_staff:
        sessions = sessions.filter(owner_id=request.user.pk)
    return sessions


def _session_for_user(request: HttpRequest, session_id: object) -> ResearchSession:
    return get_object_or_404(_sessions_for_user(request), pk=session_id)


def _not_found(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "404.html", {"reason": reason}, status=404)


def _bad_request(
    request: HttpRequest, reason: str, session: ResearchSession
) -> HttpResponse:
    return render(
        request, "400.html", {"reason": reason, "session": session}, status=400
    )


def _attachment(body: str | bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _filtered(
    sessions: QuerySet[ResearchSession], form: SessionFilterForm
) -> QuerySet[ResearchSession]:
    if not form.is_valid():
        return sessions

    data = form.cleaned_data
    if data["status"]:
        sessions = sessions.filter(status=data["status"])
    if data["since"]:
        start = timezone.make_aware(datetime.combine(data["since"], time.min))
        sessions = sessions.filter(created_at__gte=start)
    if data["until"]:
        end = timezone.make_aware(datetime.combine(data["until"], time.max))
        sessions = sessions.filter(created_at__lte=end)
    if data["q"]:
        sessions = sessions.filter(prompt__icontains=data["q"])
    return sessions


@login_required
@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    form = SessionFilterForm(request.GET)
    owned = _sessions_for_user(request)
    sessions = _filtered(owned, form).order_by("-created_at", "-id")
    paginator = Paginator(sessions.values_list("pk", flat=True), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    # The page's ids come from the index alone; rows and progress counts are
    # read for those ids only, not for every row a deep page skips.
    ids = list(page.object_list)
    # Filtered again by owner only: a row whose status changed since the ids
    # were read still fills its place on the page.
    page_rows = owned.filter(pk__in=ids).order_by("-created_at", "-id")
    rows = list(with_progress(page_rows).select_related("owner"))

    query = request.GET.copy()
    query.pop("page", None)
    filtering = any(value for key, value in request.GET.items() if key != "page")
    context = {
        "page": page,
        "rows": rows,
        "form": form,
        "query": query.urlencode(),
        "filtering": filtering,
        "has_any": filtering or rows or owned.exists(),
        "live_insert": page.number == 1 and not filtering,
        "stages_total": len(STAGES),
    }
    return render(request, "monitoring/session_list.html", context)


@login_required
def session_new(request: HttpRequest) -> HttpResponse:
    form = SessionForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(
            request, "monitoring/session_new.html", {"form": form}, status=status
        )

    submission_id = form.cleaned_data["submission_id"] or uuid.uuid4()
    existing = ResearchSession.objects.filter(pk=submission_id).first()
    if existing is not None:
        return _already_submitted(request, existing)

    try:
        with transaction.atomic():
            session = create_session(
                form.cleaned_data["prompt"],
                form.options(),
                owner=request.user,  # type: ignore[arg-type]
                checkpointing=form.cleaned_data["checkpointing"],
                session_id=submission_id,
            )
    except IntegrityError:
        return _already_submitted(
            request, ResearchSession.objects.get(pk=submission_id)
        )
    except ProwziError as error:
        form.add_error(None, str(error))
        return render(
            request, "monitoring/session_new.html", {"form": form}, status=400
        )

    try:
        enqueue(session)
    except QueueUnavailableError:
        record_action(request, session, ActionKind.SUBMITTED, "job queue unreachable")
        messages.warning(request, QUEUE_DOWN.format(id=session.short_id))
        return redirect("monitoring-session-detail", session.id)

    record_action(request, session, ActionKind.SUBMITTED)
    messages.success(request, f"Session {session.short_id} is queued.")
    return redirect("monitoring-session-detail", session.id)


def _already_submitted(request: HttpRequest, session: ResearchSession) -> HttpResponse:
    """Answer a repeated submission of one form with the session it made."""
    if session.owner_id != request.user.pk:
        raise Http404("No such session.")
    messages.info(request, f"Session {session.short_id} was already submitted.")
    return redirect("monitoring-session-detail", session.id)


@login_required
@require_GET
def session_detail(request: HttpRequest, session_id: object) -> HttpResponse:
    session = _session_for_user(request, session_id)
    events = list(session.events.order_by("seq"))
    results = session_results(session)
    context = {
        "session": session,
        "rows": stage_rows(session, events),
        "summary": summarize(session, events),
        "events": events,
        "event_dicts": [event.as_dict() for event in events],
        "last_seq": events[-1].seq if events else 0,
        "failed_events": [event for event in events if event.error],
        "results": results,
        "can_export": session.status == SessionStatus.COMPLETED
        and results.draft is not None,
        "export_form": ExportForm(initial={"style": results.export_style}),
        "stages": STAGES,
        "can_requeue": session.status == SessionStatus.QUEUED,
        "can_cancel": session.status in (SessionStatus.QUEUED, SessionStatus.RUNNING),
        "can_rerun": session.checkpointing
        and session.status not in (SessionStatus.QUEUED, SessionStatus.RUNNING),
    }
    return render(request, "monitoring/session_detail.html", context)


@login_required
@require_POST
def session_resume(request: HttpRequest, session_id: object) -> HttpResponse:
    session = _session_for_user(request, session_id)
    try:
        if session.status != SessionStatus.QUEUED:
            session = request_resume(session)
        enqueue(session)
    except QueueUnavailableError:
        record_action(request, session, ActionKind.RESUMED, "job queue unreachable")
        messages.warning(request, QUEUE_DOWN.format(id=session.short_id))
        return redirect("monitoring-session-detail", session.id)
    except ProwziError as error:
        messages.error(request, str(error))
        return redirect("monitoring-session-detail", session.id)

    record_action(request, session, ActionKind.RESUMED)
    messages.success(request, f"Session {session.short_id} is queued to resume.")
    return redirect("monitoring-session-detail", session.id)


@login_required
@require_POST
def session_rerun(request: HttpRequest, session_id: object) -> HttpResponse:
    session = _session_for_user(request, session_id)
    form = RerunForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the seven stages to re-run from.")
        return redirect("monitoring-session-detail", session.id)

    stage = form.cleaned_data["stage"]
    try:
        child = fork_session(session, stage, owner=request.user)  # type: ignore[arg-type]
    except ProwziError as error:
        messages.error(request, str(error))
        return redirect("monitoring-session-detail", session.id)

    detail = f"from {stage} of {session.id}"
    try:
        enqueue(child)
    except QueueUnavailableError:
        record_action(request, child, ActionKind.RERUN, f"{detail}; queue unreachable")
        messages.warning(request, QUEUE_DOWN.format(id=child.short_id))
        return redirect("monitoring-session-detail", child.id)

    record_action(request, child, ActionKind.RERUN, detail)
    messages.success(
        request, f"Session {child.short_id} re-runs {session.short_id} from {stage}."
    )
    return redirect("monitoring-session-detail", child.id)


@login_required
@require_POST
def session_cancel(request: HttpRequest, session_id: object) -> HttpResponse:
    session = _session_for_user(request, session_id)
    if not cancel_session(session):
        messages.info(
            request,
            f"Session {session.short_id} is {session.get_status_display().lower()}; "
            "there is nothing to cancel.",
        )
        return redirect("monitoring-session-detail", session.id)

    record_action(request, session, ActionKind.CANCELLED)
    messages.success(request, f"Session {session.short_id} is cancelled.")
    return redirect("monitoring-session-detail", session.id)


DOWNLOADS = {
    "report.md": "text/markdown; charset=utf-8",
    "report.html": "text/html; charset=utf-8",
    "telemetry.json": "application/json",
    "checkpoints.json": "application/json",
}


@login_required
@require_GET
def session_download(
    request: HttpRequest, session_id: object, name: str
) -> HttpResponse:
    session = _session_for_user(request, session_id)
    if name not in DOWNLOADS:
        return _not_found(request, "There is no such download.")

    if name == "telemetry.json":
        body = telemetry_json(session)
    elif name == "checkpoints.json":
        body = checkpoints_json(session)
    else:
        results = session_results(session)
        if not results.report_markdown:
            return _not_found(request, "This session has no report yet.")
        if name == "report.md":
            body = results.report_markdown
        else:
            body = report_html_document(session, results)

    return _attachment(body, DOWNLOADS[name], f"prowzi-{session.short_id}-{name}")


NOT_EXPORTABLE = (
    "This session kept no checkpoints of its report, so it can be downloaded "
    "only as written (report Markdown or HTML), not in another citation style."
)


@login_required
@require_GET
def session_export(request: HttpRequest, session_id: object) -> HttpResponse:
    """The report in the format and citation style chosen on the session page."""
    session = _session_for_user(request, session_id)
    form = ExportForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form.refusal(), session)
    if session.status != SessionStatus.COMPLETED:
        return _not_found(request, "This session has no report yet.")

    fmt, style = form.cleaned_data["format"], form.cleaned_data["style"]
    try:
        content, content_type, _ = exports.render(session, fmt, style)
    except SessionStateError:
        return _not_found(request, NOT_EXPORTABLE)
    except CheckpointMismatchError as error:
        logger.warning("Session %s: report not exported: %s", session.id, error)
        return _not_found(
            request, f"This session's stored results cannot be read: {error}"
        )
    return _attachment(content, content_type, export_filename(session, fmt, style))
