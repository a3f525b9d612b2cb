"""Bibliography entries in the supported citation styles.

In-text citations stay numeric ([n]) in every style so that each one
resolves to exactly one entry; the style shapes the entry itself.
"""

from research.engine.phrasing import Words
from research.schemas import Citation, CitationStyle, Source


def citation(
    number: int, source: Source, style: CitationStyle, words: Words
) -> Citation:
    return Citation(
        number=number,
        source_id=source.source_id,
        title=source.title,
        authors=source.authors,
        date=source.date,
        url=source.url,
        doi=source.doi,
        entry=f"[{number}] {entry(source, style, words)}",
    )


def entry(source: Source, style: CitationStyle, words: Words) -> str:
    authors = _authors(source.authors, words)
    date = source.date or words.no_date
    link = source.url or (f"https://doi.org/{source.doi}" if source.doi else "")
    where = locator(source, words)
    if style in ("apa", "harvard"):
        available = f"{words.available_at} " if style == "harvard" else ""
        parts = [f"{authors} ({date}).", f"*{source.title}*."]
        if where:
            parts.append(f"{where}.")
        if link:
            parts.append(f"{available}{link}")
        return " ".join(parts)

    if style in ("mla", "chicago"):
        parts = [f"{authors}.", f"“{source.title}.”"]
        if style == "chicago" or source.date:
            parts.append(_ending_with_period(date))
        if where:
            parts.append(f"{where}.")
        if link:
            parts.append(f"{link}.")
        return " ".join(parts)

    parts = [f"{authors}, “{source.title},” {date}"]
    parts[0] = _ending_with_period(f"{parts[0]}, {where}" if where else parts[0])
    if link:
        parts.append(f"{words.online} {link}")
    return " ".join(parts)


def locator(source: Source, words: Words) -> str:
    """Return where in the work the cited text is ("p. 4"), or ""."""
    if source.page is not None:
        return f"p. {source.page}"
    if source.locator:
        return words.section_locator.format(section=source.locator)
    return ""


def _ending_with_period(phrase: str) -> str:
    return phrase if phrase.endswith(".") else f"{phrase}."


def _authors(names: list[str], words: Words) -> str:
    if not names:
        return words.anonymous
    if len(names) > 3:
        return f"{names[0]} et al."
    return ", ".join(names)
