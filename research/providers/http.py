"""HTTP for the scholarly providers: pacing, retries, a disk cache and the
contact address each API asks callers to send."""

import email.utils
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
)

from research.exceptions import ProviderError

logger = logging.getLogger(__name__)

PRODUCT = "Prowzi/0.1"
TIMEOUT_SECONDS = 20.0
ATTEMPTS = 4
BACKOFF_BASE = 1.0
# A Retry-After longer than this is not waited out: the query fails now and
# is recorded, rather than holding the stage for minutes.
LONGEST_WAIT = 60.0


@dataclass(frozen=True)
class Answer:
    """A successful answer: its body, and whether it came from the cache."""

    body: str
    cached: bool

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise ProviderError(f"answer is not JSON ({error})") from error


class _Pacer:
    """Keeps at least `interval` seconds between the starts of requests to
    one provider from this process."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self, sleep: Callable[[float], None]) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            sleep(delay)


_pacers: dict[str, _Pacer] = {}
_pacers_lock = threading.Lock()


def _pacer(name: str, interval: float) -> _Pacer:
    with _pacers_lock:
        pacer = _pacers.get(name)
        if pacer is None or pacer.interval != interval:
            pacer = _pacers[name] = _Pacer(interval)
        return pacer


class ProviderClient:
    """GETs against one provider's API, answered from the cache when the
    same request was answered before."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        interval: float,
        contact: str,
        cache_dir: Path | None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF_BASE,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.contact = contact
        self.cache_dir = cache_dir
        self._pacer = _pacer(name, interval)
        self._sleep = sleep
        self._attempts = attempts
        self._backoff = backoff
        agent = f"{PRODUCT} (mailto:{contact})" if contact else PRODUCT
        self._client = httpx.Client(
            timeout=TIMEOUT_SECONDS,
            headers={"User-Agent": agent},
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Answer:
        """Return the body of a 200 answer; raise ProviderError otherwise,
        after retrying what may pass (429, 5xx, connection errors)."""
        url = self.base_url + path
        query = urlencode(sorted((params or {}).items()))
        full = f"{url}?{query}" if query else url

        cached = self._cached(full)
        if cached is not None:
            return Answer(cached, cached=True)

        body = self._fetch(full)
        self._store(full, body)
        return Answer(body, cached=False)

    def _fetch(self, url: str) -> str:
        @retry(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        def attempt() -> str:
            self._pacer.wait(self._sleep)
            return self._once(url)

        return attempt()

    def _once(self, url: str) -> str:
        try:
            response = self._client.get(url)
        except httpx.HTTPError as error:
            raise ProviderError(
                f"{self.name}: {type(error).__name__}: {error}", transient=True
            ) from error

        if response.status_code == 200:
            return response.text

        transient = response.status_code == 429 or response.status_code >= 500
        logger.warning(
            "Provider %s answered %d for %s", self.name, response.status_code, url
        )
        raise ProviderError(
            f"{self.name} answered HTTP {response.status_code}: "
            f"{_summary(response.text)}",
            transient=transient,
            status=response.status_code,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        backoff = self._backoff * 2 ** (state.attempt_number - 1)
        if isinstance(error, ProviderError) and error.retry_after is not None:
            if error.retry_after > LONGEST_WAIT:
                raise error
            return max(error.retry_after, 0.0)
        return float(min(backoff, LONGEST_WAIT))

    def _cache_file(self, url: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(f"GET {url}".encode()).hexdigest()
        return self.cache_dir / self.name / key[:2] / f"{key}.json"

    def _cached(self, url: str) -> str | None:
        path = self._cache_file(url)
        if path is None or not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning(
                "Provider %s: unreadable cache %s: %s", self.name, path, error
            )
            return None
        return str(record["body"]) if record.get("url") == url else None

    def _store(self, url: str, body: str) -> None:
        path = self._cache_file(url)
        if path is None:
            return
        record = {"url": url, "body": body}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(record), encoding="utf-8")
            temporary.replace(path)
        except OSError as error:
            logger.warning("Provider %s: cannot cache %s: %s", self.name, url, error)


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.transient


def _retry_after(value: str | None) -> float | None:
    """Return the seconds a Retry-After header asks for (delta or date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _summary(body: str) -> str:
    flat = " ".join(body.split())
    return flat[:200] if flat else "(empty answer)"
