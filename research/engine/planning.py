"""Planning stage: sections suited to the document type and to the themes the
corpus actually holds on the topic."""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from research.engine import phrasing, relevance, text
from research.schemas import DocumentType, IntentAnalysis, PlannedSection, ResearchPlan
from research.stages import StageInput

if TYPE_CHECKING:
    from research.corpus import Document

# Documents read to find themes; enough to see the topic's spread.
THEME_SAMPLE = 40
# Documents less relevant than this do not suggest themes.
THEME_RELEVANCE = 0.35
# (themed sections wanted, fewest themes before a background section is added,
# whether the type always opens its body with a background section)
SHAPES: dict[DocumentType, tuple[int, int, bool]] = {
    "literature_review": (4, 3, False),
    "paper": (3, 2, True),
    "thesis": (5, 3, True),
    "report": (3, 2, True),
    "essay": (3, 2, False),
    "brief": (2, 1, True),
}
ENGLISH_ADJECTIVE_ENDINGS = ("al", "ic", "ive", "ous", "ful", "less", "able", "ible")
# Words too general to name a theme whatever the topic.
GENERIC_WORDS = frozenset(
    text.fold(word)
    for word in text.listing(
        """use used uses using type types form forms part parts called known
    include includes including term terms example examples many first second
    one two three large small new old major main different various various
    several number numbers way ways time times year years century centuries
    world often like made make makes became become becomes based within
    general generally common commonly modern early late high low long
    area areas field fields period people person process system systems
    refers refer referred also however among whose around across despite
    usually especially particularly mainly primarily largely widely
    uno dos tres primer primera gran grandes nuevo nueva parte tipo forma
    siglo año años puede pueden mundo también
    deux trois premier première grand grande nouveau nouvelle partie type
    siècle année années peut peuvent monde aussi"""
    )
)


@dataclass(frozen=True)
class Theme:
    label: str
    stems: frozenset[str]
    documents: frozenset[str]


def run(stage_input: StageInput) -> ResearchPlan:
    intent: IntentAnalysis = stage_input.result("intent")
    stage_input.check_stop()
    themes = find_themes(stage_input, intent)
    return build_plan(intent, themes)


def find_themes(stage_input: StageInput, intent: IntentAnalysis) -> list[Theme]:
    """Return distinct themes of the documents on the topic, each covering
    documents the earlier ones do not, best first."""
    corpus = stage_input.corpus
    language = intent.language
    hits = corpus.search(
        relevance.search_terms(intent.topic, language), language, THEME_SAMPLE
    )
    documents = [hit.document for hit in hits]
    terms = {
        document.id: relevance.document_terms(document.title, document.text, language)
        for document in documents
    }
    topical = frozenset(
        document.id
        for document in documents
        if relevance.topical(
            intent.key_concepts, language, document.title, document.text
        )
    )
    scores = relevance.score_documents(
        intent.key_concepts,
        language,
        corpus,
        terms,
        [d.id for d in documents],
        topical_ids=topical,
    )

    weights: dict[str, float] = {}
    phrases_by_document: dict[str, dict[str, str]] = {}
    titles: set[str] = set()
    for document in documents:
        weight = scores.relevance(document.id)
        if weight < THEME_RELEVANCE:
            continue
        weights[document.id] = weight
        phrases_by_document[document.id] = _candidate_phrases(document, language)
        titles.add(text.fold(document.title))
    stage_input.check_stop()

    wanted, _, _ = SHAPES[intent.document_type]
    candidates = _score_candidates(
        phrases_by_document, _topic_stems(intent), stage_input
    )
    return _select(candidates, weights, titles, wanted)


def _topic_stems(intent: IntentAnalysis) -> set[str]:
    words = relevance.concept_words(intent.key_concepts, intent.language)
    return {text.stem(word) for word in words}


def _candidate_phrases(document: "Document", language: str) -> dict[str, str]:
    """Return the document's short phrases, keyed by their folded form, each
    with the casing to show: lower case if the document ever writes it so."""
    shown: dict[str, str] = {}
    for source in (document.title, document.text):
        written = source.casefold()
        for phrase in text.phrases(source, language, longest=2, keep_case=True):
            key = text.fold(phrase)
            # Phrases joined across an elision ("production d'électricité")
            # do not read as written; headings must.
            if not _usable_phrase(key, language) or phrase.casefold() not in written:
                continue
            lower = phrase.casefold() == phrase
            if key not in shown or (lower and shown[key] != phrase):
                shown[key] = phrase.casefold() if lower else shown.get(key, phrase)
    return shown


def _usable_phrase(phrase: str, language: str) -> bool:
    parts = phrase.split()
    if any(text.fold(part) in GENERIC_WORDS for part in parts):
        return False
    # An English phrase ending in an adjective ("French political") is a
    # fragment of a longer one.
    if language == "en" and parts[-1].endswith(ENGLISH_ADJECTIVE_ENDINGS):
        return False
    return all(len(part) > 2 and not any(ch.isdigit() for ch in part) for part in parts)


@dataclass(frozen=True)
class _Candidate:
    label: str
    stems: frozenset[str]
    distinct: frozenset[str]
    documents: frozenset[str]
    rarity: float


def _score_candidates(
    phrases_by_document: dict[str, dict[str, str]],
    topic_stems: set[str],
    stage_input: StageInput,
) -> list[_Candidate]:
    documents_by_phrase: dict[str, set[str]] = {}
    labels: dict[str, str] = {}
    for document_id in sorted(phrases_by_document):
        for key, label in sorted(phrases_by_document[document_id].items()):
            documents_by_phrase.setdefault(key, set()).add(document_id)
            if key not in labels or label.islower():
                labels[key] = label

    language = stage_input.result("intent").language
    total = max(1, stage_input.corpus.count(language))
    candidates: list[_Candidate] = []
    for phrase in sorted(documents_by_phrase):
        documents = documents_by_phrase[phrase]
        stems = frozenset(text.stem(word) for word in phrase.split())
        distinct = stems - topic_stems
        if len(documents) < 2 or not distinct:
            continue

        frequency = stage_input.corpus.document_frequency(phrase, language)
        rarity = math.log(1 + total / max(1, frequency))
        candidates.append(
            _Candidate(
                labels[phrase], stems, frozenset(distinct), frozenset(documents), rarity
            )
        )
    return candidates


def _select(
    candidates: list[_Candidate],
    weights: dict[str, float],
    titles: set[str],
    wanted: int,
) -> list[Theme]:
    """Greedily take the candidate adding most weighted, not yet covered
    documents; a theme sharing a distinguishing word with a taken one is out."""
    chosen: list[Theme] = []
    covered: set[str] = set()
    used_stems: set[str] = set()
    pool = list(candidates)
    while pool and len(chosen) < wanted:
        best = max(pool, key=lambda c: (_gain(c, weights, covered, titles), c.label))
        if _gain(best, weights, covered, titles) <= 0:
            break

        chosen.append(Theme(best.label, best.stems, best.documents))
        covered |= best.documents
        used_stems |= best.distinct
        pool = [c for c in pool if not (c.distinct & used_stems)]
    return chosen


def _gain(
    candidate: _Candidate,
    weights: dict[str, float],
    covered: set[str],
    titles: set[str],
) -> float:
    fresh = sum(weights[d] for d in candidate.documents if d not in covered)
    # Phrases that name a document ("wind power") make the clearest headings.
    named = 1.5 if text.fold(candidate.label) in titles else 1.0
    two_words = 1.2 if " " in candidate.label else 1.0
    return fresh * candidate.rarity * named * two_words


def build_plan(intent: IntentAnalysis, themes: list[Theme]) -> ResearchPlan:
    wanted, fewest, background_always = SHAPES[intent.document_type]
    language = intent.language
    words = phrasing.words_for(language)

    sections = [_introduction(intent, words)]
    if background_always or len(themes) < fewest:
        sections.append(_background(intent, words))
    sections.extend(_themed(intent, theme, words) for theme in themes[:wanted])
    sections.append(_conclusion(intent, words))

    return ResearchPlan(
        title=phrasing.report_title(intent.topic, intent.document_type, language),
        document_type=intent.document_type,
        sections=sections,
    )


def _introduction(intent: IntentAnalysis, words: phrasing.Words) -> PlannedSection:
    return PlannedSection(
        kind="introduction",
        title=words.introduction,
        research_questions=[words.scope_question.format(topic=intent.topic)],
        queries=[intent.topic],
        theme_terms=intent.key_concepts,
    )


def _background(intent: IntentAnalysis, words: phrasing.Words) -> PlannedSection:
    phrases = [concept for concept in intent.key_concepts if " " in concept]
    return PlannedSection(
        kind="body",
        title=words.background,
        research_questions=[words.background_question.format(topic=intent.topic)],
        queries=text.unique([intent.topic, *phrases]),
        theme_terms=intent.key_concepts,
    )


def _themed(
    intent: IntentAnalysis, theme: Theme, words: phrasing.Words
) -> PlannedSection:
    title = phrasing.heading(theme.label, intent.language)
    return PlannedSection(
        kind="body",
        title=title,
        research_questions=[
            question.format(theme=theme.label, topic=intent.topic)
            for question in words.theme_questions
        ],
        queries=[f"{theme.label} {intent.topic}", theme.label],
        theme_terms=theme.label.split(),
    )


def _conclusion(intent: IntentAnalysis, words: phrasing.Words) -> PlannedSection:
    return PlannedSection(
        kind="conclusion",
        title=words.conclusion,
        research_questions=[words.conclusion_question.format(topic=intent.topic)],
        queries=[intent.topic],
        theme_terms=intent.key_concepts,
    )
