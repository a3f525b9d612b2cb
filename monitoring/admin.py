from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from monitoring.models import SessionAction
from monitoring.paging import CappedPaginator


@admin.register(SessionAction)
class SessionActionAdmin(admin.ModelAdmin[SessionAction]):
    list_display = [
        "created_at",
        "action",
        "session_link",
        "user",
        "remote_addr",
        "detail",
    ]
    list_filter = ["action", "created_at"]
    search_fields = ["session_ref", "user__username", "remote_addr", "detail"]
    list_select_related = ["user"]
    show_full_result_count = False
    paginator = CappedPaginator
    readonly_fields = (
        "created_at",
        "action",
        "session_link",
        "session_ref",
        "user",
        "remote_addr",
        "detail",
    )
    fields = readonly_fields

    @admin.display(description="session", ordering="session_ref")
    def session_link(self, action: SessionAction) -> str:
        if action.session_id is None:
            return f"{action.session_ref} (deleted)"
        url = reverse("admin:research_researchsession_change", args=[action.session_id])
        return format_html('<a href="{}">{}</a>', url, action.session_ref)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: SessionAction | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: SessionAction | None = None
    ) -> bool:
        return False
