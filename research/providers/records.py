"""Turning provider answers into corpus documents."""

import re

from research.corpus import Document
from research.engine.text import detect_language


def document(
    provider: str,
    key: str,
    *,
    title: str,
    abstract: str,
    authors: list[str],
    date: str | None,
    url: str | None,
    doi: str | None,
) -> Document | None:
    """Return a document for one record, or None when it has no title.

    A record without an abstract keeps its title as text: it can still be
    found and listed, though it offers nothing to quote.
    """
    title = " ".join(title.split())
    if not title:
        return None
    text = clean_abstract(abstract) or title
    doi = normal_doi(doi)
    return Document(
        id=f"{provider}:{key}",
        title=title,
        text=text,
        authors=tuple(name for name in (" ".join(a.split()) for a in authors) if name),
        date=date,
        url=url or (f"https://doi.org/{doi}" if doi else None),
        doi=doi,
        language=detect_language(f"{title}. {text}"[:2000]),
        collection=provider,
    )


def clean_abstract(value: str) -> str:
    """Return an abstract as plain prose: JATS or HTML tags and a leading
    "Abstract" label removed, whitespace joined."""
    text = re.sub(r"<[^>]+>", " ", value or "")
    text = " ".join(text.split())
    return re.sub(r"^(?:abstract|summary)[.:]?\s+", "", text, flags=re.IGNORECASE)


def normal_doi(value: str | None) -> str | None:
    if not value:
        return None
    doi = re.sub(
        r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", value.strip(), flags=re.I
    )
    return doi.casefold() or None


def year(value: object) -> str | None:
    text = str(value or "")
    found = re.match(r"^(\d{4})", text)
    return found.group(1) if found else None
