"""A local HTTP server replaying recorded API answers, for the provider tests.

Routes map a request path to a list of answers served in turn (the last one
repeats). Every request is kept, so a test can check what a client sent.
"""

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class ReplayServer:
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    url: str = ""

    def add(self, path: str, *replies: Reply) -> None:
        self.routes.setdefault(path, []).extend(replies)

    def seen(self, path: str) -> list[Seen]:
        return [request for request in self.requests if request.path == path]


def cassette_replies(path: Path, uri_part: str = "") -> list[Reply]:
    """Return the recorded answers of a vcrpy cassette whose request URI
    contains uri_part, bodies decompressed."""
    recorded = yaml.safe_load(path.read_text(encoding="utf-8"))
    replies = []
    for interaction in recorded["interactions"]:
        if uri_part not in interaction["request"]["uri"]:
            continue
        response = interaction["response"]
        # Cassettes recorded through httpx keep the body as "content".
        body = response.get("body", {}).get("string", response.get("content", b""))
        if isinstance(body, str):
            body = body.encode()
        headers = {key.lower(): value for key, value in response["headers"].items()}
        if "gzip" in str(headers.get("content-encoding", "")):
            body = gzip.decompress(body)
        kind = headers.get("content-type", ["application/json"])
        status = response.get("status")
        replies.append(
            Reply(
                status["code"] if isinstance(status, dict) else response["status_code"],
                body,
                (("Content-Type", kind[0] if isinstance(kind, list) else kind),),
            )
        )
    return replies


def golden_reply(path: Path) -> Reply:
    """Return the answer recorded in an arXiv golden JSON file."""
    recorded = json.loads(path.read_text(encoding="utf-8"))
    return Reply(
        int(recorded["status_code"]),
        str(recorded["body"]).encode(),
        (("Content-Type", "application/atom+xml"),),
    )


@contextmanager
def replay_server() -> Iterator[ReplayServer]:
    state = ReplayServer()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with lock:
                state.requests.append(
                    Seen(parts.path, parse_qs(parts.query), dict(self.headers.items()))
                )
                replies = state.routes.get(parts.path, [])
                reply = replies.pop(0) if len(replies) > 1 else None
                reply = reply or (replies[0] if replies else Reply(404, b"{}"))
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
