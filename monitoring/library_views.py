"""The library page: the files added to the corpus, an upload form for
more, and (for staff) removal.

The corpus is shared by every user, so removing a file is for staff only.
"""

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from research import library
from research.corpus import get_corpus
from research.exceptions import CorpusError
from research.wording import counted

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DOCUMENT_SUFFIXES = sorted(library.DOCUMENT_KINDS)
METADATA_SUFFIXES = sorted(library.METADATA_SUFFIXES)


class LibraryUploadForm(forms.Form):
    document = forms.FileField(
        required=False,
        help_text=f"PDF, HTML, Markdown or text; at most "
        f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
    )
    link = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=2000,
        label="Or a link",
        help_text="An open-access PDF or web page, such as one a source links "
        "to. Links to private or local addresses are refused.",
    )
    metadata = forms.FileField(
        required=False,
        help_text="Optional BibTeX (.bib) or RIS (.ris) entry for the document.",
    )

    def clean_document(self) -> object:
        upload = self.cleaned_data.get("document")
        return _checked(upload, DOCUMENT_SUFFIXES) if upload else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        has_document = cleaned.get("document") is not None
        has_link = bool(cleaned.get("link"))
        if has_document == has_link and not self.errors:
            raise forms.ValidationError("Choose a file to upload or give a link.")
        return cleaned

    def clean_metadata(self) -> object:
        upload = self.cleaned_data.get("metadata")
        return _checked(upload, METADATA_SUFFIXES) if upload else None


def _checked(upload: object, suffixes: list[str]) -> object:
    name = Path(str(getattr(upload, "name", ""))).name
    size = int(getattr(upload, "size", 0))
    if Path(name).suffix.lower() not in suffixes:
        raise forms.ValidationError(
            f"{name or 'The file'} is not one of: {', '.join(suffixes)}."
        )
    if size > MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            f"{name} is {size // (1024 * 1024)} MB; the limit is "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
        )
    if size == 0:
        raise forms.ValidationError(f"{name} is empty.")
    return upload


@login_required
@require_http_methods(["GET", "POST"])
def library_page(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, LibraryUploadForm())

    form = LibraryUploadForm(request.POST, request.FILES)
    if form.is_valid():
        report = _add(form)
        if report is not None:
            _tell(request, form, report)
        if not form.errors:
            return redirect("monitoring-library")
    return _page(request, form)


def _page(request: HttpRequest, form: LibraryUploadForm) -> HttpResponse:
    return render(
        request,
        "monitoring/library.html",
        {"form": form, "items": get_corpus().library_items()},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def library_remove(request: HttpRequest, item_id: str) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff may remove library files.")

    try:
        removed = get_corpus().remove_library_item(item_id)
    except CorpusError as error:
        messages.error(request, str(error))
    else:
        logger.info(
            "Library file %s removed by %s (%d passages)",
            item_id,
            request.user.get_username(),
            removed,
        )
        messages.success(
            request, f"Removed {item_id} and its {counted(removed, 'passage')}."
        )
    return redirect("monitoring-library")


def _tell(
    request: HttpRequest, form: LibraryUploadForm, report: library.LibraryReport
) -> None:
    """Say what adding did: a message, or the form's errors."""
    if report.files:
        messages.success(request, str(report).splitlines()[0])
        for failure in report.lookup_failures:
            messages.warning(
                request, f"DOI lookup failed for {failure}; added without it."
            )
    elif report.duplicates:
        messages.info(request, "That file is already in the library.")
    else:
        for problem in report.problems:
            form.add_error("document", problem)


def _add(form: LibraryUploadForm) -> library.LibraryReport | None:
    """Add the upload or the link; None, with the form's error, on failure."""
    link = form.cleaned_data.get("link")
    if not link:
        return _add_upload(form)

    with _doi_lookup() as lookup:
        try:
            return library.add_url(get_corpus(), link, lookup=lookup)
        except CorpusError as error:
            form.add_error("link", str(error))
            return None


def _add_upload(form: LibraryUploadForm) -> library.LibraryReport:
    """Save the uploads to a private folder and add the document."""
    document = form.cleaned_data["document"]
    metadata = form.cleaned_data.get("metadata")
    name = Path(document.name).name
    report = library.LibraryReport(path=name)
    with tempfile.TemporaryDirectory(prefix="prowzi-upload-") as folder:
        saved = _save(document, Path(folder))
        entries: list[library.Metadata] = []
        if metadata is not None:
            entries = library.read_metadata_file(_save(metadata, Path(folder)), report)
        with _doi_lookup() as lookup:
            library.add_file(
                get_corpus(), saved, report, entries=entries, name=name, lookup=lookup
            )
    return report


@contextmanager
def _doi_lookup() -> Iterator[library.DoiLookup | None]:
    if not settings.PROWZI_DOI_LOOKUP:
        yield None
        return

    from research.providers.doi import crossref_lookup

    with crossref_lookup() as lookup:
        yield lookup


def _save(upload: object, folder: Path) -> Path:
    # Only the base name is kept: an uploaded name may carry a path.
    path = folder / Path(str(getattr(upload, "name", "upload"))).name
    with path.open("wb") as handle:
        for chunk in upload.chunks():  # type: ignore[attr-defined]
            handle.write(chunk)
    return path
