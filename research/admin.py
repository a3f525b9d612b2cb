"""Admin pages for audits: sessions, their checkpoints and stage events.

Checkpoints and events are records of what happened and are read-only here;
sessions can be inspected and deleted (which is audited), not edited. List
pages never count a whole table and fetch related rows in the same query.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from monitoring.audit import record_action
from monitoring.models import ActionKind
from monitoring.paging import CappedPaginator
from research.models import Checkpoint, ResearchSession, StageEvent
from research.stages import STAGES


def _changelist(model: str, **filters: object) -> str:
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return f"{reverse(f'admin:{model}_changelist')}?{query}"


def _session_link(session_id: object) -> str:
    if session_id is None:
        return "-"
    url = reverse("admin:research_researchsession_change", args=[session_id])
    return format_html('<a href="{}">{}</a>', url, str(session_id)[:8])


def stage_filter(field_name: str) -> type[admin.SimpleListFilter]:
    """A list filter offering the pipeline's stages. Django's own filter for a
    plain field asks the database which values occur, a SELECT DISTINCT over
    the whole table on every page view."""

    class StageFilter(admin.SimpleListFilter):
        title = field_name.replace("_", " ")
        parameter_name = field_name

        def lookups(
            self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
        ) -> list[tuple[str, str]]:
            return [(stage, stage) for stage in STAGES]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
            value = self.value()
            return queryset.filter(**{field_name: value}) if value else queryset

    return StageFilter


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    show_full_result_count = False
    paginator = CappedPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Any | None = None
    ) -> bool:
        return False


@admin.register(ResearchSession)
class ResearchSessionAdmin(ReadOnlyAdmin):
    list_display = [
        "short_id",
        "prompt_preview",
        "status",
        "owner",
        "current_stage",
        "runs",
        "checkpointing",
        "created_at",
        "completed_at",
    ]
    list_display_links = ["short_id"]
    list_filter = [
        "status",
        "checkpointing",
        stage_filter("current_stage"),
        "created_at",
    ]
    search_fields = ["id", "prompt", "owner__username"]
    list_select_related = ["owner"]
    actions = ["delete_selected"]
    readonly_fields = (
        "id",
        "status",
        "owner",
        "prompt",
        "options",
        "checkpointing",
        "current_stage",
        "error",
        "runs",
        "last_seq",
        "created_at",
        "started_at",
        "completed_at",
        "updated_at",
        "parent_link",
        "related_links",
        "fingerprint",
        "pipeline_version",
        "lease_owner",
        "lease_expires_at",
    )
    fields = readonly_fields

    @admin.display(description="prompt")
    def prompt_preview(self, session: ResearchSession) -> str:
        text = " ".join(session.prompt.split())
        return text if len(text) <= 60 else text[:59] + "…"

    @admin.display(description="re-run or resume of")
    def parent_link(self, session: ResearchSession) -> str:
        return _session_link(session.parent_id)

    @admin.display(description="records")
    def related_links(self, session: ResearchSession) -> str:
        return format_html(
            '<a href="{}">stage events</a> · <a href="{}">checkpoints</a> · '
            '<a href="{}">audit actions</a> · <a href="{}">dashboard page</a>',
            _changelist("research_stageevent", session__id__exact=session.pk),
            _changelist("research_checkpoint", session__id__exact=session.pk),
            _changelist("monitoring_sessionaction", session_ref=session.pk),
            reverse("monitoring-session-detail", args=[session.pk]),
        )

    def delete_model(self, request: HttpRequest, obj: ResearchSession) -> None:
        record_action(request, obj, ActionKind.DELETED, "deleted in the admin")
        super().delete_model(request, obj)

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[ResearchSession]
    ) -> None:
        for session in queryset:
            record_action(request, session, ActionKind.DELETED, "deleted in the admin")
        super().delete_queryset(request, queryset)


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "session_link",
        "stage",
        "schema_version",
        "pipeline_version",
        "created_at",
    ]
    list_filter = [stage_filter("stage"), "schema_version", "created_at"]
    search_fields = ["session__id", "fingerprint"]
    ordering = ["-id"]
    actions = None
    readonly_fields = (
        "session_link",
        "stage",
        "schema_version",
        "pipeline_version",
        "fingerprint",
        "created_at",
        "stage_metrics",
        "result",
    )
    fields = readonly_fields

    @admin.display(description="session", ordering="session_id")
    def session_link(self, checkpoint: Checkpoint) -> str:
        return _session_link(checkpoint.session_id)


@admin.register(StageEvent)
class StageEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "session_link",
        "seq",
        "stage",
        "status",
        "attempt",
        "duration_seconds",
        "timestamp",
        "error_preview",
    ]
    list_filter = [stage_filter("stage"), "status", "timestamp"]
    search_fields = ["session__id", "error"]
    ordering = ["-id"]
    actions = None
    readonly_fields = (
        "session_link",
        "seq",
        "stage",
        "status",
        "attempt",
        "duration_seconds",
        "timestamp",
        "details",
        "error",
    )
    fields = readonly_fields

    @admin.display(description="session", ordering="session_id")
    def session_link(self, event: StageEvent) -> str:
        return _session_link(event.session_id)

    @admin.display(description="error")
    def error_preview(self, event: StageEvent) -> str:
        return event.error if len(event.error) <= 80 else event.error[:79] + "…"
