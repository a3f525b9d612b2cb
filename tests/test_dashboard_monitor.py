"""The terminal monitor: the guide's stage table and summary, drawn live."""

import io
import threading
import time

import pytest
from django.db import connection
from rich.console import Console

from monitoring.monitor import render, watch
from research.leases import claim, record_event
from research.models import EventStatus, ResearchSession, SessionStatus
from research.sessions import cancel_session, create_session
from tests.conftest import LITERATURE_REVIEW

pytestmark = pytest.mark.django_db(transaction=True)


def _text(session: ResearchSession) -> str:
    out = io.StringIO()
    Console(file=out, width=120).print(render(session, list(session.events.all())))
    return out.getvalue()


def test_monitor_draws_the_guides_table_and_summary() -> None:
    session = create_session(LITERATURE_REVIEW)
    lease = claim(session.id)
    assert lease is not None
    for stage in ("intent", "planning"):
        record_event(lease, stage, EventStatus.STARTED)
        record_event(lease, stage, EventStatus.COMPLETED, duration_seconds=2.3)
    record_event(lease, "search", EventStatus.STARTED)
    record_event(lease, "search", EventStatus.RETRYING, duration_seconds=5.2)
    record_event(lease, "search", EventStatus.STARTED, attempt=2)
    record_event(
        lease,
        "search",
        EventStatus.COMPLETED,
        attempt=2,
        duration_seconds=8.1,
        details={"sources_count": 48},
    )
    record_event(lease, "verify", EventStatus.STARTED)
    record_event(lease, "verify", EventStatus.RETRYING, duration_seconds=5.2)
    session.refresh_from_db()

    text = _text(session)

    for expected in (
        "Sources: 48",
        "13.30s",
        "Retrying...",
        "Pending",
        "Stages: 3/7 completed",
        "Total Retries: 2",
        "Success: In Progress",
        "eval",
        "Summary",
    ):
        assert expected in text, expected
    assert text.count("✓") == 3
    assert text.count("⋯") == 3
    assert text.count("⟳") == 1


def test_watch_follows_a_session_until_it_ends() -> None:
    session = create_session(LITERATURE_REVIEW)
    lease = claim(session.id)
    assert lease is not None
    out = io.StringIO()

    def run() -> None:
        try:
            time.sleep(0.5)
            record_event(lease, "intent", EventStatus.STARTED)
            time.sleep(0.5)
            record_event(lease, "intent", EventStatus.COMPLETED, duration_seconds=0.5)
            cancel_session(ResearchSession.objects.get(pk=session.pk))
        finally:
            connection.close()

    writer = threading.Thread(target=run)
    writer.start()
    final = watch(ResearchSession.objects.get(pk=session.pk), out, refresh=0.1)
    writer.join()

    assert final.status == SessionStatus.CANCELLED
    text = out.getvalue()
    assert "Stages: 1/7 completed" in text
    assert "Success: No (cancelled)" in text
