"""Research sessions, their per-stage checkpoints and their stage events.

The database, not the job queue, is the truth about a session: a worker that
dies leaves its session's row behind, and everything needed to resume it is
in these tables.
"""

import uuid
from typing import Any

from django.conf import settings
from django.db import models


class SessionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"  # waiting for a worker to claim it
    RUNNING = "running", "Running"  # a worker holds its lease
    COMPLETED = "completed", "Completed"  # report written; never changes again
    FAILED = "failed", "Failed"  # a stage gave up; resumable if checkpointed
    INTERRUPTED = "interrupted", "Interrupted"  # its worker stopped; resumable
    CANCELLED = "cancelled", "Cancelled"  # stopped on request; resumable

    @classmethod
    def resumable(cls) -> list[str]:
        return [cls.FAILED, cls.INTERRUPTED, cls.CANCELLED]


class EventStatus(models.TextChoices):
    STARTED = "started", "Started"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    RETRYING = "retrying", "Retrying"
    SKIPPED = "skipped", "Skipped"


class ResearchSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prompt = models.TextField()
    options = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=SessionStatus.choices, default=SessionStatus.QUEUED
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="research_sessions",
    )
    checkpointing = models.BooleanField(default=True)
    fingerprint = models.CharField(max_length=64)
    pipeline_version = models.CharField(max_length=32)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    current_stage = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)
    report = models.TextField(blank=True)

    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The session this one was resumed or forked from.",
    )
    runs = models.PositiveIntegerField(default=0)
    last_seq = models.PositiveIntegerField(default=0)

    # The lease: whoever holds lease_token may write for this session until
    # lease_expires_at; a stale writer's token no longer matches.
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # The history page and the admin list the newest sessions first, all
        # of them or one owner's; with the id in the index a page's ids are
        # found without reading the rows, which hold whole reports.
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["-created_at", "-id"], name="session_newest_first"),
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="session_owner_newest_first",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def short_id(self) -> str:
        return str(self.id)[:8]

    @property
    def is_finished(self) -> bool:
        return self.status == SessionStatus.COMPLETED

    @property
    def can_resume(self) -> bool:
        return self.checkpointing and self.status in SessionStatus.resumable()


class Checkpoint(models.Model):
    session = models.ForeignKey(
        ResearchSession, on_delete=models.CASCADE, related_name="checkpoints"
    )
    stage = models.CharField(max_length=16)
    schema_version = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=64)
    pipeline_version = models.CharField(max_length=32)
    result = models.JSONField()
    stage_metrics = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "stage"], name="one_checkpoint_per_stage"
            )
        ]

    def __str__(self) -> str:
        return f"{self.session_id}_{self.stage}"


class StageEvent(models.Model):
    session = models.ForeignKey(
        ResearchSession, on_delete=models.CASCADE, related_name="events"
    )
    seq = models.PositiveIntegerField()
    stage = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=EventStatus.choices)
    attempt = models.PositiveIntegerField(default=1)
    duration_seconds = models.FloatField(null=True, blank=True)
    timestamp = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "seq"], name="one_event_per_sequence_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.session_id} #{self.seq} {self.stage} {self.status}"

    def as_dict(self) -> dict[str, Any]:
        """The event in the operators' guide's per-stage shape, plus its seq."""
        return {
            "seq": self.seq,
            "stage": self.stage,
            "status": self.status,
            "attempt": self.attempt,
            "duration_seconds": self.duration_seconds,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "details": self.details,
            "error": self.error or None,
        }
