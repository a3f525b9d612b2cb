"""DOI metadata lookup for library files, through Crossref.

Used when a file is added with lookup asked for (`prowzi corpus add
--lookup-doi`, or PROWZI_DOI_LOOKUP for the upload page). The same client
as the search provider: rate limit, retries of transient failures, cache and
contact address.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from research.exceptions import ProviderError
from research.library import DoiLookup, Metadata, MetadataLookupError
from research.providers import client, crossref


@contextmanager
def crossref_lookup() -> Iterator[DoiLookup]:
    """Yield a lookup from DOI to metadata; its client closes on exit."""
    provider = client(crossref.NAME)

    def lookup(doi: str) -> Metadata | None:
        try:
            record = crossref.lookup_doi(provider, doi)
        except ProviderError as error:
            raise MetadataLookupError(str(error)) from error
        if record is None:
            return None
        return Metadata(
            title=record.title,
            authors=record.authors,
            date=record.date,
            url=record.url,
        )

    try:
        yield lookup
    finally:
        provider.close()
