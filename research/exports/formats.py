"""Writing an export document as Markdown, HTML, DOCX or BibTeX."""

import html
import io
import re
import unicodedata

import nh3
from docx import Document as new_docx
from docx.document import Document as WordDocument
from docx.shared import Pt
from markdown_it import MarkdownIt

from research.exports.csl import ORGANISATION_WORDS, Reference, Run
from research.exports.document import Block, ExportDocument

# Markdown's own characters; text from sources is escaped so that it never
# turns into markup, links or raw HTML. An underscore inside a word
# ("Electrical_grid") is never emphasis, and brackets make a link or image
# only when "]" is followed by "(", "[" or ":", so only those are escaped.
MARKDOWN_SPECIAL = re.compile(
    r"([\\`*<>#|]|\](?=[(\[:])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))"
)
NUMERIC_CITATION = re.compile(r"^\[\d+(?:, \d+)*\](?:, \[\d+\])*$")
NUMERIC_LABEL = re.compile(r"^(\[\d+\] )(.*)$", re.DOTALL)
ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "em",
    "h1",
    "h2",
    "h3",
    "li",
    "ol",
    "p",
    "strong",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
BIBTEX_SPECIAL = re.compile(r"([&%$#_])")

_markdown = MarkdownIt("commonmark", {"html": False})


def markdown(document: ExportDocument) -> str:
    lines: list[str] = []
    for block in document.blocks:
        text = _markdown_runs(block.runs)
        if block.kind == "bullet":
            lines.append(f"- {text}")
            continue
        # Bullets sit on consecutive lines; whatever follows a list, a
        # heading included, is set off from it by a blank line.
        if lines and lines[-1].startswith("- "):
            lines[-1] += "\n"
        if block.kind == "title":
            lines.append(f"# {text}\n")
        elif block.kind == "heading":
            lines.append(f"## {text}\n")
        else:
            lines.append(f"{text}\n")
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_runs(runs: list[Run]) -> str:
    parts = []
    for index, run in enumerate(runs):
        text = run.text
        label = NUMERIC_LABEL.match(text) if index == 0 else None
        if label:
            text = label.group(1) + MARKDOWN_SPECIAL.sub(r"\\\1", label.group(2))
        elif not NUMERIC_CITATION.match(text.strip()):
            text = MARKDOWN_SPECIAL.sub(r"\\\1", text)
        if run.bold and text.strip():
            text = f"**{text}**"
        elif run.italic and text.strip():
            text = f"*{text}*"
        parts.append(text)
    return "".join(parts)


def html_page(document: ExportDocument) -> str:
    """Return a standalone HTML page; the body is rendered from Markdown
    with raw HTML off, then cleaned against an allow-list."""
    body = nh3.clean(
        _markdown.render(markdown(document)),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    title = html.escape(document.title)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def docx_bytes(document: ExportDocument) -> bytes:
    word = new_docx()
    for block in document.blocks:
        _docx_block(word, block)
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()


def _docx_block(word: WordDocument, block: Block) -> None:
    if block.kind == "title":
        word.add_heading(block.text, level=0)
        return
    if block.kind == "heading":
        word.add_heading(block.text, level=1)
        return

    style = "List Bullet" if block.kind == "bullet" else None
    paragraph = word.add_paragraph(style=style)
    if block.kind == "reference":
        paragraph.paragraph_format.left_indent = Pt(18)
        paragraph.paragraph_format.first_line_indent = Pt(-18)
    for run in block.runs:
        added = paragraph.add_run(_xml_safe(run.text))
        added.italic = run.italic or None
        added.bold = run.bold or None


def _xml_safe(text: str) -> str:
    """Drop the control characters XML cannot hold."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)


def bibtex(references: list[Reference]) -> str:
    keys: set[str] = set()
    entries = []
    for reference in references:
        key = _bibtex_key(reference, keys)
        keys.add(key)
        kind = "article" if reference.doi else "misc"
        fields = [("title", f"{{{_bibtex_text(reference.title)}}}")]
        if reference.authors:
            names = " and ".join(_bibtex_author(author) for author in reference.authors)
            fields.append(("author", names))
        year = re.match(r"^\d{4}", reference.date or "")
        if year:
            fields.append(("year", year.group(0)))
        if reference.doi:
            fields.append(("doi", _bibtex_verbatim(reference.doi)))
        if reference.url:
            fields.append(("url", _bibtex_verbatim(reference.url)))
        if reference.accessed:
            fields.append(("urldate", reference.accessed))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@{kind}{{{key},\n{body}\n}}\n")
    return "\n".join(entries)


def _bibtex_key(reference: Reference, taken: set[str]) -> str:
    """Return a key such as smith2019wind: the first author's family name
    (an organisation's first word), the year and the title's first word."""
    first = reference.authors[0] if reference.authors else ""
    words = first.split(",")[0].split()
    organisation = any(word.casefold() in ORGANISATION_WORDS for word in words)
    name = (words[0] if organisation or "," in first else words[-1]) if words else ""
    year = re.match(r"^\d{4}", reference.date or "")
    title = next(iter(_ascii_words(reference.title)), "")
    base = "".join(_ascii_words(name)) + (year.group(0) if year else "") + title
    base = base or f"source{reference.number}"
    key = base
    suffix = ord("a")
    while key in taken:
        key = f"{base}{chr(suffix)}"
        suffix += 1
    return key


def _bibtex_author(author: str) -> str:
    name = _bibtex_text(author)
    words = name.split()
    organisation = any(word.casefold() in ORGANISATION_WORDS for word in words)
    if "," in name or (2 <= len(words) <= 4 and not organisation):
        return name
    # Braces keep an organisation's name whole instead of splitting it.
    return f"{{{name}}}"


def _bibtex_text(value: str) -> str:
    """Escape LaTeX's special characters; braces, backslashes, tildes and
    carets, which would unbalance or break an entry, are dropped."""
    plain = re.sub(r"[{}\\~^]", "", " ".join(value.split()))
    return BIBTEX_SPECIAL.sub(r"\\\1", plain)


def _bibtex_verbatim(value: str) -> str:
    """Keep a URL or DOI as written, less what would unbalance the entry."""
    return re.sub(r"[{}\s]", "", value)


def _ascii_words(value: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", value.casefold())
    return re.findall(r"[a-z0-9]+", folded.encode("ascii", "ignore").decode())
