"""Scholarly web providers searched beside the local corpus: arXiv,
Semantic Scholar, OpenAlex and Crossref. None is used unless a session asks
for it (ResearchOptions.providers) or PROWZI_PROVIDERS names it.

Settings, each read with a default:

- PROWZI_PROVIDERS: provider names used when a session names none.
- PROWZI_CONTACT_EMAIL: sent as the APIs ask (User-Agent, mailto).
- PROWZI_PROVIDER_BASE_URLS: {name: base URL}, to point a provider at
  another server (a mirror, or a test server).
- PROWZI_PROVIDER_CACHE_DIR: where answers are cached; by default beside
  the corpus index.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from research.corpus import Document
from research.exceptions import ProviderError
from research.providers import arxiv, crossref, openalex, semantic_scholar
from research.providers.http import ProviderClient
from research.schemas import ProviderFailure, ProviderQuery

logger = logging.getLogger(__name__)

PROVIDERS: dict[str, ModuleType] = {
    module.NAME: module for module in (arxiv, semantic_scholar, openalex, crossref)
}
RESULTS_PER_QUERY = 20


@dataclass(frozen=True)
class ProviderHit:
    provider: str
    query: str
    rank: int
    document: Document


@dataclass
class ProviderOutcome:
    """What the providers returned for a session, and what failed."""

    hits: list[ProviderHit] = field(default_factory=list)
    queries: list[ProviderQuery] = field(default_factory=list)
    failures: list[ProviderFailure] = field(default_factory=list)

    @property
    def all_failed(self) -> bool:
        return bool(self.failures) and not self.queries


def chosen(requested: Sequence[str]) -> list[str]:
    """Return the providers for a session: those it asked for, else those
    the settings name; unknown names are left out with a warning."""
    from django.conf import settings

    names = list(requested) or list(getattr(settings, "PROWZI_PROVIDERS", []) or [])
    known = [name for name in dict.fromkeys(names) if name in PROVIDERS]
    for name in names:
        if name not in PROVIDERS:
            logger.warning("Unknown provider %r in PROWZI_PROVIDERS; ignored", name)
    return known


def client(name: str) -> ProviderClient:
    """Return a client for provider `name` as the settings configure it."""
    from django.conf import settings

    module = PROVIDERS[name]
    base_urls = getattr(settings, "PROWZI_PROVIDER_BASE_URLS", {}) or {}
    return ProviderClient(
        name,
        str(base_urls.get(name) or module.BASE_URL),
        interval=float(module.INTERVAL),
        contact=str(getattr(settings, "PROWZI_CONTACT_EMAIL", "") or ""),
        cache_dir=_cache_dir(),
    )


def _cache_dir() -> Path:
    from django.conf import settings

    configured = getattr(settings, "PROWZI_PROVIDER_CACHE_DIR", None)
    if configured:
        return Path(configured)
    return Path(settings.PROWZI_CORPUS_PATH).parent / "provider_cache"


def search(
    names: Sequence[str],
    query: str,
    *,
    session: str = "",
    limit: int = RESULTS_PER_QUERY,
    check_stop: Callable[[], None] = lambda: None,
    make_client: Callable[[str], ProviderClient] = client,
) -> ProviderOutcome:
    """Send query to each provider; a failure is recorded, never returned
    as an empty answer."""
    outcome = ProviderOutcome()
    for name in names:
        check_stop()
        provider = make_client(name)
        try:
            documents, cached = PROVIDERS[name].search(provider, query, limit)
        except ProviderError as error:
            logger.warning(
                "Session %s: provider %s failed for %r: %s",
                session or "-",
                name,
                query,
                error,
            )
            outcome.failures.append(
                ProviderFailure(
                    provider=name,
                    query=query,
                    error=str(error),
                    transient=error.transient,
                )
            )
            continue
        finally:
            provider.close()

        logger.info(
            "Session %s: provider %s returned %d results for %r%s",
            session or "-",
            name,
            len(documents),
            query,
            " (cached)" if cached else "",
        )
        outcome.queries.append(
            ProviderQuery(
                provider=name, query=query, results=len(documents), cached=cached
            )
        )
        outcome.hits.extend(
            ProviderHit(name, query, rank, document)
            for rank, document in enumerate(documents, start=1)
        )
    return outcome
