"""Recording who did what to which session, for the admin's audit pages."""

import ipaddress
import logging

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.http import HttpRequest

from monitoring.models import ActionKind, SessionAction
from research.models import ResearchSession

logger = logging.getLogger(__name__)


def record_action(
    request: HttpRequest | None,
    session: ResearchSession,
    action: ActionKind,
    detail: str = "",
    user: AbstractBaseUser | AnonymousUser | None = None,
) -> SessionAction:
    """Store one audit row; the user and address come from the request."""
    if user is None and request is not None:
        user = request.user
    entry = SessionAction.objects.create(
        session=session,
        session_ref=str(session.pk),
        action=action,
        user=user if isinstance(user, User) else None,
        remote_addr=_remote_addr(request),
        detail=detail[:500],
    )
    logger.info(
        "Session %s %s by %s", session.pk, action, entry.user_id or "an unknown user"
    )
    return entry


def _remote_addr(request: HttpRequest | None) -> str | None:
    if request is None:
        return None

    address = str(request.META.get("REMOTE_ADDR", ""))
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
