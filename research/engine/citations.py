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
    authors = _authors(source.authors)
    date = source.date or words.no_date
    link = source.url or (f"https://doi.org/{source.doi}" if source.doi else "")
    if style in ("apa", "harvard"):
        available = "Available at: " if style == "harvard" else ""
        parts = [f"{authors} ({date}).", f"*{source.title}*."]
        if link:
            parts.append(f"{available}{link}")
        return " ".join(parts)

    if style in ("mla", "chicago"):
        parts = [f"{authors}.", f"“{source.title}.”"]
        if style == "chicago" or source.date:
            parts.append(_ending_with_period(date))
        if link:
            parts.append(f"{link}.")
        return " ".join(parts)

    parts = [f"{authors}, “{source.title},” {_ending_with_period(date)}"]
    if link:
        parts.append(f"[Online]. Available: {link}")
    return " ".join(parts)


def _ending_with_period(phrase: str) -> str:
    return phrase if phrase.endswith(".") else f"{phrase}."


def _authors(names: list[str]) -> str:
    if not names:
        return "Anonymous"
    if len(names) > 3:
        return f"{names[0]} et al."
    return ", ".join(names)
