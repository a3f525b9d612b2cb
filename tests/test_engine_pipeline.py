"""All seven stages in sequence, in-process, on the default corpus."""

import time

import pytest

from research.corpus import Corpus, get_corpus
from research.schemas import (
    EvaluationOutcome,
    IntentAnalysis,
    OriginalityResult,
    ResearchPlan,
    SearchResult,
    VerificationResult,
    WritingResult,
)
from research.stages import RESULT_TYPES, STAGES, final_draft
from tests.engine_helpers import LITERATURE_REVIEW, run_stages


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


def test_seven_stages_return_their_result_types(corpus):
    results = run_stages(LITERATURE_REVIEW, corpus)

    assert list(results) == list(STAGES)
    for stage, result in results.items():
        assert isinstance(result, RESULT_TYPES[stage])
    assert isinstance(results["intent"], IntentAnalysis)
    assert isinstance(results["planning"], ResearchPlan)
    assert isinstance(results["search"], SearchResult)
    assert isinstance(results["verify"], VerificationResult)
    assert isinstance(results["writing"], WritingResult)
    assert isinstance(results["evaluation"], EvaluationOutcome)
    assert isinstance(results["turnitin"], OriginalityResult)


def test_two_runs_give_byte_identical_reports(corpus):
    first = final_draft(run_stages(LITERATURE_REVIEW, corpus))
    second = final_draft(run_stages(LITERATURE_REVIEW, corpus))

    assert first is not None and second is not None
    assert first.markdown.encode() == second.markdown.encode()


def test_results_survive_a_json_round_trip(corpus):
    results = run_stages(LITERATURE_REVIEW, corpus)

    for stage, result in results.items():
        again = RESULT_TYPES[stage].model_validate_json(result.model_dump_json())
        assert again == result


@pytest.mark.parametrize(
    "prompt",
    [
        "Write a research paper on CRISPR gene editing",
        "Write an essay on the causes of the French Revolution",
        "Escribe un ensayo sobre la energía solar",
        "Rédige une revue de littérature sur l'énergie nucléaire",
    ],
)
def test_other_prompts_give_cited_reports(corpus, prompt):
    results = run_stages(prompt, corpus)

    draft = final_draft(results)
    assert draft is not None
    assert len(draft.bibliography) >= 3
    for quotation in draft.quotations:
        assert quotation.text in corpus.get(quotation.source_id).text


def test_full_run_takes_seconds_not_minutes(corpus):
    started = time.monotonic()

    run_stages(LITERATURE_REVIEW, corpus)

    assert time.monotonic() - started < 10
