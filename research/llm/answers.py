"""The shapes the model's JSON answers must take, one per stage.

Validation errors from these models are what the repair request quotes back
to the model, so each rule says plainly what is wrong.
"""

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from research.schemas import CitationStyle, DocumentType


class Answer(BaseModel):
    # Models add keys of their own now and then; those are ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class IntentAnswer(Answer):
    document_type: DocumentType
    topic: str = Field(min_length=2, max_length=300)
    key_concepts: list[str] = Field(min_length=1, max_length=12)
    language: Literal["en", "es", "fr"]
    target_words: int | None = Field(default=None, ge=100, le=20000)
    citation_style: CitationStyle | None = None
    period_start: int | None = None
    period_end: int | None = None
    audience: str | None = None


class SectionPlan(Answer):
    kind: Literal["introduction", "body", "conclusion"]
    title: str = Field(min_length=2, max_length=120)
    research_questions: list[str] = Field(min_length=1, max_length=5)
    queries: list[str] = Field(min_length=1, max_length=5)
    theme_terms: list[str] = Field(default=[], max_length=8)


class PlanAnswer(Answer):
    title: str = Field(min_length=2, max_length=200)
    sections: list[SectionPlan] = Field(min_length=3, max_length=10)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        kinds = [section.kind for section in self.sections]
        if kinds[0] != "introduction" or kinds[-1] != "conclusion":
            raise ValueError(
                "the first section must be the introduction and the last the conclusion"
            )
        if any(kind != "body" for kind in kinds[1:-1]):
            raise ValueError("every section between the first and last is a body")
        titles = [section.title.casefold() for section in self.sections]
        if len(set(titles)) != len(titles):
            raise ValueError("section titles must differ from each other")
        return self


class SectionText(Answer):
    title: str
    markdown: str = Field(min_length=1)


class DraftAnswer(Answer):
    sections: list[SectionText] = Field(min_length=1)


class Judgement(Answer):
    score: float = Field(ge=0.0, le=1.0)
    notes: str = Field(max_length=1000)


class ReviewAnswer(Answer):
    research_question_coverage: Judgement
    readability: Judgement
    advice: str = Field(default="", max_length=2000)
