"""The audit trail of what people did to research sessions."""

from django.conf import settings
from django.db import models

from research.models import ResearchSession


class ActionKind(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"  # a new session from the web form
    RESUMED = "resumed", "Resumed"  # queued again after it stopped
    RERUN = "rerun", "Re-run"  # forked into a new session from a stage
    CANCELLED = "cancelled", "Cancelled"  # stopped on request
    DELETED = "deleted", "Deleted"  # removed through the admin


class SessionAction(models.Model):
    # The session row may be deleted later; session_ref keeps its id readable.
    session = models.ForeignKey(
        ResearchSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="actions",
    )
    session_ref = models.CharField("session id", max_length=36, db_index=True)
    action = models.CharField(max_length=16, choices=ActionKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="session_actions",
    )
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.session_ref} by {self.user_id}"
