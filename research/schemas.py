"""Typed results of the seven stages, stored as JSON in checkpoints.

Checkpoints hold these models' JSON, never pickles: reading a pickle runs
code, and a checkpoint must be safe to read whoever wrote it. Any change to a
model's fields that old JSON would not validate against bumps SCHEMA_VERSION.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

DocumentType = Literal[
    "thesis", "paper", "literature_review", "report", "essay", "brief"
]
CitationStyle = Literal["numeric", "apa", "ieee", "chicago", "harvard", "mla"]


ProviderName = Literal["arxiv", "semantic_scholar", "openalex", "crossref"]


def _omitted_when_empty(value: object) -> bool:
    return not value


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResearchOptions(Frozen):
    """What a user may set for one session; part of the checkpoint fingerprint."""

    document_type: DocumentType | None = None
    citation_style: CitationStyle | None = None
    max_sources: int = Field(default=24, ge=3, le=100)
    verify_threshold: float = Field(default=0.35, ge=0.0, le=1.0)
    evaluation_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    target_words: int | None = Field(default=None, ge=100, le=20000)
    language: Literal["en", "es", "fr"] | None = None
    # Scholarly web providers to search beside the local corpus; none by
    # default. Left out of the JSON when empty, so fingerprints of sessions
    # that never asked for providers stay as they were.
    providers: list[ProviderName] = Field(default=[], exclude_if=_omitted_when_empty)


def _omitted_when_none(value: object) -> bool:
    return value is None


class LLMUsage(Frozen):
    """What the model calls of one stage took: tokens and estimated cost."""

    model: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def telemetry_details(self) -> dict[str, Any]:
        return {
            "llm_model": self.model,
            "llm_calls": self.calls,
            "llm_input_tokens": self.input_tokens,
            "llm_output_tokens": self.output_tokens,
            "llm_cost_usd": round(self.cost_usd, 6),
        }


def _model_engine_only() -> Any:
    """A field only the model engine fills: absent (not null) from the offline
    engine's JSON, so its checkpoints read as they always did."""
    return Field(default=None, exclude_if=_omitted_when_none)


def _usage_details(usage: LLMUsage | None) -> dict[str, Any]:
    return usage.telemetry_details() if usage is not None else {}


class CitationCheck(Frozen):
    """What the citation check found in a draft before cleaning it."""

    citations: int
    fabricated: int
    cited_sentences: int
    unsupported: int
    findings: list[str] = []

    @property
    def fabricated_rate(self) -> float:
        return self.fabricated / self.citations if self.citations else 0.0

    @property
    def unsupported_rate(self) -> float:
        return self.unsupported / self.cited_sentences if self.cited_sentences else 0.0


class Constraints(Frozen):
    target_words: int | None = None
    citation_style: CitationStyle | None = None
    period_start: int | None = None
    period_end: int | None = None
    audience: str | None = None


class IntentAnalysis(Frozen):
    document_type: DocumentType
    topic: str
    key_concepts: list[str]
    constraints: Constraints
    language: Literal["en", "es", "fr"]
    llm_usage: LLMUsage | None = _model_engine_only()

    def telemetry_details(self) -> dict[str, Any]:
        return _usage_details(self.llm_usage)


class PlannedSection(Frozen):
    kind: Literal["introduction", "body", "conclusion"]
    title: str
    research_questions: list[str]
    queries: list[str]
    theme_terms: list[str] = []


class ResearchPlan(Frozen):
    title: str
    document_type: DocumentType
    sections: list[PlannedSection]
    llm_usage: LLMUsage | None = _model_engine_only()

    def telemetry_details(self) -> dict[str, Any]:
        return _usage_details(self.llm_usage)

    @property
    def body_sections(self) -> list[PlannedSection]:
        return [section for section in self.sections if section.kind == "body"]


class Source(Frozen):
    source_id: str
    title: str
    authors: list[str] = []
    date: str | None = None
    url: str | None = None
    doi: str | None = None
    language: str = "en"
    text: str
    retrieval_score: float
    rank: int
    matched_queries: list[str] = []
    # Where in the document the text comes from: a PDF page, or a heading of
    # a Markdown or HTML file. Absent for whole documents.
    page: int | None = Field(default=None, exclude_if=_omitted_when_none)
    locator: str | None = Field(default=None, exclude_if=_omitted_when_none)


class ProviderQuery(Frozen):
    """One query sent to a scholarly web provider, and what came back."""

    provider: str
    query: str
    results: int
    cached: bool = False


class ProviderFailure(Frozen):
    """A provider query that failed; never counted as an empty answer."""

    provider: str
    query: str
    error: str
    transient: bool


class SearchResult(Frozen):
    queries_executed: list[str]
    sources: list[Source]
    provider_queries: list[ProviderQuery] = Field(
        default=[], exclude_if=_omitted_when_empty
    )
    provider_failures: list[ProviderFailure] = Field(
        default=[], exclude_if=_omitted_when_empty
    )

    def telemetry_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "sources_count": len(self.sources),
            "queries_executed": len(self.queries_executed),
        }
        if self.provider_queries or self.provider_failures:
            details["provider_queries"] = [
                query.model_dump() for query in self.provider_queries
            ]
            details["provider_failures"] = [
                failure.model_dump() for failure in self.provider_failures
            ]
        return details


class SourceAssessment(Frozen):
    source_id: str
    title: str
    relevance: float
    metadata_completeness: float
    corroboration: float
    score: float
    kept: bool
    reason: str


class VerificationResult(Frozen):
    threshold: float
    verified: list[Source]
    assessments: list[SourceAssessment]

    def telemetry_details(self) -> dict[str, Any]:
        return {
            "sources_verified": len(self.verified),
            "sources_dropped": len(self.assessments) - len(self.verified),
        }


class Citation(Frozen):
    number: int
    source_id: str
    title: str
    authors: list[str] = []
    date: str | None = None
    url: str | None = None
    doi: str | None = None
    entry: str


class Quotation(Frozen):
    citation: int
    source_id: str
    section: str
    text: str
    # The PDF page the quoted text is on, when the source is a page.
    page: int | None = Field(default=None, exclude_if=_omitted_when_none)


class WrittenSection(Frozen):
    kind: Literal["introduction", "body", "conclusion"]
    title: str
    markdown: str
    citations: list[int]


class WritingResult(Frozen):
    title: str
    markdown: str
    sections: list[WrittenSection]
    bibliography: list[Citation]
    quotations: list[Quotation]
    word_count: int
    revision: int = 0
    llm_usage: LLMUsage | None = _model_engine_only()
    citation_check: CitationCheck | None = _model_engine_only()

    def telemetry_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "word_count": self.word_count,
            "sections": len(self.sections),
            "citations": len(self.bibliography),
        }
        if self.citation_check is not None:
            details["fabricated_citations_removed"] = self.citation_check.fabricated
            details["unsupported_sentences_removed"] = self.citation_check.unsupported
        return {**details, **_usage_details(self.llm_usage)}


class RubricScore(Frozen):
    criterion: str
    score: float
    weight: float
    notes: str


class EvaluationResult(Frozen):
    rubric: list[RubricScore]
    score: float
    threshold: float
    passed: bool


class EvaluationOutcome(Frozen):
    """The evaluation stage's output: the final evaluation, the initial one,
    and the revised draft when the first evaluation fell below threshold."""

    initial_evaluation: EvaluationResult
    evaluation: EvaluationResult
    revised_draft: WritingResult | None = None
    llm_usage: LLMUsage | None = _model_engine_only()

    def telemetry_details(self) -> dict[str, Any]:
        return {
            "initial_score": round(self.initial_evaluation.score, 3),
            "score": round(self.evaluation.score, 3),
            "revised": self.revised_draft is not None,
            **_usage_details(self.llm_usage),
        }


class MatchedPassage(Frozen):
    source_id: str
    citation: int | None
    text: str
    quoted: bool


class SourceSimilarity(Frozen):
    source_id: str
    similarity: float


class OriginalityResult(Frozen):
    k: int
    window: int
    similarity_index: float
    similarity_excluding_quotes: float
    per_source: list[SourceSimilarity]
    matches: list[MatchedPassage]

    def telemetry_details(self) -> dict[str, Any]:
        return {
            "similarity_index": round(self.similarity_index, 3),
            "similarity_excluding_quotes": round(self.similarity_excluding_quotes, 3),
        }


class CheckpointMetadata(Frozen):
    session_id: str
    stage: str
    timestamp: datetime
    schema_version: int
    fingerprint: str
    pipeline_version: str


class WorkflowCheckpoint(Frozen):
    """Everything a resumed run needs, assembled from a session's checkpoints."""

    metadata: CheckpointMetadata
    intent: IntentAnalysis | None = None
    plan: ResearchPlan | None = None
    search: SearchResult | None = None
    verification: VerificationResult | None = None
    draft: WritingResult | None = None
    evaluation: EvaluationResult | None = None
    initial_evaluation: EvaluationResult | None = None
    turnitin: OriginalityResult | None = None
    stage_metrics: dict[str, Any] = {}
