"""Exports: Markdown, HTML, DOCX and BibTeX in a citation style chosen at
export time."""

import io
import re
from html.parser import HTMLParser
from itertools import pairwise

import bibtexparser
import pytest
from django.core.management import CommandError, call_command
from docx import Document

from monitoring.reports import session_results
from research.checkpoints import new_checkpoint
from research.corpus import get_corpus
from research.exceptions import InvalidRequestError, SessionStateError
from research.exports import render
from research.models import ResearchSession, SessionStatus
from research.schemas import Citation, WritingResult
from research.sessions import create_session
from research.stages import STAGES
from tests.engine_helpers import LITERATURE_REVIEW, run_stages

pytestmark = pytest.mark.django_db

HOSTILE_TITLE = 'Grid <script>alert(1)</script> <img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
def results():
    return run_stages(LITERATURE_REVIEW, get_corpus())


def _with_people(draft: WritingResult) -> WritingResult:
    """Give the first two cited works personal authors and dates, so that
    the styles' name and date forms show."""
    people = [
        (["Jane Smith", "Carlos Ruiz"], "2019-03-02"),
        (["Amelia Zhou"], "2021"),
    ]
    bibliography = [
        entry.model_copy(update={"authors": authors, "date": date})
        for entry, (authors, date) in zip(draft.bibliography, people, strict=False)
    ] + draft.bibliography[len(people) :]
    return draft.model_copy(update={"bibliography": bibliography})


def _session(results, draft: WritingResult | None = None, prompt: str = ""):
    session = create_session(prompt or LITERATURE_REVIEW)
    stored = {**results, "writing": draft or results["writing"]}
    if draft is not None:
        evaluation = stored["evaluation"].model_copy(update={"revised_draft": None})
        stored["evaluation"] = evaluation
    for stage in STAGES:
        new_checkpoint(session, stage, stored[stage], {})
    final = stored["writing"]
    ResearchSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.COMPLETED, report=final.markdown
    )
    session.refresh_from_db()
    return session


def _references(markdown: str) -> list[str]:
    section = markdown.split("\n## References\n", 1)[1]
    return [line for line in section.strip().split("\n\n") if line.strip()]


def _body(markdown: str) -> str:
    return markdown.split("\n## References\n", 1)[0]


def test_docx_export_opens_and_lists_every_reference(results):
    session = _session(results, _with_people(results["writing"]))

    content, content_type, filename = render(session, "docx", "apa")

    document = Document(io.BytesIO(content))
    texts = [paragraph.text for paragraph in document.paragraphs]
    assert "wordprocessingml" in content_type
    assert filename == f"prowzi-{session.id}.docx"
    assert "References" in texts
    references = texts[texts.index("References") + 1 :]
    draft = results["writing"]
    assert len(references) == len(draft.bibliography)
    for entry in draft.bibliography:
        assert any(entry.title in reference for reference in references)
    assert any(
        reference.startswith("Smith, J., & Ruiz, C.") for reference in references
    )


def test_apa_and_ieee_render_citations_and_references_differently(results):
    session = _session(results, _with_people(results["writing"]))

    apa = render(session, "md", "apa")[0].decode()
    ieee = render(session, "md", "ieee")[0].decode()

    assert "(Smith & Ruiz, 2019)" in _body(apa)
    assert not re.search(r"\[\d+\]", _body(apa))
    assert "[1]" in _body(ieee) and "(Smith" not in _body(ieee)

    apa_entries, ieee_entries = _references(apa), _references(ieee)
    assert len(apa_entries) == len(ieee_entries)
    smith_apa = next(e for e in apa_entries if e.startswith("Smith"))
    assert smith_apa.startswith("Smith, J., & Ruiz, C. (2019, March 2).")
    assert all(not entry.startswith("[") for entry in apa_entries)
    # APA sorts by author; IEEE numbers in order of first citation.
    assert apa_entries == sorted(apa_entries, key=str.casefold)
    assert [entry.split("]")[0] for entry in ieee_entries] == [
        f"[{n}" for n in range(1, len(ieee_entries) + 1)
    ]
    smith_ieee = next(e for e in ieee_entries if "Smith" in e)
    assert "J. Smith and C. Ruiz" in smith_ieee
    assert "[Online]" in smith_ieee


@pytest.mark.parametrize(
    ("style", "citation"),
    [("chicago", "(Smith and Ruiz 2019)"), ("harvard", "(Smith and Ruiz, 2019)")],
)
def test_author_date_styles_cite_by_author_and_year(results, style, citation):
    session = _session(results, _with_people(results["writing"]))

    markdown = render(session, "md", style)[0].decode()

    assert citation in _body(markdown)


def test_bibtex_export_parses_back_with_every_cited_work(results):
    session = _session(results, _with_people(results["writing"]))

    content, content_type, filename = render(session, "bibtex")

    library = bibtexparser.parse_string(content.decode())
    draft = results["writing"]
    assert filename.endswith(".bib") and "bibtex" in content_type
    assert library.failed_blocks == []
    assert len(library.entries) == len(draft.bibliography)
    assert len({entry.key for entry in library.entries}) == len(library.entries)
    titles = {entry.fields_dict["title"].value.strip("{}") for entry in library.entries}
    assert titles == {entry.title for entry in draft.bibliography}
    smith = next(e for e in library.entries if e.key.startswith("smith2019"))
    assert smith.fields_dict["author"].value == "Jane Smith and Carlos Ruiz"
    assert smith.fields_dict["year"].value == "2019"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]

    def handle_data(self, data):
        self.text.append(data)


def test_html_export_holds_no_script_or_event_handler(results):
    draft = results["writing"]
    first = draft.bibliography[0]
    hostile: list[Citation] = [
        first.model_copy(update={"title": HOSTILE_TITLE}),
        *draft.bibliography[1:],
    ]
    markdown = draft.markdown.replace(f"*{first.title}*", f"*{HOSTILE_TITLE}*")
    session = _session(
        results,
        draft.model_copy(update={"bibliography": hostile, "markdown": markdown}),
    )

    for style in ("apa", "ieee"):
        page = render(session, "html", style)[0].decode()

        parsed = _Tags()
        parsed.feed(page)
        assert "script" not in parsed.tags and "img" not in parsed.tags
        assert not [name for name in parsed.attributes if name.startswith("on")]
        assert "<script>alert(1)</script>" in "".join(parsed.text)


def _tags_after_references(page: str) -> list[str]:
    parsed = _Tags()
    parsed.feed(page.split(">References</h2>", 1)[1])
    return parsed.tags


def test_report_as_written_shows_each_reference_as_its_own_paragraph(results):
    session = _session(results)

    shown = session_results(session).report_html

    paragraphs = _tags_after_references(shown).count("p")
    assert paragraphs == len(results["writing"].bibliography)


@pytest.mark.parametrize("style", ["apa", "ieee"])
def test_html_export_shows_each_reference_as_its_own_paragraph(results, style):
    session = _session(results)

    page = render(session, "html", style)[0].decode()

    paragraphs = _tags_after_references(page).count("p")
    assert paragraphs == len(results["writing"].bibliography)


def test_markdown_sets_every_heading_and_reference_apart(results):
    session = _session(results)
    stored = results["writing"].markdown
    restyled = [render(session, "md", style)[0].decode() for style in ("apa", "ieee")]

    assert re.search(r"^- .*\n\n## ", stored, flags=re.MULTILINE)
    for markdown in [stored, *restyled]:
        lines = markdown.split("\n")
        crowded = [
            line for before, line in pairwise(lines) if line.startswith("#") and before
        ]
        assert crowded == []
        assert len(_references(markdown)) == len(results["writing"].bibliography)


def test_file_name_comes_from_the_session_id_alone(results):
    session = _session(results, prompt="Write a report on ../../etc/passwd; rm -rf")

    for fmt, extension in (("md", "md"), ("html", "html"), ("bibtex", "bib")):
        assert render(session, fmt, "ieee")[2] == f"prowzi-{session.id}.{extension}"


def test_unknown_style_or_unfinished_session_is_refused(results):
    session = _session(results)
    with pytest.raises(InvalidRequestError, match="styles are apa, ieee"):
        render(session, "md", "vancouver")

    ResearchSession.objects.filter(pk=session.pk).update(status=SessionStatus.FAILED)
    session.refresh_from_db()
    with pytest.raises(SessionStateError, match="no report"):
        render(session, "md", "apa")


def test_report_command_exports_docx_only_to_a_file(results, tmp_path):
    session = _session(results)

    with pytest.raises(CommandError, match="--output"):
        call_command("prowzi", "report", str(session.id), "--format", "docx")

    target = tmp_path / "report.docx"
    out = io.StringIO()
    call_command(
        "prowzi",
        "report",
        str(session.id),
        "--format",
        "docx",
        "--style",
        "harvard",
        "--output",
        str(target),
        stdout=out,
    )
    assert "Wrote" in out.getvalue()
    assert Document(str(target)).paragraphs


def test_report_command_prints_restyled_markdown_and_stored_report(results):
    session = _session(results)

    stored, restyled = io.StringIO(), io.StringIO()
    call_command("prowzi", "report", str(session.id), stdout=stored)
    call_command("prowzi", "report", str(session.id), "--style", "apa", stdout=restyled)

    assert stored.getvalue() == results["writing"].markdown
    assert re.search(r"\(Wikipedia contributors, n\.d\.-[a-z]\)", restyled.getvalue())
