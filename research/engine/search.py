"""Search stage: BM25 retrieval for every planned query, and the scholarly
web providers a session asks for, fused by reciprocal rank and
de-duplicated."""

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from research.engine import relevance, text
from research.exceptions import NothingFoundError, StageError, TransientStageError
from research.schemas import IntentAnalysis, ResearchPlan, SearchResult, Source
from research.stages import StageInput

if TYPE_CHECKING:
    from research.corpus import Document
    from research.providers import ProviderOutcome

logger = logging.getLogger(__name__)

# The constant of reciprocal-rank fusion (Cormack et al. 2009): damps the
# difference between the first few ranks of any one list.
RRF_K = 60
HITS_PER_QUERY = 40
SOURCES_PER_MAX = 3
# Search keeps what might be relevant; verify applies the real threshold.
SEARCH_FLOOR = 0.2


@dataclass
class _Fused:
    document: "Document"
    score: float = 0.0
    queries: list[str] = field(default_factory=list)
    from_provider: bool = False


def run(stage_input: StageInput) -> SearchResult:
    intent: IntentAnalysis = stage_input.result("intent")
    plan: ResearchPlan = stage_input.result("planning")
    queries = planned_queries(plan)

    fused = _fuse(stage_input, intent, queries)
    outcome = _ask_providers(stage_input, intent)
    if outcome is not None:
        _fuse_provider_hits(fused, outcome, intent)
    on_topic = _on_topic(stage_input, intent, fused)
    if not on_topic:
        _fail_for_providers(outcome, intent)
        raise NothingFoundError(nothing_found_message(intent.topic))

    bound = SOURCES_PER_MAX * stage_input.options.max_sources
    ranked = _deduplicate(on_topic)[:bound]
    sources = [_source(item, rank) for rank, item in enumerate(ranked, start=1)]
    logger.info(
        "Session %s: search for %r kept %d sources",
        stage_input.session_id or "-",
        intent.topic,
        len(sources),
    )
    if outcome is None:
        return SearchResult(queries_executed=queries, sources=sources)

    # Provider documents are kept beside the index so that later stages can
    # check quotations against what the provider sent.
    stage_input.corpus.keep_web_documents(
        item.document for item in ranked if item.from_provider
    )
    return SearchResult(
        queries_executed=queries,
        sources=sources,
        provider_queries=outcome.queries,
        provider_failures=outcome.failures,
    )


def _ask_providers(
    stage_input: StageInput, intent: IntentAnalysis
) -> "ProviderOutcome | None":
    """Return what the session's providers answered, or None when it uses
    none."""
    from research import providers

    names = providers.chosen(stage_input.options.providers)
    if not names:
        return None
    return providers.search(
        names,
        intent.topic,
        session=stage_input.session_id,
        check_stop=stage_input.check_stop,
    )


def _fuse_provider_hits(
    fused: list[_Fused], outcome: "ProviderOutcome", intent: IntentAnalysis
) -> None:
    """Add provider results in the session's language to the fused list, each
    provider's answer counting as one more ranked list."""
    by_id = {item.document.id: item for item in fused}
    for hit in outcome.hits:
        if hit.document.language != intent.language:
            continue
        item = by_id.get(hit.document.id)
        if item is None:
            item = by_id[hit.document.id] = _Fused(hit.document, from_provider=True)
            fused.append(item)
        item.score += 1.0 / (RRF_K + hit.rank)
        if hit.query not in item.queries:
            item.queries.append(hit.query)


def _fail_for_providers(
    outcome: "ProviderOutcome | None", intent: IntentAnalysis
) -> None:
    """Raise the providers' failures as the reason when nothing was found and
    every provider failed; a failed query is never taken as an empty answer."""
    if outcome is None or not outcome.all_failed:
        return

    reasons = "; ".join(f"{f.provider}: {f.error}" for f in outcome.failures)
    message = (
        f"Nothing on “{intent.topic}” in the local corpus, and every provider "
        f"failed: {reasons}"
    )
    if all(failure.transient for failure in outcome.failures):
        raise TransientStageError(message)
    raise StageError(message)


def nothing_found_message(topic: str) -> str:
    return (
        f"The corpus holds nothing on “{topic}”: no indexed document covers "
        "enough of the topic's terms. Add documents on it with "
        "`prowzi corpus add PATH`."
    )


def planned_queries(plan: ResearchPlan) -> list[str]:
    return text.unique(query for section in plan.sections for query in section.queries)


def _fuse(
    stage_input: StageInput, intent: IntentAnalysis, queries: list[str]
) -> list[_Fused]:
    fused: dict[str, _Fused] = {}
    for query in queries:
        stage_input.check_stop()
        terms = relevance.search_terms(query, intent.language)
        hits = stage_input.corpus.search(terms, intent.language, HITS_PER_QUERY)
        for rank, hit in enumerate(hits, start=1):
            item = fused.setdefault(hit.document.id, _Fused(hit.document))
            item.score += 1.0 / (RRF_K + rank)
            item.queries.append(query)
    return list(fused.values())


def _on_topic(
    stage_input: StageInput, intent: IntentAnalysis, fused: list[_Fused]
) -> list[_Fused]:
    """Keep documents plausibly on the topic; none if no document covers
    enough of the topic's words to anchor it."""
    language = intent.language
    ranked = sorted(fused, key=lambda f: (-f.score, f.document.id))
    terms = {
        item.document.id: relevance.document_terms(
            item.document.title, item.document.text, language
        )
        for item in ranked
    }
    scores = relevance.score_documents(
        intent.key_concepts,
        language,
        stage_input.corpus,
        terms,
        [item.document.id for item in ranked],
        frozenset(
            item.document.id
            for item in ranked
            if relevance.uses_topic_phrase(
                intent.key_concepts, language, item.document.text
            )
        ),
        frozenset(
            item.document.id
            for item in ranked
            if relevance.topical(
                intent.key_concepts, language, item.document.title, item.document.text
            )
        ),
    )
    if max(scores.coverage.values(), default=0.0) < relevance.TOPIC_FLOOR:
        return []
    return [
        item for item in ranked if scores.relevance(item.document.id) >= SEARCH_FLOOR
    ]


def _deduplicate(ranked: list[_Fused]) -> list[_Fused]:
    """Drop later copies of a document: same id, same DOI, same URL or same
    title. Passages of one work (its pages or sections) are not copies."""
    seen: set[str] = set()
    kept = []
    for item in ranked:
        document = item.document
        where = f"#{document.page or ''}:{document.locator or ''}"
        keys = {f"id:{document.id}", f"title:{_normal_title(document.title)}{where}"}
        if document.doi:
            keys.add(f"doi:{document.doi.casefold()}{where}")
        if document.url:
            keys.add(f"url:{normal_url(document.url)}{where}")
        if keys & seen:
            continue
        seen |= keys
        kept.append(item)
    return kept


def _normal_title(title: str) -> str:
    return re.sub(r"\W+", " ", text.fold(title)).strip()


def normal_url(url: str) -> str:
    """Return a URL reduced to what names the resource: no scheme, "www.",
    fragment, trailing slash or case in the host."""
    parts = urlsplit(url.strip())
    host = parts.netloc.casefold().removeprefix("www.")
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{path}{query}"


def _source(item: _Fused, rank: int) -> Source:
    document = item.document
    return Source(
        source_id=document.id,
        title=document.title,
        authors=list(document.authors),
        date=document.date,
        url=document.url,
        doi=document.doi,
        language=document.language,
        text=document.text,
        retrieval_score=round(item.score, 6),
        rank=rank,
        matched_queries=item.queries,
        page=document.page,
        locator=document.locator,
    )
