"""arXiv's query API (Atom XML). Its terms ask for one request every three
seconds."""

import xml.etree.ElementTree as ElementTree

from research.corpus import Document
from research.exceptions import ProviderError
from research.providers import records
from research.providers.http import ProviderClient

NAME = "arxiv"
BASE_URL = "https://export.arxiv.org/api"
INTERVAL = 3.0
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"


def search(
    client: ProviderClient, query: str, limit: int
) -> tuple[list[Document], bool]:
    answer = client.get(
        "/query",
        {
            "search_query": "all:" + " AND all:".join(query.split()),
            "start": 0,
            "max_results": limit,
            "sortBy": "relevance",
            "sortOrder": "descending",
        },
    )
    return parse(answer.body), answer.cached


def parse(body: str) -> list[Document]:
    try:
        feed = ElementTree.fromstring(body)
    except ElementTree.ParseError as error:
        raise ProviderError(f"arxiv: the answer is not Atom XML ({error})") from error

    found: list[Document] = []
    for entry in feed.findall(f"{ATOM}entry"):
        document = _entry(entry)
        if document is not None:
            found.append(document)
    return found


def _entry(entry: ElementTree.Element) -> Document | None:
    identifier = _text(entry, f"{ATOM}id")
    # An unknown id comes back as an entry titled "Error".
    if not identifier or "/api/errors" in identifier:
        return None
    key = identifier.rsplit("/abs/", 1)[-1]
    authors = [
        _text(author, f"{ATOM}name") for author in entry.findall(f"{ATOM}author")
    ]
    return records.document(
        NAME,
        key,
        title=_text(entry, f"{ATOM}title"),
        abstract=_text(entry, f"{ATOM}summary"),
        authors=authors,
        date=records.year(_text(entry, f"{ATOM}published")),
        url=identifier.replace("http://", "https://", 1),
        doi=_text(entry, f"{ARXIV}doi") or None,
    )


def _text(element: ElementTree.Element, tag: str) -> str:
    found = element.find(tag)
    return " ".join((found.text or "").split()) if found is not None else ""
