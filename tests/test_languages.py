"""Spanish and French prompts: searched in their part of the corpus, written
and evaluated in their language, on topic."""

import re

import pytest

from research.corpus import Corpus, get_corpus
from research.engine import relevance
from research.engine.intent import key_concepts
from research.stages import final_draft
from tests.engine_helpers import run_stages

SPANISH_PROMPT = "Escribe un ensayo sobre la energía solar"
FRENCH_PROMPT = "Rédige un essai sur l'énergie solaire"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return get_corpus()


@pytest.fixture(scope="module")
def spanish(corpus):
    return run_stages(SPANISH_PROMPT, corpus)


@pytest.fixture(scope="module")
def french(corpus):
    return run_stages(FRENCH_PROMPT, corpus)


def headings(markdown: str) -> list[str]:
    return re.findall(r"^#{1,2} (.+)$", markdown, flags=re.MULTILINE)


def test_a_spanish_prompt_cites_only_spanish_sources(spanish):
    draft = final_draft(spanish)

    assert draft is not None and len(draft.bibliography) >= 3
    verified = {s.source_id: s for s in spanish["verify"].verified}
    assert all(verified[c.source_id].language == "es" for c in draft.bibliography)
    assert all(s.language == "es" for s in spanish["search"].sources)


def test_a_spanish_report_is_written_in_spanish(spanish):
    draft = final_draft(spanish)
    found = headings(draft.markdown)

    assert found[0] == "La energía solar: un ensayo"
    assert found[1] == "Introducción"
    assert found[-2:] == ["Conclusión", "Referencias"]
    assert "Este documento (ensayo)" in draft.markdown
    assert "[En línea]. Disponible en:" in draft.markdown
    for english in ("This section", "According to", "Available", "References"):
        assert english not in draft.markdown


def test_an_off_topic_document_no_longer_reaches_the_spanish_report(spanish):
    draft = final_draft(spanish)

    titles = {entry.title for entry in draft.bibliography}
    assert "Horario de verano" not in titles
    assert {"Energía solar", "Panel solar"} <= titles


def test_spanish_evaluation_notes_are_in_spanish(spanish):
    rubric = {
        item.criterion: item.notes for item in spanish["evaluation"].evaluation.rubric
    }

    assert rubric["structure"].endswith("secciones previstas presentes")
    assert "citas y" in rubric["citation_integrity"]
    assert "tasa de citas inventadas" in rubric["citation_integrity"]
    assert "fuentes distintas citadas" in rubric["source_diversity"]
    assert "palabras por frase" in rubric["readability"]
    assert "palabras frente a un objetivo de" in rubric["length"]


def test_a_french_report_is_french_from_french_sources(french):
    draft = final_draft(french)

    assert draft is not None and draft.bibliography
    verified = {s.source_id: s for s in french["verify"].verified}
    assert all(verified[c.source_id].language == "fr" for c in draft.bibliography)
    found = headings(draft.markdown)
    assert found[1] == "Introduction" and found[-1] == "Références"
    assert "Selon *" in draft.markdown
    rubric = {
        item.criterion: item.notes for item in french["evaluation"].evaluation.rubric
    }
    assert "sections prévues présentes" in rubric["structure"]


def test_english_evaluation_notes_read_as_before(corpus):
    results = run_stages("Write an essay on solar energy", corpus)

    rubric = {
        item.criterion: item.notes for item in results["evaluation"].evaluation.rubric
    }
    assert rubric["structure"].endswith("planned sections present")
    assert "quotations checked verbatim" in rubric["citation_integrity"]


def test_the_spanish_report_is_identical_run_to_run(spanish, corpus):
    again = run_stages(SPANISH_PROMPT, corpus)

    assert final_draft(again).markdown == final_draft(spanish).markdown


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Energía solar", True),
        ("Panel solar", True),
        ("Horario de verano", False),
        ("Año bisiesto", False),
    ],
)
def test_topical_match_tells_a_document_about_the_topic_from_one_sharing_words(
    corpus, title, expected
):
    document = corpus.get(f"wikipedia:es:{title}")
    assert document is not None
    concepts = key_concepts("la energía solar", "es")

    assert relevance.topical(concepts, "es", document.title, document.text) is expected


def test_a_topic_phrase_counts_when_its_words_are_close():
    concepts = ["energía solar", "energía", "solar"]

    assert relevance.uses_topic_phrase(concepts, "es", "la energía de origen solar")
    assert not relevance.uses_topic_phrase(
        concepts, "es", "ahorrar energía en los meses de verano; el mediodía es solar"
    )
