"""A scripted chat-completions server on 127.0.0.1 for the model engine tests.

It speaks the OpenAI protocol (POST /v1/chat/completions, JSON in and out,
token usage in every answer). Each stage gets a default answer made from its
request; a test queues other replies (errors, malformed answers) per stage,
and they are served first, in order.
"""

import json
import re
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Planted in every draft: a citation of a source never retrieved, and a
# cited sentence no source supports.
FABRICATED_SENTENCE = "Coal plants were phased out across every continent by 1990 [99]."
UNSUPPORTED_SENTENCE = (
    "Quantum teleportation of elephants is routine in modern laboratories [1]."
)

INTENT = {
    "document_type": "literature_review",
    "topic": "renewable energy and the power grid",
    "key_concepts": ["renewable energy", "power grid", "renewable", "grid"],
    "language": "en",
    "target_words": None,
    "citation_style": None,
}
PLAN = {
    "title": "Renewable Energy and the Power Grid: A Literature Review",
    "sections": [
        {
            "kind": "introduction",
            "title": "Introduction",
            "research_questions": ["What does the literature cover?"],
            "queries": ["renewable energy"],
            "theme_terms": ["renewable", "energy"],
        },
        {
            "kind": "body",
            "title": "Wind and Solar Power",
            "research_questions": ["How do wind and solar power supply the grid?"],
            "queries": ["wind power", "solar power"],
            "theme_terms": ["wind", "solar"],
        },
        {
            "kind": "body",
            "title": "The Electrical Grid",
            "research_questions": ["How does the grid carry renewable power?"],
            "queries": ["electrical grid", "power grid renewable energy"],
            "theme_terms": ["grid", "electricity"],
        },
        {
            "kind": "conclusion",
            "title": "Conclusion",
            "research_questions": ["What follows from the literature?"],
            "queries": ["renewable energy"],
            "theme_terms": ["renewable", "energy"],
        },
    ],
}
REVIEW = {
    "research_question_coverage": {"score": 0.9, "notes": "questions answered"},
    "readability": {"score": 0.85, "notes": "clear prose"},
    "advice": "",
}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content: str | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def stage_of(payload: dict[str, Any]) -> str:
    system = payload["messages"][0]["content"]
    match = re.match(r"Task: (\w+)\.", system)
    return match.group(1) if match else "unknown"


def draft_from_sources(payload: dict[str, Any]) -> str:
    """Write a draft from the sources in the request: quotations and
    sentences copied from the passages, cited, plus the planted two."""
    user = payload["messages"][1]["content"]
    sections = re.findall(r"^- (.+?) \((?:introduction|body|conclusion)\):", user, re.M)
    sources: dict[int, list[str]] = {}
    current = 0
    for line in user.split("\n"):
        header = re.match(r"^\[(\d+)\] ", line)
        if header:
            current = int(header.group(1))
            sources[current] = []
        elif line.startswith("  - ") and current:
            sources[current].append(line[4:])

    numbers = sorted(sources)
    written = []
    for index, title in enumerate(sections):
        paragraphs = []
        for number in numbers[index * 3 : index * 3 + 3] or numbers[:1]:
            passages = sources[number]
            if not passages:
                continue
            paragraphs.append(f"As one source puts it, “{passages[0]}” [{number}]")
            if len(passages) > 1:
                paragraphs.append(f"{passages[1].rstrip('.')} [{number}].")
        if index == 1:
            paragraphs += [FABRICATED_SENTENCE, UNSUPPORTED_SENTENCE]
        written.append({"title": title, "markdown": " ".join(paragraphs)})
    return json.dumps({"sections": written})


DEFAULTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "intent": lambda payload: json.dumps(INTENT),
    "planning": lambda payload: json.dumps(PLAN),
    "writing": draft_from_sources,
    "evaluation": lambda payload: json.dumps(REVIEW),
}


class ScriptedModel:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.queued: dict[str, deque[Reply]] = defaultdict(deque)
        self.answers = dict(DEFAULTS)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def queue(self, stage: str, *replies: Reply) -> None:
        self.queued[stage].extend(replies)

    def stages(self) -> list[str]:
        return [stage_of(payload) for payload in self.requests]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply_to(self, payload: dict[str, Any]) -> Reply:
        stage = stage_of(payload)
        if self.queued[stage]:
            return self.queued[stage].popleft()
        return Reply(content=self.answers[stage](payload))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length))
                model.requests.append(payload)
                model.headers.append(dict(self.headers))
                if self.path != "/v1/chat/completions":
                    self._send(404, json.dumps({"error": {"message": "no route"}}))
                    return
                reply = model.reply_to(payload)
                body = reply.body
                if body is None:
                    body = _completion(payload, reply.content or "")
                self._send(reply.status, body, reply.headers)

            def _send(
                self, status: int, body: str, headers: dict[str, str] | None = None
            ) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


def _completion(payload: dict[str, Any], content: str) -> str:
    prompt = sum(len(message["content"]) for message in payload["messages"])
    prompt_tokens, completion_tokens = prompt // 4, len(content) // 4
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": payload["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def error_body(message: str, kind: str = "invalid_request_error") -> str:
    return json.dumps({"error": {"message": message, "type": kind}})


def running_model() -> Iterator[ScriptedModel]:
    model = ScriptedModel()
    model.start()
    try:
        yield model
    finally:
        model.stop()
