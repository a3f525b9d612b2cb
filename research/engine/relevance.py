"""How well a text covers a set of words, weighted by their rarity in the
corpus; shared by planning, search, verify and writing."""

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from research.engine import text

if TYPE_CHECKING:
    from research.corpus import Corpus

# A document must cover this share of the topic's weighted words to count as
# being on the topic at all. One common word ("habits") is never enough.
TOPIC_FLOOR = 0.4


@dataclass(frozen=True)
class DocumentTerms:
    """The stems of a document: all of them, and those it ever writes in
    lower case (a word seen only capitalised is likely part of a name)."""

    any_case: frozenset[str]
    lower_case: frozenset[str]
    counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class WeightedTerms:
    """Stems with weights (inverse document frequency), in a fixed order.

    Stems in `common` only match documents using them in lower case, so a
    topic on genes is not matched by "Gene Kelly".
    """

    weights: tuple[tuple[str, float], ...]
    common: frozenset[str] = frozenset()

    @property
    def total(self) -> float:
        return sum(weight for _, weight in self.weights)

    @property
    def stems(self) -> list[str]:
        return [stem for stem, _ in self.weights]

    def coverage(self, terms: DocumentTerms) -> float:
        """Return the weighted share of these terms the document holds."""
        total = self.total
        if total <= 0:
            return 0.0

        found = sum(weight for stem, weight in self.weights if self._holds(terms, stem))
        return found / total

    def _holds(self, terms: DocumentTerms, stem: str) -> bool:
        if stem in self.common:
            return stem in terms.lower_case
        return stem in terms.any_case

    def with_common_nouns(self, documents: Iterable[DocumentTerms]) -> "WeightedTerms":
        """Return a copy knowing which stems these documents mostly write in
        lower case (common nouns rather than names)."""
        listed = list(documents)
        common = set()
        for stem in self.stems:
            using = [terms for terms in listed if stem in terms.any_case]
            lower = [terms for terms in using if stem in terms.lower_case]
            if using and 2 * len(lower) >= len(using):
                common.add(stem)
        return WeightedTerms(self.weights, frozenset(common))


def topic_terms(
    key_concepts: Sequence[str],
    language: str,
    corpus: "Corpus",
    documents: Iterable[DocumentTerms],
) -> WeightedTerms:
    """Return the topic's weighted words, with common nouns told from names
    by how the given documents write them."""
    words = concept_words(key_concepts, language)
    return weigh(words, corpus, language).with_common_nouns(documents)


def weigh(
    words: Sequence[str], corpus: "Corpus", language: str | None
) -> WeightedTerms:
    """Weigh each distinct word by its rarity in the corpus. Words no document
    holds are left out: they can neither be matched nor be held against a
    document."""
    documents = max(1, corpus.count(language))
    weights: list[tuple[str, float]] = []
    for word in text.unique(text.stem(word) for word in words):
        frequency = corpus.document_frequency(word, language)
        if frequency == 0:
            continue
        weights.append((word, math.log(1 + documents / frequency)))
    return WeightedTerms(tuple(weights))


def concept_words(key_concepts: Sequence[str], language: str) -> list[str]:
    """Return the distinct content words of the key concepts, in order."""
    return text.unique(
        word
        for concept in key_concepts
        for word in text.content_words(concept, language)
    )


def search_terms(query: str, language: str) -> list[str]:
    """Return the FTS terms for a query: its content words, then its
    multi-word phrases (which reward documents using the exact phrase)."""
    words = text.content_words(query, language)
    phrases = [phrase for phrase in text.phrases(query, language) if " " in phrase]
    return text.unique([*words, *phrases])


def document_terms(title: str, body: str, language: str) -> DocumentTerms:
    title_stems = text.stems(title, language)
    any_case = set(title_stems)
    lower_case: set[str] = set()
    counts = Counter(title_stems)
    for word in text.surface_content_words(body, language):
        folded = text.stem(word)
        any_case.add(folded)
        counts[folded] += 1
        if word[:1].islower():
            lower_case.add(folded)
    return DocumentTerms(
        frozenset(any_case), frozenset(lower_case), tuple(sorted(counts.items()))
    )


@dataclass(frozen=True)
class TopicScores:
    """Per document: coverage of the topic's words, and likeness to the
    documents covering most of them (a Rocchio-style centroid), which tells
    a document about the topic from one that merely shares a word."""

    coverage: dict[str, float]
    likeness: dict[str, float]

    def relevance(self, document_id: str) -> float:
        coverage = self.coverage.get(document_id, 0.0)
        likeness = self.likeness.get(document_id, 0.0)
        return COVERAGE_WEIGHT * coverage + (1 - COVERAGE_WEIGHT) * likeness


CORE_SIZE = 8
TOPIC_RANKING_DEPTH = 100
COVERAGE_WEIGHT = 0.4
# A topic phrase counts as used when its words fall within this many extra
# positions of each other ("energía de origen solar").
PHRASE_SLACK = 2
PHRASE_LIKENESS = 0.5
OFF_TOPIC_LIKENESS = 0.6


def topical(key_concepts: Sequence[str], language: str, title: str, body: str) -> bool:
    """Return whether a document is about the topic rather than merely
    sharing its words: its title names a topic word, or it uses one of the
    topic's phrases (words close together), or, for a one-word topic, its
    opening holds the word. "Horario de verano" mentions energy and the
    solar noon, but is not about solar energy."""
    topic = {text.stem(word) for word in concept_words(key_concepts, language)}
    if not topic or any(
        _same_word(stem, word) for stem in text.stems(title, language) for word in topic
    ):
        return True

    opening = text.split_sentences(body[:600])[:1]
    lead = set(text.stems(opening[0].text if opening else body[:300], language))
    if 2 * len(lead & topic) > len(topic):
        return True
    return uses_topic_phrase(key_concepts, language, body)


def _same_word(left: str, right: str) -> bool:
    """Return whether two stems are one word's forms: equal, or one extends
    the other ("gene", "genetic") by a few letters."""
    if left == right:
        return True
    short, long = sorted((left, right), key=len)
    return len(short) >= 4 and long.startswith(short) and len(long) - len(short) <= 3


def uses_topic_phrase(key_concepts: Sequence[str], language: str, body: str) -> bool:
    """Return whether body uses one of the topic's multi-word phrases."""
    phrases = _phrases(key_concepts, language)
    if not phrases:
        return False
    sequence = text.stems(body, language)
    return any(_near(sequence, phrase) for phrase in phrases)


def _phrases(key_concepts: Sequence[str], language: str) -> list[list[str]]:
    """Return the adjacent word pairs of the topic's phrases, as stems: a
    document on "CRISPR gene editing" may speak of "gene editing" alone."""
    pairs: list[list[str]] = []
    for concept in key_concepts:
        stems = [text.stem(word) for word in text.content_words(concept, language)]
        for first, second in itertools.pairwise(stems):
            if [first, second] not in pairs:
                pairs.append([first, second])
    return pairs


def _near(sequence: list[str], phrase: list[str]) -> bool:
    """Return whether every stem of phrase occurs within some window of
    len(phrase) + PHRASE_SLACK consecutive stems of sequence."""
    wanted = set(phrase)
    width = len(phrase) + PHRASE_SLACK
    return any(
        wanted <= set(sequence[start : start + width])
        for start, stem in enumerate(sequence)
        if stem in wanted
    )


def score_documents(
    key_concepts: Sequence[str],
    language: str,
    corpus: "Corpus",
    documents: dict[str, DocumentTerms],
    retrieval_order: Sequence[str],
    phrase_users: frozenset[str] = frozenset(),
    topical_ids: frozenset[str] | None = None,
) -> TopicScores:
    """Score documents (given in retrieval order, best first) on the topic.

    Documents in `phrase_users` use one of the topic's phrases; they are
    treated as at least PHRASE_LIKENESS alike to the core, which a small
    core (a language with few documents on the topic) would otherwise deny.
    When `topical_ids` is given, only those documents (see topical()) form
    the core, and any other document scores nothing unless it is at least
    OFF_TOPIC_LIKENESS alike to them: sharing the topic's words is not
    being about it.
    """
    terms = topic_terms(key_concepts, language, corpus, documents.values())
    coverage = {doc_id: terms.coverage(documents[doc_id]) for doc_id in retrieval_order}
    best = max(coverage.values(), default=0.0)
    if best < TOPIC_FLOOR:
        return TopicScores(coverage, {doc_id: 0.0 for doc_id in retrieval_order})

    # The core is ranked by the topic's own query, so that documents pulled
    # in by one theme's query cannot steer what counts as on the topic.
    topic_rank = _topic_ranking(key_concepts, language, corpus)
    position = {doc_id: index for index, doc_id in enumerate(retrieval_order)}
    eligible = [
        doc_id
        for doc_id in retrieval_order
        if topical_ids is None or doc_id in topical_ids
    ] or list(retrieval_order)
    best = max(coverage[doc_id] for doc_id in eligible)
    core = sorted(
        (doc_id for doc_id in eligible if coverage[doc_id] >= 0.8 * best),
        key=lambda doc_id: (
            -round(coverage[doc_id], 9),
            topic_rank.get(doc_id, len(topic_rank)),
            position[doc_id],
        ),
    )[:CORE_SIZE]
    vectors = _tfidf_vectors(documents, retrieval_order)
    centroid = _centroid([vectors[doc_id] for doc_id in core])
    raw = {doc_id: _cosine(vectors[doc_id], centroid) for doc_id in retrieval_order}
    reference = sum(raw[doc_id] for doc_id in core) / len(core)
    likeness = {
        doc_id: min(1.0, raw[doc_id] / reference) if reference > 0 else 0.0
        for doc_id in retrieval_order
    }
    for doc_id in phrase_users & set(retrieval_order):
        likeness[doc_id] = max(likeness[doc_id], PHRASE_LIKENESS)
    if topical_ids is not None:
        for doc_id in retrieval_order:
            if doc_id not in topical_ids and likeness[doc_id] < OFF_TOPIC_LIKENESS:
                coverage[doc_id] = likeness[doc_id] = 0.0
    return TopicScores(coverage, likeness)


Vector = dict[str, float]


def _topic_ranking(
    key_concepts: Sequence[str], language: str, corpus: "Corpus"
) -> dict[str, int]:
    hits = corpus.search(list(key_concepts), language, TOPIC_RANKING_DEPTH)
    return {hit.document.id: rank for rank, hit in enumerate(hits)}


def _tfidf_vectors(
    documents: dict[str, DocumentTerms], order: Sequence[str]
) -> dict[str, Vector]:
    frequency: Counter[str] = Counter()
    for doc_id in order:
        frequency.update(stem for stem, _ in documents[doc_id].counts)

    total = len(order)
    vectors: dict[str, Vector] = {}
    for doc_id in order:
        vector = {
            stem: (1 + math.log(count)) * math.log(1 + total / frequency[stem])
            for stem, count in documents[doc_id].counts
        }
        vectors[doc_id] = _normalised(vector)
    return vectors


def _normalised(vector: Vector) -> Vector:
    norm = math.sqrt(sum(value * value for value in vector.values()))
    return {key: value / norm for key, value in vector.items()} if norm else vector


def _centroid(vectors: list[Vector]) -> Vector:
    summed: dict[str, float] = {}
    for vector in vectors:
        for key in sorted(vector):
            summed[key] = summed.get(key, 0.0) + vector[key]
    return _normalised(summed)


def _cosine(left: Vector, right: Vector) -> float:
    smaller, larger = (left, right) if len(left) <= len(right) else (right, left)
    return sum(value * larger.get(key, 0.0) for key, value in sorted(smaller.items()))
