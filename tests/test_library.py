"""The user's library: PDF, HTML, Markdown, text, BibTeX and RIS files added
to the corpus, cited by page or section, and the library page."""

import io
import re
import shutil
import unicodedata
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from pypdf import PdfReader, PdfWriter

from research import library
from research.corpus import Corpus, Document, LibraryItem
from research.exceptions import CorpusError
from research.providers import guard
from research.stages import final_draft
from tests.conftest import shared_path
from tests.engine_helpers import run_stages
from tests.replay_server import Reply, replay_server

PAPERS = (
    "bmc_10.1186_1752-2897-4-1.pdf",
    "hindawi_10.1155_2010_157939.pdf",
    "peerj-cs_10.7717_peerj-cs.118.pdf",
    "bmc_10.1186_1472-6963-14-1.pdf",
    "clinsci_10.1042_CS20130403.pdf",
)
BIBTEX = """
@article{datta2010,
  title = {Complications related to deep venous thrombosis prophylaxis in
           trauma: a systematic review of the literature},
  author = {Datta, Indraneel and Ball, Chad G. and Rudmik, Lucas},
  journal = {Journal of Trauma Management {\\&} Outcomes},
  year = {2010},
  doi = {10.1186/1752-2897-4-1},
  file = {bmc_10.1186_1752-2897-4-1.pdf}
}
"""
RIS = """TY  - JOUR
TI  - Patient Experiences of Structured Heart Failure Programmes
AU  - Tully, Nuala E.
AU  - Morgan, Karen M.
PY  - 2010
DO  - 10.1155/2010/157939
ER  -
"""
DVT_PROMPT = (
    "Write a report on complications of deep venous thrombosis prophylaxis "
    "in trauma patients"
)


@pytest.fixture
def empty(tmp_path) -> Corpus:
    return Corpus(tmp_path / "index" / "corpus.sqlite3", default_documents=False)


@pytest.fixture
def papers(tmp_path) -> Path:
    source = shared_path("pdfs", "cc_by_verified")
    folder = tmp_path / "papers"
    folder.mkdir()
    for name in PAPERS:
        shutil.copy(source / name, folder / name)
    (folder / "references.bib").write_text(BIBTEX, encoding="utf-8")
    (folder / "hindawi.ris").write_text(RIS, encoding="utf-8")
    return folder


@pytest.fixture
def paper_corpus(empty, papers) -> Corpus:
    library.add_path(empty, papers)
    return empty


def squeezed(value: str) -> str:
    return "".join(value.split())


def raw_page_text(pdf: Path, page: int) -> str:
    """The page as pypdf extracts it, reduced to compare with quotations:
    ligatures expanded, words broken at line ends joined, no whitespace."""
    raw = PdfReader(pdf).pages[page - 1].extract_text()
    raw = unicodedata.normalize("NFKC", raw).replace("\u00ad", "")
    return squeezed(re.sub(r"(\w)-\n(?=[a-z])", r"\1", raw))


def test_the_five_open_access_papers_ingest_with_their_pages(empty, papers):
    report = library.add_path(empty, papers)

    assert report.files == 5, report.problems
    assert report.problems == []
    items = {item.name: item for item in empty.library_items()}
    assert set(items) == set(PAPERS)
    assert all(item.kind == "pdf" and item.passages > 0 for item in items.values())
    first_page = empty.get(f"library:{items[PAPERS[0]].id}:1")
    assert first_page is not None and first_page.page == 1
    assert "thromboprophylaxis" in first_page.text


def test_bibtex_and_ris_beside_the_papers_supply_their_metadata(paper_corpus):
    items = {item.name: item for item in paper_corpus.library_items()}

    datta = paper_corpus.get(f"library:{items[PAPERS[0]].id}:1")
    tully = paper_corpus.get(f"library:{items[PAPERS[1]].id}:1")

    assert datta is not None and tully is not None
    assert datta.title.startswith("Complications related to deep venous thrombosis")
    assert datta.authors == ("Indraneel Datta", "Chad G. Ball", "Lucas Rudmik")
    assert (datta.date, datta.doi) == ("2010", "10.1186/1752-2897-4-1")
    assert datta.url == "https://doi.org/10.1186/1752-2897-4-1"
    assert tully.authors == ("Nuala E. Tully", "Karen M. Morgan")
    assert tully.doi == "10.1155/2010/157939"


def test_a_session_on_the_papers_cites_pages_and_quotes_from_the_cited_page(
    paper_corpus, papers
):
    results = run_stages(DVT_PROMPT, paper_corpus)

    draft = final_draft(results)
    assert draft is not None and draft.quotations
    assert all(re.search(r"\bp\. \d+\b", entry.entry) for entry in draft.bibliography)
    names = {item.id: item.name for item in paper_corpus.library_items()}
    for quotation in draft.quotations:
        assert quotation.page is not None
        item_id = quotation.source_id.split(":")[1]
        page_text = raw_page_text(papers / names[item_id], quotation.page)
        assert squeezed(quotation.text) in page_text, quotation


def test_reports_on_the_papers_are_identical_run_to_run(paper_corpus):
    first = final_draft(run_stages(DVT_PROMPT, paper_corpus))
    again = final_draft(run_stages(DVT_PROMPT, paper_corpus))

    assert first is not None and again is not None
    assert first.markdown == again.markdown


def test_reference_lists_are_left_out_of_the_passages(paper_corpus):
    for item in paper_corpus.library_items():
        for number in range(1, item.passages + 1):
            passage = paper_corpus.get(f"library:{item.id}:{number}")
            assert passage is not None
            assert not re.search(r"\bReferences\s*1\.", passage.text)


def test_broken_and_encrypted_pdfs_are_skipped_with_a_reason(empty, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = shared_path("pdfs", "cc_by_verified", PAPERS[0])
    shutil.copy(good, folder / "good.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\n")
    writer = PdfWriter(clone_from=PdfReader(good))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    (folder / "locked.pdf").write_bytes(buffer.getvalue())

    report = library.add_path(empty, folder)

    assert report.files == 1
    problems = dict(problem.split(": ", 1) for problem in report.problems)
    assert set(problems) == {"broken.pdf", "locked.pdf"}
    assert "encrypted" in problems["locked.pdf"]
    assert "skipped locked.pdf" in str(report)


def test_markdown_and_html_passages_remember_their_section(empty, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "tides.md").write_text(
        "# Tidal power\n\nTidal power converts the energy of tides into "
        "electricity.\n\n## Barrages\n\nA barrage holds water back at high "
        "tide and releases it through **turbines**.\n",
        encoding="utf-8",
    )
    (folder / "wind.html").write_text(
        "<html><head><title>Site | Wind</title>"
        '<meta name="citation_title" content="Wind farms at sea">'
        '<meta name="citation_author" content="Ana Ruiz">'
        '<meta name="citation_doi" content="10.1234/WIND.5">'
        "<script>var tracking = 1;</script></head><body><nav>Home</nav>"
        "<h1>Wind farms at sea</h1><p>Offshore turbines meet steadier winds.</p>"
        "<h2>Cables</h2><p>Export cables bring the power ashore.</p></body></html>",
        encoding="utf-8",
    )

    report = library.add_path(empty, folder)

    assert report.files == 2
    sections = {
        hit.document.locator: hit.document
        for hit in empty.search(["tides", "barrage", "turbines", "cables"], None, 10)
    }
    assert sections["Barrages"].title == "Tidal power"
    assert (
        "turbines" in sections["Barrages"].text
        and "**" not in sections["Barrages"].text
    )
    cables = sections["Cables"]
    assert (cables.title, cables.authors, cables.doi) == (
        "Wind farms at sea",
        ("Ana Ruiz",),
        "10.1234/wind.5",
    )
    assert "tracking" not in cables.text and "Home" not in cables.text


def test_json_lines_in_a_folder_are_named_and_left_out(empty, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "tides.md").write_text("# Tides\n\nTides follow the Moon.\n")
    (folder / "waves.jsonl").write_text('{"title": "Waves", "text": "Waves."}\n')

    report = library.add_path(empty, folder)

    assert report.files == 1
    assert report.problems == [f"waves.jsonl: {library.JSON_LINES_IN_A_FOLDER}"]
    assert str(report).startswith("Added 1 file (1 passage) from ")
    assert "skipped waves.jsonl: JSON Lines are not read from folders" in str(report)
    assert [item.name for item in empty.library_items()] == ["tides.md"]


def test_adding_a_file_again_is_a_duplicate(empty, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Glaciers\n\nGlaciers are slow rivers of ice.\n", encoding="utf-8")

    library.add_path(empty, note)
    again = library.add_path(empty, note)

    assert (again.files, again.duplicates) == (0, 1)
    assert len(empty.library_items()) == 1


def test_removing_a_file_drops_its_passages_from_search(paper_corpus):
    item = next(i for i in paper_corpus.library_items() if i.name == PAPERS[2])
    version = paper_corpus.version

    removed = paper_corpus.remove_library_item(item.id)

    assert removed == item.passages
    assert paper_corpus.version != version
    assert not paper_corpus.search(["VESPA"], None, 5)
    assert item.id not in {i.id for i in paper_corpus.library_items()}
    with pytest.raises(CorpusError, match="No library file"):
        paper_corpus.remove_library_item(item.id)


def test_a_path_with_nothing_readable_raises(empty, tmp_path):
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf")

    with pytest.raises(CorpusError, match="No usable documents"):
        library.add_path(empty, tmp_path / "bad.pdf")


def test_cli_lists_and_removes_library_files(settings, tmp_path, capsys):
    settings.PROWZI_CORPUS_PATH = tmp_path / "cli" / "corpus.sqlite3"
    Corpus(settings.PROWZI_CORPUS_PATH, default_documents=False)
    note = tmp_path / "tides.md"
    note.write_text("# Tides\n\nTides follow the Moon.\n", encoding="utf-8")

    call_command("prowzi", "corpus", "add", str(note))
    call_command("prowzi", "corpus", "list")
    listed = capsys.readouterr().out
    item_id = Corpus(settings.PROWZI_CORPUS_PATH).library_items()[0].id
    call_command("prowzi", "corpus", "remove", item_id)

    assert (
        "Added 1 file (1 passage)" in listed
        and item_id in listed
        and "tides.md" in listed
    )
    assert f"Removed {item_id} and its 1 passage." in capsys.readouterr().out
    assert Corpus(settings.PROWZI_CORPUS_PATH).library_items() == []


def _library_with(tmp_path: Path, *ids: str) -> Corpus:
    corpus = Corpus(tmp_path / "prefix" / "corpus.sqlite3", default_documents=False)
    for item_id in ids:
        item = LibraryItem(item_id, f"{item_id}.md", item_id, "markdown", 1, "now")
        passage = Document(
            id=f"{item_id}#1", title=item_id, text=f"About {item_id}.", item=item_id
        )
        corpus.add_library_item(item, f"hash-{item_id}", [passage])
    return corpus


def test_a_library_file_id_may_be_shortened_to_a_prefix_only_it_has(tmp_path):
    corpus = _library_with(tmp_path, "ab12cd", "ab34ef", "a_b")

    assert corpus.library_item_id("ab3") == "ab34ef"
    assert corpus.library_item_id("a_") == "a_b"
    assert corpus.library_item_id("ab12cd") == "ab12cd"
    with pytest.raises(CorpusError, match="More than one library file"):
        corpus.library_item_id("a")
    with pytest.raises(CorpusError, match="No library file has the id 'a%'"):
        corpus.library_item_id("a%")
    with pytest.raises(CorpusError, match="No library file has the id ''"):
        corpus.library_item_id("")
    # Removing takes the whole id: the Library page sends nothing shorter.
    with pytest.raises(CorpusError, match="No library file has the id 'ab3'"):
        corpus.remove_library_item("ab3")
    assert len(corpus.library_items()) == 3


def test_cli_removes_a_library_file_by_a_prefix_and_names_it(
    settings, tmp_path, capsys
):
    settings.PROWZI_CORPUS_PATH = tmp_path / "prefix" / "corpus.sqlite3"
    _library_with(tmp_path, "ab12cd", "ab34ef")

    call_command("prowzi", "corpus", "remove", "ab3")

    assert "Removed ab34ef and its 1 passage." in capsys.readouterr().out
    remaining = Corpus(settings.PROWZI_CORPUS_PATH).library_items()
    assert [item.id for item in remaining] == ["ab12cd"]


def test_cli_stats_counts_the_passages_a_file_adds(settings, tmp_path, capsys):
    settings.PROWZI_CORPUS_PATH = tmp_path / "cli" / "corpus.sqlite3"
    Corpus(settings.PROWZI_CORPUS_PATH, default_documents=False)
    note = tmp_path / "tides.md"
    note.write_text(
        "# Tides\n\nTides follow the Moon.\n\n## Neap tides\n\nNeap tides are "
        "the smallest.\n",
        encoding="utf-8",
    )

    call_command("prowzi", "corpus", "add", str(note))
    capsys.readouterr()
    call_command("prowzi", "corpus", "stats")

    assert capsys.readouterr().out.startswith("2 indexed passages in ")


# The library page.


@pytest.fixture
def library_settings(settings, tmp_path):
    settings.PROWZI_CORPUS_PATH = tmp_path / "web" / "corpus.sqlite3"
    Corpus(settings.PROWZI_CORPUS_PATH, default_documents=False)
    return settings


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("reader", password="pw-reader-1")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "keeper", password="pw-keeper-1", is_staff=True
    )


@pytest.mark.django_db
def test_library_page_needs_a_login(client, library_settings):
    response = client.get("/library/")

    assert response.status_code == 302
    assert "/login" in response["Location"]


@pytest.mark.django_db
def test_uploading_a_document_adds_it_to_the_library(client, member, library_settings):
    client.force_login(member)
    upload = SimpleUploadedFile(
        "tides.md", b"# Tides\n\nTides follow the Moon.\n", "text/markdown"
    )

    response = client.post("/library/", {"document": upload}, follow=True)

    assert response.status_code == 200
    assert (
        b"tides.md" in response.content
        and b"Added 1 file (1 passage)" in response.content
    )
    assert (
        Corpus(library_settings.PROWZI_CORPUS_PATH).library_items()[0].title == "Tides"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.exe", b"MZ", "is not one of"),
        ("broken.pdf", b"%PDF-1.4 nothing here", "not a readable PDF"),
    ],
)
def test_bad_uploads_are_refused_with_a_clear_error(
    client, member, library_settings, name, content, message
):
    client.force_login(member)

    response = client.post("/library/", {"document": SimpleUploadedFile(name, content)})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Corpus(library_settings.PROWZI_CORPUS_PATH).library_items() == []


@pytest.mark.django_db
def test_uploads_over_the_size_limit_are_refused(
    client, member, library_settings, monkeypatch
):
    monkeypatch.setattr("monitoring.library_views.MAX_UPLOAD_BYTES", 10)
    client.force_login(member)

    response = client.post(
        "/library/", {"document": SimpleUploadedFile("long.txt", b"x" * 11)}
    )

    assert response.status_code == 400
    assert "the limit is" in response.content.decode()


@pytest.mark.django_db
def test_upload_without_csrf_token_is_refused(member, library_settings):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member)

    response = client.post(
        "/library/", {"document": SimpleUploadedFile("a.txt", b"Some text.")}
    )

    assert response.status_code == 403


@pytest.mark.django_db
def test_only_staff_may_remove_a_file(client, member, staff, library_settings):
    corpus = Corpus(library_settings.PROWZI_CORPUS_PATH)
    note = library_settings.PROWZI_CORPUS_PATH.parent / "n.txt"
    note.write_text("Moons\n\nMoons orbit planets.\n", encoding="utf-8")
    library.add_path(corpus, note)
    item_id = corpus.library_items()[0].id

    client.force_login(member)
    refused = client.post(f"/library/{item_id}/remove/")
    client.force_login(staff)
    removed = client.post(f"/library/{item_id}/remove/")

    assert refused.status_code == 403
    assert removed.status_code == 302
    assert corpus.library_items() == []


# Adding a document by its link.


def _trusting_fetch(url: str) -> guard.Fetched:
    # The guard refuses loopback addresses, which is where the test server
    # listens; this check lets it through for these tests only.
    return guard.fetch(url, allowed=lambda address: address.is_loopback)


def test_a_linked_pdf_is_added_with_its_pages_and_link(empty):
    pdf = (shared_path("pdfs", "cc_by_verified") / PAPERS[0]).read_bytes()
    with replay_server() as server:
        server.add("/oa/paper", Reply(200, pdf, (("Content-Type", "application/pdf"),)))
        link = f"{server.url}/oa/paper"

        report = library.add_url(empty, link, fetch=_trusting_fetch)

    assert report.files == 1 and report.passages > 1
    [item] = empty.library_items()
    assert item.kind == "pdf" and item.name == link
    first_page = empty.get(f"library:{item.id}:1")
    assert first_page is not None and first_page.page == 1
    assert first_page.url == link and first_page.doi == "10.1186/1752-2897-4-1"


def test_a_linked_file_of_another_type_is_refused_clearly(empty):
    with replay_server() as server:
        server.add("/figure", Reply(200, b"\x89PNG", (("Content-Type", "image/png"),)))

        with pytest.raises(CorpusError, match="image/png is not PDF, HTML"):
            library.add_url(empty, f"{server.url}/figure", fetch=_trusting_fetch)

    assert empty.library_items() == []


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.8", "[::1]"],
)
def test_links_to_private_loopback_and_link_local_addresses_are_refused(
    settings, tmp_path, host
):
    settings.PROWZI_CORPUS_PATH = tmp_path / "cli" / "corpus.sqlite3"
    Corpus(settings.PROWZI_CORPUS_PATH, default_documents=False)
    with replay_server() as server:
        port = server.url.rsplit(":", 1)[1]
        server.add("/paper.pdf", Reply(200, b"%PDF-1.4", ()))

        with pytest.raises(CommandError, match="non-public address"):
            call_command("prowzi", "corpus", "add", f"http://{host}:{port}/paper.pdf")

        assert server.seen("/paper.pdf") == []
    assert Corpus(settings.PROWZI_CORPUS_PATH).library_items() == []


@pytest.mark.django_db
def test_library_page_refuses_a_link_to_this_machine(client, member, library_settings):
    client.force_login(member)
    with replay_server() as server:
        server.add("/paper.pdf", Reply(200, b"%PDF-1.4", ()))

        response = client.post("/library/", {"link": f"{server.url}/paper.pdf"})

        assert server.seen("/paper.pdf") == []
    assert response.status_code == 400
    assert b"non-public address (127.0.0.1)" in response.content
    assert Corpus(library_settings.PROWZI_CORPUS_PATH).library_items() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, b"Choose a file to upload or give a link."),
        ({"link": "javascript:alert(1)"}, b"Enter a valid URL."),
        ({"link": "file:///etc/passwd"}, b"Enter a valid URL."),
    ],
)
def test_library_page_needs_one_valid_file_or_link(
    client, member, library_settings, data, message
):
    client.force_login(member)

    response = client.post("/library/", data)

    assert response.status_code == 400
    assert message in response.content
