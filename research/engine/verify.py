"""Verify stage: score each source on relevance, metadata and corroboration;
keep the good ones up to the source limit, with a reason for every drop."""

from dataclasses import dataclass

from research.engine import relevance
from research.engine.search import nothing_found_message
from research.exceptions import NothingFoundError
from research.schemas import (
    IntentAnalysis,
    SearchResult,
    Source,
    SourceAssessment,
    VerificationResult,
)
from research.stages import StageInput

RELEVANCE_WEIGHT = 0.6
METADATA_WEIGHT = 0.2
CORROBORATION_WEIGHT = 0.2
# Sources found by this many queries, or sharing queries with this many other
# sources, count as fully corroborated.
QUERIES_FOR_FULL_SUPPORT = 3
PEERS_FOR_FULL_SUPPORT = 5


@dataclass(frozen=True)
class _Scored:
    source: Source
    relevance: float
    metadata: float
    corroboration: float

    @property
    def score(self) -> float:
        return (
            RELEVANCE_WEIGHT * self.relevance
            + METADATA_WEIGHT * self.metadata
            + CORROBORATION_WEIGHT * self.corroboration
        )


def run(stage_input: StageInput) -> VerificationResult:
    intent: IntentAnalysis = stage_input.result("intent")
    search: SearchResult = stage_input.result("search")
    threshold = stage_input.options.verify_threshold
    limit = stage_input.options.max_sources

    scored = _score_all(stage_input, intent, search.sources)
    ranked = sorted(scored, key=lambda s: (-round(s.score, 9), s.source.source_id))
    assessments, verified = _decide(ranked, threshold, limit)
    if not verified:
        raise NothingFoundError(
            nothing_found_message(intent.topic)
            + f" (no source reached the verification threshold {threshold:.2f})"
        )

    return VerificationResult(
        threshold=threshold, verified=verified, assessments=assessments
    )


def _score_all(
    stage_input: StageInput, intent: IntentAnalysis, sources: list[Source]
) -> list[_Scored]:
    language = intent.language
    terms = {
        source.source_id: relevance.document_terms(source.title, source.text, language)
        for source in sources
    }
    order = [source.source_id for source in sources]
    phrase_users = frozenset(
        source.source_id
        for source in sources
        if relevance.uses_topic_phrase(intent.key_concepts, language, source.text)
    )
    topical = frozenset(
        source.source_id
        for source in sources
        if relevance.topical(intent.key_concepts, language, source.title, source.text)
    )
    topic = relevance.score_documents(
        intent.key_concepts,
        language,
        stage_input.corpus,
        terms,
        order,
        phrase_users,
        topical,
    )
    stage_input.check_stop()

    return [
        _Scored(
            source=source,
            relevance=round(topic.relevance(source.source_id), 4),
            metadata=metadata_completeness(source),
            corroboration=round(_corroboration(source, sources), 4),
        )
        for source in sources
    ]


def metadata_completeness(source: Source) -> float:
    """Return the share of title, authors, date and a link (URL or DOI) given."""
    present = [
        bool(source.title.strip()),
        bool(source.authors),
        bool(source.date),
        bool(source.url or source.doi),
    ]
    return sum(present) / len(present)


def _corroboration(source: Source, sources: list[Source]) -> float:
    """Return how far other queries and other sources back this one: found by
    several queries, and found by queries that found other sources too."""
    queries = set(source.matched_queries)
    peers = sum(
        1
        for other in sources
        if other.source_id != source.source_id and queries & set(other.matched_queries)
    )
    by_queries = min(1.0, len(queries) / QUERIES_FOR_FULL_SUPPORT)
    by_peers = min(1.0, peers / PEERS_FOR_FULL_SUPPORT)
    return (by_queries + by_peers) / 2


def _decide(
    ranked: list[_Scored], threshold: float, limit: int
) -> tuple[list[SourceAssessment], list[Source]]:
    assessments: list[SourceAssessment] = []
    verified: list[Source] = []
    for item in ranked:
        reason = _reason_to_drop(item, threshold, len(verified), limit)
        kept = reason is None
        if kept:
            verified.append(item.source)
        assessments.append(_assessment(item, kept, reason or _reason_kept(item)))
    return assessments, verified


def _reason_to_drop(
    item: _Scored, threshold: float, kept_so_far: int, limit: int
) -> str | None:
    if item.relevance < threshold:
        return f"relevance {item.relevance:.2f} below threshold {threshold:.2f}"
    if item.score < threshold:
        return f"score {item.score:.2f} below threshold {threshold:.2f}"
    if kept_so_far >= limit:
        return f"beyond the {limit}-source limit"
    return None


def _reason_kept(item: _Scored) -> str:
    return (
        f"score {item.score:.2f} (relevance {item.relevance:.2f}, metadata "
        f"{item.metadata:.2f}, corroboration {item.corroboration:.2f})"
    )


def _assessment(item: _Scored, kept: bool, reason: str) -> SourceAssessment:
    return SourceAssessment(
        source_id=item.source.source_id,
        title=item.source.title,
        relevance=item.relevance,
        metadata_completeness=item.metadata,
        corroboration=item.corroboration,
        score=round(item.score, 4),
        kept=kept,
        reason=reason,
    )
