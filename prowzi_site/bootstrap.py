"""Set up, try and test Prowzi on one machine: `python3 -m prowzi_site.bootstrap`.

    demo   install into .venv, configure, start Redis, a worker and the web
           server, run one research session and say where to look
    test   install into .venv, then ruff and mypy, then pytest on SQLite and
           on a scratch PostgreSQL (--database sqlite|postgres|both; other arguments go
           to pytest)
    stop   stop the services `demo` started

Standard library only: it runs with the machine's python3 before anything is
installed. The services `demo` starts keep running after it ends; their
process ids are in prowzi_data/pids until `stop` ends them.
"""

import argparse
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from prowzi_site import postgres, services

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
INSTALL_STAMP = VENV / ".prowzi-installed"
PYPROJECT = ROOT / "pyproject.toml"
DOTENV = ROOT / ".env"
DATA = ROOT / "prowzi_data"
LOGS = DATA / "logs"
CHROMIUM = "/usr/bin/chromium"
PIDS = DATA / "pids"
PASSWORD_FILE = DATA / "operator-password"

OPERATOR = "prowzi"
DEFAULT_PROMPT = "Write a literature review on renewable energy and the power grid"
DEFAULT_WEB_PORT = 8000
LOOPBACK = {"127.0.0.1", "localhost"}
STOP_COMMAND = "python3 -m prowzi_site.bootstrap stop"
# Points the test suite at a PostgreSQL database (see tests/environment.py).
TEST_DATABASE_URL = "PROWZI_TEST_DATABASE_URL"
TEST_DATABASES = ("both", "sqlite", "postgres")

# What each service's command line contains; checked before signalling a
# recorded process id, so a stale pids file never stops someone else's process.
SERVICE_MARKERS = {
    "redis": "redis-server",
    "worker": "prowzi",
    "watchdog": "prowzi",
    "web": "daphne",
}
SERVICE_LABELS = {
    "redis": "Redis",
    "worker": "the worker",
    "watchdog": "the watchdog",
    "web": "the web server",
}

DOTENV_HEADER = (
    "# Written by `python3 -m prowzi_site.bootstrap demo` for a run on this",
    "# machine. Environment variables of the same name take precedence.",
)

CREATE_OPERATOR = """
import os
from django.contrib.auth import get_user_model

users = get_user_model().objects
name = os.environ["PROWZI_OPERATOR"]
if users.filter(username=name).exists():
    print("operator-exists")
else:
    users.create_superuser(name, "", os.environ["PROWZI_OPERATOR_PASSWORD"])
    print("operator-created")
"""


class StepFailed(Exception):
    """Raised when a set-up step fails; names the step and where its log is."""

    def __init__(self, step: str, reason: str, log: Path | None = None) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason
        self.log = log


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def shown(path: Path) -> str:
    """Return path relative to the project root when it lies inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# Installing


def install_packages() -> None:
    """Create .venv and install the project into it, unless already current."""
    create_venv()

    digest = hashlib.sha256(PYPROJECT.read_bytes()).hexdigest()
    if INSTALL_STAMP.exists() and INSTALL_STAMP.read_text().strip() == digest:
        say("Packages in .venv are up to date with pyproject.toml")
        return

    log = LOGS / "install.log"
    say(f"Installing packages into .venv (log: {shown(log)})")
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    run_step("installing packages", [*pip, "-e", ".[dev,tracing]"], log)
    INSTALL_STAMP.write_text(digest + "\n")


def create_venv() -> None:
    if PYTHON.exists():
        return

    log = LOGS / "venv.log"
    say(f"Creating .venv with {sys.executable}")
    try:
        run_step("creating .venv", [sys.executable, "-m", "venv", str(VENV)], log)
    except StepFailed as failure:
        failure.reason += " (on Debian, `apt-get install -y python3-venv` helps)"
        raise


def run_step(
    step: str,
    command: Sequence[str],
    log: Path,
    env: dict[str, str] | None = None,
) -> str:
    """Run command with its output in log; return that output or raise."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        try:
            finished = subprocess.run(
                command,
                cwd=ROOT,
                env=env or project_env(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        except OSError as error:
            raise StepFailed(step, str(error), log) from None

    if finished.returncode != 0:
        raise StepFailed(step, f"exit code {finished.returncode}", log)
    return log.read_text(errors="replace")


def project_env(**overrides: str) -> dict[str, str]:
    """The environment of every process run here: ours, plus unbuffered output."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "prowzi_site.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


# Settings


def read_dotenv() -> dict[str, str]:
    """Read .env the way prowzi_site.env.load_dotenv does."""
    if not DOTENV.exists():
        return {}

    values: dict[str, str] = {}
    for line in DOTENV.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        values.setdefault(key.strip(), value.strip())
    return values


def setting(name: str, default: str = "") -> str:
    """Return a setting as Django will see it: the environment wins over .env."""
    if name in os.environ:
        return os.environ[name]
    return read_dotenv().get(name, default)


def write_dotenv() -> None:
    """Write .env, or add to it the demo's settings it lacks; keep what is there."""
    present = read_dotenv()
    wanted = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "REDIS_URL": f"redis://127.0.0.1:{services.free_port()}/0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The demo's web server speaks plain HTTP, on loopback only.
        "PROWZI_HTTPS": "false",
    }
    missing = [f"{key}={value}" for key, value in wanted.items() if key not in present]
    if not missing:
        say("Keeping the existing .env")
        return

    if DOTENV.exists():
        names = ", ".join(line.partition("=")[0] for line in missing)
        say(f"Adding {names} to .env")
        lines = DOTENV.read_text(encoding="utf-8").splitlines()
    else:
        say("Writing .env with a new secret key and a Redis address")
        lines = list(DOTENV_HEADER)
    write_private(DOTENV, "\n".join([*lines, *missing]) + "\n")


def set_dotenv_value(name: str, value: str) -> None:
    """Replace (or add) one KEY=VALUE line of .env, keeping the others."""
    lines = DOTENV.read_text(encoding="utf-8").splitlines() if DOTENV.exists() else []
    kept = [line for line in lines if line.partition("=")[0].strip() != name]
    write_private(DOTENV, "\n".join([*kept, f"{name}={value}"]) + "\n")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


# The database and the operator login


def prepare_database() -> None:
    log = LOGS / "migrate.log"
    say(f"Migrating the database (log: {shown(log)})")
    run_step("migrating the database", manage("migrate", "--noinput"), log)

    log = LOGS / "collectstatic.log"
    say(f"Collecting static files (log: {shown(log)})")
    run_step("collecting static files", manage("collectstatic", "--noinput"), log)


def manage(*args: str) -> list[str]:
    return [str(PYTHON), "manage.py", *args]


def ensure_operator() -> str | None:
    """Create the operator login if missing; return its password if on file."""
    on_file = PASSWORD_FILE.read_text().strip() if PASSWORD_FILE.exists() else ""
    password = on_file or secrets.token_urlsafe(12)
    env = project_env(PROWZI_OPERATOR=OPERATOR, PROWZI_OPERATOR_PASSWORD=password)
    output = run_step(
        "creating the operator login",
        manage("shell", "-c", CREATE_OPERATOR),
        LOGS / "operator.log",
        env,
    )

    if "operator-created" in output:
        write_private(PASSWORD_FILE, password + "\n")
        say(f"Created the operator login {OPERATOR!r} ({shown(PASSWORD_FILE)})")
        return password
    say(f"The operator login {OPERATOR!r} already exists")
    return on_file or None


# Services


def start_services() -> tuple[Service, int]:
    """Start Redis (when needed), one worker, the watchdog and the web server.

    Returns the worker and the web server's port; stops what it started if a
    service fails to come up.
    """
    try:
        ensure_redis()
        worker = start_worker()
        start_watchdog()
        port = start_web()
    except StepFailed:
        stop_services()
        raise
    return worker, port


def ensure_redis() -> None:
    url = urlsplit(setting("REDIS_URL", "redis://127.0.0.1:6379/0"))
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if redis_answers(host, port):
        say(f"Using the Redis that answers at {host}:{port}")
        return

    if host not in LOOPBACK:
        raise StepFailed("finding Redis", f"nothing answers at {host}:{port}")
    if not port_is_free(port):
        port = move_redis_port(port)
    start_redis(port)


def move_redis_port(busy: int) -> int:
    """Pick a new Redis port when .env's is taken by something that is not Redis."""
    if "REDIS_URL" in os.environ:
        raise StepFailed(
            "finding Redis",
            f"port {busy} of REDIS_URL is taken by something that is not Redis",
        )

    port = services.free_port()
    say(f"Port {busy} is taken by something else; moving Redis to {port} in .env")
    set_dotenv_value("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    return port


def start_redis(port: int) -> None:
    log = LOGS / f"redis-{port}.log"
    say(f"Starting Redis on 127.0.0.1:{port} (log: {shown(log)})")
    try:
        process = services.start_redis(port, LOGS, python=str(PYTHON))
    except (OSError, TimeoutError) as error:
        raise StepFailed("starting Redis", str(error), log) from None
    record_pid("redis", process.pid)


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as connection:
            connection.sendall(b"PING\r\n")
            reply = connection.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_worker() -> Service:
    log = LOGS / "worker.log"
    say(f"Starting a worker (log: {shown(log)})")
    worker = spawn("worker", [str(BIN / "prowzi"), "worker"], log)
    wait_until_ready(worker, lambda: "Listening on" in read_log(log), timeout=180)
    return worker


def start_watchdog() -> None:
    log = LOGS / "watchdog.log"
    say(f"Starting the watchdog (log: {shown(log)})")
    watchdog = spawn("watchdog", [str(BIN / "prowzi"), "watchdog"], log)
    wait_until_ready(watchdog, lambda: "Watchdog:" in read_log(log), timeout=60)


def start_web() -> int:
    port = web_port()
    log = LOGS / "web.log"
    say(f"Starting the web server on http://127.0.0.1:{port}/ (log: {shown(log)})")
    command = [
        str(BIN / "daphne"),
        *("-b", "127.0.0.1", "-p", str(port)),
        "prowzi_site.asgi:application",
    ]
    web = spawn("web", command, log)
    wait_until_ready(web, lambda: port_answers(port), timeout=60)
    return port


def web_port() -> int:
    wanted = int(setting("PROWZI_WEB_PORT", str(DEFAULT_WEB_PORT)))
    if port_is_free(wanted):
        return wanted

    port = services.free_port()
    say(f"Port {wanted} is taken; the web server uses {port} instead")
    return port


def spawn(name: str, command: list[str], log: Path) -> Service:
    """Start a long-running service in its own process group, logging to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=project_env(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record_pid(name, process.pid)
    return Service(name, process, log)


def wait_until_ready(
    service: Service, ready: Callable[[], bool], timeout: float
) -> None:
    step = f"starting {SERVICE_LABELS[service.name]}"
    deadline = time.monotonic() + timeout
    while not ready():
        code = service.process.poll()
        if code is not None:
            raise StepFailed(step, f"it exited with code {code}", service.log)
        if time.monotonic() > deadline:
            raise StepFailed(step, f"not ready after {timeout:.0f}s", service.log)
        time.sleep(0.2)


def read_log(log: Path) -> str:
    try:
        return log.read_text(errors="replace")
    except FileNotFoundError:
        return ""


# Recorded process ids, and stopping them


def record_pid(name: str, pid: int) -> None:
    PIDS.parent.mkdir(parents=True, exist_ok=True)
    with PIDS.open("a", encoding="utf-8") as handle:
        handle.write(f"{name} {pid}\n")


def recorded_pids() -> list[tuple[str, int]]:
    if not PIDS.exists():
        return []

    recorded = []
    for line in PIDS.read_text(encoding="utf-8").splitlines():
        name, _, pid = line.partition(" ")
        if name in SERVICE_MARKERS and pid.strip().isdigit():
            recorded.append((name, int(pid)))
    return recorded


def stop_services() -> None:
    """Stop the recorded services, newest first, and forget them."""
    for name, pid in reversed(recorded_pids()):
        if is_running(pid, SERVICE_MARKERS[name]):
            say(f"Stopping {SERVICE_LABELS[name]} (process {pid})")
            stop_process(pid)
    PIDS.unlink(missing_ok=True)


def stop_process(pid: int) -> None:
    """Stop a process group: SIGTERM, once more (an RQ worker's "now"), SIGKILL.

    Children that left the group (an RQ work-horse has its own) are killed
    after their parent has gone.
    """
    children = descendants(pid)
    for signum, wait in ((signal.SIGTERM, 10.0), (signal.SIGTERM, 5.0)):
        signal_group(pid, signum)
        if wait_gone(pid, wait):
            break
    else:
        signal_group(pid, signal.SIGKILL)
        wait_gone(pid, 5.0)

    for child in children:
        if is_running(child):
            signal_group(child, signal.SIGKILL)


def signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it, if this process started it
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def is_running(pid: int, marker: str = "") -> bool:
    """Tell whether pid is alive (not a zombie) and its command contains marker."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass

    proc = Path("/proc") / str(pid)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError):
        return True
    return state != "Z" and marker in command


def descendants(pid: int) -> list[int]:
    """Return the process ids below pid, read from /proc (empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))

    found: list[int] = []
    pending = [pid]
    while pending:
        below = children.get(pending.pop(), [])
        found.extend(below)
        pending.extend(below)
    return found


# The demo's research session


def run_research(prompt: str, worker: Service) -> tuple[str | None, int]:
    """Run `prowzi run PROMPT --wait`, showing its progress.

    Returns the session id (None if none was created) and the exit code.
    """
    say(f"Running a research session: {prompt}")
    run = subprocess.Popen(
        [str(BIN / "prowzi"), "run", prompt, "--wait"],
        cwd=ROOT,
        env=project_env(),
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = threading.Thread(target=end_if_dead, args=(run, worker), daemon=True)
    watcher.start()

    session_id = None
    for line in run.stderr or ():
        sys.stderr.write(line)
        found = re.search(r"Session ([0-9a-f-]{36}) queued", line)
        session_id = session_id or (found.group(1) if found else None)
    code = run.wait()

    if worker.process.poll() is not None:
        raise StepFailed("running the session", "the worker stopped", worker.log)
    return session_id, code


def end_if_dead(run: subprocess.Popen[str], worker: Service) -> None:
    """Stop waiting for a session that no worker will ever run."""
    while run.poll() is None:
        if worker.process.poll() is not None:
            run.terminate()
            return
        time.sleep(0.5)


def print_where_to_look(session_id: str, port: int, password: str | None) -> None:
    login = (
        password or f"not on file; reset it with manage.py changepassword {OPERATOR}"
    )
    prowzi = shown(BIN / "prowzi")
    print(
        f"""
Session:    {session_id}
Dashboard:  http://127.0.0.1:{port}/sessions/{session_id}/
            log in as {OPERATOR!r}, password: {login}
            (kept in {shown(PASSWORD_FILE)})
Stages:     {prowzi} show {session_id}
Report:     {prowzi} report {session_id}
Logs:       {shown(LOGS)}/
The services keep running. Stop them with: {STOP_COMMAND}
""",
        flush=True,
    )


# Commands


def demo(prompt: str) -> int:
    install_packages()
    write_dotenv()
    prepare_database()
    password = ensure_operator()

    if recorded_pids():
        say("Stopping the services a previous demo left running")
        stop_services()
    worker, port = start_services()

    session_id, code = run_research(prompt, worker)
    if session_id is None:
        raise StepFailed("running the session", f"prowzi run exited with {code}")
    if code != 0:
        say(f"The session did not complete; see also {shown(worker.log)}")
    print_where_to_look(session_id, port, password)
    return code


def test(pytest_args: list[str], database: str = "both") -> int:
    """Run ruff and mypy, then pytest on each database; 0 only if all passed."""
    install_packages()
    ensure_chromium()
    env = test_env()

    say("Checking formatting: ruff format --check .")
    check("ruff format", [str(BIN / "ruff"), "format", "--check", "."], env)
    say("Linting: ruff check .")
    check("ruff check", [str(BIN / "ruff"), "check", "."], env)
    say("Type checking: mypy (strict, settings from pyproject.toml)")
    check("mypy", [str(BIN / "mypy")], {**env, "DEBUG": "true"})

    results: dict[str, int] = {}
    if database in ("sqlite", "both"):
        results["SQLite"] = run_pytest("SQLite", pytest_args, env)
    if database in ("postgres", "both"):
        results["PostgreSQL"] = run_pytest_on_postgres(pytest_args, env)

    for label, code in results.items():
        say(f"pytest on {label}: {'passed' if code == 0 else f'exit code {code}'}")
    failed = [code for code in results.values() if code != 0]
    return failed[0] if failed else 0


def ensure_chromium() -> None:
    """Install Debian's Chromium for the browser tests when it is missing.

    Playwright drives this system browser; its own browser download is not
    used. Without root or apt-get the browser tests skip (or fail under CI).
    """
    if Path(CHROMIUM).exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        say(f"{CHROMIUM} is missing and cannot be installed here; browser tests skip")
        return

    log = LOGS / "chromium-install.log"
    say(f"Installing Debian's Chromium for the browser tests (log: {shown(log)})")
    run_step("installing Chromium", ["apt-get", "update"], log)
    run_step(
        "installing Chromium",
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        log,
    )


def run_pytest(label: str, pytest_args: list[str], env: dict[str, str]) -> int:
    say(" ".join([f"Running the tests on {label}: pytest", *pytest_args]))
    finished = subprocess.run([str(BIN / "pytest"), *pytest_args], cwd=ROOT, env=env)
    if finished.returncode == 5:
        print("error: pytest collected no tests", file=sys.stderr)
    return finished.returncode


def run_pytest_on_postgres(pytest_args: list[str], env: dict[str, str]) -> int:
    """Start a scratch PostgreSQL, run pytest against it, stop it whatever happens."""
    say(f"Starting a scratch PostgreSQL on loopback (log: {shown(LOGS)}/postgres-*)")
    try:
        server = postgres.start_postgres(LOGS)
    except postgres.PostgresUnavailable as error:
        raise StepFailed("starting PostgreSQL", str(error)) from None

    # A CI runner that gives up sends SIGTERM: leave through the finally below.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        url = server.url()
        # The cluster is deleted afterwards, so the test database need not be
        # dropped; dropping it fails while any process a test started (an RQ
        # work-horse outlives its worker's process group) is still connected.
        args = ["--reuse-db", *pytest_args]
        return run_pytest("PostgreSQL", args, {**env, TEST_DATABASE_URL: url})
    finally:
        say(f"Stopping the scratch PostgreSQL on port {server.port}")
        postgres.stop_postgres(server)
        signal.signal(signal.SIGTERM, previous)


def test_env() -> dict[str, str]:
    env = project_env() if setting("SECRET_KEY") else project_env(DEBUG="true")
    # pytest-django prefers this variable to pyproject's tests.settings, which
    # points the suite at its scratch Redis and database; leave it to pyproject.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # Chosen per run by --database, never inherited.
    env.pop(TEST_DATABASE_URL, None)
    return env


def check(step: str, command: list[str], env: dict[str, str]) -> None:
    """Run a check whose output goes to the terminal; raise if it fails."""
    finished = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if finished.returncode != 0:
        raise StepFailed(step, f"exit code {finished.returncode}; output above")


def stop() -> int:
    if not recorded_pids():
        say(f"No services recorded in {shown(PIDS)}; nothing to stop")
        return 0

    stop_services()
    say("Stopped")
    return 0


def report_failure(failure: StepFailed) -> None:
    print(f"error: {failure.step} failed: {failure.reason}", file=sys.stderr)
    if failure.log is None:
        return

    tail = read_log(failure.log).splitlines()[-20:]
    print(f"The log is {shown(failure.log)}; its last lines:", file=sys.stderr)
    for line in tail:
        print(f"    {line}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m prowzi_site.bootstrap",
        description="Set up, try and test Prowzi on this machine.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser(
        "demo", help="set up, start the services and run one research session"
    )
    run_demo.add_argument("--prompt", default=DEFAULT_PROMPT, help="what to research")
    run_tests = commands.add_parser(
        "test",
        help="ruff, then pytest with any extra arguments",
        allow_abbrev=False,
    )
    run_tests.add_argument(
        "--database",
        choices=TEST_DATABASES,
        default="both",
        help="run the suite on SQLite, on a scratch PostgreSQL, or both (default)",
    )
    commands.add_parser("stop", help="stop the services demo started")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser()
    options, extra = arguments.parse_known_args(argv)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    if extra and options.command != "test":
        arguments.error(f"unrecognized arguments: {' '.join(extra)}")
    os.chdir(ROOT)

    try:
        if options.command == "demo":
            return demo(options.prompt)
        if options.command == "test":
            return test(extra, options.database)
        return stop()
    except StepFailed as failure:
        report_failure(failure)
        code = 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        code = 130

    if recorded_pids():
        print("The services still run; stop them with: " + STOP_COMMAND)
    return code


if __name__ == "__main__":
    sys.exit(main())
