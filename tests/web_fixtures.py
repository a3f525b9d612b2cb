"""Web fixtures: a real daphne serving the dashboard, users, and a logged-in
browser page. Import the fixtures you use into the test module."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from prowzi_site import services
from tests import environment
from tests.conftest import PROJECT_ROOT, service_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a-long-test-password-7431"


@dataclass
class WebServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        services.stop(self.process)

    def restart(self) -> None:
        """Start it again on the same port, as after a deploy."""
        self.stop()
        self.process = _spawn_daphne(self.port, self.log, self.env)


def _spawn_daphne(port: int, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "prowzi_site.asgi:application",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        services.wait_for_port(port, timeout=30)
    except TimeoutError:
        services.stop(process)
        raise
    return process


def start_daphne(**overrides: str) -> WebServer:
    """Start daphne on a free loopback port, sharing the test database."""
    port = services.free_port()
    log = environment.SCRATCH / f"daphne-{port}.log"
    env = service_env(**overrides)
    # The browser tests relax Django's async check in their own process only.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return WebServer(_spawn_daphne(port, log, env), port, log, env)


@pytest.fixture(scope="session")
def web_server(redis_server: str, django_db_setup: Any) -> Iterator[WebServer]:
    server = start_daphne()
    yield server
    server.stop()


@pytest.fixture
def make_user(transactional_db: Any) -> Callable[..., User]:
    def make(username: str = "ada", staff: bool = False) -> User:
        return User.objects.create_user(
            username, f"{username}@example.org", PASSWORD, is_staff=staff
        )

    return make


def session_cookie(user: User) -> str:
    """A logged-in Cookie header for the user, made through Django's own login."""
    client = Client()
    client.force_login(user)
    cookie = SimpleCookie()
    cookie["sessionid"] = client.cookies["sessionid"].value
    return cookie.output(header="", attrs=[]).strip()


def require_chromium() -> None:
    """Skip when Chromium is missing, except in CI, where it must be there."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing in CI: apt-get install -y chromium")
    pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def log_in(browser: Any, server: WebServer, user: User) -> Any:
    """Open a fresh browser context and log the user in through the form."""
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    return page


@pytest.fixture
def user_page(browser: Any, web_server: WebServer, make_user: Any) -> Iterator[Any]:
    """A browser page of a logged-in user (the user is page.prowzi_user)."""
    user = make_user("ada")
    page = log_in(browser, web_server, user)
    page.prowzi_user = user
    yield page
    page.context.close()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s")
