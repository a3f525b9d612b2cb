"""Search and verify: fused retrieval, de-duplication, scoring with reasons,
and a clear failure when the corpus holds nothing on the subject."""

import pytest

from research.corpus import Corpus, get_corpus
from research.engine import search, verify
from research.exceptions import NothingFoundError
from research.schemas import ResearchOptions
from research.stages import StageInput
from tests.engine_helpers import ABSENT_SUBJECTS, LITERATURE_REVIEW, run_stages


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


@pytest.fixture(scope="module")
def review(corpus):
    return run_stages(LITERATURE_REVIEW, corpus, until="verify")


def test_search_runs_every_planned_query_once(review):
    plan = review["planning"]
    planned = {query for section in plan.sections for query in section.queries}

    executed = review["search"].queries_executed
    assert sorted(executed) == sorted(planned)
    assert len(executed) == len(set(executed))


def test_search_results_are_ranked_and_free_of_duplicates(review):
    sources = review["search"].sources

    assert [source.rank for source in sources] == list(range(1, len(sources) + 1))
    scores = [source.retrieval_score for source in sources]
    assert scores == sorted(scores, reverse=True)
    assert len({source.source_id for source in sources}) == len(sources)
    assert len({source.title.casefold() for source in sources}) == len(sources)
    assert all(source.matched_queries for source in sources)


def test_search_keeps_at_most_three_times_the_source_limit(corpus):
    options = ResearchOptions(max_sources=3)

    results = run_stages(LITERATURE_REVIEW, corpus, options, until="search")

    assert len(results["search"].sources) <= 9


@pytest.mark.parametrize("prompt", ABSENT_SUBJECTS)
def test_absent_subject_fails_with_a_message_naming_topic_and_corpus(corpus, prompt):
    with pytest.raises(NothingFoundError) as failure:
        run_stages(prompt, corpus, until="verify")

    message = str(failure.value)
    assert "Martian sand worms" in message
    assert "corpus" in message
    assert "prowzi corpus add" in message


def test_verify_keeps_relevant_sources_and_explains_every_drop(review):
    result = review["verify"]

    assert len(result.verified) >= 10
    kept_ids = {source.source_id for source in result.verified}
    assert {a.source_id for a in result.assessments if a.kept} == kept_ids
    for assessment in result.assessments:
        assert 0.0 <= assessment.score <= 1.0
        if not assessment.kept:
            assert (
                "below threshold" in assessment.reason or "limit" in assessment.reason
            )
    titles = {source.title for source in result.verified}
    assert {"Renewable energy", "Electrical grid", "Wind power"} <= titles


def test_verify_caps_sources_and_says_why(corpus, review):
    options = ResearchOptions(max_sources=3)
    stage_input = StageInput(LITERATURE_REVIEW, options, corpus, dict(review))

    result = verify.run(stage_input)

    assert len(result.verified) == 3
    reasons = [a.reason for a in result.assessments if not a.kept]
    assert "beyond the 3-source limit" in reasons


def test_verify_with_an_unreachable_threshold_finds_nothing(corpus, review):
    options = ResearchOptions(verify_threshold=1.0)
    stage_input = StageInput(LITERATURE_REVIEW, options, corpus, dict(review))

    with pytest.raises(NothingFoundError, match="corpus"):
        verify.run(stage_input)


def test_metadata_completeness_counts_title_authors_date_and_link(review):
    source = review["search"].sources[0]

    assert verify.metadata_completeness(source) == 0.75
    dated = source.model_copy(update={"date": "2020"})
    assert verify.metadata_completeness(dated) == 1.0


def test_nothing_found_message_suggests_adding_documents():
    message = search.nothing_found_message("quasi-crystals of cheese")

    assert "quasi-crystals of cheese" in message
    assert "prowzi corpus add" in message
