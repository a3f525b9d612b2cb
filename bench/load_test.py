"""Load test: many sessions through two web servers, watched live over websockets.

    .venv/bin/python bench/load_test.py

Everything runs on loopback and is started here: one PostgreSQL, one Redis,
two daphne web servers, four `prowzi worker` processes and one `prowzi
watchdog`. Users log in and submit sessions through the web form
(POST /sessions/new/ with login and CSRF) from a few concurrent HTTP clients,
alternating between the two web servers; websocket clients split across both
servers watch the sessions (/ws/sessions/<id>/?since=0). Each session is
watched by two clients, as a rule one on each server, so every session's
events have to cross from the worker through Redis to both servers.

It prints throughput (sessions completed per minute) and the latency from a
stage event's timestamp to its arrival at a client, then checks against the
database that every session completed, that each stage has exactly one
`completed` event per session, and that every client received every event of
the sessions it watched, in order. It exits 0 only if every check passed, and
stops everything it started, whatever happens.

Needs the `bench` extra: .venv/bin/pip install -e '.[dev,bench]'.
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from prowzi_site import postgres, services  # noqa: E402
from prowzi_site.bootstrap import descendants, is_running  # noqa: E402

PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
DAPHNE = PROJECT_ROOT / ".venv" / "bin" / "daphne"
SECRET_KEY = "load-test-only-secret-key-not-for-any-real-server-0123456789"
TOPICS = (
    "renewable energy and the power grid",
    "the causes of the French Revolution",
    "CRISPR gene editing",
    "medieval trade routes",
    "jazz between 1920 and 1960",
)
STAGE_COUNT = 7
WEB_POOL_SIZE = 10
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}

logger = logging.getLogger("load_test")


@dataclass
class Options:
    sessions: int
    submitters: int
    clients: int
    workers: int
    timeout: float
    durable: bool
    keep: bool


@dataclass
class Watch:
    """One client's view of one session, as its websocket delivered it."""

    client: int
    server: int
    session_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    status: str = ""
    error: str = ""


@dataclass
class Run:
    submitted: dict[int, str] = field(default_factory=dict)
    submit_seconds: list[float] = field(default_factory=list)
    watches: list[Watch] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    # From the database: first session created to last one completed.
    busy_seconds: float = 0.0


# Services


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    web_ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    database: postgres.LocalPostgres | None = None

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def spawn(
        self, name: str, command: list[str], **env: str
    ) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env={**self.env, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def manage(self, *args: str) -> None:
        finished = subprocess.run(
            [str(PYTHON), "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if finished.returncode != 0:
            tail = (finished.stderr or finished.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"manage.py {args[0]} failed: {' / '.join(tail)}")


@contextmanager
def running_stack(options: Options) -> Iterator[Stack]:
    """Start PostgreSQL, Redis, the web servers, workers and the watchdog;
    stop them all on the way out."""
    root = Path(tempfile.mkdtemp(prefix="prowzi-load-"))
    stack = Stack(root=root, env={}, web_ports=[])
    succeeded = False
    try:
        _start(stack, options)
        yield stack
        succeeded = True
    finally:
        _stop(stack)
        if succeeded and not options.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"Logs and scratch files kept in {root}")


def _start(stack: Stack, options: Options) -> None:
    logger.info("Starting PostgreSQL")
    stack.database = postgres.start_postgres(
        stack.logs, durable=options.durable, max_connections=300
    )
    redis_port = services.free_port()
    logger.info("Starting Redis on port %d", redis_port)
    stack.processes.append(services.start_redis(redis_port, stack.root / "redis"))

    stack.env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "prowzi_site.settings",
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PROWZI_HTTPS": "false",
        "DATABASE_URL": stack.database.url(),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "PROWZI_CHECKPOINT_DIR": str(stack.root / "checkpoints"),
        "PROWZI_CORPUS_PATH": str(stack.root / "corpus" / "corpus.sqlite3"),
        "PROWZI_FAULTS": "",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("PROWZI_LLM_MODEL", "PROWZI_EVENT_LOG", "PROWZI_TEST_DATABASE"):
        stack.env.pop(name, None)

    logger.info("Migrating and collecting static files")
    stack.manage("migrate", "--noinput")
    stack.manage("collectstatic", "--noinput")

    stack.web_ports = [services.free_port() for _ in range(2)]
    for index, port in enumerate(stack.web_ports):
        logger.info("Starting web server %d on port %d", index, port)
        stack.spawn(
            f"web-{index}",
            [
                str(DAPHNE),
                *("-b", "127.0.0.1", "-p", str(port)),
                "prowzi_site.asgi:application",
            ],
            # As deploy/README.md says: web servers keep a connection pool.
            PROWZI_DB_POOL_SIZE=str(WEB_POOL_SIZE),
        )
    # The first worker builds the corpus index; the others find it there.
    logger.info("Starting %d workers and the watchdog", options.workers)
    for index in range(options.workers):
        stack.spawn(
            f"worker-{index}",
            [str(PYTHON), "manage.py", "prowzi", "worker", "--name", f"load-{index}"],
        )
    stack.spawn("watchdog", [str(PYTHON), "manage.py", "prowzi", "watchdog"])

    for port in stack.web_ports:
        services.wait_for_port(port, timeout=60)
    _wait_for_workers(stack, options.workers)


def _wait_for_workers(stack: Stack, count: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = [stack.logs / f"worker-{index}.log" for index in range(count)]
        ready = sum("Listening on" in _read(log) for log in logs)
        if ready == count:
            return
        dead = [p for p in stack.processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a service exited early; see {stack.logs}")
        time.sleep(0.2)
    raise TimeoutError(f"workers not ready after {timeout:.0f}s; see {stack.logs}")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _stop(stack: Stack) -> None:
    # Newest first: the watchdog, workers, web servers, then Redis. An RQ
    # work-horse leaves its parent's process group, so each process's
    # descendants are collected before it is stopped.
    for process in reversed(stack.processes):
        children = descendants(process.pid)
        services.stop(process, timeout=10)
        for child in children:
            if is_running(child):
                _kill(child)
    if stack.database is not None:
        postgres.stop_postgres(stack.database)


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# Users


def create_users(stack: Stack, count: int) -> list[tuple[str, str]]:
    """Create plain (non-staff) users in the load test's database."""
    os.environ.update(stack.env)
    import django

    django.setup()
    from django.contrib.auth.models import User

    users = []
    for index in range(count):
        name, password = f"load-user-{index}", secrets.token_urlsafe(16)
        User.objects.create_user(name, password=password)
        users.append((name, password))
    return users


# HTTP and websocket clients


async def log_in(base_url: str, user: tuple[str, str]) -> Any:
    import httpx

    client = httpx.AsyncClient(base_url=base_url, timeout=60.0)
    await client.get("/accounts/login/")
    response = await client.post(
        "/accounts/login/",
        data={
            "username": user[0],
            "password": user[1],
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    if response.status_code != 302:
        await client.aclose()
        raise RuntimeError(f"login as {user[0]} answered {response.status_code}")
    return client


async def submit(client: Any, prompt: str) -> str:
    """Post the new-session form; return the session id it redirects to."""
    response = await client.post(
        "/sessions/new/",
        data={
            "prompt": prompt,
            "max_sources": "24",
            "verify_threshold": "0.35",
            "evaluation_threshold": "0.7",
            "checkpointing": "on",
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    location = str(response.headers.get("location", ""))
    parts = [part for part in location.split("/") if part]
    if response.status_code != 302 or len(parts) < 2 or parts[-2] != "sessions":
        raise RuntimeError(
            f"POST /sessions/new/ answered {response.status_code} {location!r}"
        )
    return parts[-1]


async def watch(watch: Watch, port: int, cookie: str, deadline: float) -> None:
    """Follow one session until the stream says it ended, recording each event."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    url = f"ws://127.0.0.1:{port}/ws/sessions/{watch.session_id}/?since=0"
    headers = {"Cookie": f"sessionid={cookie}"}
    origin = Origin(f"http://127.0.0.1:{port}")
    try:
        async with connect(url, additional_headers=headers, origin=origin) as socket:
            connected = time.time()
            last_seq = 0
            while time.monotonic() < deadline:
                raw = await asyncio.wait_for(
                    socket.recv(), timeout=max(0.1, deadline - time.monotonic())
                )
                received = time.time()
                message = json.loads(raw)
                if message.get("type") == "event":
                    event = message["event"]
                    watch.events.append(event)
                    last_seq = event["seq"]
                    sent = _epoch(event["timestamp"])
                    if sent >= connected:
                        watch.latencies.append(received - sent)
                elif message.get("type") == "session":
                    summary = message["session"]
                    done = summary["status"] in TERMINAL
                    if done and last_seq >= summary["last_seq"]:
                        watch.status = summary["status"]
                        return
        watch.error = "the stream closed before the session ended"
    except TimeoutError:
        watch.error = "no end within the time limit"
    except Exception as error:
        watch.error = f"{type(error).__name__}: {error}"


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


async def drive(stack: Stack, options: Options, users: list[tuple[str, str]]) -> Run:
    """Submit every session and watch each from two clients; return what was seen."""
    run = Run()
    ports = stack.web_ports
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    deadline = time.monotonic() + options.timeout

    # Client c logs in as the owner of the sessions it watches, on server
    # (c // users) % 2; its cookie comes from a login on its own server.
    owners = len(users)
    client_server = [(c // owners) % 2 for c in range(options.clients)]
    client_cookies = []
    for c in range(options.clients):
        http = await log_in(bases[client_server[c]], users[c % owners])
        client_cookies.append(http.cookies["sessionid"])
        await http.aclose()
    clients_of_owner = [
        [c for c in range(options.clients) if c % owners == owner]
        for owner in range(owners)
    ]

    submitters = [
        await log_in(bases[s % 2], users[s % owners]) for s in range(options.submitters)
    ]
    watchers: list[asyncio.Task[None]] = []
    counter = iter(range(options.sessions))
    run.started = time.monotonic()

    async def submitter(index: int) -> None:
        client = submitters[index]
        owner = index % owners
        for mine, number in enumerate(counter):
            prompt = f"Write a literature review on {TOPICS[number % len(TOPICS)]}"
            began = time.monotonic()
            try:
                session_id = await submit(client, prompt)
            except Exception as error:
                run.failures.append(f"submission {number}: {error}")
                continue
            run.submit_seconds.append(time.monotonic() - began)
            run.submitted[number] = session_id

            # Two watchers of this owner, as a rule on different servers.
            candidates = clients_of_owner[owner]
            first = candidates[mine % len(candidates)]
            second = candidates[(mine + 1) % len(candidates)]
            for chosen in dict.fromkeys((first, second)):
                record = Watch(chosen, client_server[chosen], session_id)
                run.watches.append(record)
                port = ports[record.server]
                task = watch(record, port, client_cookies[chosen], deadline)
                watchers.append(asyncio.create_task(task))

    try:
        await asyncio.gather(*(submitter(index) for index in range(len(submitters))))
        await asyncio.gather(*watchers)
    finally:
        for client in submitters:
            await client.aclose()
    run.finished = time.monotonic()
    return run


# Checks against the database, and figures


def wait_for_sessions(run: Run, deadline: float) -> None:
    """Wait until every submitted session has ended, or the deadline passes."""
    from django.db.models import Max, Min

    from research.models import ResearchSession

    sessions = ResearchSession.objects.filter(pk__in=list(run.submitted.values()))
    while time.monotonic() < deadline:
        if not sessions.exclude(status__in=TERMINAL).exists():
            break
        time.sleep(0.5)
    run.finished = max(run.finished, time.monotonic())

    span = sessions.aggregate(first=Min("created_at"), last=Max("completed_at"))
    if span["first"] and span["last"]:
        run.busy_seconds = (span["last"] - span["first"]).total_seconds()


def check(run: Run, options: Options) -> list[str]:
    from research.models import ResearchSession, StageEvent

    problems = list(run.failures)
    if len(run.submitted) != options.sessions:
        problems.append(f"{len(run.submitted)} of {options.sessions} submitted")

    ids = list(run.submitted.values())
    sessions = {str(s.id): s for s in ResearchSession.objects.filter(pk__in=ids)}
    events: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    rows = StageEvent.objects.filter(session_id__in=ids).order_by("session_id", "seq")
    for row in rows.values_list("session_id", "seq", "stage", "status"):
        events[str(row[0])].append((row[1], row[2], row[3]))

    for session_id in ids:
        session = sessions.get(session_id)
        if session is None or session.status != "completed":
            status = session.status if session else "missing"
            error = session.error if session else ""
            problems.append(f"session {session_id} is {status} {error}".strip())
            continue
        completed = [
            stage for _, stage, status in events[session_id] if status == "completed"
        ]
        if len(completed) != STAGE_COUNT or len(set(completed)) != STAGE_COUNT:
            problems.append(f"session {session_id}: completed events {completed}")

    for record in run.watches:
        seen = [(e["seq"], e["stage"], e["status"]) for e in record.events]
        where = f"client {record.client} (server {record.server}), {record.session_id}"
        if record.error:
            problems.append(f"{where}: {record.error}")
        elif seen != events[record.session_id]:
            problems.append(
                f"{where}: received {len(seen)} events, the database has "
                f"{len(events[record.session_id])}, or not in the same order"
            )
    return problems


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    memory_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{memory_kb / 1024 / 1024:.1f} GiB memory, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )


def report(run: Run, options: Options, problems: list[str]) -> None:
    elapsed = run.finished - run.started
    latencies = [value for w in run.watches for value in w.latencies]
    received = sum(len(w.events) for w in run.watches)
    print()
    print(f"Command:     {shlex.join([sys.executable, *sys.argv])}")
    print(f"Machine:     {machine()}")
    print(
        f"Setup:       PostgreSQL (fsync {'on' if options.durable else 'off'}), "
        f"Redis, 2 web servers, {options.workers} workers, 1 watchdog"
    )
    print(
        f"Load:        {options.sessions} sessions from {options.submitters} "
        f"HTTP clients; {options.clients} websocket clients, "
        f"{len(run.watches)} session streams"
    )
    busy = run.busy_seconds or elapsed
    print(
        f"Throughput:  {len(run.submitted)} sessions in {busy:.1f}s (first "
        f"created to last completed) = {len(run.submitted) / busy * 60:.1f} "
        f"sessions/minute; {elapsed:.1f}s including the clients' wind-down"
    )
    if run.submit_seconds:
        posts = run.submit_seconds
        print(
            f"Submit:      median {statistics.median(posts) * 1000:.0f} ms, "
            f"p95 {percentile(posts, 0.95) * 1000:.0f} ms per POST"
        )
    if latencies:
        print(
            f"Latency:     event timestamp -> client, {len(latencies)} live events "
            f"({received} received in all): median "
            f"{statistics.median(latencies) * 1000:.0f} ms, p95 "
            f"{percentile(latencies, 0.95) * 1000:.0f} ms, p99 "
            f"{percentile(latencies, 0.99) * 1000:.0f} ms, max "
            f"{max(latencies) * 1000:.0f} ms"
        )
    if problems:
        print(f"FAILED:      {len(problems)} problems; the first ones:")
        for problem in problems[:20]:
            print(f"  - {problem}")
        stream_errors = Counter(w.error for w in run.watches if w.error)
        for error, count in stream_errors.most_common(5):
            print(f"  {count} streams: {error}")
    else:
        print(
            "Checks:      every session completed; each stage has exactly one "
            "completed event per session; every client received every event of "
            "the sessions it watched, in order (compared with the database)"
        )


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--submitters", type=int, default=4, help="HTTP clients")
    parser.add_argument("--clients", type=int, default=100, help="websocket clients")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="seconds for the whole run"
    )
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="run PostgreSQL without fsync (faster; data is thrown away anyway)",
    )
    parser.add_argument("--keep", action="store_true", help="keep logs and data")
    args = parser.parse_args(argv)
    for name in ("sessions", "submitters", "clients", "workers"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name} must be between 1 and 1000")
    if args.clients < 2 * args.submitters:
        parser.error("--clients must be at least twice --submitters")
    if not 10 <= args.timeout <= 7200:
        parser.error("--timeout must be between 10 and 7200 seconds")
    return Options(
        sessions=args.sessions,
        submitters=args.submitters,
        clients=args.clients,
        workers=args.workers,
        timeout=args.timeout,
        durable=not args.no_fsync,
        keep=args.keep,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        with running_stack(options) as stack:
            users = create_users(stack, options.submitters)
            logger.info(
                "Submitting %d sessions; %d websocket clients watching",
                options.sessions,
                options.clients,
            )
            deadline = time.monotonic() + options.timeout
            run = asyncio.run(drive(stack, options, users))
            wait_for_sessions(run, deadline)
            problems = check(run, options)
            report(run, options, problems)
    except (
        OSError,
        RuntimeError,
        subprocess.SubprocessError,
        postgres.PostgresUnavailable,
    ) as error:
        print(f"error: the load test could not run: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted; everything started was stopped.", file=sys.stderr)
        return 130
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
