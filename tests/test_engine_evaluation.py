"""Evaluation: the rubric, and one revision when the draft falls short."""

import pytest

from research.corpus import Corpus, get_corpus
from research.engine import evaluation
from research.schemas import ResearchOptions
from research.stages import StageInput
from tests.engine_helpers import LITERATURE_REVIEW, run_stages


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


@pytest.fixture(scope="module")
def review(corpus):
    return run_stages(LITERATURE_REVIEW, corpus, until="evaluation")


def _criteria(result):
    return {item.criterion: item for item in result.rubric}


def test_rubric_scores_six_weighted_criteria_between_zero_and_one(review):
    result = review["evaluation"].evaluation

    assert set(_criteria(result)) == {
        "structure",
        "research_question_coverage",
        "citation_integrity",
        "source_diversity",
        "readability",
        "length",
    }
    assert all(0.0 <= item.score <= 1.0 and item.weight > 0 for item in result.rubric)
    assert 0.0 <= result.score <= 1.0


def test_good_draft_passes_first_time_without_revision(review):
    outcome = review["evaluation"]

    assert outcome.initial_evaluation.passed
    assert outcome.evaluation == outcome.initial_evaluation
    assert outcome.revised_draft is None
    assert _criteria(outcome.evaluation)["citation_integrity"].score == 1.0


def test_draft_below_threshold_is_revised_once(corpus, review):
    options = ResearchOptions(evaluation_threshold=1.0)
    stage_input = StageInput(LITERATURE_REVIEW, options, corpus, dict(review))

    outcome = evaluation.run(stage_input)

    assert not outcome.initial_evaluation.passed
    assert outcome.revised_draft is not None
    assert outcome.revised_draft.revision == 1
    assert outcome.evaluation != outcome.initial_evaluation or outcome.evaluation.score
    for quotation in outcome.revised_draft.quotations:
        assert quotation.text in corpus.get(quotation.source_id).text


def test_revision_adds_passages_to_thin_sections(corpus, review):
    options = ResearchOptions(evaluation_threshold=1.0, target_words=300)
    results = run_stages(LITERATURE_REVIEW, corpus, options, until="writing")
    stage_input = StageInput(LITERATURE_REVIEW, options, corpus, results)

    outcome = evaluation.run(stage_input)

    before = len(results["writing"].quotations)
    assert outcome.revised_draft is not None
    assert len(outcome.revised_draft.quotations) > before


def test_tampered_quotation_fails_citation_integrity(corpus, review):
    draft = review["writing"]
    first = draft.quotations[0]
    forged = first.model_copy(update={"text": first.text.replace(" ", "  ", 1)})
    tampered = draft.model_copy(update={"quotations": [forged, *draft.quotations[1:]]})
    stage_input = StageInput(
        LITERATURE_REVIEW, ResearchOptions(), corpus, {**review, "writing": tampered}
    )

    outcome = evaluation.run(stage_input)

    integrity = _criteria(outcome.initial_evaluation)["citation_integrity"]
    assert integrity.score < 1.0
    assert "1 quotations not found" in integrity.notes


def test_unresolved_citation_lowers_integrity(corpus, review):
    draft = review["writing"]
    broken = draft.model_copy(
        update={
            "markdown": draft.markdown.replace(
                "## Conclusion", "See [99].\n\n## Conclusion"
            )
        }
    )
    stage_input = StageInput(
        LITERATURE_REVIEW, ResearchOptions(), corpus, {**review, "writing": broken}
    )

    outcome = evaluation.run(stage_input)

    integrity = _criteria(outcome.initial_evaluation)["citation_integrity"]
    assert "1 unresolved" in integrity.notes
