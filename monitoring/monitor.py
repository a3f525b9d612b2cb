"""The terminal monitor: a live stage table and summary for one session.

It reads the database, not the queue, so it can watch a session from any
machine that shares it, and stopping it never touches the run.
"""

import logging
import time
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from monitoring.progress import (
    ACTIVE_STATUSES,
    format_duration,
    stage_rows,
    summarize,
)
from research.models import ResearchSession, StageEvent
from research.sessions import lease_is_dead, mark_interrupted

logger = logging.getLogger(__name__)

STAGE_LABELS = {"evaluation": "eval"}


def render(session: ResearchSession, events: list[StageEvent]) -> Group:
    """The guide's stage table and Summary panel for the session as it is."""
    table = Table(title=f"Prowzi Workflow Monitor - Session: {session.short_id}...")
    table.add_column("Stage")
    table.add_column("Status", justify="center")
    table.add_column("Attempt", justify="right")
    table.add_column("Duration", justify="right")
    table.add_column("Details")
    for row in stage_rows(session, events):
        table.add_row(
            STAGE_LABELS.get(row.stage, row.stage),
            row.symbol,
            "-" if row.attempt is None else str(row.attempt),
            format_duration(row.duration_seconds),
            row.details,
        )

    summary = summarize(session, events)
    lines = [
        f"Total Duration: {format_duration(summary.total_duration_seconds)}",
        f"Stages: {summary.stages_completed}/{summary.stages_total} completed",
        f"Total Retries: {summary.total_retries}",
        f"Success: {summary.outcome}",
    ]
    if session.error and session.status not in ACTIVE_STATUSES:
        lines.append(f"Error: {session.error}")
    return Group(table, Panel("\n".join(lines), title="Summary", title_align="left"))


def watch(
    session: ResearchSession, out: TextIO, refresh: float = 0.5
) -> ResearchSession:
    """Draw the session live on out until it ends; return its final row.

    Polls the database every `refresh` seconds for new events. A running
    session whose worker died is marked interrupted, as `prowzi run --wait`
    does, so the monitor never waits forever on a dead run.
    """
    console = Console(file=out)
    events = list(session.events.order_by("seq"))
    with Live(
        render(session, events),
        console=console,
        refresh_per_second=max(1.0, 1 / refresh),
        auto_refresh=False,
    ) as live:
        while True:
            session.refresh_from_db()
            seen = events[-1].seq if events else 0
            events.extend(session.events.filter(seq__gt=seen).order_by("seq"))
            live.update(render(session, events), refresh=True)
            if session.status not in ACTIVE_STATUSES:
                return session
            if lease_is_dead(session):
                reason = f"its worker ({session.lease_owner}) stopped"
                mark_interrupted(session, reason)
                continue
            time.sleep(refresh)
