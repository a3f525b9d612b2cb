"""The citation check: citations must point to retrieved sources, and cited
sentences must be supported by them."""

import pytest

from research.corpus import get_corpus
from research.engine import citation_check
from research.schemas import Source
from tests.engine_helpers import LITERATURE_REVIEW, run_stages

WIND = Source(
    source_id="wind",
    title="Wind power",
    text=(
        "Wind power is the use of wind energy to generate useful work. "
        "Wind farms connected to the electrical grid supply a growing share "
        "of electricity in many countries."
    ),
    retrieval_score=1.0,
    rank=1,
)
GRID = Source(
    source_id="grid",
    title="Electrical grid",
    text="An electrical grid is an interconnected network for electricity delivery.",
    retrieval_score=0.9,
    rank=2,
)
SOURCES = {1: WIND, 2: GRID}


def test_citation_of_a_source_never_retrieved_is_removed_with_its_claim():
    markdown = (
        "Wind farms supply a growing share of electricity [1]. "
        "Coal was phased out everywhere by 1990 [7]."
    )

    checked = citation_check.clean(markdown, SOURCES, "en")

    assert checked.markdown == "Wind farms supply a growing share of electricity [1]."
    assert checked.report.fabricated == 1
    assert checked.report.citations == 2
    assert "[7]" in checked.report.findings[0]


def test_fabricated_number_in_a_group_is_dropped_and_the_real_one_kept():
    markdown = "Wind farms connected to the grid supply electricity [1, 9]."

    checked = citation_check.clean(markdown, SOURCES, "en")

    assert checked.markdown == (
        "Wind farms connected to the grid supply electricity [1]."
    )
    assert checked.report.fabricated == 1
    assert checked.report.unsupported == 0


def test_quotation_must_appear_verbatim_in_the_cited_source():
    exact = "Its article says “Wind power is the use of wind energy” [1]."
    altered = "Its article says “Wind power is the best use of wind energy” [1]."

    assert citation_check.measure(exact, SOURCES, "en").unsupported == 0
    assert citation_check.measure(altered, SOURCES, "en").unsupported == 1


def test_quotation_from_another_source_than_the_one_cited_is_unsupported():
    wrong = "“An electrical grid is an interconnected network” [1]."
    right = "“An electrical grid is an interconnected network” [2]."

    assert citation_check.measure(wrong, SOURCES, "en").unsupported == 1
    assert citation_check.measure(right, SOURCES, "en").unsupported == 0


def test_paraphrase_needs_half_its_content_words_in_the_source():
    close = (
        "Wind farms on the electrical grid supply electricity in many countries [1]."
    )
    unrelated = "Quantum teleportation of elephants is routine in laboratories [1]."

    assert citation_check.measure(close, SOURCES, "en").unsupported == 0
    checked = citation_check.clean(f"{close} {unrelated}", SOURCES, "en")
    assert checked.markdown == close
    assert checked.report.unsupported == 1
    assert checked.report.cited_sentences == 2


def test_citation_after_the_source_title_is_an_attribution():
    markdown = "- *Background*, drawing on *Wind power* [1] and *Electrical grid* [2]."

    checked = citation_check.clean(markdown, SOURCES, "en")

    assert checked.markdown == markdown
    assert checked.report.unsupported == 0


def test_citation_after_a_closing_quotation_mark_stays_with_its_sentence():
    markdown = (
        "According to *Wind power*, “Wind power is the use of wind energy to "
        "generate useful work.” [1] *Electrical grid* also states: “An electrical "
        "grid is an interconnected network for electricity delivery.” [2]"
    )

    report = citation_check.measure(markdown, SOURCES, "en")

    assert report.cited_sentences == 2
    assert report.unsupported == 0


def test_rates_note_gives_both_rates():
    report = citation_check.measure("Nothing here [5]. Wind farms [1].", SOURCES, "en")

    note = citation_check.rates_note(report)

    assert "fabricated-citation rate 50.0% (1 of 2 citations)" in note
    assert "unsupported-sentence rate 0.0% (0 of 1 cited sentences)" in note


@pytest.mark.parametrize(
    "prompt",
    [
        LITERATURE_REVIEW,
        "Escribe un ensayo sobre la energía solar",
        "Rédige une revue de littérature sur l'énergie nucléaire",
    ],
)
def test_offline_drafts_pass_the_check_untouched(prompt):
    results = run_stages(prompt, get_corpus(), until="writing")
    draft = results["writing"]

    report = citation_check.measure_draft(
        draft, results["verify"].verified, results["intent"].language
    )

    assert report.citations > 0
    assert report.fabricated == 0
    assert report.unsupported == 0


def test_bibliography_entry_naming_a_source_never_retrieved_counts_as_fabricated():
    results = run_stages(LITERATURE_REVIEW, get_corpus(), until="writing")
    draft = results["writing"]
    retrieved = [
        source
        for source in results["verify"].verified
        if source.source_id != draft.bibliography[0].source_id
    ]

    report = citation_check.measure_draft(draft, retrieved, "en")

    assert report.fabricated > 0
