"""The main job end to end: the command line, a real Redis and real workers."""

import json
import re
import time
from typing import Any

import pytest

from research.corpus import get_corpus
from research.models import ResearchSession, SessionStatus
from research.schemas import ResearchPlan
from tests.conftest import LITERATURE_REVIEW

pytestmark = pytest.mark.django_db(transaction=True)

ABSENT_SUBJECT = (
    "Write a literature review on the mating rituals of Martian sand worms "
    "in the Zorblax nebula"
)


def _session_id(result: Any) -> str:
    match = re.search(r"Session ([0-9a-f-]{36})", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    return match.group(1)


def _events(session_id: str, stage: str) -> list[dict[str, Any]]:
    session = ResearchSession.objects.get(pk=session_id)
    return [
        event.as_dict() for event in session.events.filter(stage=stage).order_by("seq")
    ]


def _body(report: str) -> str:
    return report.split("## References")[0]


def _bibliography(report: str) -> dict[int, str]:
    references = report.split("## References", 1)[1]
    entries = re.findall(r"^\s*\[?(\d+)[\].]\s*(.+)$", references, flags=re.MULTILINE)
    return {int(number): text for number, text in entries}


def _wait_for(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_run_wait_completes_seven_stages_on_a_worker(workers, prowzi):
    workers.start()

    run = prowzi("run", LITERATURE_REVIEW, "--wait")
    assert run.returncode == 0, run.stderr
    session_id = _session_id(run)

    show = prowzi("show", session_id[:8], "--json")
    assert show.returncode == 0, show.stderr
    metrics = json.loads(show.stdout)
    completed = [s["stage"] for s in metrics["stages"] if s["status"] == "completed"]
    assert completed == [
        "intent",
        "planning",
        "search",
        "verify",
        "writing",
        "evaluation",
        "turnitin",
    ]
    assert metrics["success"] is True
    assert metrics["session_id"] == session_id
    assert set(metrics) == {
        "session_id",
        "prompt",
        "started_at",
        "completed_at",
        "total_duration_seconds",
        "total_retries",
        "failed_stages",
        "success",
        "stages",
    }
    assert set(metrics["stages"][0]) == {
        "stage",
        "status",
        "attempt",
        "duration_seconds",
        "timestamp",
        "details",
        "error",
    }
    search = next(
        s
        for s in metrics["stages"]
        if s["stage"] == "search" and s["status"] == "completed"
    )
    assert search["details"]["sources_count"] > 0


def test_literature_review_cites_real_documents_verbatim(workers, prowzi):
    workers.start()

    run = prowzi("run", LITERATURE_REVIEW, "--wait")
    assert run.returncode == 0, run.stderr
    session = ResearchSession.objects.get(pk=_session_id(run))
    report = prowzi("report", str(session.id)).stdout

    plan = ResearchPlan.model_validate(session.checkpoints.get(stage="planning").result)
    headings = re.findall(r"^## (.+)$", report, flags=re.MULTILINE)
    for section in plan.sections:
        assert section.title in headings

    bibliography = _bibliography(report)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", _body(report))}
    assert len(cited) >= 10
    assert cited <= set(bibliography)

    corpus = get_corpus()
    draft = session.checkpoints.get(stage="writing").result
    for entry in draft["bibliography"]:
        document = corpus.get(entry["source_id"])
        assert document is not None
        assert document.title in bibliography[entry["number"]]
    for quotation in draft["quotations"]:
        document = corpus.get(quotation["source_id"])
        assert quotation["text"] in document.text


def test_two_runs_of_one_prompt_give_byte_identical_reports(workers, prowzi):
    workers.start()

    first = prowzi("run", LITERATURE_REVIEW, "--wait")
    second = prowzi("run", LITERATURE_REVIEW, "--wait")
    assert first.returncode == 0 and second.returncode == 0

    report_one = prowzi("report", _session_id(first)).stdout
    report_two = prowzi("report", _session_id(second)).stdout
    assert report_one and report_one == report_two


def test_resume_after_worker_crash_skips_finished_stages(workers, prowzi):
    crashing = workers.start(PROWZI_FAULTS="verify:crash")
    run = prowzi("run", LITERATURE_REVIEW)
    session_id = _session_id(run)

    crashing.wait_dead(timeout=120)
    session = ResearchSession.objects.get(pk=session_id)
    assert session.status == SessionStatus.RUNNING
    assert sorted(session.checkpoints.values_list("stage", flat=True)) == [
        "intent",
        "planning",
        "search",
    ]

    workers.start()
    resumed = prowzi("resume", session_id, "--wait")
    assert resumed.returncode == 0, resumed.stderr

    for stage in ("intent", "planning", "search"):
        assert _events(session_id, stage)[-1]["status"] == "skipped"
    assert _events(session_id, "verify")[-1]["status"] == "completed"

    uninterrupted = prowzi("run", LITERATURE_REVIEW, "--wait")
    assert (
        prowzi("report", session_id).stdout
        == prowzi("report", _session_id(uninterrupted)).stdout
    )


def test_transient_failures_are_retried_with_one_event_per_attempt(workers, prowzi):
    workers.start(PROWZI_FAULTS="search:fail:2")

    run = prowzi("run", LITERATURE_REVIEW, "--wait")
    assert run.returncode == 0, run.stderr

    events = _events(_session_id(run), "search")
    assert [e["status"] for e in events if e["status"] == "retrying"] == [
        "retrying",
        "retrying",
    ]
    assert [e["attempt"] for e in events if e["status"] == "retrying"] == [1, 2]
    assert events[-1]["status"] == "completed"
    assert events[-1]["attempt"] == 3
    assert all(e["error"] for e in events if e["status"] == "retrying")


def test_stage_that_keeps_failing_fails_session_and_stays_resumable(workers, prowzi):
    failing = workers.start(PROWZI_FAULTS="writing:fail:99")

    run = prowzi("run", LITERATURE_REVIEW, "--wait")
    assert run.returncode != 0
    session_id = _session_id(run)
    session = ResearchSession.objects.get(pk=session_id)
    assert session.status == SessionStatus.FAILED
    assert "writing" in session.error
    assert [e["status"] for e in _events(session_id, "writing")][-1] == "failed"

    from prowzi_site import services

    services.stop(failing.process)
    workers.start()
    resumed = prowzi("resume", session_id, "--wait")
    assert resumed.returncode == 0, resumed.stderr
    assert _events(session_id, "verify")[-1]["status"] == "skipped"


def test_absent_subject_fails_with_clear_message_and_no_report(workers, prowzi):
    workers.start()

    run = prowzi("run", ABSENT_SUBJECT, "--wait")
    assert run.returncode != 0
    session = ResearchSession.objects.get(pk=_session_id(run))
    assert session.status == SessionStatus.FAILED
    assert session.current_stage in {"search", "verify"}
    assert "corpus" in session.error.lower()
    assert session.report == ""

    report = prowzi("report", str(session.id))
    assert report.returncode != 0
    assert "no report" in report.stderr
    assert "Traceback" not in report.stderr
