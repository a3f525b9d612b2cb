"""Rehearsing failure: faults injected into stages by PROWZI_FAULTS.

PROWZI_FAULTS is a comma-separated list of
  STAGE:fail:N         the stage raises a transient error on its first N attempts
  STAGE:crash          the worker dies at once (as under kill -9) at the stage
  STAGE:delay:SECONDS  the stage waits that long before it starts
It is meant for staging; leave it unset in production.
"""

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

from research.exceptions import TransientStageError
from research.stages import STAGES

logger = logging.getLogger(__name__)

# Set by `prowzi worker` so that a job's work-horse knows which process is
# its worker, and a crash fault can take both down as kill -9 would.
WORKER_PID_VARIABLE = "PROWZI_WORKER_PID"


@dataclass(frozen=True)
class Fault:
    stage: str
    kind: str
    amount: float = 0.0


def parse_faults(spec: str) -> list[Fault]:
    faults = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        faults.append(_parse_one(item))
    return faults


def _parse_one(item: str) -> Fault:
    parts = item.split(":")
    stage, kind = parts[0], parts[1] if len(parts) > 1 else ""
    if stage not in STAGES:
        raise ImproperlyConfigured(f"PROWZI_FAULTS: unknown stage in {item!r}.")

    if kind == "crash" and len(parts) == 2:
        return Fault(stage, kind)
    if kind in {"fail", "delay"} and len(parts) == 3:
        try:
            amount = float(parts[2])
        except ValueError:
            amount = -1.0
        if amount >= 0:
            return Fault(stage, kind, amount)
    raise ImproperlyConfigured(
        f"PROWZI_FAULTS: {item!r} is not STAGE:fail:N, STAGE:crash or "
        "STAGE:delay:SECONDS."
    )


def inject(
    faults: list[Fault], stage: str, attempt: int, check_stop: Callable[[], None]
) -> None:
    """Apply the faults configured for this stage attempt."""
    for fault in faults:
        if fault.stage != stage:
            continue
        if fault.kind == "delay":
            _wait(fault.amount, check_stop)
        elif fault.kind == "fail" and attempt <= fault.amount:
            raise TransientStageError(
                f"injected fault: {stage} fails on attempt {attempt} of the first "
                f"{int(fault.amount)}"
            )
        elif fault.kind == "crash":
            _crash(stage)


def _wait(seconds: float, check_stop: Callable[[], None]) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        check_stop()
        time.sleep(min(left, 0.2))


def _crash(stage: str) -> None:
    logger.error("Injected crash at stage %s: killing this worker now", stage)
    worker_pid = os.environ.get(WORKER_PID_VARIABLE, "")
    if worker_pid.isdigit() and int(worker_pid) == os.getppid():
        os.kill(int(worker_pid), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
