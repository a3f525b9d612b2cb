"""Intent, planning, writing and evaluation by the model.

Search, verify and originality stay with the offline engine: the model
writes only from the sources retrieval found and verify kept, numbered and
quoted in its prompt, and the citation check cleans what it writes before
the draft is stored.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from research.engine import citation_check, citations, evaluation, phrasing, text
from research.engine.writing import report_markdown, target_words
from research.llm import answers, budget, config, prompts
from research.llm.budget import Meter
from research.llm.client import ChatClient
from research.llm.structured import ask
from research.schemas import (
    CitationCheck,
    Constraints,
    EvaluationOutcome,
    EvaluationResult,
    IntentAnalysis,
    PlannedSection,
    Quotation,
    ResearchPlan,
    RubricScore,
    Source,
    VerificationResult,
    WritingResult,
    WrittenSection,
)
from research.stages import StageInput

logger = logging.getLogger(__name__)

# Output allowance per call; the writing stage may use all of
# PROWZI_LLM_MAX_OUTPUT_TOKENS.
INTENT_TOKENS = 800
PLANNING_TOKENS = 2000
REVIEW_TOKENS = 1200
# What the writer is shown: the best verified sources and, of each, the
# sentences sharing most words with the topic and the planned themes.
SOURCES_SHOWN = 20
PASSAGES_PER_SOURCE = 4
SENTENCES_READ = 200
LONGEST_PASSAGE = 80
DIVERSE_SOURCES = 10
HEADING = re.compile(r"^#{1,6}\s")
# Rubric weights of the model engine's evaluation; they add up to 1.
WEIGHTS = {
    "structure": 0.15,
    "research_question_coverage": 0.2,
    "citation_integrity": 0.2,
    "source_diversity": 0.1,
    "readability": 0.1,
    "length": 0.05,
    "fabricated_citations": 0.1,
    "unsupported_sentences": 0.1,
}


@dataclass(frozen=True)
class _Tools:
    client: ChatClient
    meter: Meter

    @property
    def model_tokens(self) -> int:
        return self.client.config.max_output_tokens


def _tools(stage_input: StageInput, stage: str) -> _Tools:
    settings = config.load()
    session_id = stage_input.session_id
    logger.info(
        "Session %s: %s by model %s at %s",
        session_id or "-",
        stage,
        settings.model,
        settings.base_url,
    )
    client = ChatClient(
        settings,
        stage=stage,
        session_id=session_id,
        check_stop=stage_input.check_stop,
    )
    meter = Meter(settings, stage, session_id, budget.spent(stage_input.results))
    return _Tools(client, meter)


def run_intent(stage_input: StageInput) -> IntentAnalysis:
    tools = _tools(stage_input, "intent")
    options = stage_input.options
    messages = prompts.intent(stage_input.prompt, options, answers.IntentAnswer)
    answer = ask(
        tools.client,
        tools.meter,
        messages,
        answers.IntentAnswer,
        max_tokens=min(INTENT_TOKENS, tools.model_tokens),
    )

    # What the user chose in the options wins over the model's reading.
    concepts = text.unique(c.strip() for c in answer.key_concepts if c.strip())
    return IntentAnalysis(
        document_type=options.document_type or answer.document_type,
        topic=" ".join(answer.topic.split()),
        key_concepts=concepts,
        constraints=Constraints(
            target_words=options.target_words or answer.target_words,
            citation_style=options.citation_style or answer.citation_style,
            period_start=answer.period_start,
            period_end=answer.period_end,
            audience=answer.audience,
        ),
        language=options.language or answer.language,
        llm_usage=tools.meter.usage(),
    )


def run_planning(stage_input: StageInput) -> ResearchPlan:
    intent: IntentAnalysis = stage_input.result("intent")
    tools = _tools(stage_input, "planning")
    answer = ask(
        tools.client,
        tools.meter,
        prompts.planning(intent, answers.PlanAnswer),
        answers.PlanAnswer,
        max_tokens=min(PLANNING_TOKENS, tools.model_tokens),
    )
    return ResearchPlan(
        title=" ".join(answer.title.split()),
        document_type=intent.document_type,
        sections=[
            PlannedSection(**section.model_dump()) for section in answer.sections
        ],
        llm_usage=tools.meter.usage(),
    )


def run_writing(stage_input: StageInput) -> WritingResult:
    tools = _tools(stage_input, "writing")
    draft = write(stage_input, tools, feedback="", revision=0)
    return draft.model_copy(update={"llm_usage": tools.meter.usage()})


def write(
    stage_input: StageInput, tools: _Tools, *, feedback: str, revision: int
) -> WritingResult:
    """Have the model write the report from the verified sources, then keep
    only what the citation check lets through."""
    intent: IntentAnalysis = stage_input.result("intent")
    plan: ResearchPlan = stage_input.result("planning")
    verification: VerificationResult = stage_input.result("verify")
    shown = citation_check.numbered(verification.verified[:SOURCES_SHOWN])

    def same_sections(answer: answers.DraftAnswer) -> None:
        if len(answer.sections) != len(plan.sections):
            raise ValueError(
                f"give exactly {len(plan.sections)} sections, one per planned "
                f"section in order; the answer has {len(answer.sections)}"
            )

    messages = prompts.writing(
        intent,
        plan,
        _passages(shown, intent, plan),
        target_words(intent, stage_input.options),
        answers.DraftAnswer,
        feedback,
    )
    answer = ask(
        tools.client,
        tools.meter,
        messages,
        answers.DraftAnswer,
        max_tokens=tools.model_tokens,
        check=same_sections,
    )
    stage_input.check_stop()
    return _draft(stage_input, plan, shown, answer, revision, tools.meter)


def _passages(
    shown: dict[int, Source], intent: IntentAnalysis, plan: ResearchPlan
) -> str:
    language = intent.language
    wanted = set(text.stems(" ".join(intent.key_concepts), language))
    for section in plan.sections:
        wanted |= set(text.stems(" ".join(section.theme_terms), language))

    blocks = []
    for number, source in shown.items():
        spans = text.split_sentences(source.text)[:SENTENCES_READ]
        usable = [
            (position, span.text)
            for position, span in enumerate(spans)
            if 5 <= text.word_count(span.text) <= LONGEST_PASSAGE
        ]
        best = sorted(
            usable,
            key=lambda item: (
                -len(wanted & set(text.stems(item[1], language))),
                item[0],
            ),
        )[:PASSAGES_PER_SOURCE]
        authors = ", ".join(source.authors) or "unknown authors"
        lines = [f"[{number}] {source.title} — {authors} ({source.date or 'n.d.'})"]
        lines += [f"  - {sentence}" for _, sentence in sorted(best)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _draft(
    stage_input: StageInput,
    plan: ResearchPlan,
    shown: dict[int, Source],
    answer: answers.DraftAnswer,
    revision: int,
    meter: Meter,
) -> WritingResult:
    intent: IntentAnalysis = stage_input.result("intent")
    language = intent.language
    words = phrasing.words_for(language)

    contents: list[str] = []
    reports: list[CitationCheck] = []
    for written in answer.sections:
        lines = [line for line in written.markdown.strip().split("\n")]
        kept = "\n".join(line for line in lines if not HEADING.match(line.lstrip()))
        checked = citation_check.clean(kept.strip(), shown, language)
        contents.append(checked.markdown.strip())
        reports.append(checked.report)
    report = _combined(reports)
    if report.fabricated or report.unsupported:
        logger.warning(
            "Session %s: writing: removed %d fabricated citations and %d "
            "unsupported sentences from the model's draft",
            meter.session_id,
            report.fabricated,
            report.unsupported,
        )

    numbers = _first_cited_order(contents)
    contents = [_renumbered(content, numbers) for content in contents]
    style = (
        stage_input.options.citation_style
        or intent.constraints.citation_style
        or "numeric"
    )
    bibliography = [
        citations.citation(new, shown[old], style, words)
        for old, new in sorted(numbers.items(), key=lambda item: item[1])
    ]
    renumbered_sources = {numbers[old]: shown[old] for old in numbers}

    sections: list[WrittenSection] = []
    quotations: list[Quotation] = []
    for planned, content in zip(plan.sections, contents, strict=True):
        markdown = f"## {planned.title}\n\n{content}".rstrip() + "\n"
        cited = sorted(
            {
                int(n)
                for group in citation_check.CITATION_GROUP.findall(content)
                for n in re.split(r"\s*[,;]\s*", group)
            }
        )
        sections.append(
            WrittenSection(
                kind=planned.kind,
                title=planned.title,
                markdown=markdown,
                citations=cited,
            )
        )
        quotations += [
            Quotation(
                citation=number,
                source_id=renumbered_sources[number].source_id,
                section=planned.title,
                text=quote,
            )
            for number, quote in citation_check.verbatim_quotations(
                content, renumbered_sources
            )
        ]

    body = "\n".join(section.markdown for section in sections)
    return WritingResult(
        title=plan.title,
        markdown=report_markdown(plan.title, body, words, bibliography),
        sections=sections,
        bibliography=bibliography,
        quotations=quotations,
        word_count=text.word_count(f"{plan.title}\n{body}"),
        revision=revision,
        citation_check=report,
    )


def _combined(reports: list[CitationCheck]) -> CitationCheck:
    return CitationCheck(
        citations=sum(r.citations for r in reports),
        fabricated=sum(r.fabricated for r in reports),
        cited_sentences=sum(r.cited_sentences for r in reports),
        unsupported=sum(r.unsupported for r in reports),
        findings=[f for r in reports for f in r.findings][
            : citation_check.FINDINGS_KEPT
        ],
    )


def _first_cited_order(contents: list[str]) -> dict[int, int]:
    """Number sources in order of first citation in the report."""
    numbers: dict[int, int] = {}
    for content in contents:
        for group in citation_check.CITATION_GROUP.findall(content):
            for part in re.split(r"\s*[,;]\s*", group):
                numbers.setdefault(int(part), len(numbers) + 1)
    return numbers


def _renumbered(content: str, numbers: dict[int, int]) -> str:
    def swap(match: re.Match[str]) -> str:
        parts = re.split(r"\s*[,;]\s*", match.group(1))
        return "[" + ", ".join(str(numbers[int(part)]) for part in parts) + "]"

    return citation_check.CITATION_GROUP.sub(swap, content)


def run_evaluation(stage_input: StageInput) -> EvaluationOutcome:
    draft: WritingResult = stage_input.result("writing")
    tools = _tools(stage_input, "evaluation")
    threshold = stage_input.options.evaluation_threshold

    initial, advice = _evaluate(stage_input, tools, draft, threshold)
    if initial.passed:
        return EvaluationOutcome(
            initial_evaluation=initial,
            evaluation=initial,
            llm_usage=tools.meter.usage(),
        )

    stage_input.check_stop()
    feedback = advice or "Answer every section's research questions more fully."
    revised = write(stage_input, tools, feedback=feedback, revision=draft.revision + 1)
    final, _ = _evaluate(stage_input, tools, revised, threshold)
    return EvaluationOutcome(
        initial_evaluation=initial,
        evaluation=final,
        revised_draft=revised,
        llm_usage=tools.meter.usage(),
    )


def _evaluate(
    stage_input: StageInput, tools: _Tools, draft: WritingResult, threshold: float
) -> tuple[EvaluationResult, str]:
    """Score the draft: the measurable criteria as the offline engine does,
    coverage and readability as the model judges them, and the citation
    check's two rates."""
    context = evaluation.evaluation_context(stage_input)
    measured = {
        item.criterion: item
        for item in evaluation.evaluate(draft, context, threshold).rubric
    }
    review = ask(
        tools.client,
        tools.meter,
        prompts.evaluation(
            context.intent, context.plan, draft.markdown, answers.ReviewAnswer
        ),
        answers.ReviewAnswer,
        max_tokens=min(REVIEW_TOKENS, tools.model_tokens),
    )
    checked = draft.citation_check or citation_check.measure_draft(
        draft, context.verification.verified, context.intent.language
    )
    where = (
        " in the model's draft, removed before scoring" if draft.citation_check else ""
    )

    scores: dict[str, tuple[float, str]] = {
        "structure": _measured(measured["structure"]),
        "research_question_coverage": (
            review.research_question_coverage.score,
            review.research_question_coverage.notes,
        ),
        "citation_integrity": _measured(measured["citation_integrity"]),
        "source_diversity": _diversity(draft, context.verification.verified),
        "readability": (review.readability.score, review.readability.notes),
        "length": _measured(measured["length"]),
        "fabricated_citations": (
            1.0 - checked.fabricated_rate,
            f"fabricated-citation rate {checked.fabricated_rate:.1%} "
            f"({checked.fabricated} of {checked.citations} citations){where}",
        ),
        "unsupported_sentences": (
            1.0 - checked.unsupported_rate,
            f"unsupported-sentence rate {checked.unsupported_rate:.1%} "
            f"({checked.unsupported} of {checked.cited_sentences} cited "
            f"sentences){where}",
        ),
    }
    rubric = [
        RubricScore(
            criterion=name,
            score=round(scores[name][0], 4),
            weight=weight,
            notes=scores[name][1],
        )
        for name, weight in WEIGHTS.items()
    ]
    total = round(sum(item.score * item.weight for item in rubric), 4)
    result = EvaluationResult(
        rubric=rubric, score=total, threshold=threshold, passed=total >= threshold
    )
    return result, review.advice.strip()


def _measured(item: RubricScore) -> tuple[float, str]:
    return item.score, item.notes


def _diversity(draft: WritingResult, verified: list[Source]) -> tuple[float, str]:
    expected = min(DIVERSE_SOURCES, len(verified))
    cited = len(draft.bibliography)
    share = min(1.0, cited / expected) if expected else 0.0
    return share, f"{cited} distinct sources cited (aim {expected})"


RUNNERS: dict[str, Callable[[StageInput], BaseModel]] = {
    "intent": run_intent,
    "planning": run_planning,
    "writing": run_writing,
    "evaluation": run_evaluation,
}
