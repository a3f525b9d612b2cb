"""Workflow metrics for other systems: strict JSON and Prometheus text.

Strict JSON rules, so that any strict parser reads the output:
- a value that is not a finite number (NaN, infinity) is written as null;
- a missing time (a session not yet started or finished) is null, and every
  time present is ISO 8601 in UTC with a trailing Z;
- decimal numbers are written as JSON numbers (binary floating point, as
  every JSON parser reads them); durations keep millisecond precision.
"""

import json
import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from monitoring.telemetry import WorkflowMetrics


def strict(value: Any) -> Any:
    """Return value with every part made valid for a strict JSON parser."""
    if isinstance(value, dict):
        return {str(key): strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def metrics_json(metrics: WorkflowMetrics, indent: int | None = 2) -> str:
    payload = strict(metrics.model_dump(mode="python"))
    return json.dumps(payload, indent=indent, ensure_ascii=False, allow_nan=False)


def metrics_prometheus(metrics: WorkflowMetrics) -> str:
    """One session's figures in the Prometheus text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SessionCollector(metrics))
    return generate_latest(registry).decode("utf-8")


class _SessionCollector(Collector):
    def __init__(self, metrics: WorkflowMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        session = [self.metrics.session_id]
        duration = GaugeMetricFamily(
            "prowzi_session_duration_seconds",
            "Wall time of the session.",
            labels=["session_id"],
        )
        retries = GaugeMetricFamily(
            "prowzi_session_retries", "Retries in the session.", labels=["session_id"]
        )
        success = GaugeMetricFamily(
            "prowzi_session_success",
            "1 succeeded, 0 failed, absent while running.",
            labels=["session_id"],
        )
        stages = GaugeMetricFamily(
            "prowzi_session_stage_duration_seconds",
            "Duration of the stage's last attempt.",
            labels=["session_id", "stage", "status"],
        )
        duration.add_metric(session, _number(self.metrics.total_duration_seconds))
        retries.add_metric(session, self.metrics.total_retries)
        if self.metrics.success is not None:
            success.add_metric(session, 1 if self.metrics.success else 0)
        latest = {
            (stage.stage, stage.status): stage.duration_seconds
            for stage in self.metrics.stages
            if stage.duration_seconds is not None
        }
        for (stage_name, status), seconds in latest.items():
            stages.add_metric([*session, stage_name, status], _number(seconds))
        return [duration, retries, success, stages]


def _number(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else math.nan
