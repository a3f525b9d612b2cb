"""Exports of a finished report: Markdown, HTML, DOCX and BibTeX, with the
citations and bibliography re-rendered in a citation style chosen at export
time, from the session's checkpoints."""

import logging

from research.checkpoints import load_results
from research.exceptions import InvalidRequestError, SessionStateError
from research.exports import csl, formats
from research.exports.document import build
from research.models import ResearchSession, SessionStatus
from research.schemas import IntentAnalysis
from research.stages import final_draft

logger = logging.getLogger(__name__)

FORMATS: dict[str, tuple[str, str]] = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "html": ("text/html; charset=utf-8", "html"),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    "bibtex": ("application/x-bibtex; charset=utf-8", "bib"),
}
STYLES: tuple[str, ...] = tuple(csl.STYLE_FILES)
# The style a report is exported in when none is asked for: the one it was
# written in where there is a CSL file for it, else IEEE for numeric styles.
DEFAULT_STYLES = {
    "apa": "apa",
    "ieee": "ieee",
    "chicago": "chicago",
    "harvard": "harvard",
    "numeric": "ieee",
}


def render(
    session: ResearchSession, fmt: str, style: str | None = None
) -> tuple[bytes, str, str]:
    """Return the session's report as (content, content type, file name).

    The file name comes from the session id alone. Raises InvalidRequestError
    for an unknown format or style, and SessionStateError when the session
    has no finished report in its checkpoints.
    """
    if fmt not in FORMATS:
        raise InvalidRequestError(
            f"Unknown export format {fmt!r}; formats are {', '.join(FORMATS)}."
        )
    if style is not None and style not in STYLES:
        raise InvalidRequestError(
            f"Unknown citation style {style!r}; styles are {', '.join(STYLES)}."
        )
    if session.status != SessionStatus.COMPLETED:
        raise SessionStateError(
            f"Session {session.id} is {session.status} and has no report to export."
        )

    results = load_results(session)
    draft = final_draft(results)
    if draft is None:
        raise SessionStateError(
            f"Session {session.id} kept no checkpoints of its report, so it can "
            "only be printed as stored (prowzi report without --format or --style)."
        )

    intent = results.get("intent")
    language = intent.language if isinstance(intent, IntentAnalysis) else "en"
    chosen = style or written_style(intent)
    # The sources were read when the session ran.
    read_at = session.started_at or session.created_at
    document = build(draft, chosen, language, accessed=read_at.date())
    content_type, extension = FORMATS[fmt]
    filename = f"prowzi-{session.id}.{extension}"
    logger.info(
        "Session %s: exported as %s in %s style (%d references)",
        session.id,
        fmt,
        chosen,
        len(document.references),
    )

    if fmt == "md":
        return formats.markdown(document).encode(), content_type, filename
    if fmt == "html":
        return formats.html_page(document).encode(), content_type, filename
    if fmt == "docx":
        return formats.docx_bytes(document), content_type, filename
    return formats.bibtex(document.references).encode(), content_type, filename


def written_style(intent: object) -> str:
    """The style to export in when none is asked for, given the session's
    intent checkpoint (anything else counts as no intent)."""
    if isinstance(intent, IntentAnalysis) and intent.constraints.citation_style:
        return DEFAULT_STYLES.get(intent.constraints.citation_style, "ieee")
    return "ieee"


__all__ = ["FORMATS", "STYLES", "render", "written_style"]
