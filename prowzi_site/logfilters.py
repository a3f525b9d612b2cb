"""Logging filters named in settings.LOGGING."""

import logging


class UnhealthyProbeFilter(logging.Filter):
    """Drop Django's "Service Unavailable: /healthz" errors.

    A load balancer polls /healthz every few seconds, and while a dependency
    is down each answer would log a server error; the health view logs one
    warning naming the failed checks instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", "")
        return not (path == "/healthz" and getattr(record, "status_code", 0) == 503)
