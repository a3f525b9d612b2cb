"""How long to wait between attempts of a stage: exponential, with jitter."""

import random
from dataclasses import dataclass

from django.conf import settings

from research.exceptions import TransientStageError

# Errors worth another attempt: ours, and the operating system's passing ones
# (connection resets, timeouts). Anything else is a bug or a bad input, and
# trying again would only repeat it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientStageError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    base_delay: float
    max_delay: float

    @classmethod
    def from_settings(cls) -> "RetryPolicy":
        return cls(
            attempts=max(1, settings.PROWZI_RETRY_ATTEMPTS),
            base_delay=max(0.0, settings.PROWZI_RETRY_BASE_DELAY),
            max_delay=max(0.0, settings.PROWZI_RETRY_MAX_DELAY),
        )

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after a failed attempt ("equal jitter")."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))
