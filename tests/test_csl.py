"""Citation styles through the CSL processor: what citeproc-py leaves to us."""

import pytest

from research.exports import csl, formats
from research.exports.csl import Reference

WIKIPEDIA = ("Wikipedia contributors",)


def _texts(runs_list: list[list[csl.Run]]) -> list[str]:
    return ["".join(run.text for run in runs) for runs in runs_list]


def _undated_pages() -> list[Reference]:
    return [
        Reference(
            number=1,
            title="Wind power",
            authors=WIKIPEDIA,
            url="https://en.wikipedia.org/wiki/Wind_power",
            accessed="2026-03-09",
        ),
        Reference(
            number=2,
            title="Biofuel",
            authors=WIKIPEDIA,
            url="https://en.wikipedia.org/wiki/Biofuel",
            accessed="2026-03-09",
        ),
        Reference(number=3, title="Storage", authors=("Jane Smith",), date="2020"),
    ]


@pytest.mark.parametrize(
    ("style", "first", "second"),
    [
        ("apa", "(Wikipedia contributors, n.d.-b)", "(Wikipedia contributors, n.d.-a)"),
        (
            "chicago",
            "(Wikipedia contributors, n.d.-b)",
            "(Wikipedia contributors, n.d.-a)",
        ),
        (
            "harvard",
            "(Wikipedia contributors, no date b)",
            "(Wikipedia contributors, no date a)",
        ),
    ],
)
def test_works_by_the_same_authors_and_year_get_letters(style, first, second):
    rendered = csl.render(style, _undated_pages(), [[1], [2], [3]], "en")

    # Letters follow the titles: Biofuel is a, Wind power is b.
    citations = _texts(rendered.citations)
    assert citations[:2] == [first, second]
    assert "n.d.-" not in citations[2] and "no date" not in citations[2]
    bibliography = _texts(rendered.bibliography)
    assert len({entry for entry in bibliography}) == 3


def test_numeric_styles_need_no_letters():
    rendered = csl.render("ieee", _undated_pages(), [[1], [2]], "en")

    assert _texts(rendered.citations) == ["[1]", "[2]"]


def test_undated_web_pages_carry_the_day_they_were_read():
    apa = _texts(csl.render("apa", _undated_pages(), [[1]], "en").bibliography)
    harvard = _texts(csl.render("harvard", _undated_pages(), [[1]], "en").bibliography)

    wind = next(entry for entry in apa if "Wind power" in entry)
    assert "Retrieved March 9, 2026, from https://en.wikipedia.org/wiki/" in wind
    # Cite Them Right is British: day, month, year.
    assert any("(Accessed: 9 March 2026)" in entry for entry in harvard)


def test_american_styles_put_periods_inside_quotation_marks():
    chicago = _texts(csl.render("chicago", _undated_pages(), [[1]], "en").bibliography)
    spanish = _texts(csl.render("chicago", _undated_pages(), [[1]], "es").bibliography)

    assert any("“Wind Power.”" in entry for entry in chicago)
    assert not any("”." in entry for entry in chicago)
    assert any("«Wind Power»." in entry for entry in spanish)


def test_letters_follow_the_order_of_the_reference_list():
    # APA lists one author's works of a year by their full date.
    references = [
        Reference(1, "Zebra studies", ("Jane Smith",), date="2020-01-05"),
        Reference(2, "Apple studies", ("Jane Smith",), date="2020-05-01"),
    ]

    rendered = csl.render("apa", references, [[1], [2]], "en")

    assert _texts(rendered.citations) == ["(Smith, 2020a)", "(Smith, 2020b)"]
    bibliography = _texts(rendered.bibliography)
    assert bibliography[0].startswith("Smith, J. (2020a, January 5). Zebra")


def test_works_without_authors_are_told_apart_by_their_titles():
    references = [
        Reference(1, "Moon", date="2021"),
        Reference(2, "Alpha", date="2021"),
    ]

    rendered = csl.render("apa", references, [[1], [2]], "en")

    assert not any(
        "2021a" in text or "2021b" in text for text in _texts(rendered.citations)
    )


def test_apostrophes_are_not_taken_for_closing_quotes():
    references = [Reference(1, "Rockin’, Rollin’", ("Jane Smith",), date="2020")]

    entries = _texts(csl.render("chicago", references, [[1]], "en").bibliography)

    assert "Rockin’, Rollin’" in entries[0]


def test_bibtex_gives_undated_pages_the_day_they_were_read():
    entries = formats.bibtex(_undated_pages())

    assert entries.count("urldate = {2026-03-09}") == 2
