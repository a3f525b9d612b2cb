"""The user's library: PDF, HTML, Markdown and plain-text files added to the
corpus as passages that remember their page or section.

A BibTeX or RIS file beside the documents supplies their title, authors,
date and DOI; an entry describes the file its `file` field names, the file
whose name is its key, or the document carrying its DOI. When a lookup is
given (Crossref's DOI metadata, see research.providers.doi), a file with a DOI
but no title, authors or date from such an entry gets them from the lookup;
a failed lookup is reported and the file goes in with what it has. Every
file is read on its own: a broken or encrypted one is reported and skipped
while the rest go in. A file added before (same bytes) adds nothing.
"""

import hashlib
import logging
import math
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from research.exceptions import CorpusError
from research.wording import counted

if TYPE_CHECKING:
    from research.corpus import Corpus, Document
    from research.providers.guard import Fetched

logger = logging.getLogger(__name__)

DOCUMENT_KINDS: dict[str, str] = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
METADATA_SUFFIXES = frozenset({".bib", ".ris"})
# JSON Lines hold documents of their own, not a library file's text; they
# are added file by file, so one found in a folder is named and left out.
JSON_LINES_IN_A_FOLDER = (
    "JSON Lines are not read from folders; add the file itself "
    "(prowzi corpus add FILE.jsonl)"
)
MAX_FILE_BYTES = 50 * 1024 * 1024
# Long sections are cut at paragraph ends into passages of about this size,
# so that one passage stays about one thing.
PASSAGE_CHARS = 4000
DOI_SEARCH_CHARS = 3000
DOI_PATTERN = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
REFERENCES_HEADING = re.compile(
    r"^[ \t]*(?:\d+\.?[ \t]*)?(?:references|bibliography|literature cited|"
    r"works cited|referencias|bibliografía|références|bibliographie)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
# Labels journals print above a title in the same type size.
TITLE_LABELS = re.compile(
    r"^(?:research article|review article|original article|review|"
    r"research|article|open access)\s+",
    re.IGNORECASE,
)


class LibraryFileError(Exception):
    """Raised when one library file cannot be read; its message says why."""


class MetadataLookupError(Exception):
    """Raised by a DOI lookup that failed; the file is added without it."""


@dataclass(frozen=True)
class Metadata:
    title: str | None = None
    authors: tuple[str, ...] = ()
    date: str | None = None
    doi: str | None = None
    url: str | None = None
    file: str | None = None
    key: str | None = None

    def over(self, other: "Metadata") -> "Metadata":
        """Return these fields, falling back to other's where missing."""
        return Metadata(
            title=self.title or other.title,
            authors=self.authors or other.authors,
            date=self.date or other.date,
            doi=self.doi or other.doi,
            url=self.url or other.url,
            file=self.file or other.file,
            key=self.key or other.key,
        )

    @property
    def complete(self) -> bool:
        return bool(self.title and self.authors and self.date)


DoiLookup = Callable[[str], Metadata | None]


@dataclass(frozen=True)
class Passage:
    text: str
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True)
class ParsedFile:
    kind: str
    metadata: Metadata
    passages: list[Passage]


@dataclass
class LibraryReport:
    """What adding a path to the library did, and each file it skipped."""

    path: str
    files: int = 0
    passages: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    looked_up: list[str] = field(default_factory=list)
    lookup_failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"Added {counted(self.files, 'file')} "
            f"({counted(self.passages, 'passage')}) from {self.path} "
            f"({counted(self.duplicates, 'duplicate')} skipped, "
            f"{len(self.problems)} not added)."
        ]
        lines.extend(f"  skipped {problem}" for problem in self.problems)
        lines.extend(f"  metadata by DOI for {name}" for name in self.looked_up)
        lines.extend(
            f"  DOI lookup failed for {failure}; added with the file's own metadata"
            for failure in self.lookup_failures
        )
        return "\n".join(lines)


def add_path(
    corpus: "Corpus", path: Path | str, *, lookup: DoiLookup | None = None
) -> LibraryReport:
    """Add a file or every supported file under a folder; raise CorpusError
    when the path is missing or nothing in it could be read."""
    source = Path(path)
    if not source.exists():
        raise CorpusError(f"Cannot add {source}: no such file or folder.")

    documents, metadata_files = _gather(source)
    report = LibraryReport(path=str(source))
    for json_lines in _json_lines_in(source):
        report.problems.append(f"{_name(json_lines, source)}: {JSON_LINES_IN_A_FOLDER}")
    if not documents:
        report.problems.append(f"{source.name}: no PDF, HTML, Markdown or text files")
    entries = _read_metadata_files(metadata_files, report)

    for document in documents:
        add_file(
            corpus,
            document,
            report,
            entries=entries,
            name=_name(document, source),
            lookup=lookup,
        )

    if report.files == 0 and report.duplicates == 0:
        detail = "; ".join(report.problems[:5]) or "nothing to index"
        raise CorpusError(f"No usable documents in {source}: {detail}.")
    logger.info("Library %s: %s", corpus.path, str(report).splitlines()[0])
    return report


def add_url(
    corpus: "Corpus",
    url: str,
    *,
    fetch: "Callable[[str], Fetched] | None" = None,
    lookup: DoiLookup | None = None,
) -> LibraryReport:
    """Download a page or PDF (such as one a provider links to) and add it;
    raise CorpusError when it cannot be fetched or read.

    The download goes through the address guard, so a link to a private,
    loopback or link-local address is refused before anything connects.
    """
    from research.exceptions import ProviderError, UnsafeAddressError
    from research.providers import guard

    try:
        fetched = (fetch or guard.fetch)(url)
    except (UnsafeAddressError, ProviderError) as error:
        raise CorpusError(f"Cannot add {url}: {error}") from error

    suffix = _suffix_for(fetched)
    if suffix is None:
        raise CorpusError(
            f"Cannot add {url}: its content type "
            f"{fetched.content_type or '(none)'} is not PDF, HTML, Markdown or text."
        )

    report = LibraryReport(path=url)
    with tempfile.TemporaryDirectory(prefix="prowzi-fetch-") as folder:
        # The saved file's name is fixed: nothing from the URL becomes a path.
        saved = Path(folder) / f"download{suffix}"
        saved.write_bytes(fetched.body)
        entry = Metadata(url=fetched.url, file=saved.name)
        add_file(
            corpus, saved, report, entries=[entry], name=fetched.url, lookup=lookup
        )

    if report.problems:
        raise CorpusError(f"Cannot add {url}: {'; '.join(report.problems)}.")
    logger.info("Library %s: %s", corpus.path, str(report).splitlines()[0])
    return report


def _suffix_for(fetched: "Fetched") -> str | None:
    by_type = {
        "application/pdf": ".pdf",
        "text/html": ".html",
        "application/xhtml+xml": ".html",
        "text/markdown": ".md",
        "text/plain": ".txt",
    }
    if fetched.content_type in by_type:
        return by_type[fetched.content_type]

    # Servers often send PDFs as a generic binary type.
    suffix = Path(urlsplit(fetched.url).path).suffix.lower()
    if fetched.content_type in ("", "application/octet-stream") and (
        suffix in DOCUMENT_KINDS
    ):
        return suffix
    return None


def add_file(
    corpus: "Corpus",
    path: Path,
    report: LibraryReport,
    *,
    entries: Sequence[Metadata] = (),
    name: str | None = None,
    lookup: DoiLookup | None = None,
) -> None:
    """Add one document file, recording the outcome in report."""
    shown = name or path.name
    try:
        content = _read_bytes(path)
        file_hash = hashlib.sha256(content).hexdigest()
        if corpus.has_file(file_hash):
            report.duplicates += 1
            return

        parsed = read_document(path, content)
    except LibraryFileError as error:
        report.problems.append(f"{shown}: {error}")
        logger.warning("Library: skipped %s: %s", shown, error)
        return

    entry = _matching_entry(entries, path, parsed.metadata)
    if lookup is not None:
        entry = entry.over(_looked_up(lookup, entry, parsed.metadata, shown, report))
    metadata = entry.over(parsed.metadata)
    item = _item(file_hash, shown, parsed.kind, metadata)
    passages = _documents(item.id, parsed, metadata, shown)
    added, _ = corpus.add_library_item(item, file_hash, passages)
    if added == 0:
        report.duplicates += 1
        return

    report.files += 1
    report.passages += added
    report.item_ids.append(item.id)


def read_document(path: Path, content: bytes | None = None) -> ParsedFile:
    """Read a document file into passages; raise LibraryFileError if it
    cannot be read or holds no text."""
    kind = DOCUMENT_KINDS.get(path.suffix.lower())
    if kind is None:
        raise LibraryFileError(f"unsupported file type {path.suffix or '(none)'}")

    data = content if content is not None else _read_bytes(path)
    if kind == "pdf":
        parsed = _read_pdf(data)
    else:
        text = _decode(data)
        if kind == "html":
            parsed = _read_html(text)
        elif kind == "markdown":
            parsed = _read_markdown(text)
        else:
            parsed = _read_text(text)

    passages = [p for p in parsed.passages if p.text.strip()]
    if not passages:
        raise LibraryFileError("no text could be extracted")
    return replace(parsed, passages=passages)


def pdf_page_texts(data: bytes) -> list[str]:
    """Return the cleaned text of each page of a PDF, in page order."""
    return [_clean_pdf_text(page) for page in _pdf_raw_pages(_pdf_reader(data))]


# Reading the files.


def _gather(source: Path) -> tuple[list[Path], list[Path]]:
    if source.is_file():
        siblings = sorted(
            path
            for path in source.parent.iterdir()
            if path.is_file() and path.suffix.lower() in METADATA_SUFFIXES
        )
        if source.suffix.lower() in METADATA_SUFFIXES:
            return [], [source]
        return [source], siblings

    files = sorted(path for path in source.rglob("*") if path.is_file())
    documents = [path for path in files if path.suffix.lower() in DOCUMENT_KINDS]
    metadata = [path for path in files if path.suffix.lower() in METADATA_SUFFIXES]
    return documents, metadata


def _json_lines_in(folder: Path) -> list[Path]:
    if folder.is_file():
        return []
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() == ".jsonl"
    )


def _name(path: Path, root: Path) -> str:
    return path.name if root.is_file() else str(path.relative_to(root))


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LibraryFileError(
                f"{size // (1024 * 1024)} MB is over the "
                f"{MAX_FILE_BYTES // (1024 * 1024)} MB limit"
            )
        data = path.read_bytes()
    except OSError as error:
        raise LibraryFileError(error.strerror or str(error)) from error
    if not data.strip():
        raise LibraryFileError("empty file")
    return data


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LibraryFileError(f"not UTF-8 text ({error.reason})") from error


# PDF


@contextmanager
def _quiet_pdf_parser() -> Iterator[None]:
    # pypdf logs a warning for every font it cannot fully decode; the text
    # still comes out, so those lines would only bury the operator's log.
    pdf_logger = logging.getLogger("pypdf")
    level = pdf_logger.level
    pdf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pdf_logger.setLevel(level)


def _pdf_reader(data: bytes) -> Any:
    import io

    from pypdf import PasswordType, PdfReader

    with _quiet_pdf_parser():
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            # Many PDFs are encrypted only against editing, with an empty
            # password for reading.
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise LibraryFileError(
                    "encrypted PDF: it needs a password to open; save an "
                    "unprotected copy and add that"
                )
            len(reader.pages)
        except LibraryFileError:
            raise
        except Exception as error:
            # A damaged PDF can make the parser fail in many ways.
            raise LibraryFileError(f"not a readable PDF ({error})") from error
    return reader


def _pdf_raw_pages(reader: Any) -> list[str]:
    pages: list[str] = []
    with _quiet_pdf_parser():
        for number, page in enumerate(reader.pages, start=1):
            try:
                pages.append(page.extract_text() or "")
            except Exception as error:
                raise LibraryFileError(
                    f"page {number} cannot be read ({error})"
                ) from error
    return pages


def _read_pdf(data: bytes) -> ParsedFile:
    reader = _pdf_reader(data)
    raw_pages = _without_reference_list(_pdf_raw_pages(reader))
    pages = [_clean_pdf_text(page) for page in raw_pages]
    passages = [
        Passage(text, page=number)
        for number, text in enumerate(pages, start=1)
        if text.strip()
    ]
    first_text = pages[0] if pages else ""
    metadata = Metadata(
        title=_pdf_title(reader),
        authors=_pdf_authors(reader),
        date=_pdf_year(reader),
        doi=_find_doi(first_text) or _find_doi(str(_pdf_info(reader).get("/Subject"))),
    )
    return ParsedFile("pdf", metadata, passages)


def _without_reference_list(pages: list[str]) -> list[str]:
    """Return the pages with the reference list cut off: its entries are
    titles of other works, not statements a report can quote."""
    kept: list[str] = []
    for page in pages:
        heading = REFERENCES_HEADING.search(page)
        if heading is None:
            kept.append(page)
            continue
        kept.append(page[: heading.start()])
        kept.extend("" for _ in range(len(pages) - len(kept)))
        break
    return kept


def _clean_pdf_text(raw: str) -> str:
    """Return page text as running prose: ligatures expanded, words broken
    across lines joined, lines joined with spaces."""
    text = unicodedata.normalize("NFKC", raw).replace("\u00ad", "")
    text = re.sub(r"(\w)-\n(?=[a-z])", r"\1", text)
    return " ".join(text.split())


def _pdf_title(reader: Any) -> str | None:
    info = _pdf_info(reader)
    title = _plausible_title(str(info.get("/Title") or ""))
    return title or _largest_type(reader)


def _pdf_info(reader: Any) -> dict[str, Any]:
    try:
        info = reader.metadata
    except Exception:
        return {}
    return dict(info) if info else {}


def _plausible_title(value: str) -> str | None:
    title = " ".join(value.split())
    words = re.findall(r"[^\W\d_]{2,}", title)
    if len(words) < 3 or sum(len(word) for word in words) < len(title) / 2:
        return None
    return title


def _largest_type(reader: Any) -> str | None:
    """Return the first page's text in its largest type that reads as a
    title (a journal banner or a lone label does not)."""
    chunks: list[tuple[float, str]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        if text.strip():
            scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])
            chunks.append((round(size * scale, 1), text))

    with _quiet_pdf_parser():
        try:
            reader.pages[0].extract_text(visitor_text=visit)
        except Exception:
            return None

    for size in sorted({size for size, _ in chunks}, reverse=True):
        text = " ".join(
            " ".join(t.split()) for s, t in chunks if abs(s - size) <= 0.05 * size
        )
        text = TITLE_LABELS.sub("", text).strip()
        if "www." in text or "http" in text:
            continue
        title = _plausible_title(text)
        if title and len(title.split()) >= 4:
            return title[:300]
    return None


def _pdf_authors(reader: Any) -> tuple[str, ...]:
    author = str(_pdf_info(reader).get("/Author") or "")
    author = re.sub(r"\{?et al\.?\}?", "", author).strip(" ,;")
    if not author:
        return ()
    return tuple(
        name.strip() for name in re.split(r";|\band\b", author) if name.strip()
    )


def _pdf_year(reader: Any) -> str | None:
    created = str(_pdf_info(reader).get("/CreationDate") or "")
    found = re.match(r"^(?:D:)?((?:19|20)\d\d)", created)
    return found.group(1) if found else None


def _leading_doi(text: str) -> str | None:
    # A paper prints its own DOI near the top; DOIs further down are most
    # likely those of the works it cites.
    return _find_doi(text[:DOI_SEARCH_CHARS])


def _find_doi(text: str) -> str | None:
    found = DOI_PATTERN.search(text)
    return found.group(1).rstrip(".,;)]").casefold() if found else None


# Markdown and plain text


_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _read_markdown(text: str) -> ParsedFile:
    title: str | None = None
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.splitlines():
        heading = _MARKDOWN_HEADING.match(line)
        if heading:
            name = _plain_markdown(heading.group(2))
            if title is None and len(heading.group(1)) == 1:
                title = name
            sections.append((name, []))
            continue
        sections[-1][1].append(line)

    passages = [
        Passage(chunk, section=name)
        for name, lines in sections
        for chunk in _chunks(_paragraphs(_plain_markdown("\n".join(lines))))
    ]
    if title is None:
        title = next((name for name, _ in sections if name), None)
    return ParsedFile(
        "markdown", Metadata(title=title, doi=_leading_doi(text)), passages
    )


def _plain_markdown(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"(\*\*|__|\*|_)(\S(?:.*?\S)?)\1", r"\2", text)
    return re.sub(r"^\s*(?:[-*+]|\d+[.)]|>)\s+", "", text, flags=re.MULTILINE)


def _read_text(text: str) -> ParsedFile:
    paragraphs = _paragraphs(text)
    title = None
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if first and len(first) <= 200 and not first.endswith((".", "!", "?")):
        title = first
        paragraphs = _paragraphs(text.strip()[len(first) :])
    passages = [Passage(chunk) for chunk in _chunks(paragraphs)]
    return ParsedFile("text", Metadata(title=title, doi=_leading_doi(text)), passages)


def _paragraphs(text: str) -> list[str]:
    """Return the paragraphs of text, each on one line."""
    return [
        " ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()
    ]


def _chunks(paragraphs: list[str]) -> list[str]:
    """Join paragraphs into passages of about PASSAGE_CHARS characters."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        if current and size + len(paragraph) > PASSAGE_CHARS:
            chunks.append("\n\n".join(current))
            current, size = [], 0
        current.append(paragraph)
        size += len(paragraph)
    if current:
        chunks.append("\n\n".join(current))
    return chunks


# HTML

_SKIPPED_ELEMENTS = frozenset(
    {"script", "style", "noscript", "template", "svg", "nav", "header", "footer"}
)
_BLOCK_ELEMENTS = frozenset(
    {
        "p", "div", "li", "br", "tr", "td", "th", "section", "article", "main",
        "blockquote", "pre", "dd", "dt", "figcaption", "table", "ul", "ol",
    }
)  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


class _HTMLText(HTMLParser):
    """Collects an HTML page's text by section, and its citation metadata."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[tuple[str | None, list[str]]] = [(None, [""])]
        self.title = ""
        self.first_heading: str | None = None
        self.meta: dict[str, list[str]] = {}
        self._skipping = 0
        self._in_title = False
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "meta":
            values = dict(attrs)
            name = (values.get("name") or values.get("property") or "").casefold()
            if name and values.get("content"):
                self.meta.setdefault(name, []).append(str(values["content"]))
        elif tag in _HEADINGS and not self._skipping:
            self._heading = []
        elif tag in _BLOCK_ELEMENTS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _HEADINGS and self._heading is not None:
            name = " ".join("".join(self._heading).split())
            self._heading = None
            if name:
                if tag == "h1" and self.first_heading is None:
                    self.first_heading = name
                self.sections.append((name, [""]))
        elif tag in _BLOCK_ELEMENTS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._skipping:
            return
        elif self._heading is not None:
            self._heading.append(data)
        else:
            self.sections[-1][1][-1] += data

    def _break(self) -> None:
        if self.sections[-1][1][-1].strip():
            self.sections[-1][1].append("")


def _read_html(text: str) -> ParsedFile:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()

    meta = parser.meta
    passages = [
        Passage(chunk, section=name)
        for name, blocks in parser.sections
        for chunk in _chunks([" ".join(b.split()) for b in blocks if b.strip()])
    ]
    metadata = Metadata(
        title=_first(meta, "citation_title", "dc.title", "og:title")
        or parser.first_heading
        or (" ".join(parser.title.split()) or None),
        authors=tuple(meta.get("citation_author", []) or meta.get("dc.creator", [])),
        date=_first(meta, "citation_publication_date", "citation_date", "dc.date"),
        doi=_normal_doi(_first(meta, "citation_doi", "dc.identifier"))
        or _leading_doi(" ".join(passage.text for passage in passages[:3])),
    )
    return ParsedFile("html", metadata, passages)


def _first(meta: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        values = meta.get(name)
        if values and values[0].strip():
            return " ".join(values[0].split())
    return None


# BibTeX and RIS


def _read_metadata_files(paths: list[Path], report: LibraryReport) -> list[Metadata]:
    return [entry for path in paths for entry in read_metadata_file(path, report)]


def read_metadata_file(path: Path, report: LibraryReport) -> list[Metadata]:
    """Return the entries of a BibTeX or RIS file; a file that cannot be
    read is noted in report."""
    try:
        text = _decode(_read_bytes(path))
        found = read_bibtex(text) if path.suffix.lower() == ".bib" else read_ris(text)
    except LibraryFileError as error:
        report.problems.append(f"{path.name}: {error}")
        return []
    if not found:
        report.problems.append(f"{path.name}: no entries")
    return found


def read_bibtex(text: str) -> list[Metadata]:
    """Return the entries of a BibTeX file; unreadable entries are left out."""
    from bibtexparser.entrypoint import parse_string

    library = parse_string(text)
    entries: list[Metadata] = []
    for entry in library.entries:
        fields = {
            key.casefold(): _bibtex_value(item.value)
            for key, item in entry.fields_dict.items()
        }
        authors = tuple(
            _author_name(name)
            for name in re.split(r"\s+and\s+", fields.get("author", ""))
            if name.strip()
        )
        entries.append(
            Metadata(
                title=fields.get("title") or None,
                authors=authors,
                date=fields.get("year") or fields.get("date") or None,
                doi=_normal_doi(fields.get("doi")),
                url=fields.get("url") or None,
                file=_file_field(fields.get("file")),
                key=entry.key,
            )
        )
    return entries


def _bibtex_value(value: Any) -> str:
    text = str(value)
    text = re.sub(r"\\[a-zA-Z]+\s*\{([^{}]*)\}", r"\1", text)
    text = text.replace("{", "").replace("}", "").replace("\\&", "&")
    return " ".join(text.split())


def _author_name(name: str) -> str:
    """Return "Family, Given" as "Given Family"; other forms as given."""
    family, comma, given = name.partition(",")
    cleaned = f"{given.strip()} {family.strip()}" if comma else name
    return " ".join(cleaned.split())


def _file_field(value: str | None) -> str | None:
    if not value:
        return None
    # JabRef writes "description:path:type"; Zotero writes the path alone.
    parts = value.split(":")
    path = parts[1] if len(parts) == 3 else value
    return Path(path.split(";")[0]).name or None


def read_ris(text: str) -> list[Metadata]:
    """Return the records of an RIS file."""
    entries: list[Metadata] = []
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        tagged = re.match(r"^([A-Z][A-Z0-9])  -\s?(.*)$", line)
        if not tagged:
            continue
        tag, value = tagged.group(1), tagged.group(2).strip()
        if tag == "ER":
            entries.append(_ris_entry(fields))
            fields = {}
            continue
        fields.setdefault(tag, []).append(value)
    if fields.get("TY"):
        entries.append(_ris_entry(fields))
    return entries


def _ris_entry(fields: dict[str, list[str]]) -> Metadata:
    def first(*tags: str) -> str | None:
        for tag in tags:
            if fields.get(tag) and fields[tag][0]:
                return fields[tag][0]
        return None

    date = first("PY", "Y1", "DA")
    authors = [_author_name(a) for tag in ("AU", "A1") for a in fields.get(tag, [])]
    link = first("L1", "L2")
    return Metadata(
        title=first("TI", "T1"),
        authors=tuple(authors),
        date=date.split("/")[0] if date else None,
        doi=_normal_doi(first("DO")),
        url=first("UR"),
        file=Path(link).name if link else None,
    )


def _normal_doi(value: str | None) -> str | None:
    if not value:
        return None
    doi = re.sub(
        r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", value.strip(), flags=re.I
    )
    return doi.casefold() or None


def _matching_entry(
    entries: Sequence[Metadata], path: Path, found: Metadata
) -> Metadata:
    """Return the metadata entry describing this file, or an empty one."""
    for entry in entries:
        if entry.file and entry.file == path.name:
            return entry
    for entry in entries:
        if entry.key and entry.key == path.stem:
            return entry
    if found.doi:
        for entry in entries:
            if entry.doi and entry.doi == found.doi:
                return entry
    return Metadata()


def _looked_up(
    lookup: DoiLookup,
    entry: Metadata,
    found: Metadata,
    name: str,
    report: LibraryReport,
) -> Metadata:
    """Return the DOI record's metadata for a file its entry leaves
    incomplete; the record ranks above what was guessed from the file."""
    doi = entry.doi or found.doi
    if not doi or entry.complete:
        return Metadata()

    try:
        record = lookup(doi)
    except MetadataLookupError as error:
        report.lookup_failures.append(f"{name} ({doi}): {error}")
        logger.warning("Library: DOI lookup failed for %s (%s): %s", name, doi, error)
        return Metadata()

    if record is None:
        report.lookup_failures.append(f"{name} ({doi}): no record for this DOI")
        return Metadata()
    report.looked_up.append(f"{name} ({doi})")
    return replace(record, doi=doi, file=None, key=None)


# Passages as corpus documents


def _item(file_hash: str, name: str, kind: str, metadata: Metadata) -> Any:
    from research.corpus import LibraryItem

    title = metadata.title or Path(name).stem
    added_at = datetime.now(UTC).isoformat(timespec="seconds")
    return LibraryItem(file_hash[:12], name, title, kind, 0, added_at)


def _documents(
    item_id: str, parsed: ParsedFile, metadata: Metadata, name: str
) -> list["Document"]:
    from research.corpus import Document
    from research.engine.text import detect_language

    title = metadata.title or Path(name).stem
    sample = " ".join(passage.text for passage in parsed.passages[:3])
    language = detect_language(sample[:4000])
    url = metadata.url or (f"https://doi.org/{metadata.doi}" if metadata.doi else None)
    return [
        Document(
            id=f"library:{item_id}:{number}",
            title=title,
            text=passage.text,
            authors=metadata.authors,
            date=metadata.date,
            url=url,
            doi=metadata.doi,
            language=language,
            collection="library",
            page=passage.page,
            locator=passage.section,
            item=item_id,
        )
        for number, passage in enumerate(parsed.passages, start=1)
    ]
