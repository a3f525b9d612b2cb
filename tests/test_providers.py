"""The scholarly web providers, tested against answers the real APIs gave
(recorded by other projects), replayed by a local server."""

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from research import providers
from research.corpus import Corpus, get_corpus
from research.exceptions import (
    ProviderError,
    StageError,
    TransientStageError,
    UnsafeAddressError,
)
from research.providers import arxiv, crossref, guard, openalex, semantic_scholar
from research.providers.http import ProviderClient
from research.schemas import ResearchOptions, SearchResult
from research.stages import final_draft
from tests.conftest import shared_path
from tests.engine_helpers import run_stages
from tests.replay_server import (
    ReplayServer,
    Reply,
    cassette_replies,
    golden_reply,
    replay_server,
)

CONTACT = "research-team@example.org"


def fixture(*parts: str) -> Path:
    return shared_path("fixtures", *parts)


def arxiv_golden(name: str) -> Path:
    return fixture("arxiv_api", "lukasschwab-arxiv.py", "golden_json", name)


def s2_cassette(name: str) -> Path:
    return fixture(
        "semantic_scholar_api", "danielnsilva-semanticscholar", "tests", "data", name
    )


def crossref_cassette(folder: str, name: str) -> Path:
    return fixture("crossref_api", "sckott-habanero", "test", "cassettes", folder, name)


def multi_cassette(name: str) -> Path:
    return fixture("multi_scholarly_api", "future-house-paper-qa", "cassettes", name)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server() as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(server, sleeps, tmp_path):
    def make(name: str, *, cache: bool = False, attempts: int = 3) -> ProviderClient:
        return ProviderClient(
            name,
            server.url,
            interval=0.0,
            contact=CONTACT,
            cache_dir=tmp_path / "cache" if cache else None,
            sleep=sleeps.append,
            attempts=attempts,
            backoff=0.5,
        )

    return make


def test_arxiv_search_parses_recorded_atom_and_sends_contact(server, make_client):
    server.add(
        "/query", golden_reply(arxiv_golden("q_testing_s0_m10_bc5a6c384fe9.json"))
    )

    documents, cached = arxiv.search(make_client("arxiv"), "testing", 10)

    assert not cached
    assert len(documents) == 10
    first = documents[0]
    assert first.title.startswith("Testing Deep Learning Models")
    assert first.id.startswith("arxiv:")
    assert first.authors and first.date and first.url.startswith("https://arxiv.org/")
    assert len(first.text.split()) > 30
    [request] = server.seen("/query")
    assert request.query["search_query"] == ["all:testing"]
    assert request.query["max_results"] == ["10"]
    assert CONTACT in request.headers["User-Agent"]


def test_arxiv_invalid_id_answer_is_a_client_error_not_retried(server, make_client):
    server.add("/query", golden_reply(arxiv_golden("id_abc_s0_m100_b79c8dcf6bc3.json")))

    with pytest.raises(ProviderError) as raised:
        arxiv.search(make_client("arxiv"), "abc", 10)

    assert raised.value.status == 400
    assert not raised.value.transient
    assert len(server.seen("/query")) == 1


def test_semantic_scholar_search_parses_recorded_answer(server, make_client):
    server.add(
        "/paper/search",
        *cassette_replies(
            s2_cassette("test_search_paper_traversing_results.yaml"), "/paper/search"
        )[:1],
    )

    documents, _ = semantic_scholar.search(make_client("semantic_scholar"), "edit", 5)

    assert documents
    assert all(document.id.startswith("semantic_scholar:") for document in documents)
    assert all(document.title for document in documents)
    [request] = server.seen("/paper/search")
    assert request.query["query"] == ["edit"]
    assert "abstract" in request.query["fields"][0]


@pytest.mark.parametrize(
    ("cassette", "status"),
    [
        ("test_bad_query_parameters.yaml", 400),
        ("test_debug.yaml", 403),
        ("test_not_found.yaml", 404),
    ],
)
def test_semantic_scholar_client_errors_fail_at_once(
    server, make_client, cassette, status
):
    replies = [r for r in cassette_replies(s2_cassette(cassette)) if r.status == status]
    server.add("/paper/search", replies[0])

    with pytest.raises(ProviderError) as raised:
        semantic_scholar.search(make_client("semantic_scholar"), "turing", 5)

    assert raised.value.status == status
    assert not raised.value.transient
    assert len(server.seen("/paper/search")) == 1


def test_openalex_search_rebuilds_abstracts_and_sends_mailto(server, make_client):
    recorded = cassette_replies(
        multi_cassette("test_title_search[paper_attributes0].yaml"), "api.openalex.org"
    )
    server.add("/works", recorded[0])

    documents, _ = openalex.search(make_client("openalex"), "copper thin film", 5)

    assert documents
    first = documents[0]
    assert first.doi and first.id.startswith("openalex:W")
    assert "copper" in first.title.casefold()
    assert len(first.text.split()) > 20
    [request] = server.seen("/works")
    assert request.query["mailto"] == [CONTACT]
    assert request.query["search"] == ["copper thin film"]


def test_crossref_search_and_doi_lookup(server, make_client):
    server.add(
        "/works",
        *cassette_replies(crossref_cassette("test-works", "test_works_query.yaml")),
    )
    server.add(
        "/works/10.1371/journal.pone.0033693",
        *cassette_replies(
            crossref_cassette("test-works", "test_works_with_one_id.yaml")
        ),
    )
    server.add(
        "/works/10.1371/notarealdoi",
        *cassette_replies(
            crossref_cassette("test-works", "test_works_bad_id_warn.yaml")
        ),
    )
    client = make_client("crossref")

    found, _ = crossref.search(client, "ecology", 2)
    known = crossref.lookup_doi(client, "https://doi.org/10.1371/journal.pone.0033693")
    unknown = crossref.lookup_doi(client, "10.1371/notarealdoi")

    assert len(found) == 2 and all(document.doi for document in found)
    assert known is not None and known.doi == "10.1371/journal.pone.0033693"
    assert known.title and known.authors and known.date
    assert unknown is None
    assert server.seen("/works")[0].query["mailto"] == [CONTACT]


def test_rate_limit_answer_is_waited_out_as_retry_after_asks(
    server, make_client, sleeps
):
    recorded = golden_reply(arxiv_golden("q_testing_s0_m10_bc5a6c384fe9.json"))
    server.add(
        "/query", Reply(429, b"Rate exceeded.", (("Retry-After", "7"),)), recorded
    )

    documents, _ = arxiv.search(make_client("arxiv"), "testing", 10)

    assert len(documents) == 10
    assert sleeps == [7.0]
    assert len(server.seen("/query")) == 2


def test_unavailable_then_answer_is_retried_with_backoff(server, make_client, sleeps):
    recorded = cassette_replies(
        s2_cassette("test_search_paper_traversing_results.yaml")
    )
    server.add("/paper/search", Reply(503, b"busy"), recorded[0])

    documents, _ = semantic_scholar.search(make_client("semantic_scholar"), "edit", 5)

    assert documents
    assert sleeps == [0.5]


def test_transient_failures_give_up_after_the_last_attempt(server, make_client):
    server.add("/works", Reply(503, b"busy"))

    with pytest.raises(ProviderError) as raised:
        openalex.search(make_client("openalex", attempts=3), "x", 5)

    assert raised.value.transient and raised.value.status == 503
    assert len(server.seen("/works")) == 3


def test_connection_errors_are_transient(make_client, sleeps):
    client = ProviderClient(
        "openalex",
        "http://127.0.0.1:9",
        interval=0.0,
        contact="",
        cache_dir=None,
        sleep=sleeps.append,
        attempts=2,
    )

    with pytest.raises(ProviderError) as raised:
        openalex.search(client, "x", 5)

    assert raised.value.transient
    assert len(sleeps) == 1


def test_a_repeated_request_is_answered_from_the_cache(server, make_client):
    server.add(
        "/query", golden_reply(arxiv_golden("q_testing_s0_m10_bc5a6c384fe9.json"))
    )

    first, first_cached = arxiv.search(make_client("arxiv", cache=True), "testing", 10)
    again, again_cached = arxiv.search(make_client("arxiv", cache=True), "testing", 10)

    assert (first_cached, again_cached) == (False, True)
    assert again == first
    assert len(server.seen("/query")) == 1


def test_error_answers_are_not_cached(server, make_client):
    server.add(
        "/query",
        Reply(400, b"bad"),
        golden_reply(arxiv_golden("q_testing_s0_m10_bc5a6c384fe9.json")),
    )
    client = make_client("arxiv", cache=True)

    with pytest.raises(ProviderError):
        arxiv.search(client, "testing", 10)
    documents, cached = arxiv.search(client, "testing", 10)

    assert documents and not cached


# The search stage with providers.


@pytest.fixture
def provider_settings(settings, server, tmp_path, monkeypatch):
    settings.PROWZI_PROVIDER_BASE_URLS = {
        name: server.url for name in providers.PROVIDERS
    }
    settings.PROWZI_CONTACT_EMAIL = CONTACT
    settings.PROWZI_PROVIDER_CACHE_DIR = str(tmp_path / "provider-cache")
    for module in providers.PROVIDERS.values():
        monkeypatch.setattr(module, "INTERVAL", 0.0)
    monkeypatch.setattr("research.providers.http.BACKOFF_BASE", 0.01)
    return settings


@pytest.fixture
def empty_corpus(tmp_path) -> Corpus:
    return Corpus(tmp_path / "corpus.sqlite3", default_documents=False)


PROMPT = "Write a report on software testing"


def test_session_with_a_provider_cites_its_papers_and_repeats_from_cache(
    provider_settings, server
):
    server.add(
        "/query", golden_reply(arxiv_golden("q_testing_s0_m10_bc5a6c384fe9.json"))
    )
    options = ResearchOptions(providers=["arxiv"])

    first = run_stages(PROMPT, get_corpus(), options)
    again = run_stages(PROMPT, get_corpus(), options)

    search: SearchResult = first["search"]
    assert any(s.source_id.startswith("arxiv:") for s in search.sources)
    assert search.provider_queries[0].provider == "arxiv"
    assert search.telemetry_details()["provider_failures"] == []
    draft = final_draft(first)
    assert draft is not None and draft.quotations
    assert any(entry.source_id.startswith("arxiv:") for entry in draft.bibliography)
    integrity = next(
        item
        for item in first["evaluation"].evaluation.rubric  # type: ignore[attr-defined]
        if item.criterion == "citation_integrity"
    )
    assert "0 quotations not found in their source" in integrity.notes
    assert again["search"].provider_queries[0].cached  # type: ignore[attr-defined]
    assert final_draft(again).markdown == draft.markdown  # type: ignore[union-attr]
    assert len(server.seen("/query")) == 1


def test_local_sources_and_provider_papers_merge_without_duplicates(
    provider_settings, server, empty_corpus, tmp_path
):
    server.add(
        "/query", golden_reply(arxiv_golden("q_testing_s0_m10_bc5a6c384fe9.json"))
    )
    documents, _ = arxiv.search(
        ProviderClient("arxiv", server.url, interval=0, contact="", cache_dir=None),
        "testing",
        10,
    )
    local = tmp_path / "local.jsonl"
    local.write_text(
        "".join(
            f'{{"id": "local-{n}", "title": "{d.title}", "text": "{d.text[:400]}",'
            f' "url": "{d.url.replace("https://", "http://www.")}/"}}\n'
            for n, d in enumerate(documents[:3])
            if '"' not in d.title + d.text[:400] and "\\" not in d.text[:400]
        ),
        encoding="utf-8",
    )
    empty_corpus.add_path(local)

    result = run_stages(
        PROMPT, empty_corpus, ResearchOptions(providers=["arxiv"]), until="search"
    )

    titles = [source.title for source in result["search"].sources]  # type: ignore[attr-defined]
    assert len(titles) == len(set(titles))


def test_when_every_provider_fails_and_nothing_is_local_the_stage_fails(
    provider_settings, server, empty_corpus
):
    server.add("/query", Reply(503, b"busy"))
    server.add("/paper/search", Reply(503, b"busy"))

    with pytest.raises(TransientStageError, match="every provider failed"):
        run_stages(
            PROMPT,
            empty_corpus,
            ResearchOptions(providers=["arxiv", "semantic_scholar"]),
            until="search",
        )


def test_a_client_error_everywhere_fails_the_stage_for_good(
    provider_settings, server, empty_corpus
):
    server.add("/works", Reply(400, b'{"error": "bad request"}'))

    with pytest.raises(StageError, match="openalex answered HTTP 400") as raised:
        run_stages(
            PROMPT,
            empty_corpus,
            ResearchOptions(providers=["openalex"]),
            until="search",
        )

    assert not isinstance(raised.value, TransientStageError)


def test_a_failed_provider_is_recorded_beside_one_that_answered(
    provider_settings, server
):
    server.add(
        "/query", golden_reply(arxiv_golden("q_testing_s0_m10_bc5a6c384fe9.json"))
    )
    server.add("/works", Reply(403, b"forbidden"))

    result = run_stages(
        PROMPT,
        get_corpus(),
        ResearchOptions(providers=["arxiv", "crossref"]),
        until="search",
    )

    details = result["search"].telemetry_details()  # type: ignore[attr-defined]
    assert [query["provider"] for query in details["provider_queries"]] == ["arxiv"]
    [failure] = details["provider_failures"]
    assert failure["provider"] == "crossref" and "403" in failure["error"]


def test_providers_are_off_unless_asked_for(settings):
    settings.PROWZI_PROVIDERS = []
    assert providers.chosen([]) == []
    settings.PROWZI_PROVIDERS = ["openalex", "nonsense"]
    assert providers.chosen([]) == ["openalex"]
    assert providers.chosen(["arxiv"]) == ["arxiv"]


def test_options_without_providers_keep_their_old_json():
    assert "providers" not in ResearchOptions().model_dump(mode="json")


# Fetching what a provider points to.


def resolving_to(address: str) -> guard.Resolver:
    return lambda host, port: [address]


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "192.168.0.5", "172.16.0.1", "169.254.169.254",
     "::1", "fe80::1", "fc00::1", "0.0.0.0", "::ffff:127.0.0.1"],
)  # fmt: skip
def test_fetching_refuses_non_public_addresses(address):
    with pytest.raises(UnsafeAddressError, match="non-public"):
        guard.check_url(
            "https://papers.example.org/a.pdf", resolver=resolving_to(address)
        )


def test_fetching_accepts_public_addresses_and_refuses_other_schemes():
    addresses = guard.check_url(
        "https://papers.example.org/a.pdf", resolver=resolving_to("93.184.216.34")
    )

    assert addresses == [ipaddress.ip_address("93.184.216.34")]
    with pytest.raises(UnsafeAddressError, match="only http"):
        guard.check_url("file:///etc/passwd")


def test_fetching_a_loopback_url_sends_nothing(server):
    server.add("/paper.pdf", Reply(200, b"%PDF-1.4"))

    with pytest.raises(UnsafeAddressError):
        guard.fetch(f"{server.url}/paper.pdf")

    assert server.requests == []


def test_a_redirect_to_a_private_address_is_refused(server):
    server.add(
        "/moved",
        Reply(302, b"", (("Location", "http://10.0.0.8/internal"),)),
    )

    with pytest.raises(UnsafeAddressError, match=r"10\.0\.0\.8"):
        guard.fetch(f"{server.url}/moved", allowed=lambda a: a.is_loopback)


def test_fetching_downloads_a_pdf_when_the_test_allows_loopback(server):
    pdf = shared_path("pdfs", "cc_by_verified", "bmc_10.1186_1752-2897-4-1.pdf")
    server.add("/moved", Reply(301, b"", (("Location", "/paper.pdf"),)))
    server.add(
        "/paper.pdf",
        Reply(200, pdf.read_bytes(), (("Content-Type", "application/pdf"),)),
    )

    fetched = guard.fetch(f"{server.url}/moved", allowed=lambda a: a.is_loopback)

    assert fetched.content_type == "application/pdf"
    assert fetched.body == pdf.read_bytes()
    assert fetched.url.endswith("/paper.pdf")


# DOI metadata for library files.

KNOWN_DOI = "10.1371/journal.pone.0033693"
KNOWN_TITLE = "Methylphenidate Exposure Induces Dopamine Neuron Loss"


@pytest.fixture
def lookup_settings(settings, server, tmp_path):
    settings.PROWZI_CORPUS_PATH = tmp_path / "doi" / "corpus.sqlite3"
    settings.PROWZI_PROVIDER_BASE_URLS = {"crossref": server.url}
    settings.PROWZI_PROVIDER_CACHE_DIR = str(tmp_path / "provider-cache")
    settings.PROWZI_CONTACT_EMAIL = CONTACT
    Corpus(settings.PROWZI_CORPUS_PATH, default_documents=False)
    server.add(
        f"/works/{KNOWN_DOI}",
        *cassette_replies(
            crossref_cassette("test-works", "test_works_with_one_id.yaml")
        ),
    )
    server.add(
        "/works/10.1371/notarealdoi",
        *cassette_replies(
            crossref_cassette("test-works", "test_works_bad_id_warn.yaml")
        ),
    )
    return settings


def _note(folder: Path, name: str, doi: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(
        f"Notes on dopamine neurons in mice.\n\nSee doi:{doi} for the study.\n",
        encoding="utf-8",
    )
    return path


def _library_passage(settings) -> dict[str, object]:
    corpus = Corpus(settings.PROWZI_CORPUS_PATH)
    [item] = corpus.library_items()
    [hit] = [h for h in corpus.search("dopamine neurons", limit=5)]
    return {
        "title": item.title,
        "authors": hit.document.authors,
        "date": hit.document.date,
        "doi": hit.document.doi,
    }


def test_corpus_add_fills_missing_metadata_from_crossref_by_doi(
    lookup_settings, server, tmp_path, capsys
):
    note = _note(tmp_path / "notes", "dopamine.md", KNOWN_DOI)

    call_command("prowzi", "corpus", "add", str(note), "--lookup-doi")

    found = _library_passage(lookup_settings)
    assert str(found["title"]).startswith(KNOWN_TITLE)
    assert found["date"] == "2012" and found["doi"] == KNOWN_DOI
    assert "Smeyne" in " ".join(found["authors"])
    assert f"metadata by DOI for dopamine.md ({KNOWN_DOI})" in capsys.readouterr().out
    [request] = server.seen(f"/works/{KNOWN_DOI}")
    assert request.query["mailto"] == [CONTACT]


def test_an_unknown_doi_adds_the_file_with_its_own_metadata(
    lookup_settings, tmp_path, capsys
):
    note = _note(tmp_path / "notes", "unknown.md", "10.1371/notarealdoi")

    call_command("prowzi", "corpus", "add", str(note), "--lookup-doi")

    found = _library_passage(lookup_settings)
    assert found["title"] == "unknown" and found["authors"] == ()
    output = capsys.readouterr().out
    assert "Added 1 file (" in output
    assert "DOI lookup failed for unknown.md (10.1371/notarealdoi)" in output


def test_a_failing_lookup_is_reported_and_the_file_still_goes_in(
    lookup_settings, server, tmp_path, capsys
):
    server.add("/works/10.5555/refused", Reply(400, b"Bad request", ()))
    note = _note(tmp_path / "notes", "refused.md", "10.5555/refused")

    call_command("prowzi", "corpus", "add", str(note), "--lookup-doi")

    assert _library_passage(lookup_settings)["title"] == "refused"
    assert "HTTP 400" in capsys.readouterr().out


def test_complete_bibtex_metadata_needs_no_lookup(lookup_settings, server, tmp_path):
    folder = tmp_path / "notes"
    _note(folder, "dopamine.md", KNOWN_DOI)
    (folder / "refs.bib").write_text(
        "@article{dopamine, title={My own title}, author={Roe, Jane}, "
        f"year={{2013}}, doi={{{KNOWN_DOI}}}}}\n",
        encoding="utf-8",
    )

    call_command("prowzi", "corpus", "add", str(folder), "--lookup-doi")

    assert _library_passage(lookup_settings)["title"] == "My own title"
    assert server.seen(f"/works/{KNOWN_DOI}") == []


def test_without_lookup_nothing_is_asked(lookup_settings, server, tmp_path):
    note = _note(tmp_path / "notes", "dopamine.md", KNOWN_DOI)

    call_command("prowzi", "corpus", "add", str(note))

    assert _library_passage(lookup_settings)["title"] == "dopamine"
    assert server.seen(f"/works/{KNOWN_DOI}") == []


@pytest.mark.django_db
def test_library_upload_looks_up_the_doi_when_configured(
    client, django_user_model, lookup_settings
):
    lookup_settings.PROWZI_DOI_LOOKUP = True
    client.force_login(django_user_model.objects.create_user("reader", password="x"))
    upload = SimpleUploadedFile(
        "dopamine.md",
        f"Dopamine neurons.\n\ndoi:{KNOWN_DOI}\n".encode(),
        "text/markdown",
    )

    response = client.post("/library/", {"document": upload}, follow=True)

    assert response.status_code == 200
    [item] = Corpus(lookup_settings.PROWZI_CORPUS_PATH).library_items()
    assert item.title.startswith(KNOWN_TITLE)
