"""Evaluation stage: score the draft against a weighted rubric and, when it
falls short, revise it once and score the revision."""

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from research.engine import citation_check, phrasing, text, writing
from research.schemas import (
    EvaluationOutcome,
    EvaluationResult,
    IntentAnalysis,
    ResearchPlan,
    RubricScore,
    VerificationResult,
    WritingResult,
)
from research.stages import StageInput

# Quotations a body section needs to answer its research questions.
PASSAGES_PER_QUESTION = 2
# Distinct cited sources a report should reach when the verified pool allows.
DIVERSE_SOURCES = 10
# Comfortable average sentence length, in words.
SENTENCE_LENGTH_RANGE = (12.0, 28.0)
LENGTH_TOLERANCE = 0.2
CITATION = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class _Context:
    intent: IntentAnalysis
    plan: ResearchPlan
    verification: VerificationResult
    target_words: int
    source_texts: dict[str, str]


def run(stage_input: StageInput) -> EvaluationOutcome:
    draft: WritingResult = stage_input.result("writing")
    context = evaluation_context(stage_input)
    threshold = stage_input.options.evaluation_threshold

    initial = evaluate(draft, context, threshold)
    if initial.passed:
        return EvaluationOutcome(initial_evaluation=initial, evaluation=initial)

    stage_input.check_stop()
    revised = _revise(stage_input, draft, context)
    final = evaluate(revised, context, threshold)
    return EvaluationOutcome(
        initial_evaluation=initial, evaluation=final, revised_draft=revised
    )


def evaluation_context(stage_input: StageInput) -> _Context:
    """Return what scoring a draft of this session needs."""
    intent: IntentAnalysis = stage_input.result("intent")
    plan: ResearchPlan = stage_input.result("planning")
    verification: VerificationResult = stage_input.result("verify")
    return _context(stage_input, intent, plan, verification)


def _context(
    stage_input: StageInput,
    intent: IntentAnalysis,
    plan: ResearchPlan,
    verification: VerificationResult,
) -> _Context:
    # Quotations are checked against the corpus itself, not the copies the
    # earlier stages carried along.
    texts: dict[str, str] = {}
    for source in verification.verified:
        document = stage_input.corpus.get(source.source_id)
        texts[source.source_id] = document.text if document else ""
    return _Context(
        intent=intent,
        plan=plan,
        verification=verification,
        target_words=writing.target_words(intent, stage_input.options),
        source_texts=texts,
    )


def evaluate(
    draft: WritingResult, context: _Context, threshold: float
) -> EvaluationResult:
    criteria: list[
        tuple[str, float, Callable[[WritingResult, _Context], tuple[float, str]]]
    ] = [
        ("structure", 0.2, _structure),
        ("research_question_coverage", 0.2, _coverage),
        ("citation_integrity", 0.25, _citation_integrity),
        ("source_diversity", 0.15, _diversity),
        ("readability", 0.1, _readability),
        ("length", 0.1, _length),
    ]
    rubric = []
    for name, weight, measure in criteria:
        score, notes = measure(draft, context)
        rubric.append(
            RubricScore(
                criterion=name, score=round(score, 4), weight=weight, notes=notes
            )
        )

    total = sum(item.score * item.weight for item in rubric) / sum(
        i.weight for i in rubric
    )
    total = round(total, 4)
    return EvaluationResult(
        rubric=rubric, score=total, threshold=threshold, passed=total >= threshold
    )


def _structure(draft: WritingResult, context: _Context) -> tuple[float, str]:
    headings = re.findall(r"^## (.+)$", draft.markdown, flags=re.MULTILINE)
    planned = [section.title for section in context.plan.sections]
    present = [title for title in planned if title in headings]
    in_order = [h for h in headings if h in planned] == planned
    has_title = draft.markdown.startswith(f"# {context.plan.title}\n")
    has_references = len(headings) > len(planned)

    checks = [len(present) == len(planned), in_order, has_title, has_references]
    share = (len(present) / len(planned)) if planned else 0.0
    score = 0.7 * share + 0.1 * sum(checks[1:])
    missing = [title for title in planned if title not in headings]
    words = _words(context)
    notes = words.note_sections.format(present=len(present), planned=len(planned))
    if missing:
        notes += words.note_missing.format(titles=", ".join(missing))
    return score, notes


def _words(context: _Context) -> phrasing.Words:
    return phrasing.words_for(context.intent.language)


def section_passages(draft: WritingResult) -> Counter[str]:
    return Counter(quotation.section for quotation in draft.quotations)


def _coverage(draft: WritingResult, context: _Context) -> tuple[float, str]:
    passages = section_passages(draft)
    body = context.plan.body_sections
    if not body:
        return 0.0, _words(context).note_no_body

    shares = []
    weak = []
    for section in body:
        needed = PASSAGES_PER_QUESTION * max(1, len(section.research_questions))
        share = min(1.0, passages[section.title] / needed)
        shares.append(share)
        if share < 1.0:
            weak.append(f"{section.title} ({passages[section.title]}/{needed})")
    notes = _words(context).note_answered
    if weak:
        notes = _words(context).note_thin.format(sections=", ".join(weak))
    return sum(shares) / len(shares), notes


def weak_sections(draft: WritingResult, plan: ResearchPlan) -> dict[str, int]:
    """Return the body sections short of quotations, with how many they lack."""
    passages = section_passages(draft)
    lacking = {}
    for section in plan.body_sections:
        needed = PASSAGES_PER_QUESTION * max(1, len(section.research_questions))
        if passages[section.title] < needed:
            lacking[section.title] = needed - passages[section.title]
    return lacking


def _citation_integrity(draft: WritingResult, context: _Context) -> tuple[float, str]:
    body = draft.markdown.split(f"\n## {_references_heading(draft)}\n")[0]
    numbers = [int(n) for n in CITATION.findall(body)]
    listed = {entry.number: entry for entry in draft.bibliography}
    unresolved = sorted({n for n in numbers if n not in listed})
    unused = sorted(set(listed) - set(numbers))

    false_quotes = [
        q
        for q in draft.quotations
        if q.text not in context.source_texts.get(q.source_id, "")
        or q.text not in body
        or listed.get(q.citation) is None
        or listed[q.citation].source_id != q.source_id
    ]
    checks = len(numbers) + len(listed) + len(draft.quotations)
    failures = (
        len([n for n in numbers if n not in listed]) + len(unused) + len(false_quotes)
    )
    score = 1.0 - failures / checks if checks else 0.0
    words = _words(context)
    notes = words.note_integrity.format(
        citations=len(numbers),
        quotations=len(draft.quotations),
        unresolved=len(unresolved),
        unused=len(unused),
        false=len(false_quotes),
    )
    checked = draft.citation_check or citation_check.measure_draft(
        draft, context.verification.verified, context.intent.language
    )
    notes += words.note_rates.format(
        fabricated_rate=checked.fabricated_rate,
        fabricated=checked.fabricated,
        citations=checked.citations,
        unsupported_rate=checked.unsupported_rate,
        unsupported=checked.unsupported,
        sentences=checked.cited_sentences,
    )
    return max(0.0, score), notes


def _references_heading(draft: WritingResult) -> str:
    headings = re.findall(r"^## (.+)$", draft.markdown, flags=re.MULTILINE)
    return headings[-1] if headings else ""


def _diversity(draft: WritingResult, context: _Context) -> tuple[float, str]:
    counts = Counter(q.source_id for q in draft.quotations)
    if not counts:
        return 0.0, _words(context).note_no_quotations

    expected = min(DIVERSE_SOURCES, len(context.verification.verified))
    breadth = min(1.0, len(counts) / expected) if expected else 0.0
    largest_share = max(counts.values()) / sum(counts.values())
    # One source supplying most quotations is a summary, not a synthesis.
    balance = 1.0 if largest_share <= 0.3 else max(0.0, 1.0 - (largest_share - 0.3) * 2)
    notes = _words(context).note_diversity.format(
        count=len(counts), aim=expected, share=largest_share
    )
    return 0.8 * breadth + 0.2 * balance, notes


def _readability(draft: WritingResult, context: _Context) -> tuple[float, str]:
    prose = _prose(draft.markdown)
    sentences = [s.text for s in text.split_sentences(prose)]
    words = text.words(prose)
    if not sentences or not words:
        return 0.0, _words(context).note_no_prose

    average = len(words) / len(sentences)
    syllables = sum(text.syllables(word) for word in words) / len(words)
    low, high = SENTENCE_LENGTH_RANGE
    if low <= average <= high:
        length_score = 1.0
    else:
        distance = low - average if average < low else average - high
        length_score = max(0.0, 1.0 - distance / low)
    # Flesch reading ease (1948); scholarly prose sits around 30, so 10..60
    # maps onto 0..1.
    flesch = 206.835 - 1.015 * average - 84.6 * syllables
    ease_score = min(1.0, max(0.0, (flesch - 10.0) / 50.0))
    notes = _words(context).note_readability.format(
        average=average, syllables=syllables, flesch=flesch
    )
    return 0.5 * length_score + 0.5 * ease_score, notes


def _prose(markdown: str) -> str:
    """Return the report's running text: no headings, references or marks."""
    body = markdown.rsplit("\n## ", 1)[0]
    lines = [
        line.removeprefix("- ").strip()
        for line in body.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return CITATION.sub("", "\n".join(lines)).replace("*", "")


def _length(draft: WritingResult, context: _Context) -> tuple[float, str]:
    target = context.target_words
    ratio = draft.word_count / target if target else 0.0
    low, high = 1 - LENGTH_TOLERANCE, 1 + LENGTH_TOLERANCE
    if low <= ratio <= high:
        score = 1.0
    elif ratio < low:
        score = ratio / low
    else:
        score = max(0.0, high / ratio)
    return score, _words(context).note_length.format(
        words=draft.word_count, target=target
    )


def _revise(
    stage_input: StageInput, draft: WritingResult, context: _Context
) -> WritingResult:
    """Write the draft again with more passages for thin sections and the
    length pulled toward the target."""
    ratio = draft.word_count / context.target_words if context.target_words else 1.0
    factor = 1.0
    if ratio < 1 - LENGTH_TOLERANCE:
        factor = min(2.0, 1 / max(ratio, 0.25))
    elif ratio > 1 + LENGTH_TOLERANCE:
        factor = max(0.5, 1 / ratio)

    return writing.compose(
        intent=context.intent,
        plan=context.plan,
        verification=context.verification,
        options=stage_input.options,
        corpus=stage_input.corpus,
        extra_passages=weak_sections(draft, context.plan),
        length_factor=factor,
        revision=draft.revision + 1,
    )
