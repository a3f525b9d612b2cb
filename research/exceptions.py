"""Errors of the research pipeline, each with the situation that raises it."""


class ProwziError(Exception):
    """Base of every error the product raises on purpose."""


class StageError(ProwziError):
    """Raised when a stage cannot produce its result; fails the stage at once."""


class StageTimeoutError(StageError):
    """Raised when a stage runs past PROWZI_STAGE_TIMEOUT."""


class NothingFoundError(StageError):
    """Raised when search or verify finds nothing relevant to the prompt."""


class TransientStageError(StageError):
    """Raised when a stage hit a passing fault and may succeed if tried again."""


class BudgetExceededError(StageError):
    """Raised when a model call would take a session past PROWZI_LLM_BUDGET_USD."""


class CheckpointMismatchError(ProwziError):
    """Raised when a stored checkpoint was made for other inputs or schema."""

    def __init__(self, message: str, stage: str = "") -> None:
        super().__init__(message)
        self.stage = stage


class SessionNotFoundError(ProwziError):
    """Raised when no session matches the id or prefix given."""


class AmbiguousSessionError(ProwziError):
    """Raised when a session id prefix matches more than one session."""


class SessionStateError(ProwziError):
    """Raised when a session is not in a state that allows the action asked."""


class LeaseLostError(ProwziError):
    """Raised when a process writes for a session whose lease it no longer holds."""


class CorpusError(ProwziError):
    """Raised when a corpus file cannot be read or indexed."""


class InvalidRequestError(ProwziError):
    """Raised when a prompt or an option given by a user is not acceptable."""


class QueueUnavailableError(ProwziError):
    """Raised when the job queue (Redis) cannot be reached to enqueue a session."""


class ProviderError(ProwziError):
    """Raised when a scholarly web provider's answer is an error or unusable."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


class UnsafeAddressError(ProwziError):
    """Raised when a URL to fetch resolves to a private, loopback or
    link-local address."""
