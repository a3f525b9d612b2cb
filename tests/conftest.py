"""Real services for the tests: a Redis server, RQ worker processes and the
`prowzi` command line, all sharing the test database file."""

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from prowzi_site import services
from tests import environment

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
LITERATURE_REVIEW = "Write a literature review on renewable energy and the power grid"


def shared_path(*parts: str) -> Path:
    """Return a path in ../shared, skipping the test where it is absent.

    In CI (CI=true) the shared data must be there, so its absence fails.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing in CI")
        pytest.skip("needs ../shared (the team's shared test data)")
    return path


class RedisServer:
    """The suite's Redis: one server for every test, which a test may restart."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        directory = environment.SCRATCH / "redis"
        self.process = services.start_redis(environment.REDIS_PORT, directory)

    def stop(self) -> None:
        if self.process is not None:
            services.stop(self.process)
            self.process = None


_redis = RedisServer()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    _redis.start()
    yield os.environ["REDIS_URL"]
    _redis.stop()


@pytest.fixture
def redis_control(redis_server: str) -> Iterator[RedisServer]:
    """Lets a test stop and restart Redis; it is running again afterwards."""
    yield _redis
    if _redis.process is None:
        _redis.start()


def service_env(**overrides: str) -> dict[str, str]:
    """The environment of a process started by the tests: same settings,
    pointed at the test database rather than the unused default."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "prowzi_site.settings"
    env["DATABASE_URL"] = environment.SERVICE_DATABASE_URL
    env.pop("PROWZI_TEST_DATABASE", None)
    env.update(overrides)
    return env


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def wait_dead(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Workers:
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, **env: str) -> WorkerProcess:
        return self._spawn("worker", env)

    def start_watchdog(self, **env: str) -> WorkerProcess:
        env.setdefault("PROWZI_WATCHDOG_INTERVAL", "1")
        return self._spawn("watchdog", env)

    def _spawn(self, command: str, env: dict[str, str]) -> WorkerProcess:
        log = (
            environment.SCRATCH / f"{command}-{len(self.started)}-{time.time_ns()}.log"
        )
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "prowzi", command],
                cwd=PROJECT_ROOT,
                env=service_env(**env),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(process, log)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        # An RQ work-horse has its own process group and outlives its worker,
        # so find the workers' children before stopping them.
        children = []
        for worker in self.started:
            with contextlib.suppress(psutil.Error):
                children += psutil.Process(worker.process.pid).children(recursive=True)
        for worker in self.started:
            services.stop(worker.process)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(children, timeout=10)


@pytest.fixture
def workers(redis_server: str, transactional_db: Any) -> Iterator[Workers]:
    pool = Workers()
    yield pool
    pool.stop_all()
    _flush_redis()


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushall()


@pytest.fixture
def prowzi(redis_server: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the `prowzi` command line as a user would, in its own process."""

    def run(*args: str, timeout: float = 180.0, **env: str) -> Any:
        return subprocess.run(
            [sys.executable, "manage.py", "prowzi", *args],
            cwd=PROJECT_ROOT,
            env=service_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
