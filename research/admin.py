from django.contrib import admin

from research.models import Checkpoint, ResearchSession, StageEvent


class StageEventInline(admin.TabularInline[StageEvent, ResearchSession]):
    model = StageEvent
    extra = 0
    can_delete = False
    readonly_fields = (
        "seq",
        "stage",
        "status",
        "attempt",
        "duration_seconds",
        "timestamp",
        "error",
    )
    fields = readonly_fields


@admin.register(ResearchSession)
class ResearchSessionAdmin(admin.ModelAdmin[ResearchSession]):
    list_display = ["id", "status", "current_stage", "owner", "created_at"]
    list_filter = ["status", "checkpointing"]
    search_fields = ["id", "prompt"]
    readonly_fields = ["id", "created_at", "updated_at", "last_seq", "fingerprint"]
    inlines = [StageEventInline]


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin[Checkpoint]):
    list_display = ["session", "stage", "schema_version", "created_at"]
    list_filter = ["stage"]
    readonly_fields = ["session", "stage", "schema_version", "fingerprint", "result"]


@admin.register(StageEvent)
class StageEventAdmin(admin.ModelAdmin[StageEvent]):
    list_display = ["session", "seq", "stage", "status", "attempt", "timestamp"]
    list_filter = ["stage", "status"]
