"""A session's results as the session page shows them, and its downloads.

The report is Markdown written from sources found on the open web, so it is
rendered with raw HTML disabled and then cleaned against an allow-list: no
scripts, no event handlers, no javascript: links, whatever the text holds.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import nh3
from django.template.loader import render_to_string
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel

from monitoring.telemetry import workflow_metrics
from research import exports
from research.checkpoints import load_results
from research.exceptions import CheckpointMismatchError
from research.exports.csl import Run
from research.exports.document import ESCAPED, INLINE
from research.models import ResearchSession
from research.schemas import (
    Citation,
    EvaluationOutcome,
    EvaluationResult,
    MatchedPassage,
    OriginalityResult,
    SearchResult,
    Source,
    SourceAssessment,
    VerificationResult,
    WritingResult,
)
from research.stages import final_draft

logger = logging.getLogger(__name__)

ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title", "class"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
CITATION = re.compile(r"\[(\d{1,4})\]")

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def source_anchor(number: int) -> str:
    return f"source-{number}"


def render_markdown(text: str, citations: set[int] | None = None) -> str:
    """Return safe HTML for Markdown; [n] links to #source-n for known n."""
    env: dict[str, Any] = {}
    tokens = _markdown.parse(text, env)
    if citations:
        for token in tokens:
            if token.type == "inline" and token.children:
                token.children = _link_citations(token.children, citations)
    html = _markdown.renderer.render(tokens, _markdown.options, env)
    return sanitize(html)


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def _link_citations(children: list[Token], citations: set[int]) -> list[Token]:
    linked: list[Token] = []
    in_link = 0
    for token in children:
        if token.type == "link_open":
            in_link += 1
        elif token.type == "link_close":
            in_link -= 1
        if token.type != "text" or in_link:
            linked.append(token)
            continue
        linked.extend(_split_citations(token.content, citations))
    return linked


def _split_citations(text: str, citations: set[int]) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    for match in CITATION.finditer(text):
        number = int(match.group(1))
        if number not in citations:
            continue
        if match.start() > position:
            tokens.append(_text(text[position : match.start()]))
        link = Token("link_open", "a", 1)
        link.attrs = {"href": f"#{source_anchor(number)}", "class": "citation"}
        tokens.extend([link, _text(match.group(0)), Token("link_close", "a", -1)])
        position = match.end()
    if position < len(text):
        tokens.append(_text(text[position:]))
    return tokens


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


@dataclass(frozen=True)
class SourceEntry:
    """One cited source with what verification said about it."""

    citation: Citation
    anchor: str
    assessment: SourceAssessment | None


@dataclass(frozen=True)
class Segment:
    runs: list[Run]
    match: MatchedPassage | None = None

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)


@dataclass
class Results:
    """Everything the session page shows below the stage table."""

    draft: WritingResult | None = None
    # The citation style the export form offers first: the report's own.
    export_style: str = "ieee"
    report_markdown: str = ""
    report_html: str = ""
    sources: list[SourceEntry] = field(default_factory=list)
    assessments: list[SourceAssessment] = field(default_factory=list)
    verify_threshold: float | None = None
    found: list[Source] = field(default_factory=list)
    evaluation: EvaluationOutcome | None = None
    originality: OriginalityResult | None = None
    highlighted: list[list[Segment]] = field(default_factory=list)
    problem: str = ""

    @property
    def evaluation_pairs(self) -> list[tuple[str, EvaluationResult]]:
        if self.evaluation is None:
            return []
        return [
            ("Initial evaluation", self.evaluation.initial_evaluation),
            ("Final evaluation", self.evaluation.evaluation),
        ]


def session_results(session: ResearchSession) -> Results:
    """Read the session's checkpoints into what the page shows."""
    results = Results()
    try:
        stages = load_results(session) if session.checkpointing else {}
    except CheckpointMismatchError as error:
        logger.warning("Session %s: results not shown: %s", session.id, error)
        stages = {}
        results.problem = str(error)

    _fill_report(results, session, stages)
    _fill_sources(results, stages)
    outcome = stages.get("evaluation")
    if isinstance(outcome, EvaluationOutcome):
        results.evaluation = outcome
    originality = stages.get("turnitin")
    if isinstance(originality, OriginalityResult):
        results.originality = originality
        results.highlighted = highlight(results.report_markdown, originality.matches)
    return results


def _fill_report(
    results: Results, session: ResearchSession, stages: dict[str, BaseModel]
) -> None:
    results.draft = final_draft(stages)
    results.export_style = exports.written_style(stages.get("intent"))
    if results.draft is not None:
        results.report_markdown = results.draft.markdown
    else:
        results.report_markdown = session.report

    numbers = (
        {entry.number for entry in results.draft.bibliography}
        if results.draft is not None
        else set()
    )
    if results.report_markdown:
        results.report_html = render_markdown(results.report_markdown, numbers)


def _fill_sources(results: Results, stages: dict[str, BaseModel]) -> None:
    search = stages.get("search")
    if isinstance(search, SearchResult):
        results.found = list(search.sources)

    verification = stages.get("verify")
    by_source: dict[str, SourceAssessment] = {}
    if isinstance(verification, VerificationResult):
        results.assessments = list(verification.assessments)
        results.verify_threshold = verification.threshold
        by_source = {item.source_id: item for item in verification.assessments}

    if results.draft is not None:
        results.sources = [
            SourceEntry(
                citation=entry,
                anchor=source_anchor(entry.number),
                assessment=by_source.get(entry.source_id),
            )
            for entry in results.draft.bibliography
        ]


def highlight(text: str, matches: list[MatchedPassage]) -> list[list[Segment]]:
    """Return the report's paragraphs that contain matched passages, split
    into plain and matched segments. Passages not found verbatim are left to
    the page's list of matches."""
    highlighted = []
    for paragraph in re.split(r"\n\s*\n", text):
        spans = _match_spans(paragraph, matches)
        if spans:
            highlighted.append(_segments(paragraph, spans))
    return highlighted


def _match_spans(
    paragraph: str, matches: list[MatchedPassage]
) -> list[tuple[int, int, MatchedPassage]]:
    spans = []
    for match in matches:
        needle = match.text.strip()
        if not needle:
            continue
        start = paragraph.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle), match))
            start = paragraph.find(needle, start + len(needle))
    spans.sort(key=lambda span: (span[0], -span[1]))

    kept: list[tuple[int, int, MatchedPassage]] = []
    for span in spans:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def _segments(
    paragraph: str, spans: list[tuple[int, int, MatchedPassage]]
) -> list[Segment]:
    styles = _styles(paragraph)
    segments = []
    position = 0
    for start, end, match in spans:
        if start > position:
            segments.append(Segment(_styled(paragraph, position, start, styles)))
        segments.append(Segment(_styled(paragraph, start, end, styles), match))
        position = end
    if position < len(paragraph):
        segments.append(Segment(_styled(paragraph, position, len(paragraph), styles)))
    return segments


def _styles(paragraph: str) -> list[tuple[int, int, bool, bool]]:
    """Return the paragraph's shown text as (start, end, italic, bold) spans.

    Matches are found in the Markdown, so a matched passage may begin or end
    inside *emphasis*; styling by position keeps the markers out of the
    shown text wherever the passage boundaries fall.
    """
    styles = []
    position = 0
    for found in INLINE.finditer(paragraph):
        if found.start() > position:
            styles.append((position, found.start(), False, False))
        bold = found.group(1) is not None
        group = 1 if bold else 2
        styles.append((found.start(group), found.end(group), not bold, bold))
        position = found.end()
    if position < len(paragraph):
        styles.append((position, len(paragraph), False, False))
    return styles


def _styled(
    paragraph: str, start: int, end: int, styles: list[tuple[int, int, bool, bool]]
) -> list[Run]:
    runs = []
    for first, last, italic, bold in styles:
        shown = paragraph[max(start, first) : min(end, last)]
        if shown:
            runs.append(Run(ESCAPED.sub(r"\1", shown), italic, bold))
    return runs


def report_html_document(session: ResearchSession, results: Results) -> str:
    """A standalone HTML file of the report, for download."""
    return render_to_string(
        "monitoring/report_download.html", {"session": session, "results": results}
    )


def export_filename(session: ResearchSession, fmt: str, style: str) -> str:
    """A download's file name, from the session id, format and style only:
    the prompt is the user's text and never goes into a header."""
    extension = exports.FORMATS[fmt][1]
    if fmt == "bibtex":
        # The BibTeX entries are the same in every style.
        return f"prowzi-{session.short_id}-references.{extension}"
    return f"prowzi-{session.short_id}-report-{style}.{extension}"


def telemetry_json(session: ResearchSession) -> str:
    return workflow_metrics(session).to_json()


def checkpoints_json(session: ResearchSession) -> str:
    rows = [
        {
            "stage": row.stage,
            "schema_version": row.schema_version,
            "fingerprint": row.fingerprint,
            "pipeline_version": row.pipeline_version,
            "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
            "stage_metrics": row.stage_metrics,
            "result": row.result,
        }
        for row in session.checkpoints.order_by("created_at", "id")
    ]
    document = {"session_id": str(session.id), "checkpoints": rows}
    return json.dumps(document, indent=2, ensure_ascii=False)
