"""Originality: winnowing fingerprints of the draft against its sources."""

import pytest

from research.corpus import Corpus, get_corpus
from research.engine import originality
from tests.engine_helpers import LITERATURE_REVIEW, run_stages


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


@pytest.fixture(scope="module")
def review(corpus):
    return run_stages(LITERATURE_REVIEW, corpus)


def test_stable_hash_does_not_depend_on_the_process():
    assert originality.stable_hash(["a", "b"]) == originality.stable_hash(["a", "b"])
    assert originality.stable_hash(["ab"]) != originality.stable_hash(["a", "b"])


def test_winnowing_keeps_the_rightmost_minimum_of_each_window():
    prints = originality.winnow([5, 3, 3, 7, 1, 9, 9, 2], window=4)

    assert [(fp.hash, fp.position) for fp in prints] == [(3, 2), (1, 4)]


def test_shared_passage_longer_than_the_guarantee_is_always_found():
    shared = "the quick brown fox jumps over the lazy dog near the river bank today"
    left = originality.fingerprints(f"Alpha beta gamma. {shared} Delta epsilon.")
    right = originality.fingerprints(f"Something else entirely. {shared}")

    assert {fp.hash for fp in left} & {fp.hash for fp in right}


def test_quoted_material_is_excluded_from_the_second_index(review):
    result = review["turnitin"]

    assert result.k == originality.K
    assert result.window == originality.WINDOW
    assert result.similarity_index > 0.2
    assert result.similarity_excluding_quotes < 0.05
    assert result.similarity_excluding_quotes < result.similarity_index


def test_matches_name_their_source_and_citation(review):
    result = review["turnitin"]
    numbers = {
        entry.source_id: entry.number for entry in review["writing"].bibliography
    }

    assert result.matches
    for match in result.matches:
        assert match.citation == numbers[match.source_id]
        assert match.text in review["writing"].markdown
    assert any(match.quoted for match in result.matches)
    per_source = [item.similarity for item in result.per_source]
    assert per_source == sorted(per_source, reverse=True)


def test_copying_a_source_without_quotes_raises_the_unquoted_index(review):
    draft = review["writing"]
    source = review["verify"].verified[0]
    copied = source.text.split(". ")[0]
    plagiarised = draft.model_copy(
        update={
            "markdown": draft.markdown.replace(
                "## Conclusion", f"{copied}.\n\n## Conclusion"
            )
        }
    )

    result = originality.check(plagiarised, review["verify"].verified)

    assert (
        result.similarity_excluding_quotes
        > review["turnitin"].similarity_excluding_quotes
    )
    assert any(
        not match.quoted and match.source_id == source.source_id
        for match in result.matches
    )
