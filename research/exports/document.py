"""A finished report as blocks of styled runs, its citations and references
rendered in the chosen style, ready for any output format."""

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from research.engine import phrasing
from research.exports import csl
from research.exports.csl import Reference, Run
from research.schemas import WritingResult

BlockKind = Literal["title", "heading", "paragraph", "bullet", "reference"]

CITATION = re.compile(r"\[(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\]")
# Emphasis markers; an escaped asterisk (\*) is text.
INLINE = re.compile(r"(?<!\\)\*\*(.+?)(?<!\\)\*\*|(?<!\\)\*(.+?)(?<!\\)\*")
ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>])")


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    runs: list[Run]

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)


@dataclass(frozen=True)
class ExportDocument:
    title: str
    blocks: list[Block]
    references: list[Reference]
    style: str


def build(
    draft: WritingResult, style: str, language: str, accessed: date | None = None
) -> ExportDocument:
    """Re-render the draft's citations and bibliography in `style`.

    `accessed` is the day the sources were read; styles give it for undated
    web pages, whose text may change.
    """
    references = [
        Reference(
            number=entry.number,
            title=entry.title,
            authors=tuple(entry.authors),
            date=entry.date,
            url=entry.url,
            doi=entry.doi,
            accessed=_accessed(entry.date, entry.url, entry.doi, accessed),
        )
        for entry in draft.bibliography
    ]
    known = {reference.number for reference in references}
    body = _without_references(draft.markdown)
    blocks = _blocks(body)

    groups: list[tuple[int, ...]] = []
    for block in blocks:
        for run in block.runs:
            for match in CITATION.finditer(run.text):
                group = _numbers(match.group(1))
                if set(group) <= known:
                    groups.append(group)
    rendered = csl.render(style, references, groups, language)
    cites = dict(zip(groups, rendered.citations, strict=True))

    blocks = [Block(block.kind, _cited(block.runs, cites)) for block in blocks]
    heading = phrasing.words_for(language).references
    blocks.append(Block("heading", [Run(heading)]))
    blocks += [Block("reference", entry) for entry in rendered.bibliography]
    return ExportDocument(draft.title, blocks, references, style)


def _accessed(
    published: str | None, url: str | None, doi: str | None, day: date | None
) -> str | None:
    if day is None or published or doi or not url:
        return None
    return day.isoformat()


def _without_references(markdown: str) -> str:
    head, separator, _ = markdown.rpartition("\n## ")
    return head if separator else markdown


def _blocks(markdown: str) -> list[Block]:
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", inline(" ".join(paragraph))))
            paragraph.clear()

    for line in markdown.split("\n"):
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("# "):
            flush()
            blocks.append(Block("title", inline(stripped[2:])))
        elif re.match(r"^#{2,6} ", stripped):
            flush()
            blocks.append(Block("heading", inline(stripped.split(" ", 1)[1])))
        elif re.match(r"^[-*+] ", stripped):
            flush()
            blocks.append(Block("bullet", inline(stripped[2:])))
        else:
            paragraph.append(stripped)
    flush()
    return blocks


def inline(markdown: str) -> list[Run]:
    """Split a line of Markdown into runs: *italic*, **bold**, plain."""
    found: list[Run] = []
    position = 0
    for match in INLINE.finditer(markdown):
        if match.start() > position:
            found.append(Run(_unescaped(markdown[position : match.start()])))
        bold, italic = match.groups()
        if bold is not None:
            found.append(Run(_unescaped(bold), bold=True))
        else:
            found.append(Run(_unescaped(italic), italic=True))
        position = match.end()
    if position < len(markdown):
        found.append(Run(_unescaped(markdown[position:])))
    return found


def _unescaped(text: str) -> str:
    return ESCAPED.sub(r"\1", text)


def _numbers(group: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.split(r"\s*[,;]\s*", group))


def _cited(runs: list[Run], cites: dict[tuple[int, ...], list[Run]]) -> list[Run]:
    """Replace [n] markers in plain runs by the style's in-text citations."""
    result: list[Run] = []
    for run in runs:
        if run.italic or run.bold:
            result.append(run)
            continue

        position = 0
        for match in CITATION.finditer(run.text):
            rendered = cites.get(_numbers(match.group(1)))
            if rendered is None:
                continue
            if match.start() > position:
                result.append(Run(run.text[position : match.start()]))
            result += rendered
            position = match.end()
        if position < len(run.text):
            result.append(Run(run.text[position:]))
    return result
