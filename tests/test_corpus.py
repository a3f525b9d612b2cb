"""The corpus index: the default Wikipedia build, search, and adding files."""

import itertools
import json
import os
import threading
from pathlib import Path

import pytest

from research import corpus as corpus_module
from research.corpus import Corpus, Document, get_corpus, match_expression
from research.exceptions import CorpusError

SHARED_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def shared_corpus_file(name: str) -> Path:
    """Return a file of the team's shared corpora, skipping when absent
    except in CI, where its absence fails the test."""
    path = SHARED_CORPUS / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing in CI")
        pytest.skip("needs ../shared/corpus (the team's shared test data)")
    return path


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


@pytest.fixture
def empty(tmp_path: Path) -> Corpus:
    return Corpus(tmp_path / "index" / "corpus.sqlite3", default_documents=False)


def test_default_corpus_holds_wikipedia_summaries_in_three_languages(corpus):
    assert corpus.count("en") > 9000
    assert corpus.count("es") > 5000
    assert corpus.count("fr") > 9000
    assert corpus.count() == sum(corpus.count(lang) for lang in ("en", "es", "fr"))


def test_wikipedia_document_has_id_url_authors_and_no_date(corpus):
    document = corpus.get("wikipedia:en:Wind power")

    assert document is not None
    assert document.title == "Wind power"
    assert document.url == "https://en.wikipedia.org/wiki/Wind_power"
    assert document.authors == ("Wikipedia contributors",)
    assert document.date is None
    assert document.language == "en"
    assert "wind" in document.text.lower()


def test_get_returns_none_for_unknown_id(corpus):
    assert corpus.get("wikipedia:en:No such article at all") is None


def test_search_ranks_documents_named_by_the_query_first(corpus):
    hits = corpus.search("wind power", "en", 5)

    assert hits[0].document.title in {"Wind power", "Wind turbine"}
    assert [hit.score for hit in hits] == sorted(
        (hit.score for hit in hits), reverse=True
    )


def test_search_is_deterministic_and_breaks_ties_by_id(corpus):
    first = corpus.search(["energy"], "en", 50)
    second = corpus.search(["energy"], "en", 50)

    assert [h.document.id for h in first] == [h.document.id for h in second]
    for left, right in itertools.pairwise(first):
        assert (-left.score, left.document.id) <= (-right.score, right.document.id)


def test_search_keeps_to_the_language_asked(corpus):
    hits = corpus.search("energía solar", "es", 10)

    assert hits
    assert all(hit.document.language == "es" for hit in hits)


def ranked_over_every_match(corpus: Corpus, query, language, limit) -> list[str]:
    """The ids of the hits when every match is scored and sorted in SQL."""
    expression = match_expression(query)
    rows = corpus_module._ranked(corpus._read(), expression, language, limit)
    return [row[0] for row in rows]


@pytest.mark.parametrize(
    ("query", "language", "limit"),
    [
        ("wind power", "en", 5),
        (["energy", "power grid", "storage"], "en", 40),
        (["the"], "en", 40),
        ("energía solar", "es", 10),
        ("révolution française", "fr", 40),
        (["history"], None, 25),
        ("energy", "es", 3),
    ],
)
def test_search_finds_what_ranking_every_match_finds(corpus, query, language, limit):
    hits = corpus.search(query, language, limit)

    assert [hit.document.id for hit in hits] == ranked_over_every_match(
        corpus, query, language, limit
    )


def test_search_breaks_ties_at_the_cut_by_id(empty):
    # Twelve documents score the same; only the first ids may be returned.
    documents = [
        Document(id=f"tide-{number:02d}", title=f"Tides {number:02d}", text=text)
        for number, text in enumerate(
            f"Tides follow the moon, note {word}." for word in "abcdefghijkl"
        )
    ]
    empty.add_documents(reversed(documents))

    hits = empty.search(["tides"], "en", 2)

    assert [hit.document.id for hit in hits] == ["tide-00", "tide-01"]
    assert hits[0].score == hits[1].score


def test_search_finds_a_rare_language_behind_many_better_matches(empty):
    english = [
        Document(id=f"en-{n}", title="Grid", text=f"Grid grid grid power {n}.")
        for n in range(30)
    ]
    spanish = [
        Document(
            id=f"es-{n}",
            title=f"Red {n}",
            text=f"La red eléctrica lleva energía a las ciudades, grid {n}.",
            language="es",
        )
        for n in range(2)
    ]
    empty.add_documents([*english, *spanish])

    hits = empty.search(["grid"], "es", 5)

    assert [hit.document.id for hit in hits] == ["es-0", "es-1"]


@pytest.mark.parametrize(
    "query",
    [
        'solar AND "wind',
        "NEAR(a b) OR NOT * ^ : -",
        '"""',
        "title:grid",
        ["power grid", 'he said "hi"', "(", "*"],
        "",
    ],
)
def test_search_never_fails_on_query_syntax(corpus, query):
    assert isinstance(corpus.search(query, "en", 5), list)


def test_match_expression_quotes_every_term():
    assert match_expression(['say "hi"', "grid"]) == '"say ""hi""" OR "grid"'


def test_adding_json_lines_with_body_indexes_the_full_text(empty):
    path = shared_corpus_file("plos_starter_fulltext.jsonl")

    report = empty.add_path(path)

    assert report.added == 122
    assert report.problems == []
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    document = empty.get(first["id"])
    assert document is not None
    assert document.text == f"{first['text'].strip()}\n\n{first['body'].strip()}"
    assert document.doi == first["doi"]
    assert empty.search(["stem cell"], "en", 3)


def test_adding_the_same_file_twice_adds_nothing_new(empty, tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(
        json.dumps(
            {"id": "a", "title": "Alpha", "text": "Alpha particles are helium nuclei."}
        )
        + "\n",
        encoding="utf-8",
    )

    empty.add_path(path)
    version = empty.version
    again = empty.add_path(path)

    assert (again.added, again.duplicates) == (0, 1)
    assert empty.version == version


def test_broken_json_lines_are_reported_and_the_rest_indexed(empty, tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(
            {"id": "ok-1", "title": "Tides", "text": "Tides are caused by the Moon."}
        ),
        '{"id": "broken", "title": ',
        json.dumps({"id": "no-text", "title": "Empty"}),
        json.dumps(["not", "an", "object"]),
        json.dumps(
            {"title": "Comets", "text": "Comets have icy nuclei.", "authors": ["A. B."]}
        ),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = empty.add_path(path)

    assert report.added == 2
    assert [problem.split(":")[0] for problem in report.problems] == [
        "mixed.jsonl line 2",
        "mixed.jsonl line 3",
        "mixed.jsonl line 4",
    ]
    assert "skipped mixed.jsonl line 2" in str(report)
    assert empty.get("ok-1") is not None


def test_folder_of_text_and_markdown_files_is_indexed(empty, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "grid.md").write_text(
        "Intro line\n# Grid storage\n\nBatteries smooth the output of wind farms.\n",
        encoding="utf-8",
    )
    (folder / "tides.txt").write_text(
        "Tidal power\nTidal power converts the energy of tides into electricity.\n",
        encoding="utf-8",
    )
    (folder / "broken.txt").write_bytes(b"\xff\xfe\x00 not utf-8 \xc3")
    (folder / "empty.md").write_text("   \n", encoding="utf-8")
    (folder / "ignored.pdf").write_bytes(b"%PDF")

    report = empty.add_path(folder)

    assert report.added == 2
    assert sorted(problem.split(":")[0] for problem in report.problems) == [
        "broken.txt",
        "empty.md",
    ]
    titles = {hit.document.title for hit in empty.search("tides OR grid", None, 10)}
    assert titles == {"Grid storage", "Tidal power"}
    hit = empty.search("batteries", None, 1)[0]
    assert hit.document.id.startswith("file:")
    assert len(hit.document.id) == len("file:") + 16


def test_file_ids_come_from_content_not_names(empty, tmp_path):
    folder = tmp_path / "named"
    folder.mkdir()
    (folder / "file:0123456789abcdef.txt").write_text(
        "Lighthouses\nLighthouses warn ships of rocks.\n", encoding="utf-8"
    )

    empty.add_path(folder)

    [hit] = empty.search("lighthouses", None, 5)
    assert hit.document.id != "file:0123456789abcdef"


def test_missing_path_raises_corpus_error(empty, tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        empty.add_path(tmp_path / "absent.jsonl")


def test_path_without_usable_documents_raises_corpus_error(empty, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n{}\n", encoding="utf-8")

    with pytest.raises(CorpusError, match="No usable documents"):
        empty.add_path(path)


def test_version_changes_when_documents_are_added(empty, tmp_path):
    before = empty.version
    path = tmp_path / "one.md"
    path.write_text(
        "# Glaciers\n\nGlaciers are slow rivers of ice.\n", encoding="utf-8"
    )

    empty.add_path(path)

    assert empty.version != before
    assert empty.count() == 1


def test_processes_opening_a_missing_index_at_once_build_it_once(tmp_path):
    path = tmp_path / "shared" / "corpus.sqlite3"
    opened: list[Corpus] = []

    def open_corpus() -> None:
        opened.append(Corpus(path, default_documents=False))

    threads = [threading.Thread(target=open_corpus) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(opened) == 6
    assert all(corpus.count() == 0 for corpus in opened)
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "corpus.sqlite3",
        "corpus.sqlite3.lock",
    ]
