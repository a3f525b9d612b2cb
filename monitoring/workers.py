"""Which RQ workers are alive, for /healthz and /metrics."""

from datetime import UTC, datetime, timedelta

from django.conf import settings

# RQ's default: a busy worker writes its heartbeat between job checks this far
# apart, whatever its idle heartbeat interval.
JOB_HEARTBEAT_SECONDS = 30
# Room for a heartbeat that is a little late on a loaded machine.
GRACE_SECONDS = 15


def live_worker_count() -> int:
    """Count the queue's workers whose last heartbeat is recent.

    RQ keeps a worker that died without unregistering (SIGKILL, a lost host)
    in its registry until the worker's key expires, minutes later, and counts
    it; going by the heartbeat finds it gone within a minute or so.
    """
    import django_rq
    from rq import Worker

    queue = django_rq.get_queue(settings.PROWZI_QUEUE)
    oldest = datetime.now(UTC) - heartbeat_window()
    return sum(
        worker.last_heartbeat is not None and worker.last_heartbeat >= oldest
        for worker in Worker.all(queue=queue)
    )


def heartbeat_window() -> timedelta:
    interval = max(settings.PROWZI_WORKER_TTL, JOB_HEARTBEAT_SECONDS)
    return timedelta(seconds=interval + GRACE_SECONDS)
