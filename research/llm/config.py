"""The model engine's settings, read from Django settings with defaults."""

from dataclasses import dataclass

from django.conf import settings

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    api_key: str
    model: str
    budget_usd: float
    price_per_1k_input: float
    price_per_1k_output: float
    timeout_seconds: float
    max_retries: int
    max_output_tokens: int
    json_mode: bool

    def __repr__(self) -> str:
        # The API key stays out of every log line and traceback.
        return (
            f"LLMSettings(base_url={self.base_url!r}, model={self.model!r}, "
            f"budget_usd={self.budget_usd})"
        )

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.price_per_1k_input
            + output_tokens * self.price_per_1k_output
        ) / 1000


def enabled() -> bool:
    """Tell whether a model is configured, so the model engine runs."""
    return settings.configured and bool(getattr(settings, "PROWZI_LLM_MODEL", ""))


def load() -> LLMSettings:
    return LLMSettings(
        base_url=str(getattr(settings, "PROWZI_LLM_BASE_URL", DEFAULT_BASE_URL)),
        api_key=str(getattr(settings, "PROWZI_LLM_API_KEY", "")),
        model=str(getattr(settings, "PROWZI_LLM_MODEL", "")),
        budget_usd=float(getattr(settings, "PROWZI_LLM_BUDGET_USD", 1.0)),
        price_per_1k_input=float(
            getattr(settings, "PROWZI_LLM_PRICE_PER_1K_INPUT", 0.0)
        ),
        price_per_1k_output=float(
            getattr(settings, "PROWZI_LLM_PRICE_PER_1K_OUTPUT", 0.0)
        ),
        timeout_seconds=float(getattr(settings, "PROWZI_LLM_TIMEOUT", 120.0)),
        max_retries=max(0, int(getattr(settings, "PROWZI_LLM_MAX_RETRIES", 3))),
        max_output_tokens=int(getattr(settings, "PROWZI_LLM_MAX_OUTPUT_TOKENS", 4096)),
        json_mode=bool(getattr(settings, "PROWZI_LLM_JSON_MODE", True)),
    )
