"""Search stage: BM25 retrieval for every planned query, fused by reciprocal
rank and de-duplicated."""

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from research.engine import relevance, text
from research.exceptions import NothingFoundError
from research.schemas import IntentAnalysis, ResearchPlan, SearchResult, Source
from research.stages import StageInput

if TYPE_CHECKING:
    from research.corpus import Document

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


def run(stage_input: StageInput) -> SearchResult:
    intent: IntentAnalysis = stage_input.result("intent")
    plan: ResearchPlan = stage_input.result("planning")
    queries = planned_queries(plan)

    fused = _fuse(stage_input, intent, queries)
    on_topic = _on_topic(stage_input, intent, fused)
    if not on_topic:
        raise NothingFoundError(nothing_found_message(intent.topic))

    bound = SOURCES_PER_MAX * stage_input.options.max_sources
    ranked = _deduplicate(on_topic)
    sources = [_source(item, rank) for rank, item in enumerate(ranked[:bound], start=1)]
    logger.info("Search for %r kept %d sources", intent.topic, len(sources))
    return SearchResult(queries_executed=queries, sources=sources)


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
    )
    if max(scores.coverage.values(), default=0.0) < relevance.TOPIC_FLOOR:
        return []
    return [
        item for item in ranked if scores.relevance(item.document.id) >= SEARCH_FLOOR
    ]


def _deduplicate(ranked: list[_Fused]) -> list[_Fused]:
    """Drop later copies of a document: same id, same DOI or same title."""
    seen: set[str] = set()
    kept = []
    for item in ranked:
        document = item.document
        keys = {f"id:{document.id}", f"title:{_normal_title(document.title)}"}
        if document.doi:
            keys.add(f"doi:{document.doi.casefold()}")
        if keys & seen:
            continue
        seen |= keys
        kept.append(item)
    return kept


def _normal_title(title: str) -> str:
    return re.sub(r"\W+", " ", text.fold(title)).strip()


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
    )
