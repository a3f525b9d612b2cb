"""Crossref's REST API, and DOI metadata lookup through it. The polite pool
asks for a mailto address in the parameters and the User-Agent."""

from typing import Any
from urllib.parse import quote

from research.corpus import Document
from research.exceptions import ProviderError
from research.providers import records
from research.providers.http import ProviderClient

NAME = "crossref"
BASE_URL = "https://api.crossref.org"
INTERVAL = 0.1


def search(
    client: ProviderClient, query: str, limit: int
) -> tuple[list[Document], bool]:
    answer = client.get("/works", _polite(client, {"query": query, "rows": limit}))
    payload = answer.json()
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("items"), list):
        raise ProviderError("crossref: unexpected answer shape")
    found = [work(item) for item in message["items"]]
    return [document for document in found if document is not None], answer.cached


def lookup_doi(client: ProviderClient, doi: str) -> Document | None:
    """Return the metadata Crossref holds for a DOI; None when it holds none
    (404); ProviderError for any other failure."""
    normal = records.normal_doi(doi)
    if not normal:
        return None
    try:
        answer = client.get(f"/works/{quote(normal, safe='/')}", _polite(client, {}))
    except ProviderError as error:
        if error.status == 404:
            return None
        raise
    payload = answer.json()
    message = payload.get("message") if isinstance(payload, dict) else None
    return work(message) if isinstance(message, dict) else None


def work(item: Any) -> Document | None:
    if not isinstance(item, dict) or not item.get("DOI"):
        return None
    titles = item.get("title") or []
    authors = [
        " ".join(part for part in (a.get("given"), a.get("family")) if part)
        or str(a.get("name") or "")
        for a in item.get("author") or []
        if isinstance(a, dict)
    ]
    return records.document(
        NAME,
        str(item["DOI"]).casefold(),
        title=str(titles[0]) if titles else "",
        abstract=str(item.get("abstract") or ""),
        authors=authors,
        date=_issued_year(item),
        url=item.get("URL"),
        doi=str(item["DOI"]),
    )


def _issued_year(item: dict[str, Any]) -> str | None:
    for key in ("issued", "published-print", "published-online", "created"):
        parts = (item.get(key) or {}).get("date-parts") or []
        if parts and parts[0] and parts[0][0]:
            return str(parts[0][0])
    return None


def _polite(
    client: ProviderClient, params: dict[str, str | int]
) -> dict[str, str | int]:
    if client.contact:
        params = {**params, "mailto": client.contact}
    return params
