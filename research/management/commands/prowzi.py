"""`prowzi` (or `manage.py prowzi`): run, inspect and resume research sessions."""

import io
import json
import os
import sys
import time
from contextlib import ExitStack
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from monitoring.export import metrics_json, metrics_prometheus
from monitoring.telemetry import stage_table, stages_completed, workflow_metrics
from research.exceptions import ProwziError
from research.faults import WORKER_PID_VARIABLE
from research.models import EventStatus, ResearchSession, SessionStatus
from research.sessions import (
    cancel_session,
    create_session,
    enqueue,
    find_session,
    lease_is_dead,
    mark_interrupted,
    request_resume,
)
from research.wording import counted

FINAL_STATUSES = {
    SessionStatus.COMPLETED,
    SessionStatus.FAILED,
    SessionStatus.CANCELLED,
    SessionStatus.INTERRUPTED,
}
STATUS_SYMBOLS: dict[str, str] = {
    SessionStatus.COMPLETED: "✓",
    SessionStatus.FAILED: "✗",
    SessionStatus.RUNNING: "⟳",
    SessionStatus.QUEUED: "⋯",
    SessionStatus.INTERRUPTED: "!",
    SessionStatus.CANCELLED: "⊘",
}


def program_name(prog: str) -> str:
    """The name usage lines start with: `prowzi` for the console script."""
    # The console script runs this command as `prowzi prowzi ...`, which
    # argparse would repeat in every usage line (`prowzi prowzi export`).
    program, _, command = prog.partition(" ")
    return program if program == command else prog


class Command(BaseCommand):
    help = "Run, inspect and resume Prowzi research sessions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.prog = program_name(parser.prog)
        commands = parser.add_subparsers(
            dest="action", metavar="COMMAND", required=True
        )

        run = commands.add_parser("run", help="start a research session")
        run.add_argument("prompt")
        run.add_argument("--wait", action="store_true", help="follow it to the end")
        run.add_argument("--json", action="store_true", help="print JSON")
        run.add_argument(
            "--no-checkpoints", action="store_true", help="run without resume"
        )
        run.add_argument("--document-type")
        run.add_argument("--citation-style")
        run.add_argument("--max-sources", type=int)
        run.add_argument("--target-words", type=int)
        run.add_argument("--language")

        sessions = commands.add_parser("sessions", help="list recent sessions")
        sessions.add_argument("--limit", type=int, default=20)
        sessions.add_argument("--json", action="store_true")

        show = commands.add_parser("show", help="one session's stages and metrics")
        show.add_argument("session")
        show.add_argument("--json", action="store_true")

        monitor = commands.add_parser(
            "monitor", help="watch a session's stages live until it ends"
        )
        monitor.add_argument("session")

        resume = commands.add_parser("resume", help="resume from the last checkpoint")
        resume.add_argument("session")
        resume.add_argument("--wait", action="store_true")
        resume.add_argument("--json", action="store_true")

        export = commands.add_parser("export", help="workflow metrics for other tools")
        export.add_argument("session")
        export.add_argument("--format", choices=["json", "prometheus"], default="json")

        cleanup = commands.add_parser("cleanup", help="remove old checkpoints")
        cleanup.add_argument(
            "--older-than", required=True, help="age such as 7d, 12h or 30m"
        )
        cleanup.add_argument("--dry-run", action="store_true")
        cleanup.add_argument(
            "--sessions", action="store_true", help="delete the sessions too"
        )

        cancel = commands.add_parser("cancel", help="stop a queued or running session")
        cancel.add_argument("session")

        report = commands.add_parser(
            "report", help="print the report, or export it in another format"
        )
        report.add_argument("session")
        report.add_argument(
            "--format", choices=["md", "html", "docx", "bibtex"], default=None
        )
        report.add_argument(
            "--style",
            choices=["apa", "ieee", "chicago", "harvard"],
            help="re-render citations and references in this style",
        )
        report.add_argument("--output", help="write to this file (needed for docx)")

        corpus = commands.add_parser("corpus", help="manage the local corpus")
        corpus_actions = corpus.add_subparsers(
            dest="corpus_action",
            metavar="{add,stats,list,remove}",
            required=True,
        )
        add = corpus_actions.add_parser(
            "add",
            help="index JSON Lines, or PDF, HTML, Markdown and text files "
            "(with BibTeX or RIS metadata beside them)",
        )
        add.add_argument("path", help="a file, a folder, or an http(s) link")
        add.add_argument(
            "--lookup-doi",
            action="store_true",
            help="fill a file's missing title, authors and date from Crossref "
            "by its DOI (needs the network)",
        )
        corpus_actions.add_parser("stats", help="count the indexed passages")
        corpus_actions.add_parser("list", help="list the files added to the library")
        remove = corpus_actions.add_parser(
            "remove", help="remove a library file and its passages"
        )
        remove.add_argument("id", help="the file's id, as `corpus list` shows it")

        watchdog = commands.add_parser(
            "watchdog", help="recover sessions whose worker died or job was lost"
        )
        watchdog.add_argument("--once", action="store_true", help="one pass, then exit")

        worker = commands.add_parser("worker", help="start an RQ worker")
        worker.add_argument("--burst", action="store_true")
        worker.add_argument("--name")

    def handle(self, *args: Any, **options: Any) -> None:
        handler = getattr(self, f"_{options['action']}")
        try:
            handler(options)
        except ProwziError as error:
            raise CommandError(str(error)) from None
        except DatabaseError as error:
            raise CommandError(
                f"The database cannot be used ({error}). If it is new, create its "
                "tables with `python manage.py migrate`."
            ) from None

    def _run(self, options: dict[str, Any]) -> None:
        request = {
            key: options[key]
            for key in (
                "document_type",
                "citation_style",
                "max_sources",
                "target_words",
                "language",
            )
            if options.get(key) is not None
        }
        checkpointing = False if options["no_checkpoints"] else None
        session = create_session(
            options["prompt"], request, checkpointing=checkpointing
        )
        if not session.checkpointing:
            self._note("Checkpointing is off for this session: it cannot be resumed.")
        enqueue(session)
        self._follow_or_print(session, options)

    def _resume(self, options: dict[str, Any]) -> None:
        session = request_resume(find_session(options["session"]))
        enqueue(session)
        self._follow_or_print(session, options)

    def _follow_or_print(
        self, session: ResearchSession, options: dict[str, Any]
    ) -> None:
        if not options["wait"]:
            if options["json"]:
                self._print_json({"session_id": str(session.id), "status": "queued"})
            else:
                self.stdout.write(f"Session {session.id} queued.")
                self.stdout.write(f"Follow it with: prowzi show {session.short_id}")
            return

        self._note(f"Session {session.id} queued; waiting for a worker.")
        final = self._wait(session)
        if options["json"]:
            self.stdout.write(metrics_json(workflow_metrics(final)))
        else:
            self._print_summary(final)
        if final.status != SessionStatus.COMPLETED:
            raise CommandError(
                f"Session {final.id} ended {final.status}: {final.error or 'no error'}"
            )

    def _wait(self, session: ResearchSession) -> ResearchSession:
        """Follow the session's events until it ends; return the final row."""
        seen = session.last_seq
        while True:
            session.refresh_from_db()
            for event in session.events.filter(seq__gt=seen).order_by("seq"):
                seen = event.seq
                self._note(_event_line(event.stage, event.status, event.attempt, event))
            if session.status in FINAL_STATUSES:
                return session
            if lease_is_dead(session):
                mark_interrupted(session, f"its worker ({session.lease_owner}) stopped")
                continue
            time.sleep(0.25)

    def _sessions(self, options: dict[str, Any]) -> None:
        limit = max(1, options["limit"])
        rows = list(ResearchSession.objects.order_by("-created_at")[:limit])
        if options["json"]:
            self._print_json([_session_summary(session) for session in rows])
            return

        from rich.table import Table

        table = Table(title="Recent Workflow Sessions")
        for column in ("Session ID", "Prompt", "Status", "Retries", "Stages"):
            table.add_column(column)
        for session in rows:
            summary = _session_summary(session)
            table.add_row(
                session.short_id + "...",
                _shorten(session.prompt, 40),
                STATUS_SYMBOLS.get(session.status, session.status),
                str(summary["total_retries"]),
                f"{summary['stages_completed']}/7",
            )
        self._print_rich(table)

    def _show(self, options: dict[str, Any]) -> None:
        session = find_session(options["session"])
        if options["json"]:
            self.stdout.write(metrics_json(workflow_metrics(session)))
            return
        self._print_summary(session)

    def _export(self, options: dict[str, Any]) -> None:
        metrics = workflow_metrics(find_session(options["session"]))
        if options["format"] == "prometheus":
            self.stdout.write(metrics_prometheus(metrics), ending="")
        else:
            self.stdout.write(metrics_json(metrics))

    def _cleanup(self, options: dict[str, Any]) -> None:
        from monitoring.retention import cleanup, parse_age

        report = cleanup(
            parse_age(options["older_than"]),
            dry_run=options["dry_run"],
            delete_sessions=options["sessions"],
        )
        self.stdout.write(str(report))

    def _cancel(self, options: dict[str, Any]) -> None:
        session = find_session(options["session"])
        if cancel_session(session):
            self.stdout.write(f"Session {session.id} cancelled.")
        else:
            self.stdout.write(
                f"Session {session.id} is {session.status}; nothing to do."
            )

    def _monitor(self, options: dict[str, Any]) -> None:
        from monitoring.monitor import watch

        final = watch(find_session(options["session"]), sys.stdout)
        if final.status != SessionStatus.COMPLETED:
            raise CommandError(
                f"Session {final.id} ended {final.status}: {final.error or 'no error'}"
            )

    def _report(self, options: dict[str, Any]) -> None:
        fmt, style, output = options["format"], options["style"], options["output"]
        if fmt == "docx" and not output:
            raise CommandError(
                "A DOCX export is binary: give a file to write it to with "
                "--output FILE."
            )
        session = find_session(options["session"])
        if session.status != SessionStatus.COMPLETED or not session.report:
            raise CommandError(
                f"Session {session.id} is {session.status} and has no report."
            )

        if fmt is None and style is None:
            content = session.report.encode()
        else:
            from research.exports import render

            content, _, _ = render(session, fmt or "md", style)
        if output:
            try:
                with open(output, "wb") as handle:
                    handle.write(content)
            except OSError as error:
                raise CommandError(
                    f"Cannot write {output}: {error.strerror}."
                ) from None
            self.stdout.write(f"Wrote {len(content)} bytes to {output}.")
            return
        self.stdout.write(content.decode(), ending="")

    def _corpus(self, options: dict[str, Any]) -> None:
        from research.corpus import get_corpus

        corpus = get_corpus()
        action = options["corpus_action"]
        if action == "stats":
            self.stdout.write(
                f"{counted(corpus.count(), 'indexed passage')} in {corpus.path} "
                "(each document of the default corpus or of a JSON Lines file "
                "is one passage; a library file adds one or more per page or "
                "section)"
            )
            return

        if action == "list":
            self._corpus_list(corpus.library_items())
            return

        if action == "remove":
            item_id = corpus.library_item_id(options["id"])
            removed = corpus.remove_library_item(item_id)
            self.stdout.write(
                f"Removed {item_id} and its {counted(removed, 'passage')}."
            )
            return

        from research import library
        from research.providers.doi import crossref_lookup

        path = options["path"]
        if path.lower().endswith((".jsonl", ".json")):
            self.stdout.write(str(corpus.add_path(path)))
            return

        with ExitStack() as stack:
            lookup = None
            if options["lookup_doi"]:
                lookup = stack.enter_context(crossref_lookup())
            if path.startswith(("http://", "https://")):
                report = library.add_url(corpus, path, lookup=lookup)
            else:
                report = library.add_path(corpus, path, lookup=lookup)
        self.stdout.write(str(report))

    def _corpus_list(self, items: list[Any]) -> None:
        if not items:
            self.stdout.write("The library is empty; add files with `corpus add`.")
            return

        from rich.table import Table

        table = Table(title="Library")
        for column in ("ID", "File", "Title", "Kind", "Passages", "Added"):
            table.add_column(column)
        for item in items:
            table.add_row(
                item.id,
                item.name,
                _shorten(item.title, 50),
                item.kind,
                str(item.passages),
                item.added_at,
            )
        self._print_rich(table)

    def _worker(self, options: dict[str, Any]) -> None:
        # The work-horse RQ forks for each job reads this to recognise its
        # parent (see research.faults).
        os.environ[WORKER_PID_VARIABLE] = str(os.getpid())
        from research.corpus import get_corpus

        get_corpus()
        call_command(
            "rqworker",
            settings.PROWZI_QUEUE,
            burst=options["burst"],
            name=options["name"],
            worker_ttl=settings.PROWZI_WORKER_TTL,
        )

    def _watchdog(self, options: dict[str, Any]) -> None:
        from research.recovery import recover, watch

        if options["once"]:
            self.stdout.write(str(recover()))
            return
        interval = settings.PROWZI_WATCHDOG_INTERVAL
        self._note(f"Watchdog: checking sessions every {interval:.0f}s")
        watch(interval)

    def _print_summary(self, session: ResearchSession) -> None:
        from rich.table import Table

        events = list(session.events.order_by("seq"))
        table = Table(title=f"Session {session.id}")
        for column in ("Stage", "Status", "Attempt", "Duration", "Details"):
            table.add_column(column)
        for stage, event in stage_table(events).items():
            table.add_row(
                stage,
                event.status,
                str(event.attempt),
                f"{event.duration_seconds:.2f}s" if event.duration_seconds else "-",
                _details_text(event.details, event.error),
            )
        self._print_rich(table)
        metrics = workflow_metrics(session)
        self.stdout.write(f"Status: {session.status}")
        self.stdout.write(f"Stages: {stages_completed(events)}/7 completed")
        self.stdout.write(f"Total Retries: {metrics.total_retries}")
        if session.error:
            self.stdout.write(f"Error: {session.error}")

    def _print_rich(self, renderable: Any) -> None:
        from rich.console import Console

        buffer = io.StringIO()
        Console(file=buffer, width=110).print(renderable)
        self.stdout.write(buffer.getvalue(), ending="")

    def _print_json(self, payload: Any) -> None:
        self.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False))

    def _note(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def _session_summary(session: ResearchSession) -> dict[str, Any]:
    events = list(session.events.order_by("seq"))
    return {
        "session_id": str(session.id),
        "prompt": session.prompt,
        "status": session.status,
        "created_at": session.created_at.isoformat(),
        "total_retries": sum(e.status == EventStatus.RETRYING for e in events),
        "stages_completed": stages_completed(events),
        "error": session.error or None,
    }


def _event_line(stage: str, status: str, attempt: int, event: Any) -> str:
    duration = f" in {event.duration_seconds:.2f}s" if event.duration_seconds else ""
    error = f": {event.error}" if event.error else ""
    return f"  {stage:<10} {status:<9} attempt {attempt}{duration}{error}"


def _details_text(details: dict[str, Any], error: str | None) -> str:
    if error:
        return _shorten(error, 50)
    return ", ".join(f"{key}: {value}" for key, value in details.items())


def _shorten(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 2] + ".."
