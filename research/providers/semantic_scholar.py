"""Semantic Scholar's Graph API. Without a key, callers share a pool of
about one request a second."""

from typing import Any

from research.corpus import Document
from research.exceptions import ProviderError
from research.providers import records
from research.providers.http import ProviderClient

NAME = "semantic_scholar"
BASE_URL = "https://api.semanticscholar.org/graph/v1"
INTERVAL = 1.0
FIELDS = "title,abstract,authors,year,externalIds,url,openAccessPdf"


def search(
    client: ProviderClient, query: str, limit: int
) -> tuple[list[Document], bool]:
    answer = client.get(
        "/paper/search",
        {"query": query, "fields": FIELDS, "offset": 0, "limit": limit},
    )
    return parse(answer.json()), answer.cached


def parse(payload: Any) -> list[Document]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data", []), list):
        raise ProviderError("semantic_scholar: unexpected answer shape")
    found = [_paper(paper) for paper in payload.get("data", [])]
    return [document for document in found if document is not None]


def _paper(paper: Any) -> Document | None:
    if not isinstance(paper, dict) or not paper.get("paperId"):
        return None
    ids = paper.get("externalIds") or {}
    return records.document(
        NAME,
        str(paper["paperId"]),
        title=str(paper.get("title") or ""),
        abstract=str(paper.get("abstract") or ""),
        authors=[str(a.get("name") or "") for a in paper.get("authors") or []],
        date=records.year(paper.get("year")),
        url=paper.get("url"),
        doi=ids.get("DOI") if isinstance(ids, dict) else None,
    )
