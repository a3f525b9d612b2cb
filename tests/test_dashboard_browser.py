"""The dashboard in a real browser (Debian's Chromium through Playwright),
served by a real daphne, with real workers running the sessions."""

import os
from collections.abc import Iterator
from typing import Any

import pytest

from research.models import ResearchSession, SessionStatus, StageEvent
from research.sessions import create_session, enqueue
from tests.conftest import LITERATURE_REVIEW
from tests.web_fixtures import (
    WebServer,
    browser,
    log_in,
    make_user,
    start_daphne,
    user_page,
    wait_until,
    web_server,
)

__all__ = ["browser", "make_user", "user_page", "web_server"]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module", autouse=True)
def sync_playwright_with_the_orm() -> Iterator[None]:
    # Playwright's sync API keeps an event loop running in this thread; the
    # ORM calls made here (and the test database flush) are still plain
    # synchronous ones. Set for this module only.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _row_state(page: Any, stage: str) -> str:
    return str(page.get_attribute(f'#stages tr[data-stage="{stage}"]', "data-state"))


def _mark_page(page: Any) -> None:
    """Leave a mark that a reload would wipe."""
    page.evaluate("window.prowziMark = 'still here'")


def _not_reloaded(page: Any) -> bool:
    return bool(page.evaluate("window.prowziMark === 'still here'"))


def test_a_user_submits_a_prompt_and_watches_the_stages_complete_live(
    user_page: Any, workers: Any
) -> None:
    workers.start(PROWZI_FAULTS="intent:delay:2,search:delay:1")
    page = user_page
    refused: list[str] = []

    def note_refusal(answer: Any) -> None:
        if answer.status >= 400:
            refused.append(answer.url)

    page.on("response", note_refusal)

    page.click("text=New research")
    page.fill("textarea[name=prompt]", LITERATURE_REVIEW)
    page.select_option("select[name=document_type]", "literature_review")
    page.click("button:has-text('Start research')")
    page.wait_for_selector("#stages")
    _mark_page(page)

    assert _row_state(page, "turnitin") == "pending"
    page.wait_for_selector("#connection[data-state=live]")
    page.wait_for_selector(
        '#stages tr[data-stage="turnitin"][data-state="completed"]', timeout=120_000
    )
    page.wait_for_selector("#results .report", timeout=20_000)

    assert _not_reloaded(page)
    assert page.text_content("#session-status") == "Completed"
    assert "7/7 completed" in page.text_content("#summary")
    assert page.is_visible("#results .sources")
    assert page.is_visible("#results .originality")
    assert "Sources:" in page.text_content('#stages tr[data-stage="search"]')
    session = ResearchSession.objects.get()
    assert session.owner == page.prowzi_user
    log = page.locator("#event-log li").count()
    assert log == session.events.count()
    # Events carry their #seq and entries their [n]; the lists add no numbers.
    for numbered in ("#event-log", "#results ol.bibliography"):
        marker = page.eval_on_selector(
            numbered, "list => getComputedStyle(list).listStyleType"
        )
        assert marker == "none"
    assert page.text_content("#event-log li").startswith("#1 ")

    # The export form arrives with the completed page, without a reload.
    page.select_option("form.export select[name=style]", "apa")
    with page.expect_download() as download:
        page.click("form.export button[data-action=export]")
    expected = f"prowzi-{session.short_id}-report-apa.docx"
    assert download.value.suggested_filename == expected
    assert refused == []


def test_an_interrupted_session_resumes_live_from_its_button(
    user_page: Any, workers: Any
) -> None:
    crashing = workers.start(PROWZI_FAULTS="writing:crash")
    session = create_session(LITERATURE_REVIEW, owner=user_page.prowzi_user)
    enqueue(session)
    crashing.wait_dead(timeout=120)
    workers.start_watchdog(PROWZI_AUTO_RESUME="false")
    wait_until(
        lambda: (
            ResearchSession.objects.get(pk=session.pk).status
            == SessionStatus.INTERRUPTED
        )
    )
    workers.start(PROWZI_FAULTS="evaluation:delay:2")
    page = user_page

    page.goto(f"/sessions/{session.id}/")
    page.click("button[data-action=resume]")
    page.wait_for_selector("#stages")
    _mark_page(page)
    page.wait_for_selector(
        '#stages tr[data-stage="turnitin"][data-state="completed"]', timeout=120_000
    )

    assert _not_reloaded(page)
    assert _row_state(page, "search") == "skipped"
    assert page.text_content("#session-status") == "Completed"
    page.wait_for_selector("#results .report")


def test_cancel_stops_a_running_session(user_page: Any, workers: Any) -> None:
    workers.start(PROWZI_FAULTS="writing:delay:20")
    session = create_session(LITERATURE_REVIEW, owner=user_page.prowzi_user)
    enqueue(session)
    page = user_page

    page.goto(f"/sessions/{session.id}/")
    page.wait_for_selector(
        '#stages tr[data-stage="writing"][data-state="running"]', timeout=60_000
    )
    page.click("button[data-action=cancel]")
    page.wait_for_selector("text=is cancelled")

    assert page.text_content("#session-status") == "Cancelled"
    assert _row_state(page, "writing") == "stopped"
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED
    assert not StageEvent.objects.filter(
        session=session, stage="writing", status="completed"
    ).exists()


@pytest.fixture
def queueless_server(redis_server: str) -> Iterator[WebServer]:
    from prowzi_site.services import free_port

    server = start_daphne(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    yield server
    server.stop()


def test_submitting_while_the_queue_is_down_keeps_the_session_and_says_so(
    browser: Any, queueless_server: WebServer, make_user: Any
) -> None:
    page = log_in(browser, queueless_server, make_user("ada"))

    page.goto("/sessions/new/")
    page.fill("textarea[name=prompt]", LITERATURE_REVIEW)
    page.click("button:has-text('Start research')")
    page.wait_for_selector(".message-warning")

    assert "is stored" in page.text_content(".message-warning")
    session = ResearchSession.objects.get()
    assert session.status == SessionStatus.QUEUED
    assert page.is_visible("button[data-action=resume]")
    page.context.close()


def test_the_page_says_disconnected_and_reconnects_by_itself(
    browser: Any, redis_server: str, make_user: Any, workers: Any
) -> None:
    server = start_daphne()
    user = make_user("ada")
    session = create_session(LITERATURE_REVIEW, owner=user)
    try:
        page = log_in(browser, server, user)
        page.goto(f"/sessions/{session.id}/")
        page.wait_for_selector("#connection[data-state=live]")
        _mark_page(page)

        server.stop()
        page.wait_for_selector("#connection[data-state=disconnected]")
        assert "reconnecting" in page.text_content("#connection")
        workers.start()
        enqueue(session)
        server.restart()
        page.wait_for_selector("#connection[data-state=live]", timeout=40_000)
        page.wait_for_selector(
            '#stages tr[data-stage="turnitin"][data-state="completed"]',
            timeout=120_000,
        )

        assert _not_reloaded(page)
        shown = page.locator("#event-log li").count()
        assert shown == StageEvent.objects.filter(session=session).count()
        page.context.close()
    finally:
        server.stop()


def test_closing_the_page_does_not_affect_the_run(user_page: Any, workers: Any) -> None:
    workers.start(PROWZI_FAULTS="search:delay:2")
    session = create_session(LITERATURE_REVIEW, owner=user_page.prowzi_user)
    enqueue(session)

    user_page.goto(f"/sessions/{session.id}/")
    user_page.wait_for_selector("#connection[data-state=live]")
    user_page.close()

    wait_until(
        lambda: (
            ResearchSession.objects.get(pk=session.pk).status
            not in (SessionStatus.QUEUED, SessionStatus.RUNNING)
        ),
        timeout=120,
    )
    assert ResearchSession.objects.get(pk=session.pk).status == SessionStatus.COMPLETED


def test_history_rows_change_live(user_page: Any, workers: Any) -> None:
    session = create_session(LITERATURE_REVIEW, owner=user_page.prowzi_user)
    page = user_page
    page.goto("/")
    page.wait_for_selector("#connection[data-state=live]")
    _mark_page(page)
    row = f'tr[data-session-id="{session.id}"]'
    assert page.text_content(f'{row} [data-field="stages"]') == "0/7"

    workers.start()
    enqueue(session)
    page.wait_for_selector(f"{row} .status-completed", timeout=120_000)

    assert page.text_content(f'{row} [data-field="stages"]') == "7/7"
    assert _not_reloaded(page)
