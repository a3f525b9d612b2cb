"""Writing stage: a Markdown report whose every fact is a verbatim, cited
quotation of a verified source, chosen per section by relevance with
redundancy removed (maximal marginal relevance)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from research.engine import citations, phrasing, relevance, text
from research.schemas import (
    Citation,
    DocumentType,
    IntentAnalysis,
    PlannedSection,
    Quotation,
    ResearchOptions,
    ResearchPlan,
    Source,
    VerificationResult,
    WritingResult,
    WrittenSection,
)
from research.stages import StageInput

if TYPE_CHECKING:
    from research.corpus import Corpus

DEFAULT_WORDS: dict[DocumentType, int] = {
    "literature_review": 1500,
    "paper": 1800,
    "thesis": 3000,
    "report": 1200,
    "essay": 1000,
    "brief": 600,
}
# Words the report's own sentences add around each quotation.
CONNECTOR_WORDS = 6
FRAME_WORDS_PER_SECTION = 40
SHORTEST_SENTENCE = 6
LONGEST_SENTENCE = 60
SENTENCES_READ_PER_SOURCE = 200
# Weight of relevance against redundancy in maximal marginal relevance.
MMR_LAMBDA = 0.7
WEAKEST_PASSAGE = 0.12
THEME_WEIGHT = 2.0
# Characters that would change a quotation's meaning in Markdown or clash
# with the report's own quotation marks and citation brackets.
UNQUOTABLE = re.compile(r"[\[\]“”«»*_`#|<>\n]")
# Sentences about the source document itself mean nothing out of it.
SELF_REFERENCE = re.compile(
    r"\b(?:this|the present) article\b|\beste artículo\b|\bcet article\b", re.I
)
PLACEHOLDER = re.compile(r"\x00(\d+)\x00")


@dataclass(frozen=True)
class Passage:
    source_index: int
    position: int
    text: str
    stems: frozenset[str]


@dataclass
class _Section:
    plan: PlannedSection
    passages: list[Passage] = field(default_factory=list)


def run(stage_input: StageInput) -> WritingResult:
    return compose(
        intent=stage_input.result("intent"),
        plan=stage_input.result("planning"),
        verification=stage_input.result("verify"),
        options=stage_input.options,
        corpus=stage_input.corpus,
    )


def target_words(intent: IntentAnalysis, options: ResearchOptions) -> int:
    return (
        options.target_words
        or intent.constraints.target_words
        or DEFAULT_WORDS[intent.document_type]
    )


def compose(
    *,
    intent: IntentAnalysis,
    plan: ResearchPlan,
    verification: VerificationResult,
    options: ResearchOptions,
    corpus: "Corpus",
    extra_passages: Mapping[str, int] | None = None,
    length_factor: float = 1.0,
    revision: int = 0,
) -> WritingResult:
    """Write the report; a revision may ask for more passages in some
    sections and scale the overall length."""
    sources = verification.verified
    language = intent.language
    pool = _passages(sources, language)
    budget = _words_per_section(plan, target_words(intent, options) * length_factor)

    sections = [_Section(section) for section in plan.body_sections]
    used: set[tuple[int, int]] = set()
    cited: set[int] = set()
    for section in sections:
        wanted_extra = (extra_passages or {}).get(section.plan.title, 0)
        section.passages = _choose(
            section.plan,
            intent,
            pool,
            sources,
            corpus,
            budget,
            wanted_extra,
            used,
            cited,
        )
        used |= {(p.source_index, p.position) for p in section.passages}
        cited |= {p.source_index for p in section.passages}

    return _render(intent, plan, sources, sections, options, revision)


def _passages(sources: list[Source], language: str) -> list[Passage]:
    passages: list[Passage] = []
    for index, source in enumerate(sources):
        spans = text.split_sentences(source.text)[:SENTENCES_READ_PER_SOURCE]
        for position, span in enumerate(spans):
            if _quotable(span.text):
                stems = frozenset(text.stems(span.text, language))
                passages.append(Passage(index, position, span.text, stems))
    return passages


def _quotable(sentence: str) -> bool:
    count = text.word_count(sentence)
    return (
        SHORTEST_SENTENCE <= count <= LONGEST_SENTENCE
        and sentence[:1].isupper()
        and sentence.endswith((".", "!", "?"))
        and not UNQUOTABLE.search(sentence)
        and not SELF_REFERENCE.search(sentence)
    )


def _words_per_section(plan: ResearchPlan, target: float) -> float:
    body_count = max(1, len(plan.body_sections))
    frame = FRAME_WORDS_PER_SECTION * (len(plan.sections) + 2)
    return max(60.0, (target - frame) / body_count)


def _choose(
    section: PlannedSection,
    intent: IntentAnalysis,
    pool: list[Passage],
    sources: list[Source],
    corpus: "Corpus",
    budget: float,
    extra: int,
    used: set[tuple[int, int]],
    cited: set[int],
) -> list[Passage]:
    """Pick passages by maximal marginal relevance until the section's word
    budget is spent, then `extra` more if asked."""
    scores = _section_scores(section, intent, pool, sources, corpus)
    candidates = [
        p
        for p in pool
        if (p.source_index, p.position) not in used
        and scores[_key(p)] >= WEAKEST_PASSAGE
    ]
    chosen: list[Passage] = []
    words = 0.0
    while candidates and (words < budget or extra > 0):
        best = max(
            candidates,
            key=lambda p: (
                round(_marginal(p, scores[_key(p)], chosen, cited), 9),
                -p.source_index,
                -p.position,
            ),
        )
        if words >= budget:
            extra -= 1
        chosen.append(best)
        words += text.word_count(best.text) + CONNECTOR_WORDS
        candidates = [p for p in candidates if p is not best]
    return _in_reading_order(chosen)


def _section_scores(
    section: PlannedSection,
    intent: IntentAnalysis,
    pool: list[Passage],
    sources: list[Source],
    corpus: "Corpus",
) -> dict[tuple[int, int], float]:
    language = intent.language
    topic_words = relevance.concept_words(intent.key_concepts, language)
    theme_words = [
        word
        for term in section.theme_terms
        for word in text.content_words(term, language)
    ]
    topic = relevance.weigh(topic_words, corpus, language)
    theme = relevance.weigh(theme_words, corpus, language)
    queries = set(section.queries)

    scores: dict[tuple[int, int], float] = {}
    for passage in pool:
        terms = relevance.DocumentTerms(passage.stems, passage.stems)
        matched = _coverage_or_zero(topic, terms) + THEME_WEIGHT * _coverage_or_zero(
            theme, terms
        )
        if matched <= 0:
            scores[_key(passage)] = 0.0
            continue

        source = sources[passage.source_index]
        on_section = 0.15 if queries & set(source.matched_queries) else 0.0
        opening = 0.1 if passage.position == 0 else 0.0
        scores[_key(passage)] = matched / (1 + THEME_WEIGHT) + on_section + opening
    return scores


def _key(passage: Passage) -> tuple[int, int]:
    return passage.source_index, passage.position


def _coverage_or_zero(
    terms: relevance.WeightedTerms, document: relevance.DocumentTerms
) -> float:
    return terms.coverage(document) if terms.weights else 0.0


def _marginal(
    passage: Passage, score: float, chosen: list[Passage], cited: set[int]
) -> float:
    redundancy = max((_similarity(passage, other) for other in chosen), default=0.0)
    same_source = sum(
        1 for other in chosen if other.source_index == passage.source_index
    )
    # Spreading quotations over sources makes a review, not a summary of one.
    crowding = 0.12 * same_source + (0.05 if passage.source_index in cited else 0.0)
    return MMR_LAMBDA * score - (1 - MMR_LAMBDA) * redundancy - crowding


def _similarity(left: Passage, right: Passage) -> float:
    union = left.stems | right.stems
    return len(left.stems & right.stems) / len(union) if union else 0.0


def _in_reading_order(chosen: list[Passage]) -> list[Passage]:
    """Group by source (in the order sources were first chosen), each
    source's sentences in their original order."""
    first_choice: dict[int, int] = {}
    for rank, passage in enumerate(chosen):
        first_choice.setdefault(passage.source_index, rank)
    return sorted(chosen, key=lambda p: (first_choice[p.source_index], p.position))


def _render(
    intent: IntentAnalysis,
    plan: ResearchPlan,
    sources: list[Source],
    sections: list[_Section],
    options: ResearchOptions,
    revision: int,
) -> WritingResult:
    words = phrasing.words_for(intent.language)
    bodies = {
        id(section.plan): _body_markdown(section, sources, intent)
        for section in sections
    }
    drafts: list[tuple[PlannedSection, str]] = []
    for planned in plan.sections:
        if planned.kind == "introduction":
            content = _introduction(intent, plan, sections, sources)
        elif planned.kind == "conclusion":
            content = _conclusion(intent, plan, sections, sources)
        else:
            content = bodies.get(id(planned), "")
        drafts.append((planned, f"## {planned.title}\n\n{content}".rstrip() + "\n"))

    numbers = _number_citations(drafts)
    style = options.citation_style or intent.constraints.citation_style or "numeric"
    bibliography = [
        citations.citation(number, sources[index], style, words)
        for index, number in sorted(numbers.items(), key=lambda item: item[1])
    ]
    written = [
        WrittenSection(
            kind=planned.kind,
            title=planned.title,
            markdown=_numbered(markdown, numbers),
            citations=sorted({numbers[int(i)] for i in PLACEHOLDER.findall(markdown)}),
        )
        for planned, markdown in drafts
    ]
    quotations = [
        Quotation(
            citation=numbers[passage.source_index],
            source_id=sources[passage.source_index].source_id,
            section=section.plan.title,
            text=passage.text,
            page=sources[passage.source_index].page,
        )
        for section in sections
        for passage in section.passages
    ]
    return _assemble(plan, written, bibliography, quotations, words, revision)


def _assemble(
    plan: ResearchPlan,
    written: list[WrittenSection],
    bibliography: list[Citation],
    quotations: list[Quotation],
    words: phrasing.Words,
    revision: int,
) -> WritingResult:
    body = "\n".join(section.markdown for section in written)
    return WritingResult(
        title=plan.title,
        markdown=report_markdown(plan.title, body, words, bibliography),
        sections=written,
        bibliography=bibliography,
        quotations=quotations,
        word_count=text.word_count(f"{plan.title}\n{body}"),
        revision=revision,
    )


def report_markdown(
    title: str, body: str, words: phrasing.Words, bibliography: list[Citation]
) -> str:
    """The whole report: title, sections, then the references."""
    # A blank line between entries makes each its own paragraph; entries on
    # consecutive lines would run together into one paragraph when rendered.
    references = "\n\n".join(entry.entry for entry in bibliography)
    return f"# {title}\n\n{body}\n## {words.references}\n\n{references}\n"


def _number_citations(drafts: list[tuple[PlannedSection, str]]) -> dict[int, int]:
    """Number sources in order of first citation in the finished report."""
    numbers: dict[int, int] = {}
    for _, markdown in drafts:
        for index in PLACEHOLDER.findall(markdown):
            numbers.setdefault(int(index), len(numbers) + 1)
    return numbers


def _numbered(markdown: str, numbers: dict[int, int]) -> str:
    return PLACEHOLDER.sub(lambda match: str(numbers[int(match.group(1))]), markdown)


def cite(index: int) -> str:
    return f"[\x00{index}\x00]"


def _body_markdown(
    section: _Section, sources: list[Source], intent: IntentAnalysis
) -> str:
    words = phrasing.words_for(intent.language)
    theme = _theme_phrase(section.plan, intent)
    if not section.passages:
        return words.section_empty.format(theme=theme)

    indexes = text.unique(str(p.source_index) for p in section.passages)
    opening = (
        words.section_opening_one.format(theme=theme)
        if len(indexes) == 1
        else words.section_opening.format(count=len(indexes), theme=theme)
    )

    paragraphs = [opening]
    for source_index in (int(i) for i in indexes):
        own = [p for p in section.passages if p.source_index == source_index]
        paragraphs.append(_paragraph(own, sources[source_index], words))
    return "\n\n".join(paragraphs)


def _paragraph(passages: list[Passage], source: Source, words: phrasing.Words) -> str:
    sentences = []
    for order, passage in enumerate(passages):
        template = words.first_quote if order == 0 else words.further_quote
        quote = f"{words.quote_open}{passage.text}{words.quote_close}"
        sentence = template.format(title=source.title, quote=quote, cite="{cite}")
        sentences.append(sentence.replace("[{cite}]", cite(passage.source_index)))
    return " ".join(sentences)


def _theme_phrase(section: PlannedSection, intent: IntentAnalysis) -> str:
    """Return the section's theme as it reads inside a sentence."""
    if section.theme_terms == intent.key_concepts:
        return intent.topic
    return " ".join(section.theme_terms)


def _source_list(indexes: list[int], sources: list[Source], language: str) -> str:
    names = [f"*{sources[index].title}* {cite(index)}" for index in indexes]
    return phrasing.join_names(names, language)


def _section_sources(section: _Section) -> list[int]:
    return [int(i) for i in text.unique(str(p.source_index) for p in section.passages)]


def _introduction(
    intent: IntentAnalysis,
    plan: ResearchPlan,
    sections: list[_Section],
    sources: list[Source],
) -> str:
    words = phrasing.words_for(intent.language)
    cited = {p.source_index for section in sections for p in section.passages}
    purpose = words.intro_purpose.format(
        document=words.document_names[plan.document_type],
        count=len(cited),
        topic=intent.topic,
    )
    lines = [
        words.intro_section_line.format(
            title=section.plan.title,
            sources=_source_list(_section_sources(section), sources, intent.language),
        )
        for section in sections
        if section.passages
    ]
    return f"{purpose} {words.intro_sections}\n\n" + "\n".join(lines)


def _conclusion(
    intent: IntentAnalysis,
    plan: ResearchPlan,
    sections: list[_Section],
    sources: list[Source],
) -> str:
    words = phrasing.words_for(intent.language)
    cited = {p.source_index for section in sections for p in section.passages}
    summary = words.conclusion_summary.format(
        document=words.document_names[plan.document_type],
        count=len(cited),
        topic=intent.topic,
    )
    lines = [
        words.conclusion_section_line.format(
            title=section.plan.title,
            sources=_source_list(_section_sources(section), sources, intent.language),
        )
        for section in sections
        if section.passages
    ]
    return f"{summary}\n\n" + "\n".join(lines) + f"\n\n{words.conclusion_closing}"
