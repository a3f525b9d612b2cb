"""In-text citations and bibliographies through a CSL processor (citeproc-py)
and the official style files vendored in styles/.

citeproc-py's own formatters do not escape every field, so ours marks
italic and bold with control characters, and each output format escapes
the plain text itself.
"""

import copy
import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from citeproc import (  # type: ignore[import-untyped]
    Citation,
    CitationItem,
    CitationStylesBibliography,
    CitationStylesStyle,
)
from citeproc.source.json import CiteProcJSON  # type: ignore[import-untyped]

from research.engine.text import listing

logger = logging.getLogger(__name__)

STYLE_DIR = Path(__file__).resolve().parent / "styles"
STYLE_FILES = {
    "apa": "apa.csl",
    "ieee": "ieee.csl",
    "chicago": "chicago-author-date.csl",
    "harvard": "harvard-cite-them-right.csl",
}
NUMERIC_STYLES = frozenset({"ieee"})
LOCALES = {"en": "en-US", "es": "es-ES", "fr": "fr-FR"}
# Styles whose English is British: Cite Them Right writes "4 December 2026".
BRITISH_STYLES = frozenset({"harvard"})

ITALIC_ON, ITALIC_OFF, BOLD_ON, BOLD_OFF = "\x0e", "\x0f", "\x11", "\x12"
MARKS = re.compile("[\x0e\x0f\x11\x12]")
# Words that make an author name an organisation, kept whole, not split
# into given and family names.
ORGANISATION_WORDS = listing(
    """contributors organization organisation agency institute institution
    university association committee council department ministry society
    group foundation office bureau commission board centre center team
    wikipedia press inc ltd llc corporation company"""
)
DATE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")


@dataclass(frozen=True)
class Run:
    text: str
    italic: bool = False
    bold: bool = False


@dataclass(frozen=True)
class Reference:
    """One cited work: the number the draft gives it and its metadata."""

    number: int
    title: str
    authors: tuple[str, ...] = ()
    date: str | None = None
    url: str | None = None
    doi: str | None = None
    # When the work was read (ISO date); styles cite it for undated web pages.
    accessed: str | None = None


@dataclass(frozen=True)
class Rendered:
    citations: list[list[Run]]
    bibliography: list[list[Run]]


class _Italic(str):
    def __new__(cls, text: str) -> "_Italic":
        return super().__new__(cls, f"{ITALIC_ON}{text}{ITALIC_OFF}")


class _Bold(str):
    def __new__(cls, text: str) -> "_Bold":
        return super().__new__(cls, f"{BOLD_ON}{text}{BOLD_OFF}")


_FORMATTER = SimpleNamespace(
    preformat=lambda text: text,
    Italic=_Italic,
    Oblique=_Italic,
    Bold=_Bold,
    Light=str,
    Underline=str,
    Superscript=str,
    Subscript=str,
    SmallCaps=str,
)


def render(
    style: str,
    references: Sequence[Reference],
    groups: Sequence[Sequence[int]],
    language: str,
) -> Rendered:
    """Format each group of cited numbers as an in-text citation, and the
    bibliography of every reference, in the style's own order."""
    path = STYLE_DIR / STYLE_FILES[style]
    items = [_csl_item(reference) for reference in references]
    known = {reference.number for reference in references}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        csl_style = CitationStylesStyle(
            str(path), locale=_locale(style, language), validate=False
        )
        if style not in NUMERIC_STYLES:
            _add_year_suffixes(items, _listed_order(csl_style, items))
        bibliography = CitationStylesBibliography(
            csl_style, CiteProcJSON(items), _FORMATTER
        )
        citations = [
            Citation([CitationItem(_key(n)) for n in group if n in known])
            for group in groups
        ]
        # Works the text never cites still belong in the bibliography.
        cited = {n for group in groups for n in group}
        extra = [
            Citation([CitationItem(_key(reference.number))])
            for reference in references
            if reference.number not in cited
        ]
        for citation in [*citations, *extra]:
            bibliography.register(citation)
        texts = [
            _text(bibliography.cite(citation, _missing)) if citation.cites else ""
            for citation in citations
        ]
        # The style's own sort keys (author and year, or citation number).
        bibliography.sort()
        entries = [_text(entry) for entry in bibliography.bibliography()]
    for warning in caught:
        logger.debug("CSL style %s: %s", style, warning.message)

    locale = _locale(style, language)
    return Rendered(
        citations=[runs(_punctuated(text, locale)) for text in texts],
        bibliography=[
            runs(_punctuated(_spaced_number(entry), locale)) for entry in entries
        ],
    )


def _listed_order(csl_style: Any, items: list[dict[str, Any]]) -> list[str]:
    """The item ids in the order the style lists them in its bibliography."""
    bibliography = CitationStylesBibliography(
        csl_style, CiteProcJSON(copy.deepcopy(items)), _FORMATTER
    )
    for item in items:
        bibliography.register(Citation([CitationItem(item["id"])]))
    bibliography.sort()
    return [str(key) for key in bibliography.keys]


def _add_year_suffixes(items: list[dict[str, Any]], listed: list[str]) -> None:
    """Tell apart works by the same authors in the same year ("n.d.-a",
    "2020b"), as author-date styles ask; citeproc-py does not do it itself.
    Letters follow the order the bibliography lists the works in."""
    position = {key: index for index, key in enumerate(listed)}
    same: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        same.setdefault(_author_year(item), []).append(item)

    for group in same.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda item: position.get(item["id"].lower(), len(position)))
        for index, item in enumerate(group):
            item["year-suffix"] = _suffix(index)


def _author_year(item: dict[str, Any]) -> tuple[str, str]:
    """What an author-date citation shows: the authors, or the title in
    their place when there are none, and the year."""
    names = [
        name.get("literal") or f"{name.get('family', '')}, {name.get('given', '')}"
        for name in item.get("author", [])
    ]
    shown = "; ".join(names) if names else f"title: {item['title']}"
    year = item.get("issued", {}).get("date-parts", [[""]])[0][0]
    return shown.casefold(), str(year)


def _suffix(index: int) -> str:
    """a, b, ..., z, then aa, ab, ..."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    if index < len(letters):
        return letters[index]
    return _suffix(index // len(letters) - 1) + letters[index % len(letters)]


def _punctuated(text: str, locale: str) -> str:
    """Put a period or comma inside the closing quotation mark, as American
    English does (the CSL locale's punctuation-in-quote, which citeproc-py
    ignores)."""
    if locale != "en-US":
        return text
    # Only the double quotation mark: ’ is also the apostrophe.
    return re.sub(r"”([.,])", r"\1”", text)


def _locale(style: str, language: str) -> str:
    locale = LOCALES.get(language, "en-US")
    return "en-GB" if locale == "en-US" and style in BRITISH_STYLES else locale


def _missing(item: Any) -> None:
    logger.warning("A citation names a work missing from the bibliography: %s", item)


def _key(number: int) -> str:
    return f"ref{number}"


def _text(value: Any) -> str:
    # citeproc-py returns a list of parts for some cites instead of a string.
    if isinstance(value, list):
        return "".join(_text(part) for part in value)
    return str(value)


def _spaced_number(entry: str) -> str:
    """Put a space after a numeric label ("[1]J. Smith" from a left-margin
    block in the style)."""
    return re.sub(r"^(\[\d+\])(?=\S)", r"\1 ", entry)


def runs(marked: str) -> list[Run]:
    """Split formatter output into runs of plain, italic and bold text."""
    found: list[Run] = []
    italic = bold = False
    for piece in re.split(r"([\x0e\x0f\x11\x12])", marked):
        if piece == ITALIC_ON:
            italic = True
        elif piece == ITALIC_OFF:
            italic = False
        elif piece == BOLD_ON:
            bold = True
        elif piece == BOLD_OFF:
            bold = False
        elif piece:
            found.append(Run(piece, italic, bold))
    return found


def _csl_item(reference: Reference) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": _key(reference.number),
        "type": "article-journal" if reference.doi else "webpage",
        "title": _clean(reference.title),
    }
    authors = [_name(author) for author in reference.authors if author.strip()]
    if authors:
        item["author"] = authors
    issued = _date_parts(reference.date)
    if issued:
        item["issued"] = {"date-parts": [issued]}
    if reference.url:
        item["URL"] = _clean(reference.url)
    accessed = _date_parts(reference.accessed)
    if accessed:
        item["accessed"] = {"date-parts": [accessed]}
    if reference.doi:
        item["DOI"] = _clean(reference.doi)
    return item


def _clean(value: str) -> str:
    return MARKS.sub("", value).strip()


def _name(author: str) -> dict[str, str]:
    """Return a CSL name: family and given names for a person, the whole
    name for an organisation or anything unclear."""
    name = " ".join(_clean(author).split())
    if "," in name:
        family, given = (part.strip() for part in name.split(",", 1))
        if family and given:
            return {"family": family, "given": given}
    words = name.split()
    organisation = any(word.casefold() in ORGANISATION_WORDS for word in words)
    if organisation or not 2 <= len(words) <= 4:
        return {"literal": name}
    return {"family": words[-1], "given": " ".join(words[:-1])}


def _date_parts(date: str | None) -> list[int]:
    match = DATE.match(date.strip()) if date else None
    if not match:
        return []
    return [int(part) for part in match.groups() if part]


def reference_numbers(text: str) -> list[tuple[int, ...]]:
    """Return the groups of numbers in [n] and [n, m] citations, in order."""
    return [
        tuple(int(n) for n in re.split(r"\s*[,;]\s*", group))
        for group in re.findall(r"\[(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\]", text)
    ]
