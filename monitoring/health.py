"""Endpoints for machines: /healthz for load balancers, /metrics for Prometheus."""

import hmac
import ipaddress
import logging
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from monitoring.metrics import ProwziCollector
from monitoring.workers import live_worker_count

logger = logging.getLogger(__name__)

_registry = CollectorRegistry(auto_describe=False)
_registry.register(ProwziCollector())


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis and at least one worker answer; else 503."""
    checks = {
        "database": _check(_database_ok),
        "redis": _check(_redis_ok),
        "workers": _check(_workers_ok),
    }
    healthy = all(check["ok"] for check in checks.values())
    if not healthy:
        failed = {
            name: check["detail"] for name, check in checks.items() if not check["ok"]
        }
        logger.warning("Unhealthy: %s", failed)
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "checks": checks},
        status=200 if healthy else 503,
    )


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; needs the bearer token, or loopback without one."""
    if not _may_scrape(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.PROWZI_METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(offered.encode(), token.encode())

    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _check(probe: Any) -> dict[str, Any]:
    try:
        detail = probe()
    except Exception as error:
        return {"ok": False, "detail": f"{type(error).__name__}: {error}"}
    return {"ok": bool(detail[0]), "detail": detail[1]}


def _database_ok() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, "answered"


def _redis_ok() -> tuple[bool, str]:
    import django_rq

    django_rq.get_connection(settings.PROWZI_QUEUE).ping()
    return True, "answered"


def _workers_ok() -> tuple[bool, str]:
    alive = live_worker_count()
    return alive > 0, f"{alive} alive"
