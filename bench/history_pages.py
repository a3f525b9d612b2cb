"""The history page and the admin change lists at 100,000 sessions and
1,000,000 stage events.

Fills a migrated scratch SQLite database (the product's settings: WAL,
synchronous=NORMAL) with users, sessions, stage events and checkpoints, then
requests pages through Django's test Client in this process, logged in as a
staff user (a superuser, like the demo's operator) and as an ordinary user
who owns a share of the sessions. Server time is the wall time of
`Client.get`; the query count comes from CaptureQueriesContext on one more
request of the same page.

The rows' payloads are real: five sessions are first run in-process by the
offline engine on the default corpus (built in the scratch directory), and
their reports, checkpoint results and stage event details are reused for the
stored sessions; prompts come from TOPICS and TEMPLATES. Page sizes are not a
request parameter anywhere: the history page uses monitoring.views.PAGE_SIZE
and the admin ModelAdmin.list_per_page (Django's default, 100). The script
sets them in its own process to compare page sizes; the product's own values
are marked.
"""

import argparse
import json
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

from research.stages import STAGES

SESSIONS = 100_000
EVENTS = 1_000_000
QUICK_SESSIONS = 10_000
QUICK_EVENTS = 100_000
USERS = 10  # ordinary users, each owning OWNED_SHARE of the sessions
OWNED_SHARE = 0.09  # the remaining 10% were started from the command line
DAYS = 100  # the sessions spread evenly over this many days, up to now
CHECKPOINT_DAYS = 7  # as after `prowzi cleanup --older-than 7d` every night
CHECKPOINTING_SHARE = 0.9
NEWEST_QUEUED = 20
NEWEST_RUNNING = 10
SEED = 20240601
BATCH = 20_000
TARGET_P95_MS = 150.0
REQUESTS = 20
BUDGET_SECONDS = 8.0  # per page; fewer than REQUESTS when a page is this slow
SLOW_MS = 2000.0  # a slower page takes at most 3 requests in SLOW_BUDGET_SECONDS
SLOW_BUDGET_SECONDS = 45.0
HISTORY_SIZES = (25, 100)  # 25 is monitoring.views.PAGE_SIZE
ADMIN_SIZES = (100, 20, 400)  # 100 is the product's (Django's default)
DEEP_SHARE = 0.75  # a "deep page" starts this far into the rows a user sees

# Prompts of the real runs whose payloads are reused; topics the default
# corpus covers (those of bench/load_test.py).
RUN_TOPICS = (
    "renewable energy and the power grid",
    "the causes of the French Revolution",
    "CRISPR gene editing",
    "medieval trade routes",
    "jazz between 1920 and 1960",
)
TOPICS = (
    *RUN_TOPICS,
    "climate change and sea level rise",
    "antibiotic resistance in bacteria",
    "vaccine development and immune response",
    "deep learning for image segmentation",
    "reinforcement learning for robot control",
    "quantum computing algorithms",
    "dark matter and galaxy rotation curves",
    "the industrial revolution and urbanization",
    "the roman empire and its decline",
    "colonialism in africa",
    "the cold war and nuclear deterrence",
    "globalization and international trade",
    "photosynthesis in plants",
    "plate tectonics and earthquakes",
    "coral reefs and ocean acidification",
    "public health and infectious disease",
    "mental health and depression treatment",
    "nutrition and obesity",
    "philosophy of mind and consciousness",
    "music theory, harmony and tonality",
)
TEMPLATES = (
    "Write a literature review on {}",
    "Write a short report on {}",
    "Write an essay about {}",
    "Prepare a brief on {} for a policy audience",
)
# A word for the prompt search: in 1 of the TOPICS (about 4% of prompts).
SEARCH_WORD = "quantum"
STATUS_FILTER = "failed"

# What happened to a session, with its share of the older sessions (all but
# the newest, which are queued or running). The mix makes the average about
# ten events per session; the fix-up below makes the total exact.
KINDS = (
    ("completed", 0.43),
    ("rerun", 0.05),  # a completed re-run: skipped stages, then the rest
    ("failed_search", 0.23),  # "The corpus holds nothing on ..."
    ("failed_retries", 0.08),  # a stage failed three attempts
    ("cancelled", 0.08),  # cancelled while a stage ran
    ("cancelled_queued", 0.04),  # cancelled before a worker took it
    ("interrupted", 0.09),  # its worker died
)
STATUS_OF = {
    "completed": "completed",
    "rerun": "completed",
    "failed_search": "failed",
    "failed_retries": "failed",
    "cancelled": "cancelled",
    "cancelled_queued": "cancelled",
    "interrupted": "interrupted",
    "running": "running",
    "queued": "queued",
}
RETRY_SHARE = 0.05  # completed sessions with one stage retried once
TRANSIENT_ERROR = "openalex: HTTP 503 Service Unavailable (retry after 2s)"


@dataclass
class RunPayload:
    """What a real session left behind: per stage, its result, details and
    duration; and its report."""

    results: dict[str, Any]
    details: dict[str, dict[str, Any]]
    durations: dict[str, float]
    report: str


@dataclass
class Plan:
    """One stored session: what happened to it."""

    kind: str
    stage: int = 0  # the stage it stopped at, or re-ran from
    retried: int | None = None  # a completed session's retried stage

    def events(self) -> int:
        if self.kind == "completed":
            return 14 + (2 if self.retried is not None else 0)
        if self.kind == "rerun":
            return self.stage + 2 * (7 - self.stage)
        if self.kind == "failed_search":
            return 6
        if self.kind == "failed_retries":
            return 2 * self.stage + 6
        if self.kind in ("cancelled", "interrupted", "running"):
            return 2 * self.stage + 1
        return 0


@dataclass
class Page:
    label: str
    kind: str  # the label without a page number, the same at every size
    url: str
    who: str  # "staff" or "user"
    size: int
    product_size: bool
    setup: Callable[[], None]
    timings_ms: list[float] = field(default_factory=list)
    queries: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)
    rows: int = 0
    query_counts: set[int] = field(default_factory=set)
    sql_ms: float = 0.0


# ------------------------------------------------------------------ payloads


def real_runs(directory: Path) -> list[RunPayload]:
    """Run each RUN_TOPICS prompt through the seven offline stages in this
    process, on the default corpus built in the scratch directory."""
    from research.corpus import Corpus
    from research.schemas import ResearchOptions
    from research.stages import StageInput, final_draft, run_stage, telemetry_details

    corpus = Corpus(directory / "corpus.sqlite3")
    payloads = []
    for topic in RUN_TOPICS:
        results: dict[str, Any] = {}
        payload = RunPayload({}, {}, {}, "")
        for stage in STAGES:
            stage_input = StageInput(
                prompt=f"Write a literature review on {topic}",
                options=ResearchOptions(),
                corpus=corpus,
                results=results,
            )
            started = time.perf_counter()
            result = run_stage(stage, stage_input)
            payload.durations[stage] = time.perf_counter() - started
            results[stage] = result
            payload.results[stage] = result.model_dump(mode="json")
            payload.details[stage] = telemetry_details(result)
        draft = final_draft(results)
        payload.report = draft.markdown if draft is not None else ""
        payloads.append(payload)
    return payloads


# ------------------------------------------------------------------ plans


def plans(sessions: int, events: int, rng: random.Random) -> list[Plan]:
    """What happened to each session, oldest first, with exactly `events`
    stage events in all."""
    names = [name for name, _ in KINDS]
    weights = [weight for _, weight in KINDS]
    older = sessions - NEWEST_QUEUED - NEWEST_RUNNING
    made: list[Plan] = []
    for _ in range(older):
        kind = rng.choices(names, weights)[0]
        plan = Plan(kind)
        if kind == "completed" and rng.random() < RETRY_SHARE:
            plan.retried = rng.randrange(7)
        elif kind == "rerun":
            plan.stage = rng.randint(1, 6)
        elif kind in ("failed_retries", "cancelled", "interrupted"):
            plan.stage = rng.randrange(7)
        elif kind == "failed_search":
            plan.stage = 2
        made.append(plan)
    made.extend(Plan("queued") for _ in range(NEWEST_QUEUED))
    made.extend(Plan("running", stage=number % 7) for number in range(NEWEST_RUNNING))

    difference = events - sum(plan.events() for plan in made)
    if difference % 2:
        # A queued session becomes running in its first stage, or back.
        if difference > 0:
            plan = next(p for p in made if p.kind == "queued")
            plan.kind, plan.stage = "running", 0
            difference -= 1
        else:
            plan = next(p for p in made if p.kind == "running" and p.stage == 0)
            plan.kind = "queued"
            difference += 1
    # Cancelled and interrupted sessions stop a stage later or earlier.
    movable = [p for p in made[:older] if p.kind in ("cancelled", "interrupted")]
    rng.shuffle(movable)
    while difference:
        moved = False
        for plan in movable:
            if difference > 0 and plan.stage < 6:
                plan.stage += 1
                difference -= 2
                moved = True
            elif difference < 0 and plan.stage > 0:
                plan.stage -= 1
                difference += 2
                moved = True
            if not difference:
                break
        if not moved:
            raise RuntimeError("cannot reach the event count with this mix")
    assert sum(plan.events() for plan in made) == events
    return made


def event_rows(
    plan: Plan, payload: RunPayload, started: datetime, topic: str
) -> Iterator[tuple[str, str, int, float | None, datetime, dict[str, Any], str]]:
    """(stage, status, attempt, duration, timestamp, details, error) of a
    session's events, in order."""
    from research.engine.search import nothing_found_message

    moment = started

    def step(seconds: float) -> datetime:
        nonlocal moment
        moment += timedelta(seconds=seconds)
        return moment

    def ran(stage: str) -> Iterator[Any]:
        duration = payload.durations[stage]
        yield (stage, "started", 1, None, step(0.01), {}, "")
        attempt = 1
        if plan.retried is not None and STAGES[plan.retried] == stage:
            yield (
                stage,
                "retrying",
                1,
                0.5,
                step(0.5),
                {"retry_in_seconds": 1.0},
                TRANSIENT_ERROR,
            )
            attempt = 2
            yield (stage, "started", 2, None, step(1.0), {}, "")
        yield (
            stage,
            "completed",
            attempt,
            duration,
            step(duration),
            payload.details[stage],
            "",
        )

    kind = plan.kind
    if kind == "completed":
        for stage in STAGES:
            yield from ran(stage)
    elif kind == "rerun":
        for stage in STAGES[: plan.stage]:
            yield (
                stage,
                "skipped",
                1,
                None,
                step(0.01),
                {"reason": "restored from checkpoint"},
                "",
            )
        for stage in STAGES[plan.stage :]:
            yield from ran(stage)
    elif kind == "failed_search":
        for stage in STAGES[:2]:
            yield from ran(stage)
        yield ("search", "started", 1, None, step(0.01), {}, "")
        yield ("search", "failed", 1, 0.2, step(0.2), {}, nothing_found_message(topic))
    elif kind == "failed_retries":
        for stage in STAGES[: plan.stage]:
            yield from ran(stage)
        stage = STAGES[plan.stage]
        for attempt in (1, 2):
            yield (stage, "started", attempt, None, step(0.01), {}, "")
            yield (
                stage,
                "retrying",
                attempt,
                30.0,
                step(30.0),
                {"retry_in_seconds": 2.0 * attempt},
                TRANSIENT_ERROR,
            )
        yield (stage, "started", 3, None, step(2.0), {}, "")
        yield (stage, "failed", 3, 30.0, step(30.0), {}, TRANSIENT_ERROR)
    elif kind in ("cancelled", "interrupted", "running"):
        for stage in STAGES[: plan.stage]:
            yield from ran(stage)
        yield (STAGES[plan.stage], "started", 1, None, step(0.01), {}, "")


# ------------------------------------------------------------------ filling


@dataclass
class Filled:
    staff_id: int
    user_id: int
    sessions: int
    events: int
    checkpoints: int
    statuses: Counter[str]
    seconds: float
    database_bytes: int
    sample_session: str


def checkpoint_row(
    session_id: str,
    fingerprint: str,
    results: dict[str, str],
    stage: str,
    metrics: dict[str, Any],
    created: str,
) -> tuple[Any, ...]:
    """The values of one research_checkpoint row, in fill()'s column order."""
    from research.schemas import SCHEMA_VERSION
    from research.sessions import PIPELINE_VERSION

    return (
        session_id,
        stage,
        SCHEMA_VERSION,
        fingerprint,
        PIPELINE_VERSION,
        results[stage],
        json.dumps(metrics),
        created,
    )


def fill(
    database: Path, sessions: int, events: int, payloads: list[RunPayload]
) -> Filled:
    """Users through the ORM; sessions, events and checkpoints with
    executemany in batches of BATCH rows, one transaction per table."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from research.sessions import PIPELINE_VERSION

    started = time.perf_counter()
    staff = User.objects.create_superuser("operator", "", "bench-password")
    users = [
        User.objects.create_user(f"user{number:02d}", "", "bench-password")
        for number in range(USERS)
    ]

    rng = random.Random(SEED)
    made = plans(sessions, events, rng)
    adapt = connection.ops.adapt_datetimefield_value
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(days=DAYS)
    spacing = DAYS * 86_400 / sessions
    checkpoint_after = now - timedelta(days=CHECKPOINT_DAYS)
    options = json.dumps({"max_sources": 24})

    session_rows: list[tuple[Any, ...]] = []
    event_batch: list[tuple[Any, ...]] = []
    checkpoint_batch: list[tuple[Any, ...]] = []
    statuses: Counter[str] = Counter()
    ids: list[str] = []
    counts = {"events": 0, "checkpoints": 0}
    connection.ensure_connection()
    raw = connection.connection

    def flush_events() -> None:
        raw.executemany(
            "INSERT INTO research_stageevent (session_id, seq, stage, status, "
            "attempt, duration_seconds, timestamp, details, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            event_batch,
        )
        counts["events"] += len(event_batch)
        event_batch.clear()

    def flush_checkpoints() -> None:
        raw.executemany(
            "INSERT INTO research_checkpoint (session_id, stage, schema_version, "
            "fingerprint, pipeline_version, result, stage_metrics, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            checkpoint_batch,
        )
        counts["checkpoints"] += len(checkpoint_batch)
        checkpoint_batch.clear()

    result_json = [
        {stage: json.dumps(p.results[stage]) for stage in STAGES} for p in payloads
    ]
    with transaction.atomic():
        for number, plan in enumerate(made):
            session_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            ids.append(session_id)
            payload_number = number % len(payloads)
            payload = payloads[payload_number]
            topic = TOPICS[rng.randrange(len(TOPICS))]
            prompt = TEMPLATES[rng.randrange(len(TEMPLATES))].format(topic)
            created = first + timedelta(seconds=number * spacing + rng.uniform(0, 30))
            status = STATUS_OF[plan.kind]
            statuses[status] += 1
            owner_draw = rng.random()
            owner = (
                users[int(owner_draw / OWNED_SHARE)].pk
                if owner_draw < OWNED_SHARE * USERS
                else None
            )
            checkpointing = plan.kind == "rerun" or rng.random() < CHECKPOINTING_SHARE
            fingerprint = uuid.UUID(int=rng.getrandbits(128)).hex * 2
            results = result_json[payload_number]
            began = (
                created + timedelta(seconds=rng.uniform(0.2, 3.0))
                if plan.kind not in ("queued", "cancelled_queued")
                else None
            )
            rows = (
                list(event_rows(plan, payload, began, topic))
                if began is not None
                else []
            )
            last = rows[-1][4] if rows else created
            for seq, (
                stage,
                state,
                attempt,
                duration,
                moment,
                details,
                error,
            ) in enumerate(rows, start=1):
                event_batch.append(
                    (
                        session_id,
                        seq,
                        stage,
                        state,
                        attempt,
                        duration,
                        adapt(moment),
                        json.dumps(details),
                        error,
                    )
                )
                if (
                    state == "completed"
                    and checkpointing
                    and created >= checkpoint_after
                ):
                    metrics = {
                        "duration_seconds": duration,
                        "attempt": attempt,
                        **details,
                    }
                    checkpoint_batch.append(
                        checkpoint_row(
                            session_id,
                            fingerprint,
                            results,
                            stage,
                            metrics,
                            adapt(moment),
                        )
                    )
            if plan.kind == "rerun" and checkpointing and created >= checkpoint_after:
                for stage in STAGES[: plan.stage]:
                    checkpoint_batch.append(
                        checkpoint_row(
                            session_id, fingerprint, results, stage, {}, adapt(began)
                        )
                    )
            error = next((row[6] for row in reversed(rows) if row[1] == "failed"), "")
            current = rows[-1][0] if rows else ""
            parent = (
                ids[rng.randrange(max(1, number - 1000), number)]
                if plan.kind == "rerun" and number > 1
                else None
            )
            session_rows.append(
                (
                    session_id,
                    prompt,
                    options,
                    status,
                    checkpointing,
                    fingerprint,
                    PIPELINE_VERSION,
                    adapt(created),
                    adapt(began) if began is not None else None,
                    adapt(last) if status == "completed" else None,
                    adapt(last),
                    current,
                    error,
                    payload.report if status == "completed" else "",
                    1 if began is not None else 0,
                    len(rows),
                    f"bench-worker-{number % 4}" if status == "running" else "",
                    uuid.UUID(int=rng.getrandbits(128)).hex
                    if status == "running"
                    else None,
                    adapt(now + timedelta(seconds=60)) if status == "running" else None,
                    owner,
                    parent,
                )
            )
            if len(session_rows) >= BATCH:
                insert_sessions(raw, session_rows)
                session_rows.clear()
            if len(event_batch) >= BATCH:
                flush_events()
            if len(checkpoint_batch) >= BATCH // 10:
                flush_checkpoints()
        insert_sessions(raw, session_rows)
        # Sessions first: the foreign keys are checked at commit.
        flush_events()
        flush_checkpoints()

    with connection.cursor() as cursor:
        # The fill left its pages in the WAL; a long-running
        # server's database has them in the main file.
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds = time.perf_counter() - started
    sample = next(
        session_id
        for session_id, plan in zip(reversed(ids), reversed(made), strict=True)
        if plan.kind == "completed"
    )
    return Filled(
        staff_id=staff.pk,
        user_id=users[0].pk,
        sessions=len(made),
        events=counts["events"],
        checkpoints=counts["checkpoints"],
        statuses=statuses,
        seconds=seconds,
        database_bytes=database.stat().st_size,
        sample_session=sample,
    )


def insert_sessions(raw: Any, rows: list[tuple[Any, ...]]) -> None:
    raw.executemany(
        "INSERT INTO research_researchsession (id, prompt, options, status, "
        "checkpointing, fingerprint, pipeline_version, created_at, started_at, "
        "completed_at, updated_at, current_stage, error, report, runs, last_seq, "
        "lease_owner, lease_token, lease_expires_at, owner_id, parent_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def check(filled: Filled) -> None:
    """Read the rows back through the ORM: the counts, and one session's
    progress as the history page computes it."""
    from monitoring.progress import with_progress
    from research.models import Checkpoint, ResearchSession, StageEvent

    assert ResearchSession.objects.count() == filled.sessions
    assert StageEvent.objects.count() == filled.events
    assert Checkpoint.objects.count() == filled.checkpoints
    session = with_progress(
        ResearchSession.objects.filter(pk=filled.sample_session)
    ).get()
    assert session.stages_done == 7, session.stages_done
    assert session.report and session.completed_at is not None


# ------------------------------------------------------------------ pages


def pages(filled: Filled) -> list[Page]:
    from django.contrib import admin

    from monitoring import views
    from research.models import Checkpoint, ResearchSession, StageEvent

    product_history = views.PAGE_SIZE
    made: list[Page] = []

    def history_size(size: int) -> Callable[[], None]:
        def apply() -> None:
            views.PAGE_SIZE = size

        return apply

    def admin_size(model: Any, size: int) -> Callable[[], None]:
        def apply() -> None:
            admin.site._registry[model].list_per_page = size

        return apply

    visible = {
        "staff": ResearchSession.objects.count(),
        "user": ResearchSession.objects.filter(owner_id=filled.user_id).count(),
    }
    for who in ("staff", "user"):
        for size in HISTORY_SIZES:
            deep = int(visible[who] * DEEP_SHARE) // size + 1
            apply = history_size(size)
            product = size == product_history
            for label, kind, url in (
                ("history, first page", "", "/"),
                (f"history, page {deep}", "history, deep page", f"/?page={deep}"),
                (
                    f"history, status={STATUS_FILTER}",
                    "",
                    f"/?status={STATUS_FILTER}",
                ),
                (
                    f"history, prompt contains {SEARCH_WORD!r}",
                    "",
                    f"/?q={SEARCH_WORD}",
                ),
            ):
                made.append(Page(label, kind or label, url, who, size, product, apply))

    from monitoring.paging import COUNT_LIMIT

    lists = (
        (
            ResearchSession,
            "sessions",
            "/admin/research/researchsession/",
            (
                (f"status={STATUS_FILTER}", f"?status__exact={STATUS_FILTER}"),
                (f"search {SEARCH_WORD!r}", f"?q={SEARCH_WORD}"),
            ),
        ),
        (
            StageEvent,
            "stage events",
            "/admin/research/stageevent/",
            (
                ("status=failed", "?status__exact=failed"),
                (
                    "one session's",
                    f"?session__id__exact={uuid.UUID(filled.sample_session)}",
                ),
            ),
        ),
        (
            Checkpoint,
            "checkpoints",
            "/admin/research/checkpoint/",
            (
                (
                    "one session's",
                    f"?session__id__exact={uuid.UUID(filled.sample_session)}",
                ),
            ),
        ),
    )
    for model, name, base, extra in lists:
        listed = min(COUNT_LIMIT, model.objects.count())
        for size in ADMIN_SIZES:
            apply = admin_size(model, size)
            product = size == 100
            deep = int(listed * DEEP_SHARE) // size + 1
            entries = [
                (f"admin {name}, first page", "", base),
                (
                    f"admin {name}, page {deep}",
                    f"admin {name}, deep page",
                    f"{base}?p={deep}",
                ),
                *(
                    (f"admin {name}, {label}", "", f"{base}{query}")
                    for label, query in extra
                ),
            ]
            for label, kind, url in entries:
                made.append(
                    Page(label, kind or label, url, "staff", size, product, apply)
                )
    return made


def request(page: Page, client: Any) -> float:
    """One timed request under CaptureQueriesContext; returns milliseconds
    and keeps the page's query count, slowest queries and row count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(page.url)
        elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{page.url} answered {response.status_code}")
    page.query_counts.add(len(captured.captured_queries))
    page.queries = len(captured.captured_queries)
    page.sql_ms = sum(
        float(query["time"]) * 1000 for query in captured.captured_queries
    )
    page.slowest = sorted(
        (
            (float(query["time"]) * 1000, query["sql"])
            for query in captured.captured_queries
        ),
        reverse=True,
    )[:2]
    body = response.content.decode()
    if "/admin/" in page.url:
        page.rows = body.count("<tr>") - 1
    else:
        page.rows = body.count("<tr data-session-id=")
    return elapsed


def measure(page: Page, client: Any) -> None:
    """A warm-up request, then up to REQUESTS timed ones within BUDGET_SECONDS
    (at least 3). A page slower than SLOW_MS keeps its first request as a
    sample and takes at most 3 within SLOW_BUDGET_SECONDS (at least 1)."""
    page.setup()
    started = time.perf_counter()
    first = request(page, client)
    wanted, minimum, budget = REQUESTS, 3, BUDGET_SECONDS
    if first >= SLOW_MS:
        page.timings_ms.append(first)
        wanted, minimum, budget = 3, 1, SLOW_BUDGET_SECONDS
    deadline = started + budget
    while len(page.timings_ms) < wanted:
        if time.perf_counter() > deadline and len(page.timings_ms) >= minimum:
            break
        page.timings_ms.append(request(page, client))


def print_page(page: Page) -> None:
    size = f"{page.size}{'*' if page.product_size else ''}"
    p95 = _common.percentile(page.timings_ms, 0.95)
    print(
        f"{page.who:5} {page.label:46} size {size:4} n={len(page.timings_ms):2} "
        f"median {_common.median(page.timings_ms):8.1f} ms  p95 {p95:8.1f} ms  "
        f"queries {page.queries:2} (SQL {page.sql_ms:7.1f} ms, slowest "
        f"{page.slowest[0][0]:7.1f} ms)  rows {page.rows}",
        flush=True,
    )


def explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return [str(row[-1]) for row in cursor.fetchall()]


# ------------------------------------------------------------------ experiments


def wide_rows_experiment(rounds: int = 3) -> None:
    """What the report column costs a full scan of the sessions table: the
    same LIKE count on the table, and on a copy without `report`."""
    from django.db import connection

    columns = [
        column.name
        for column in connection.introspection.get_table_description(
            connection.cursor(), "research_researchsession"
        )
        if column.name != "report"
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_slim_session AS SELECT "
            + ", ".join(f'"{name}"' for name in columns)
            + " FROM research_researchsession"
        )
    sql = "SELECT count(*) FROM {} WHERE prompt LIKE '%quantum%'"
    timings: dict[str, list[float]] = {
        "research_researchsession": [],
        "bench_slim_session": [],
    }
    for _ in range(rounds):
        for table in timings:
            with connection.cursor() as cursor:
                started = time.perf_counter()
                cursor.execute(sql.format(table))
                cursor.fetchone()
                timings[table].append((time.perf_counter() - started) * 1000)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'research_researchsession'"
        )
        table_bytes = cursor.fetchone()[0]
        cursor.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'bench_slim_session'"
        )
        slim_bytes = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_slim_session")
    print(
        f"\nfull scan of the sessions (prompt LIKE '%{SEARCH_WORD}%', count): "
        f"table as is ({table_bytes / 2**20:.0f} MiB) median "
        f"{_common.median(timings['research_researchsession']):.0f} ms; a copy "
        f"without the report column ({slim_bytes / 2**20:.0f} MiB) median "
        f"{_common.median(timings['bench_slim_session']):.0f} ms"
    )


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_SESSIONS} sessions and {QUICK_EVENTS} events",
    )
    parser.add_argument("--only", default="", help="measure pages whose label has this")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    sessions, events = (
        (QUICK_SESSIONS, QUICK_EVENTS) if args.quick else (args.sessions, args.events)
    )

    _common.print_header("History page and admin change lists at scale")
    with _common.scratch("history", keep=args.keep) as space:
        space.apply_env(PROWZI_CORPUS_PATH=str(space.directory / "corpus.sqlite3"))
        import django

        django.setup()
        from django.test import Client

        started = time.perf_counter()
        payloads = real_runs(space.directory)
        report_kib = (
            sum(len(p.report.encode()) for p in payloads) / len(payloads) / 1024
        )
        result_kib = (
            sum(len(json.dumps(p.results[s])) for p in payloads for s in STAGES)
            / len(payloads)
            / 1024
        )
        print(
            f"payloads: {len(payloads)} real offline sessions in "
            f"{time.perf_counter() - started:.1f}s; report {report_kib:.1f} KiB, "
            f"checkpoint results {result_kib:.0f} KiB per session (7 stages)"
        )

        filled = fill(space.database, sessions, events, payloads)
        check(filled)
        wal = space.database.with_name(space.database.name + "-wal")
        size = filled.database_bytes + (wal.stat().st_size if wal.exists() else 0)
        shares = ", ".join(
            f"{status} {count}" for status, count in filled.statuses.most_common()
        )
        print(
            f"filled in {filled.seconds:.1f}s: {filled.sessions} sessions ({shares}), "
            f"{filled.events} stage events, {filled.checkpoints} checkpoints "
            f"(sessions of the last {CHECKPOINT_DAYS} days); {USERS} users own "
            f"{OWNED_SHARE:.0%} each; database {size / 2**20:.0f} MiB"
        )
        print(
            f"each page: one warm-up request, then {REQUESTS} timed (at least 3, "
            f"fewer past {BUDGET_SECONDS:.0f}s; pages slower than "
            f"{SLOW_MS / 1000:.0f}s: 3, or 1 at a page size not the product's), "
            "each under CaptureQueriesContext; * marks the product's page size\n",
            flush=True,
        )

        from django.contrib.auth.models import User

        clients = {}
        for who, user_id in (("staff", filled.staff_id), ("user", filled.user_id)):
            client = Client(HTTP_HOST="127.0.0.1")
            client.force_login(User.objects.get(pk=user_id))
            clients[who] = client

        measured = []
        slow: dict[tuple[str, str], float] = {}
        for page in pages(filled):
            if args.only and args.only not in page.label:
                continue
            took = slow.get((page.who, page.kind))
            if took is not None and not page.product_size:
                print(
                    f"{page.who:5} {page.label:46} size {page.size:<4} not measured: "
                    f"{took / 1000:.0f}s a request at the product's size",
                    flush=True,
                )
                continue
            measure(page, clients[page.who])
            print_page(page)
            measured.append(page)
            if page.product_size and _common.median(page.timings_ms) >= SLOW_MS:
                slow[(page.who, page.kind)] = _common.median(page.timings_ms)

        print("\nquery count by page size (the same page at each size):")
        by_label: dict[tuple[str, str], dict[int, int]] = {}
        for page in measured:
            by_label.setdefault((page.who, page.kind), {})[page.size] = page.queries
        for (who, label), counts in by_label.items():
            same = "same" if len(set(counts.values())) == 1 else "DIFFERS"
            listed = ", ".join(f"{size}: {count}" for size, count in counts.items())
            print(f"  {who:5} {label:46} {listed}  ({same})")

        missed = [
            p
            for p in measured
            if _common.percentile(p.timings_ms, 0.95) >= TARGET_P95_MS
        ]
        print(
            f"\ntarget p95 < {TARGET_P95_MS:.0f} ms: {len(measured) - len(missed)} of "
            f"{len(measured)} pages met it"
        )
        seen: set[str] = set()
        for page in missed:
            for took, sql in page.slowest[:1]:
                if took < TARGET_P95_MS / 3:
                    continue
                short = shorten(sql)
                if short[:160] in seen:
                    continue
                seen.add(short[:160])
                print(
                    f"\nslow query of {page.who} {page.label} (size {page.size}), "
                    f"{took:.0f} ms:\n  {short}"
                )
                for line in explain(sql):
                    print(f"    plan: {line}")

        wide_rows_experiment()


def shorten(sql: str) -> str:
    """The SQL with long column lists elided, so that its shape shows."""
    import re

    def elide(match: re.Match[str]) -> str:
        body = match.group(2)
        if len(body) < 200:
            return match.group(0)
        return f"{match.group(1)} <{body.count(',') + 1} columns> {match.group(3)}"

    sql = re.sub(r"(SELECT(?: DISTINCT)?) (.*?) (FROM )", elide, sql, count=1)
    sql = re.sub(r"(GROUP BY) (.*?) (ORDER BY|LIMIT|$)", elide, sql, count=1)
    return sql[:1500]


if __name__ == "__main__":
    main()
