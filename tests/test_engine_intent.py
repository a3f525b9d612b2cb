"""Intent: document type, topic, key concepts, constraints and language."""

import pytest

from research.engine.intent import analyse
from research.schemas import ResearchOptions

DEFAULTS = ResearchOptions()


@pytest.mark.parametrize(
    ("prompt", "document_type", "topic"),
    [
        (
            "Write a literature review on renewable energy and the power grid",
            "literature_review",
            "renewable energy and the power grid",
        ),
        (
            "Write a research paper on CRISPR gene editing",
            "paper",
            "CRISPR gene editing",
        ),
        (
            "Write an essay on the causes of the French Revolution",
            "essay",
            "the causes of the French Revolution",
        ),
        (
            "Draft a policy brief about urban heat islands",
            "brief",
            "urban heat islands",
        ),
        ("Prepare a report on coral bleaching", "report", "coral bleaching"),
        ("Write a thesis on medieval trade routes", "thesis", "medieval trade routes"),
        ("volcanic eruptions and climate", "report", "volcanic eruptions and climate"),
    ],
)
def test_document_type_and_topic_are_read_from_english_prompts(
    prompt, document_type, topic
):
    intent = analyse(prompt, DEFAULTS)

    assert intent.document_type == document_type
    assert intent.topic == topic
    assert intent.language == "en"


def test_spanish_instruction_phrasing_is_understood():
    intent = analyse(
        "Escribe una revisión de la literatura sobre la energía solar", DEFAULTS
    )

    assert intent.language == "es"
    assert intent.document_type == "literature_review"
    assert intent.topic == "la energía solar"
    assert intent.key_concepts[0] == "energía solar"


def test_french_instruction_phrasing_is_understood():
    intent = analyse(
        "Rédige une revue de littérature sur l'énergie nucléaire", DEFAULTS
    )

    assert intent.language == "fr"
    assert intent.document_type == "literature_review"
    assert intent.topic == "l'énergie nucléaire"


def test_key_concepts_list_phrases_then_words_without_stopwords():
    intent = analyse(
        "Write a literature review on renewable energy and the power grid", DEFAULTS
    )

    assert intent.key_concepts == [
        "renewable energy",
        "power grid",
        "renewable",
        "energy",
        "power",
        "grid",
    ]


def test_constraints_are_read_and_removed_from_the_topic():
    intent = analyse(
        "Write a 2,500-word report on coastal erosion since 1990 for policymakers, "
        "using APA style",
        DEFAULTS,
    )

    assert intent.topic == "coastal erosion"
    assert intent.constraints.target_words == 2500
    assert intent.constraints.citation_style == "apa"
    assert intent.constraints.period_start == 1990
    assert intent.constraints.period_end is None
    assert intent.constraints.audience == "policymakers"


def test_pages_become_words_and_periods_have_two_ends():
    intent = analyse(
        "Write a 5 pages essay on jazz between 1920 and 1960 in IEEE format", DEFAULTS
    )

    assert intent.constraints.target_words == 1500
    assert (intent.constraints.period_start, intent.constraints.period_end) == (
        1920,
        1960,
    )
    assert intent.constraints.citation_style == "ieee"
    assert intent.topic == "jazz"


def test_options_override_what_the_prompt_says():
    options = ResearchOptions(
        document_type="brief", citation_style="mla", target_words=800, language="fr"
    )

    intent = analyse(
        "Write a 3000 word literature review on tides in Harvard style", options
    )

    assert intent.document_type == "brief"
    assert intent.language == "fr"
    assert intent.constraints.target_words == 800
    assert intent.constraints.citation_style == "mla"


def test_same_prompt_gives_the_same_analysis():
    prompt = "Write an essay on the causes of the French Revolution"

    assert analyse(prompt, DEFAULTS) == analyse(prompt, DEFAULTS)
