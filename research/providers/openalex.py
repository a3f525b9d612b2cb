"""OpenAlex's works API. The polite pool asks for a mailto parameter and
allows ten requests a second."""

from typing import Any

from research.corpus import Document
from research.exceptions import ProviderError
from research.providers import records
from research.providers.http import ProviderClient

NAME = "openalex"
BASE_URL = "https://api.openalex.org"
INTERVAL = 0.1


def search(
    client: ProviderClient, query: str, limit: int
) -> tuple[list[Document], bool]:
    params: dict[str, str | int] = {"search": query, "per-page": limit}
    if client.contact:
        params["mailto"] = client.contact
    answer = client.get("/works", params)
    return parse(answer.json()), answer.cached


def parse(payload: Any) -> list[Document]:
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        raise ProviderError("openalex: unexpected answer shape")
    found = [work(item) for item in payload["results"]]
    return [document for document in found if document is not None]


def work(item: Any) -> Document | None:
    if not isinstance(item, dict) or not item.get("id"):
        return None
    key = str(item["id"]).rsplit("/", 1)[-1]
    authors = [
        str((authorship.get("author") or {}).get("display_name") or "")
        for authorship in item.get("authorships") or []
    ]
    location = item.get("primary_location") or {}
    return records.document(
        NAME,
        key,
        title=str(item.get("display_name") or item.get("title") or ""),
        abstract=abstract(item.get("abstract_inverted_index")),
        authors=authors,
        date=records.year(item.get("publication_year")),
        url=location.get("landing_page_url") if isinstance(location, dict) else None,
        doi=item.get("doi"),
    )


def abstract(index: Any) -> str:
    """Rebuild an abstract from OpenAlex's inverted index (word → places)."""
    if not isinstance(index, dict):
        return ""
    placed: dict[int, str] = {}
    for word, positions in index.items():
        for position in positions or []:
            if isinstance(position, int):
                placed[position] = str(word)
    return " ".join(placed[position] for position in sorted(placed))
