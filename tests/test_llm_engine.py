"""The model engine against a scripted chat-completions server on loopback."""

import logging
import re
import time
from collections.abc import Iterator

import pytest

from research.corpus import Corpus, get_corpus
from research.engine import RUNNERS, intent
from research.exceptions import StageError, TransientStageError
from research.models import EventStatus, ResearchSession, SessionStatus
from research.pipeline import run_session
from research.schemas import ResearchOptions, WritingResult
from research.sessions import create_session, request_resume
from research.stages import StageInput, final_draft, telemetry_details
from tests.engine_helpers import LITERATURE_REVIEW, run_stages
from tests.llm_server import (
    FABRICATED_SENTENCE,
    UNSUPPORTED_SENTENCE,
    Reply,
    ScriptedModel,
    error_body,
    running_model,
)

API_KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


@pytest.fixture
def model(settings) -> Iterator[ScriptedModel]:
    for server in running_model():
        settings.PROWZI_LLM_BASE_URL = server.base_url
        settings.PROWZI_LLM_API_KEY = API_KEY
        settings.PROWZI_LLM_MODEL = "test/scripted-model"
        settings.PROWZI_LLM_BUDGET_USD = 5.0
        settings.PROWZI_LLM_PRICE_PER_1K_INPUT = 0.001
        settings.PROWZI_LLM_PRICE_PER_1K_OUTPUT = 0.002
        settings.PROWZI_LLM_MAX_RETRIES = 2
        yield server


def _stage_input(corpus: Corpus, **results: object) -> StageInput:
    return StageInput(LITERATURE_REVIEW, ResearchOptions(), corpus, dict(results))


def _body(draft: WritingResult) -> str:
    return draft.markdown.rsplit("\n## ", 1)[0]


def test_every_model_stage_goes_through_the_endpoint(model, corpus):
    results = run_stages(LITERATURE_REVIEW, corpus)

    assert model.stages() == ["intent", "planning", "writing", "evaluation"]
    assert all(request["model"] == "test/scripted-model" for request in model.requests)
    for stage in ("intent", "planning", "writing", "evaluation"):
        details = telemetry_details(results[stage])
        assert details["llm_calls"] == 1
        assert details["llm_input_tokens"] > 0
        assert details["llm_output_tokens"] > 0
        assert details["llm_cost_usd"] > 0
    assert results["planning"].sections[1].title == "Wind and Solar Power"


def test_draft_cites_only_retrieved_sources(model, corpus):
    results = run_stages(LITERATURE_REVIEW, corpus, until="writing")
    draft = results["writing"]
    verified = {source.source_id for source in results["verify"].verified}

    cited = {int(n) for n in re.findall(r"\[(\d+)\]", _body(draft))}
    assert cited == {entry.number for entry in draft.bibliography}
    assert {entry.source_id for entry in draft.bibliography} <= verified
    for quotation in draft.quotations:
        assert quotation.text in corpus.get(quotation.source_id).text
    assert len(draft.quotations) >= 3


def test_planted_citation_and_unsupported_sentence_are_caught(model, corpus):
    results = run_stages(LITERATURE_REVIEW, corpus, until="evaluation")
    draft = results["writing"]

    assert "[99]" not in draft.markdown
    assert FABRICATED_SENTENCE not in draft.markdown
    assert UNSUPPORTED_SENTENCE.removesuffix(" [1].") not in draft.markdown
    assert draft.citation_check is not None
    assert draft.citation_check.fabricated == 1
    assert draft.citation_check.unsupported == 1
    assert any("[99]" in finding for finding in draft.citation_check.findings)

    rubric = {item.criterion: item for item in results["evaluation"].evaluation.rubric}
    assert rubric["fabricated_citations"].score < 1.0
    assert "fabricated-citation rate" in rubric["fabricated_citations"].notes
    assert "(1 of " in rubric["fabricated_citations"].notes
    assert "unsupported-sentence rate" in rubric["unsupported_sentences"].notes
    assert "(1 of " in rubric["unsupported_sentences"].notes
    assert sum(item.weight for item in rubric.values()) == pytest.approx(1.0)


def test_rate_limit_is_retried_after_the_wait_it_asks(model, corpus):
    model.queue(
        "intent",
        Reply(
            429,
            body=error_body("slow down", "rate_limit"),
            headers={"Retry-After": "1"},
        ),
    )

    started = time.monotonic()
    result = RUNNERS["intent"](_stage_input(corpus))

    assert time.monotonic() - started >= 1.0
    assert model.stages() == ["intent", "intent"]
    assert result.topic == "renewable energy and the power grid"


def test_server_errors_past_the_retries_raise_a_transient_error(model, corpus):
    model.queue("intent", *[Reply(500, body=error_body("overloaded"))] * 3)

    with pytest.raises(TransientStageError, match="500"):
        RUNNERS["intent"](_stage_input(corpus))

    assert model.stages() == ["intent"] * 3


def test_invalid_request_fails_at_once_with_the_endpoint_message(model, corpus):
    model.queue("intent", Reply(400, body=error_body("max_tokens is too large")))

    with pytest.raises(StageError, match="max_tokens is too large") as raised:
        RUNNERS["intent"](_stage_input(corpus))

    assert not isinstance(raised.value, TransientStageError)
    assert model.stages() == ["intent"]


def test_malformed_answer_is_repaired_with_the_validation_error(model, corpus):
    results = run_stages(LITERATURE_REVIEW, corpus, until="intent")
    model.queue("planning", Reply(content='{"title": "Plan", "sections": [}'))

    plan = RUNNERS["planning"](_stage_input(corpus, **results))

    repair = model.requests[-1]["messages"]
    assert model.stages()[-2:] == ["planning", "planning"]
    assert repair[-2] == {
        "role": "assistant",
        "content": '{"title": "Plan", "sections": [}',
    }
    assert "not valid JSON" in repair[-1]["content"]
    assert plan.llm_usage is not None and plan.llm_usage.calls == 2


def test_answer_still_invalid_after_one_repair_fails_the_stage(model, corpus):
    results = run_stages(LITERATURE_REVIEW, corpus, until="intent")
    wrong = '{"title": "Plan", "sections": []}'
    model.queue("planning", Reply(content=wrong), Reply(content=wrong))

    with pytest.raises(StageError, match="even after one repair"):
        RUNNERS["planning"](_stage_input(corpus, **results))

    assert model.stages()[-2:] == ["planning", "planning"]


def test_api_key_is_sent_but_never_logged(model, corpus, caplog):
    model.queue("intent", Reply(503, body=error_body("busy")))

    with caplog.at_level(logging.DEBUG):
        RUNNERS["intent"](_stage_input(corpus))

    assert model.headers[0]["Authorization"] == f"Bearer {API_KEY}"
    assert caplog.records
    assert all(API_KEY not in record.getMessage() for record in caplog.records)


def test_without_a_model_the_offline_engine_runs_and_nothing_is_sent(
    model, corpus, settings
):
    settings.PROWZI_LLM_MODEL = ""

    result = RUNNERS["intent"](_stage_input(corpus))

    assert result == intent.run(_stage_input(corpus))
    assert "llm_usage" not in result.model_dump()
    assert model.requests == []


@pytest.mark.django_db(transaction=True)
def test_budget_stop_fails_resumably_and_resume_completes(
    model, settings, redis_server
):
    # Intent and planning fit in the budget; writing's output allowance
    # alone (4096 tokens at $0.01 per 1000) does not.
    settings.PROWZI_LLM_BUDGET_USD = 0.035
    settings.PROWZI_LLM_PRICE_PER_1K_INPUT = 0.002
    settings.PROWZI_LLM_PRICE_PER_1K_OUTPUT = 0.01
    settings.PROWZI_LLM_MAX_OUTPUT_TOKENS = 4096
    session = create_session(LITERATURE_REVIEW)

    assert run_session(session.id) == SessionStatus.FAILED

    session.refresh_from_db()
    assert "budget" in session.error and "PROWZI_LLM_BUDGET_USD" in session.error
    assert session.current_stage == "writing"
    assert set(session.checkpoints.values_list("stage", flat=True)) == {
        "intent",
        "planning",
        "search",
        "verify",
    }
    assert "writing" not in model.stages()

    settings.PROWZI_LLM_BUDGET_USD = 1.0
    request_resume(session)
    assert run_session(session.id) == SessionStatus.COMPLETED

    session = ResearchSession.objects.get(pk=session.id)
    for stage in ("intent", "planning", "search", "verify"):
        last = session.events.filter(stage=stage).order_by("seq").last()
        assert last is not None and last.status == EventStatus.SKIPPED
    assert model.stages().count("intent") == 1
    writing = session.events.get(stage="writing", status=EventStatus.COMPLETED)
    assert writing.details["llm_cost_usd"] > 0
    assert "[99]" not in session.report


def test_final_draft_of_a_model_run_is_stored_as_the_report(model, corpus):
    results = run_stages(LITERATURE_REVIEW, corpus)

    draft = final_draft(results)
    assert draft is not None
    assert draft.markdown.startswith(
        "# Renewable Energy and the Power Grid: A Literature Review\n"
    )
    assert "## References" in draft.markdown
