"""Prometheus metrics, read from the database and Redis at scrape time.

RQ forks a process per job, so counters kept in any one process's memory
would be wrong. Every figure here is computed from the rows when Prometheus
scrapes, so it equals what the database holds however many workers ran.
Labels are only stage names and statuses, never text a user typed.
"""

from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from monitoring.workers import live_worker_count
from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class ProwziCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield _stage_durations()
        yield from _stage_outcomes()
        yield _sessions_by_status()
        yield from _queue_metrics()
        yield _oldest_running_age()


def _stage_durations() -> Metric:
    family = HistogramMetricFamily(
        "prowzi_stage_duration_seconds",
        "Duration of completed stage attempts.",
        labels=["stage"],
    )
    completed = StageEvent.objects.filter(
        status=EventStatus.COMPLETED, duration_seconds__isnull=False
    )
    bucket_counts: dict[str, Any] = {
        f"le_{index}": Count("id", filter=Q(duration_seconds__lte=bound))
        for index, bound in enumerate(DURATION_BUCKETS)
    }
    rows = completed.values("stage").annotate(
        total=Count("id"), seconds=Sum("duration_seconds"), **bucket_counts
    )
    for row in rows.order_by("stage"):
        buckets = [
            (str(bound), row[f"le_{index}"])
            for index, bound in enumerate(DURATION_BUCKETS)
        ]
        buckets.append(("+Inf", row["total"]))
        family.add_metric([row["stage"]], buckets, sum_value=row["seconds"] or 0.0)
    return family


def _stage_outcomes() -> Iterable[Metric]:
    events = CounterMetricFamily(
        "prowzi_stage_events",
        "Stage events recorded, by stage and status.",
        labels=["stage", "status"],
    )
    retries = CounterMetricFamily(
        "prowzi_stage_retries", "Stage attempts retried, by stage.", labels=["stage"]
    )
    rows = StageEvent.objects.values("stage", "status").annotate(total=Count("id"))
    for row in rows.order_by("stage", "status"):
        events.add_metric([row["stage"], row["status"]], row["total"])
        if row["status"] == EventStatus.RETRYING:
            retries.add_metric([row["stage"]], row["total"])
    return [events, retries]


def _sessions_by_status() -> Metric:
    family = GaugeMetricFamily(
        "prowzi_sessions", "Research sessions by status.", labels=["status"]
    )
    counts = dict(
        ResearchSession.objects.values_list("status").annotate(total=Count("id"))
    )
    for status in SessionStatus.values:
        family.add_metric([status], counts.get(status, 0))
    return family


def _queue_metrics() -> Iterable[Metric]:
    depth = GaugeMetricFamily("prowzi_queue_depth", "Jobs waiting on the queue.")
    alive = GaugeMetricFamily(
        "prowzi_workers_alive", "RQ workers with a recent heartbeat."
    )
    up = GaugeMetricFamily("prowzi_redis_up", "1 if Redis answered this scrape.")
    try:
        queued, workers = _queue_figures()
    except Exception:
        up.add_metric([], 0)
        return [up]
    depth.add_metric([], queued)
    alive.add_metric([], workers)
    up.add_metric([], 1)
    return [depth, alive, up]


def _queue_figures() -> tuple[int, int]:
    import django_rq
    from django.conf import settings

    queue = django_rq.get_queue(settings.PROWZI_QUEUE)
    return queue.count, live_worker_count()


def _oldest_running_age() -> Metric:
    family = GaugeMetricFamily(
        "prowzi_oldest_running_session_age_seconds",
        "Age of the longest-running session, 0 when none runs.",
    )
    oldest = ResearchSession.objects.filter(status=SessionStatus.RUNNING).aggregate(
        started=Min("started_at")
    )["started"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    family.add_metric([], age)
    return family
