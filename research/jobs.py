"""The functions RQ runs. Each takes only a session id, so queued work
survives a deploy: the job names the row, and the row holds everything else.
"""

import logging

from django.db import connections

logger = logging.getLogger(__name__)


def run_session_job(session_id: str) -> str | None:
    from research.pipeline import run_session

    # A forked work-horse inherits its parent's database connections; using
    # them from two processes corrupts both, so start with fresh ones.
    connections.close_all()

    try:
        return run_session(session_id)
    finally:
        connections.close_all()
