"""Writing: a Markdown report of verbatim, cited quotations."""

import re

import pytest

from research.corpus import Corpus, get_corpus
from research.schemas import ResearchOptions
from tests.engine_helpers import LITERATURE_REVIEW, run_stages


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


@pytest.fixture(scope="module")
def review(corpus):
    return run_stages(LITERATURE_REVIEW, corpus, until="writing")


def _body(markdown):
    return markdown.split("\n## References\n")[0]


def test_report_has_title_planned_sections_and_references(review):
    draft, plan = review["writing"], review["planning"]

    headings = re.findall(r"^## (.+)$", draft.markdown, flags=re.MULTILINE)
    assert draft.markdown.startswith(f"# {plan.title}\n")
    assert headings == [section.title for section in plan.sections] + ["References"]
    assert [section.title for section in draft.sections] == headings[:-1]


def test_literature_review_cites_at_least_ten_sources(review):
    cited = set(re.findall(r"\[(\d+)\]", _body(review["writing"].markdown)))

    assert len(cited) >= 10


def test_every_citation_resolves_to_an_entry_naming_a_corpus_document(review, corpus):
    draft = review["writing"]
    entries = {entry.number: entry for entry in draft.bibliography}

    cited = {int(n) for n in re.findall(r"\[(\d+)\]", _body(draft.markdown))}
    assert cited == set(entries)
    assert sorted(entries) == list(range(1, len(entries) + 1))
    for entry in entries.values():
        document = corpus.get(entry.source_id)
        assert document is not None
        assert document.title in entry.entry
        assert entry.entry in draft.markdown


def test_every_quotation_is_verbatim_in_the_document_it_cites(review, corpus):
    draft = review["writing"]
    numbers = {entry.number: entry.source_id for entry in draft.bibliography}

    assert len(draft.quotations) >= 10
    for quotation in draft.quotations:
        document = corpus.get(quotation.source_id)
        assert quotation.text in document.text
        assert numbers[quotation.citation] == quotation.source_id
        assert f"“{quotation.text}” [{quotation.citation}]" in draft.markdown


def test_citations_are_numbered_in_order_of_first_use(review):
    body = _body(review["writing"].markdown)

    first_use = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", body)))
    assert first_use == sorted(first_use)


def test_no_sentence_is_quoted_twice(review):
    texts = [quotation.text for quotation in review["writing"].quotations]

    assert len(texts) == len(set(texts))


def test_length_follows_the_target_roughly(corpus):
    options = ResearchOptions(target_words=600)

    short = run_stages(LITERATURE_REVIEW, corpus, options, until="writing")["writing"]

    assert 400 <= short.word_count <= 900


def test_apa_style_shapes_the_reference_entries(corpus):
    options = ResearchOptions(citation_style="apa")

    draft = run_stages(LITERATURE_REVIEW, corpus, options, until="writing")["writing"]

    assert all("(n.d.)." in entry.entry for entry in draft.bibliography)
    assert all(
        entry.entry.startswith(f"[{entry.number}] ") for entry in draft.bibliography
    )


def test_spanish_report_quotes_with_guillemets_and_spanish_headings(corpus):
    draft = run_stages(
        "Escribe un ensayo sobre la energía solar", corpus, until="writing"
    )["writing"]

    assert "## Introducción" in draft.markdown
    assert "## Referencias" in draft.markdown
    for quotation in draft.quotations:
        assert f"«{quotation.text}»" in draft.markdown
