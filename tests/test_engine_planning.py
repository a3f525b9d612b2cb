"""Planning: sections suited to the document type and the corpus's themes."""

import pytest

from research.corpus import Corpus, get_corpus
from research.schemas import ResearchOptions
from tests.engine_helpers import LITERATURE_REVIEW, run_stages


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


def _plan(prompt, corpus, **options):
    return run_stages(prompt, corpus, ResearchOptions(**options), until="planning")[
        "planning"
    ]


def test_literature_review_has_three_to_five_themed_body_sections(corpus):
    plan = _plan(LITERATURE_REVIEW, corpus)

    kinds = [section.kind for section in plan.sections]
    assert kinds[0] == "introduction"
    assert kinds[-1] == "conclusion"
    assert 3 <= len(plan.body_sections) <= 5
    assert plan.title == "Renewable Energy and the Power Grid: A Literature Review"


def test_section_titles_are_capitalised_and_distinct(corpus):
    plan = _plan(LITERATURE_REVIEW, corpus)

    titles = [section.title for section in plan.sections]
    assert len(set(titles)) == len(titles)
    assert all(title[0].isupper() for title in titles)


def test_themes_come_from_documents_on_the_topic(corpus):
    plan = _plan(LITERATURE_REVIEW, corpus)

    for section in plan.body_sections:
        hits = corpus.search(section.theme_terms, "en", 20)
        assert hits, section.title
        assert section.research_questions
        assert section.queries


def test_every_section_has_questions_and_queries(corpus):
    plan = _plan("Write an essay on the causes of the French Revolution", corpus)

    for section in plan.sections:
        assert section.research_questions
        assert section.queries


def test_paper_opens_its_body_with_background(corpus):
    plan = _plan("Write a research paper on CRISPR gene editing", corpus)

    assert plan.body_sections[0].title == "Background"
    assert plan.document_type == "paper"


def test_spanish_plan_uses_spanish_headings(corpus):
    plan = _plan("Escribe un ensayo sobre la energía solar", corpus)

    assert plan.sections[0].title == "Introducción"
    assert plan.sections[-1].title == "Conclusión"
    assert plan.title.endswith("un ensayo")


def test_document_type_option_changes_the_shape(corpus):
    brief = _plan(LITERATURE_REVIEW, corpus, document_type="brief")

    assert brief.document_type == "brief"
    assert len(brief.body_sections) <= 3
