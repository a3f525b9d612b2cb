"""The dashboard's pages, downloads and actions through Django's test client:
who may see and do what, bad input, and what the pages show."""

import io
import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import bibtexparser
import pytest
import redis
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from docx import Document

from monitoring.models import ActionKind, SessionAction
from monitoring.reports import highlight
from research.checkpoints import new_checkpoint
from research.models import EventStatus, ResearchSession, SessionStatus, StageEvent
from research.requests import MAX_PROMPT_CHARS
from research.schemas import (
    Citation,
    Constraints,
    EvaluationOutcome,
    EvaluationResult,
    IntentAnalysis,
    MatchedPassage,
    OriginalityResult,
    PlannedSection,
    ResearchPlan,
    RubricScore,
    SearchResult,
    Source,
    SourceAssessment,
    SourceSimilarity,
    VerificationResult,
    WritingResult,
)
from research.sessions import create_session
from research.stages import STAGES
from tests.conftest import LITERATURE_REVIEW
from tests.web_fixtures import make_user

__all__ = ["make_user"]

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE_PROMPT = "<script>alert('x')</script> renewable <b>energy</b>"
MATCHED = "Grid-scale storage smooths the output of wind and solar plants"
REPORT = f"""# Renewable energy and the grid

{MATCHED}, as several studies show [1]. Demand response helps too [2].
A claim with an unknown citation [9] stays plain text.

<script>alert('report')</script>
<img src=x onerror="alert(1)">
[a bad link](javascript:alert(1)) and [a good one](https://example.org/grid).

## References

[1] Smith, J. (2020). Storage on the grid.
[2] Jones, K. (2021). Demand response.
"""


@pytest.fixture
def queue(redis_server: str) -> Iterator[str]:
    yield redis_server
    redis.Redis.from_url(redis_server).flushall()


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user("owner")


@pytest.fixture
def stranger(make_user: Callable[..., User]) -> User:
    return make_user("stranger")


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("auditor", staff=True)


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _source(number: int) -> Source:
    return Source(
        source_id=f"src-{number}",
        title=f"Source {number} <i>title</i>",
        authors=["Smith, J."],
        date="2020",
        url=f"https://example.org/{number}",
        text=f"{MATCHED}. More text of source {number}.",
        retrieval_score=0.9,
        rank=number,
    )


def _results() -> dict[str, Any]:
    sources = [_source(1), _source(2), _source(3)]
    assessments = [
        SourceAssessment(
            source_id=source.source_id,
            title=source.title,
            relevance=0.8,
            metadata_completeness=0.9,
            corroboration=0.5,
            score=0.71 if source.rank < 3 else 0.2,
            kept=source.rank < 3,
            reason="relevant and complete" if source.rank < 3 else "off topic",
        )
        for source in sources
    ]
    bibliography = [
        Citation(
            number=number,
            source_id=f"src-{number}",
            title=f"Source {number}",
            url=f"https://example.org/{number}",
            entry=f"Entry for source {number}.",
        )
        for number in (1, 2)
    ]
    draft = WritingResult(
        title="Renewable energy and the grid",
        markdown=REPORT,
        sections=[],
        bibliography=bibliography,
        quotations=[],
        word_count=60,
    )

    def evaluation(score: float) -> EvaluationResult:
        rubric = [
            RubricScore(criterion="coverage", score=score, weight=1.0, notes="ok")
        ]
        return EvaluationResult(rubric=rubric, score=score, threshold=0.7, passed=True)

    return {
        "intent": IntentAnalysis(
            document_type="literature_review",
            topic="renewable energy",
            key_concepts=["grid"],
            constraints=Constraints(),
            language="en",
        ),
        "planning": ResearchPlan(
            title="Plan",
            document_type="literature_review",
            sections=[
                PlannedSection(
                    kind="body", title="Storage", research_questions=[], queries=[]
                )
            ],
        ),
        "search": SearchResult(queries_executed=["grid"], sources=sources),
        "verify": VerificationResult(
            threshold=0.35, verified=sources[:2], assessments=assessments
        ),
        "writing": draft,
        "evaluation": EvaluationOutcome(
            initial_evaluation=evaluation(0.74), evaluation=evaluation(0.81)
        ),
        "turnitin": OriginalityResult(
            k=5,
            window=4,
            similarity_index=0.12,
            similarity_excluding_quotes=0.1,
            per_source=[SourceSimilarity(source_id="src-1", similarity=0.12)],
            matches=[
                MatchedPassage(
                    source_id="src-1", citation=1, text=MATCHED, quoted=False
                )
            ],
        ),
    }


def _add_events(session: ResearchSession, statuses: Sequence[tuple[str, str]]) -> None:
    now = timezone.now()
    for seq, (stage, status) in enumerate(statuses, start=session.last_seq + 1):
        StageEvent.objects.create(
            session=session,
            seq=seq,
            stage=stage,
            status=status,
            attempt=1,
            duration_seconds=1.5 if status != EventStatus.STARTED else None,
            timestamp=now,
            details={"sources_count": 3} if stage == "search" else {},
            error="injected fault" if status == EventStatus.RETRYING else "",
        )
        session.last_seq = seq
    session.save(update_fields=["last_seq"])


def completed_session(
    owner: User | None,
    prompt: str = LITERATURE_REVIEW,
    draft: WritingResult | None = None,
) -> Any:
    session = create_session(prompt, owner=owner)
    results = _results()
    if draft is not None:
        results["writing"] = draft
    for stage, result in results.items():
        new_checkpoint(session, stage, result, {})
    events = [("search", EventStatus.RETRYING)]
    for stage in STAGES:
        events += [(stage, EventStatus.STARTED), (stage, EventStatus.COMPLETED)]
    _add_events(session, events)
    started = timezone.now() - timedelta(seconds=42)
    ResearchSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.COMPLETED,
        started_at=started,
        completed_at=started + timedelta(seconds=42),
        report=REPORT,
    )
    session.refresh_from_db()
    return session


def _failed_session(owner: User) -> ResearchSession:
    session = create_session(LITERATURE_REVIEW, owner=owner)
    _add_events(session, [("intent", EventStatus.STARTED)])
    ResearchSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.FAILED, error="intent: the corpus is empty"
    )
    session.refresh_from_db()
    return session


# Access rules


def _session_urls(session: ResearchSession) -> list[str]:
    urls = [reverse("monitoring-session-detail", args=[session.id])]
    for name in ("report.md", "report.html", "telemetry.json", "checkpoints.json"):
        urls.append(reverse("monitoring-session-download", args=[session.id, name]))
    urls.append(_export_url(session, "docx", "apa"))
    return urls


def _export_url(session: ResearchSession, fmt: str, style: str) -> str:
    export = reverse("monitoring-session-export", args=[session.id])
    return f"{export}?format={fmt}&style={style}"


def test_anonymous_visitors_are_sent_to_log_in_everywhere(owner: User) -> None:
    session = completed_session(owner)
    client = Client()
    pages = [reverse("monitoring-session-list"), reverse("monitoring-session-new")]
    for url in pages + _session_urls(session):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    for action in ("resume", "rerun", "cancel"):
        url = reverse(f"monitoring-session-{action}", args=[session.id])
        assert client.post(url, {"stage": "writing"}).status_code == 302
    assert not SessionAction.objects.exists()


def test_owner_sees_every_page_and_download_of_their_session(owner: User) -> None:
    session = completed_session(owner)
    client = _client(owner)
    for url in _session_urls(session):
        assert client.get(url).status_code == 200, url


def test_another_user_gets_not_found_for_every_page_download_and_action(
    owner: User, stranger: User
) -> None:
    session = completed_session(owner)
    client = _client(stranger)
    for url in _session_urls(session):
        assert client.get(url).status_code == 404, url
    for action in ("resume", "rerun", "cancel"):
        url = reverse(f"monitoring-session-{action}", args=[session.id])
        assert client.post(url, {"stage": "writing"}).status_code == 404
    assert session.id.hex not in client.get("/").content.decode()
    assert not SessionAction.objects.exists()
    assert ResearchSession.objects.count() == 1


def test_staff_see_every_session_page_and_download(owner: User, staff: User) -> None:
    session = completed_session(owner)
    client = _client(staff)
    for url in _session_urls(session):
        assert client.get(url).status_code == 200, url
    assert session.short_id in client.get("/").content.decode()


def test_staff_can_cancel_another_users_session_and_it_is_audited(
    owner: User, staff: User, queue: str
) -> None:
    session = create_session(LITERATURE_REVIEW, owner=owner)

    response = _client(staff).post(
        reverse("monitoring-session-cancel", args=[session.id]),
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED
    action = SessionAction.objects.get()
    assert action.action == ActionKind.CANCELLED
    assert action.user == staff
    assert action.remote_addr == "10.1.2.3"
    assert action.session_ref == str(session.id)


def test_actions_refuse_get_requests(owner: User) -> None:
    session = completed_session(owner)
    client = _client(owner)
    for action in ("resume", "rerun", "cancel"):
        url = reverse(f"monitoring-session-{action}", args=[session.id])
        assert client.get(url).status_code == 405


def test_actions_need_a_csrf_token(owner: User) -> None:
    session = create_session(LITERATURE_REVIEW, owner=owner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post(reverse("monitoring-session-cancel", args=[session.id]))

    assert response.status_code == 403
    assert "Nothing was changed" in response.content.decode()
    session.refresh_from_db()
    assert session.status == SessionStatus.QUEUED


# The new-session form


def test_submitting_the_form_stores_enqueues_and_audits_the_session(
    owner: User, queue: str
) -> None:
    response = _client(owner).post(
        reverse("monitoring-session-new"),
        {
            "prompt": LITERATURE_REVIEW,
            "document_type": "literature_review",
            "citation_style": "apa",
            "max_sources": "12",
            "verify_threshold": "0.4",
            "evaluation_threshold": "0.75",
            "target_words": "1500",
            "checkpointing": "on",
        },
    )

    session = ResearchSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "monitoring-session-detail", args=[session.id]
    )
    assert session.owner == owner
    assert session.checkpointing
    assert session.options == {
        "document_type": "literature_review",
        "citation_style": "apa",
        "max_sources": 12,
        "verify_threshold": 0.4,
        "evaluation_threshold": 0.75,
        "target_words": 1500,
    }
    assert redis.Redis.from_url(queue).llen("rq:queue:prowzi") == 1
    assert SessionAction.objects.get().action == ActionKind.SUBMITTED


def test_unchecked_checkpointing_makes_a_session_that_says_it_cannot_resume(
    owner: User, queue: str
) -> None:
    client = _client(owner)
    client.post(
        reverse("monitoring-session-new"),
        {
            "prompt": LITERATURE_REVIEW,
            "max_sources": "24",
            "verify_threshold": "0.35",
            "evaluation_threshold": "0.7",
        },
    )
    session = ResearchSession.objects.get()
    ResearchSession.objects.filter(pk=session.pk).update(status=SessionStatus.FAILED)

    page = client.get(reverse("monitoring-session-detail", args=[session.id]))

    assert not session.checkpointing
    assert "cannot be resumed" in page.content.decode()
    assert 'data-action="resume"' not in page.content.decode()
    assert 'data-action="rerun"' not in page.content.decode()


BAD_INPUT = [
    ({"prompt": "   "}, "The prompt is empty"),
    ({"prompt": ""}, "This field is required"),
    ({"prompt": "x" * (MAX_PROMPT_CHARS + 500)}, f"the limit is {MAX_PROMPT_CHARS}"),
    ({"prompt": "renewable\x00energy"}, "Null characters are not allowed"),
    ({"prompt": "renewable\x07energy"}, "control character (U+0007)"),
    ({"document_type": "novel"}, "Select a valid choice"),
    ({"citation_style": "<script>"}, "Select a valid choice"),
    ({"max_sources": "1000"}, "less than or equal to 100"),
    ({"max_sources": "many"}, "Enter a whole number"),
    ({"verify_threshold": "1.5"}, "less than or equal to 1"),
    ({"evaluation_threshold": "-0.1"}, "greater than or equal to 0"),
    ({"target_words": "5"}, "greater than or equal to 100"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUT)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_stored(
    owner: User, change: dict[str, str], message: str
) -> None:
    data = {
        "prompt": LITERATURE_REVIEW,
        "max_sources": "24",
        "verify_threshold": "0.35",
        "evaluation_threshold": "0.7",
        **change,
    }

    response = _client(owner).post(reverse("monitoring-session-new"), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert "<script>" not in response.content.decode()
    assert not ResearchSession.objects.exists()
    assert not SessionAction.objects.exists()


def test_html_in_a_prompt_is_shown_escaped_on_every_page(
    owner: User, make_user: Callable[..., User]
) -> None:
    staff = make_user("root", staff=True)
    staff.is_superuser = True
    staff.save()
    session = completed_session(owner, prompt=HOSTILE_PROMPT)
    pages = [
        _client(owner).get("/"),
        _client(owner).get(reverse("monitoring-session-detail", args=[session.id])),
        _client(staff).get(reverse("admin:research_researchsession_changelist")),
        _client(staff).get(
            reverse("admin:research_researchsession_change", args=[session.id])
        ),
    ]
    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert "<script>alert('x')" not in html
        assert "&lt;script&gt;" in html


def test_the_new_session_form_renders_its_hidden_field_once_without_a_label(
    owner: User,
) -> None:
    html = _client(owner).get(reverse("monitoring-session-new")).content.decode()

    assert html.count('name="submission_id"') == 1
    assert 'type="hidden" name="submission_id"' in html
    assert "Submission id" not in html
    assert "English, Spanish or French" in html


def test_pages_link_an_icon_that_is_served(owner: User) -> None:
    client = _client(owner)
    html = client.get("/").content.decode()
    icon = client.get("/favicon.ico")

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert icon.status_code == 302
    assert icon["Location"] == "/static/favicon.svg"
    served = client.get(icon["Location"])
    served.close()
    assert served.status_code == 200
    assert served["Content-Type"] == "image/svg+xml"


# The history page


def test_a_new_user_sees_what_to_do(owner: User) -> None:
    html = _client(owner).get("/").content.decode()

    assert "Nothing here yet" in html
    assert reverse("monitoring-session-new") in html


def test_history_filters_by_status_date_and_prompt_text(owner: User) -> None:
    done = completed_session(owner, prompt="Solar power in deserts")
    failed = _failed_session(owner)
    old = create_session("Wind farms at sea", owner=owner)
    ResearchSession.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    client = _client(owner)

    def shown(query: dict[str, str]) -> set[str]:
        html = client.get("/", query).content.decode()
        ids = (done, failed, old)
        return {session.short_id for session in ids if session.short_id in html}

    assert shown({"status": "failed"}) == {failed.short_id}
    assert shown({"q": "solar"}) == {done.short_id}
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert shown({"since": since}) == {done.short_id, failed.short_id}
    until = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert shown({"until": until}) == {old.short_id}
    bad = client.get("/", {"since": "yesterday", "status": "bogus"})
    assert bad.status_code == 200
    assert "Enter a valid date" in bad.content.decode()


def test_history_shows_retries_stages_and_duration_in_one_query_per_page(
    owner: User,
) -> None:
    for _ in range(6):
        completed_session(owner)
    client = _client(owner)

    with CaptureQueriesContext(connection) as queries:
        html = client.get("/").content.decode()

    assert "7/7" in html
    assert "42.00s" in html
    session_queries = [
        query["sql"] for query in queries if "research_researchsession" in query["sql"]
    ]
    # The count for the paginator, the annotated page, and whether any exist.
    assert len(session_queries) <= 3


def test_history_is_paginated_newest_first(owner: User) -> None:
    sessions = [create_session(f"Prompt number {n}", owner=owner) for n in range(30)]
    client = _client(owner)

    first = client.get("/").content.decode()
    second = client.get("/", {"page": "2"}).content.decode()

    assert sessions[-1].short_id in first
    assert sessions[0].short_id not in first
    assert sessions[0].short_id in second
    assert "Page 2 of 2" in second


# The session page


def test_session_page_shows_stages_summary_report_sources_and_originality(
    owner: User,
) -> None:
    session = completed_session(owner)

    html = (
        _client(owner)
        .get(reverse("monitoring-session-detail", args=[session.id]))
        .content.decode()
    )

    assert "Sources: 3" in html
    assert "7/7 completed" in html
    assert "Success" in html
    assert '<a href="#source-1" class="citation"' in html
    assert 'id="source-1"' in html
    assert "[9]</a>" not in html
    assert "relevant and complete" in html
    assert "off topic" in html
    assert "Initial evaluation: 0.74" in html
    assert "Final evaluation: 0.81" in html
    assert f'<mark class="unquoted" title="matches src-1 [1]">{MATCHED}</mark>' in html
    assert "12.0%" in html


def test_originality_draft_shows_emphasis_escaped_not_asterisks(owner: User) -> None:
    markdown = REPORT.replace(
        f"{MATCHED}, as", f"According to *<b>Grid</b> notes*, “{MATCHED}”, as"
    )
    draft = _results()["writing"].model_copy(update={"markdown": markdown})
    session = completed_session(owner, draft=draft)

    html = (
        _client(owner)
        .get(reverse("monitoring-session-detail", args=[session.id]))
        .content.decode()
    )

    highlighted = html.split('<div class="highlighted">')[1].split("</div>")[0]
    assert "According to <em>&lt;b&gt;Grid&lt;/b&gt; notes</em>, “" in highlighted
    assert f'<mark class="unquoted" title="matches src-1 [1]">{MATCHED}</mark>' in (
        highlighted
    )
    assert "*" not in highlighted and "<b>" not in highlighted


def test_a_match_across_emphasis_keeps_the_emphasis_without_its_markers() -> None:
    paragraph = "As *Grid storage* notes, storage smooths **the** output."
    match = MatchedPassage(
        source_id="src-1", citation=1, text="storage* notes, storage", quoted=False
    )

    [segments] = highlight(paragraph, [match])

    shown = [
        (
            segment.match is not None,
            [(run.text, run.italic, run.bold) for run in segment.runs],
        )
        for segment in segments
    ]
    assert shown == [
        (False, [("As ", False, False), ("Grid ", True, False)]),
        (True, [("storage", True, False), (" notes, storage", False, False)]),
        (
            False,
            [
                (" smooths ", False, False),
                ("the", False, True),
                (" output.", False, False),
            ],
        ),
    ]


def test_escaped_asterisks_stay_text_in_the_highlights() -> None:
    match = MatchedPassage(source_id="src-1", citation=1, text="units", quoted=False)

    [segments] = highlight(r"Costs 2 \* 3 and 4 \* 5 units.", [match])

    runs = [(run.text, run.italic) for segment in segments for run in segment.runs]
    assert runs == [("Costs 2 * 3 and 4 * 5 ", False), ("units", False), (".", False)]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def _report_elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    report = html.split('class="report-body">')[-1].split("</article>")[0]
    parser = _Elements()
    parser.feed(report.split('<section class="sources">')[0])
    return parser.found


def test_report_html_has_no_scripts_handlers_or_javascript_links(owner: User) -> None:
    session = completed_session(owner)
    client = _client(owner)
    detail = client.get(reverse("monitoring-session-detail", args=[session.id]))
    download = client.get(
        reverse("monitoring-session-download", args=[session.id, "report.html"])
    )

    for html in (detail.content.decode(), download.content.decode()):
        elements = _report_elements(html)
        tags = {tag for tag, _ in elements}
        attributes = {name for _, attrs in elements for name in attrs}
        hrefs = [attrs["href"] or "" for tag, attrs in elements if "href" in attrs]
        assert "script" not in tags
        assert "img" not in tags
        assert not [name for name in attributes if name.startswith("on")]
        assert not [href for href in hrefs if "javascript" in href.lower()]
        assert "https://example.org/grid" in hrefs
        assert "#source-1" in hrefs


def test_downloads_give_markdown_html_telemetry_and_checkpoints(owner: User) -> None:
    session = completed_session(owner)
    client = _client(owner)

    def download(name: str) -> Any:
        url = reverse("monitoring-session-download", args=[session.id, name])
        return client.get(url)

    markdown = download("report.md")
    assert markdown.content.decode() == REPORT
    assert "attachment" in markdown["Content-Disposition"]
    telemetry = json.loads(download("telemetry.json").content)
    assert telemetry["session_id"] == str(session.id)
    assert telemetry["total_retries"] == 1
    checkpoints = json.loads(download("checkpoints.json").content)
    assert [row["stage"] for row in checkpoints["checkpoints"]] == list(STAGES)
    assert download("secrets.txt").status_code == 404


def test_a_session_without_a_report_says_so_on_download(owner: User) -> None:
    session = _failed_session(owner)
    url = reverse("monitoring-session-download", args=[session.id, "report.md"])

    response = _client(owner).get(url)

    assert response.status_code == 404
    assert "no report yet" in response.content.decode()


# Exports in a citation style


def _draft_citing_people() -> WritingResult:
    """The report's draft with personal authors and dates on its sources,
    so that author-date and numeric styles differ visibly."""
    draft: WritingResult = _results()["writing"]
    people = {1: (["Jane Smith", "Carlos Ruiz"], "2019"), 2: (["Amelia Zhou"], "2021")}
    bibliography = [
        entry.model_copy(
            update={"authors": people[entry.number][0], "date": people[entry.number][1]}
        )
        for entry in draft.bibliography
    ]
    return draft.model_copy(update={"bibliography": bibliography})


def _docx_references(content: bytes) -> list[str]:
    paragraphs = [
        paragraph.text for paragraph in Document(io.BytesIO(content)).paragraphs
    ]
    return paragraphs[paragraphs.index("References") + 1 :]


def test_session_page_offers_the_export_form_in_the_reports_own_style(
    owner: User,
) -> None:
    session = completed_session(owner)
    client = _client(owner)

    html = client.get(reverse("monitoring-session-detail", args=[session.id]))

    page = html.content.decode()
    export = reverse("monitoring-session-export", args=[session.id])
    assert f'<form method="get" action="{export}" class="export">' in page
    assert '<option value="docx" selected>Word (DOCX)</option>' in page
    # The draft was written without a named style: numbered, as IEEE is.
    assert '<option value="ieee" selected>IEEE</option>' in page
    for label in ("Markdown", "HTML", "BibTeX", "APA", "Chicago", "Harvard"):
        assert f">{label}</option>" in page
    failed = client.get(
        reverse("monitoring-session-detail", args=[_failed_session(owner).id])
    )
    assert 'class="export"' not in failed.content.decode()


def test_docx_export_opens_and_holds_the_bibliography(owner: User) -> None:
    session = completed_session(owner, draft=_draft_citing_people())

    response = _client(owner).get(_export_url(session, "docx", "apa"))

    assert response.status_code == 200
    assert "wordprocessingml" in response["Content-Type"]
    assert response["Content-Disposition"] == (
        f'attachment; filename="prowzi-{session.short_id}-report-apa.docx"'
    )
    references = _docx_references(response.content)
    assert len(references) == 2
    assert references[0].startswith("Smith, J., & Ruiz, C. (2019). Source 1.")
    assert references[1].startswith("Zhou, A. (2021). Source 2.")


def test_switching_the_style_switches_citations_and_bibliography(owner: User) -> None:
    session = completed_session(owner, draft=_draft_citing_people())
    client = _client(owner)

    apa = client.get(_export_url(session, "md", "apa")).content.decode()
    ieee_docx = client.get(_export_url(session, "docx", "ieee"))

    assert "(Smith & Ruiz, 2019)" in apa
    assert "\n[1] " not in apa
    ieee = _docx_references(ieee_docx.content)
    assert [entry[:4] for entry in ieee] == ["[1] ", "[2] "]
    assert "J. Smith and C. Ruiz" in ieee[0]
    assert ieee_docx["Content-Disposition"].endswith('-report-ieee.docx"')


def test_bibtex_export_parses_with_every_cited_work(owner: User) -> None:
    session = completed_session(owner, draft=_draft_citing_people())

    response = _client(owner).get(_export_url(session, "bibtex", "chicago"))

    assert response["Content-Type"].startswith("application/x-bibtex")
    assert response["Content-Disposition"] == (
        f'attachment; filename="prowzi-{session.short_id}-references.bib"'
    )
    library = bibtexparser.parse_string(response.content.decode())
    assert library.failed_blocks == []
    by_title = {
        entry.fields_dict["title"].value.strip("{}"): entry for entry in library.entries
    }
    assert set(by_title) == {"Source 1", "Source 2"}
    smith = by_title["Source 1"]
    assert smith.fields_dict["author"].value == "Jane Smith and Carlos Ruiz"
    assert smith.fields_dict["year"].value == "2019"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("format=pdf&style=apa", "export format must be one of md, html, docx"),
        ("format=docx&style=%3Cscript%3E", "citation style must be one of apa, ieee"),
        ("", "export format must be one of"),
    ],
)
def test_an_unknown_format_or_style_is_a_bad_request(
    owner: User, query: str, reason: str
) -> None:
    session = completed_session(owner)
    url = reverse("monitoring-session-export", args=[session.id]) + f"?{query}"

    response = _client(owner).get(url)

    page = response.content.decode()
    assert response.status_code == 400
    assert reason in page
    assert "Traceback" not in page and "<script>" not in page
    assert "Content-Disposition" not in response


def test_another_user_gets_the_same_answer_for_exports_as_for_downloads(
    owner: User, stranger: User
) -> None:
    session = completed_session(owner)
    client = _client(stranger)
    download = reverse("monitoring-session-download", args=[session.id, "report.md"])

    refused = client.get(download)
    exported = client.get(_export_url(session, "docx", "apa"))
    unknown_style = client.get(_export_url(session, "docx", "vancouver"))

    assert refused.status_code == exported.status_code == 404
    # Whether the session exists is not given away by a different answer.
    assert unknown_style.status_code == 404
    assert "Content-Disposition" not in exported


def test_staff_export_another_users_report(owner: User, staff: User) -> None:
    session = completed_session(owner, draft=_draft_citing_people())

    response = _client(staff).get(_export_url(session, "docx", "harvard"))

    assert response.status_code == 200
    assert _docx_references(response.content)[0].startswith("Smith, J. and Ruiz, C.")


def test_a_session_without_an_exportable_report_says_so(owner: User) -> None:
    failed = _failed_session(owner)
    unkept = create_session(LITERATURE_REVIEW, owner=owner, checkpointing=False)
    ResearchSession.objects.filter(pk=unkept.pk).update(
        status=SessionStatus.COMPLETED, report=REPORT
    )
    client = _client(owner)

    no_report = client.get(_export_url(failed, "docx", "apa"))
    no_checkpoints = client.get(_export_url(unkept, "docx", "apa"))
    page = client.get(reverse("monitoring-session-detail", args=[unkept.id]))

    assert no_report.status_code == 404
    assert "no report yet" in no_report.content.decode()
    assert no_checkpoints.status_code == 404
    assert "kept no checkpoints of its report" in no_checkpoints.content.decode()
    assert 'class="export"' not in page.content.decode()
    assert "report as written (Markdown)" in page.content.decode()


def test_a_report_whose_checkpoints_cannot_be_read_is_refused_clearly(
    owner: User,
) -> None:
    session = completed_session(owner)
    session.checkpoints.filter(stage="writing").update(schema_version=0)

    response = _client(owner).get(_export_url(session, "docx", "apa"))

    assert response.status_code == 404
    assert "stored results cannot be read" in response.content.decode()


def test_failed_session_shows_its_error_and_offers_resume(owner: User) -> None:
    session = _failed_session(owner)

    html = (
        _client(owner)
        .get(reverse("monitoring-session-detail", args=[session.id]))
        .content.decode()
    )

    assert "intent: the corpus is empty" in html
    assert 'data-action="resume"' in html
    assert 'data-action="cancel"' not in html


def test_resume_queues_a_failed_session_and_audits_it(owner: User, queue: str) -> None:
    session = _failed_session(owner)

    response = _client(owner).post(
        reverse("monitoring-session-resume", args=[session.id])
    )

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.QUEUED
    assert SessionAction.objects.get().action == ActionKind.RESUMED


def test_resuming_a_completed_session_says_why_not(owner: User) -> None:
    session = completed_session(owner)
    client = _client(owner)

    response = client.post(
        reverse("monitoring-session-resume", args=[session.id]), follow=True
    )

    assert "only failed, interrupted or cancelled" in response.content.decode()
    assert not SessionAction.objects.exists()


def test_rerun_from_a_stage_forks_a_new_session_with_earlier_checkpoints(
    owner: User, queue: str
) -> None:
    session = completed_session(owner)

    response = _client(owner).post(
        reverse("monitoring-session-rerun", args=[session.id]), {"stage": "writing"}
    )

    child = ResearchSession.objects.exclude(pk=session.pk).get()
    assert response["Location"] == reverse("monitoring-session-detail", args=[child.id])
    assert child.parent == session
    assert child.owner == owner
    assert list(child.checkpoints.values_list("stage", flat=True)) == list(
        STAGES[: STAGES.index("writing")]
    )
    action = SessionAction.objects.get()
    assert action.action == ActionKind.RERUN
    assert action.session == child


def test_rerun_from_an_unknown_stage_is_refused(owner: User) -> None:
    session = completed_session(owner)

    response = _client(owner).post(
        reverse("monitoring-session-rerun", args=[session.id]),
        {"stage": "<script>"},
        follow=True,
    )

    assert "Choose one of the seven stages" in response.content.decode()
    assert ResearchSession.objects.count() == 1


def test_cancelling_a_finished_session_changes_nothing(owner: User) -> None:
    session = completed_session(owner)

    response = _client(owner).post(
        reverse("monitoring-session-cancel", args=[session.id]), follow=True
    )

    assert "nothing to cancel" in response.content.decode()
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED


def test_unknown_pages_get_the_not_found_page(owner: User) -> None:
    client = _client(owner)

    response = client.get("/sessions/not-a-uuid/")
    missing = client.get("/sessions/00000000-0000-4000-8000-000000000000/")

    assert response.status_code == 404
    assert missing.status_code == 404
    assert "Not found" in missing.content.decode()


# The admin


def test_admin_lists_sessions_events_checkpoints_and_actions_for_staff(
    owner: User, make_user: Callable[..., User]
) -> None:
    admin = make_user("root", staff=True)
    admin.is_superuser = True
    admin.save()
    session = completed_session(owner)
    client = _client(admin)

    for model in (
        "research_researchsession",
        "research_stageevent",
        "research_checkpoint",
        "monitoring_sessionaction",
    ):
        response = client.get(reverse(f"admin:{model}_changelist"))
        assert response.status_code == 200, model
    events = client.get(
        reverse("admin:research_stageevent_changelist"),
        {"session__id__exact": str(session.id), "status": "retrying"},
    )
    assert "injected fault" in events.content.decode()
    change = client.get(reverse("admin:research_stageevent_change", args=[1]))
    assert change.status_code in (200, 302)
    assert "Save" not in change.content.decode()


def test_admin_lists_filter_by_stage_in_as_many_queries_for_more_rows(
    owner: User, make_user: Callable[..., User]
) -> None:
    admin = make_user("root", staff=True)
    admin.is_superuser = True
    admin.save()
    client = _client(admin)
    completed_session(owner)

    def listed(model: str, **query: str) -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(f"admin:{model}_changelist"), query)
        assert response.status_code == 200, model
        return response.content.decode(), len(queries)

    before = {model: listed(model)[1] for model in ADMIN_LISTS}
    for _ in range(4):
        completed_session(owner)
    after = {model: listed(model)[1] for model in ADMIN_LISTS}
    verify, _ = listed("research_stageevent", stage="verify")

    assert after == before
    stages = re.findall(r'<td class="field-stage">(\w+)</td>', verify)
    assert stages == ["verify"] * 10
    assert all(f"?stage={stage}" in verify for stage in STAGES)


ADMIN_LISTS = (
    "research_researchsession",
    "research_stageevent",
    "research_checkpoint",
)


def test_deleting_a_session_in_the_admin_is_audited(
    owner: User, make_user: Callable[..., User]
) -> None:
    admin = make_user("root", staff=True)
    admin.is_superuser = True
    admin.save()
    session = completed_session(owner)

    response = _client(admin).post(
        reverse("admin:research_researchsession_delete", args=[session.id]),
        {"post": "yes"},
    )

    assert response.status_code == 302
    assert not ResearchSession.objects.exists()
    action = SessionAction.objects.get()
    assert action.action == ActionKind.DELETED
    assert action.session is None
    assert action.session_ref == str(session.id)
    assert action.user == admin


def test_a_form_submitted_twice_makes_one_session(owner: User, queue: str) -> None:
    client = _client(owner)
    form_page = client.get(reverse("monitoring-session-new")).content.decode()
    submission_id = re.search(r'name="submission_id" value="([0-9a-f-]+)"', form_page)
    assert submission_id is not None
    data = {
        "prompt": LITERATURE_REVIEW,
        "max_sources": "24",
        "verify_threshold": "0.35",
        "evaluation_threshold": "0.7",
        "checkpointing": "on",
        "submission_id": submission_id.group(1),
    }

    first = client.post(reverse("monitoring-session-new"), data)
    second = client.post(reverse("monitoring-session-new"), data)

    session = ResearchSession.objects.get()
    assert str(session.id) == submission_id.group(1)
    assert first["Location"] == second["Location"]
    assert redis.Redis.from_url(queue).llen("rq:queue:prowzi") == 1


def test_another_users_submission_id_reveals_nothing(
    owner: User, stranger: User, queue: str
) -> None:
    data = {
        "prompt": LITERATURE_REVIEW,
        "max_sources": "24",
        "verify_threshold": "0.35",
        "evaluation_threshold": "0.7",
        "submission_id": str(uuid.uuid4()),
    }
    _client(owner).post(reverse("monitoring-session-new"), data)

    response = _client(stranger).post(reverse("monitoring-session-new"), data)

    assert response.status_code == 404
    assert ResearchSession.objects.count() == 1
