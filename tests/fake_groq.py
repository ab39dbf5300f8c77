"""A fake Groq API on 127.0.0.1 for the AI tests, and the shared scored warehouse.

Loaded as a pytest plugin by the AI test modules (`pytest_plugins = ("tests.fake_groq",)`)
so its session fixture trains and scores once for all of them.

`FakeGroq` is a ThreadingHTTPServer answering `POST /openai/v1/chat/completions` (the
path the `groq` SDK appends to its base URL) from a queue of scripted `Reply`s: a
completion with given text, an error status with headers (429 + Retry-After, 500), or a
delay past the client's timeout. Every request is recorded (path, headers, JSON body),
so tests count calls and read the prompts that were sent.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.churn import scoring, training
from engine.data import warehouse

COMPLETIONS_PATH = "/openai/v1/chat/completions"


@dataclass
class Reply:
    content: str | None = "OK"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    model: str = "llama-3.1-8b-instant"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict

    @property
    def prompt(self) -> str:
        """All message contents of the request, joined."""
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


class FakeGroq:
    """Scripted chat-completions server; `replies` are served in order, then `default`.

    Tests reach `Reply` and the path through the fixture (`fake_groq.Reply(...)`), so they
    need not import this plugin module themselves.
    """

    Reply = Reply
    path = COMPLETIONS_PATH

    def __init__(self) -> None:
        self.replies: deque[Reply | Callable[[dict], Reply]] = deque()
        self.default: Reply | Callable[[dict], Reply] = Reply("OK")
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- scripting ---------------------------------------------------------------------
    def queue(self, *replies: Reply | Callable[[dict], Reply]) -> FakeGroq:
        self.replies.extend(replies)
        return self

    def _next(self, body: dict) -> Reply:
        with self._lock:
            reply = self.replies.popleft() if self.replies else self.default
        return reply(body) if callable(reply) else reply

    # -- serving -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGroq:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                body = json.loads(raw or b"{}")
                with fake._lock:
                    fake.requests.append(Recorded(self.path, dict(self.headers), body))
                if self.path != COMPLETIONS_PATH:
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                    return
                reply = fake._next(body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status != 200:
                    self._send(reply.status, {"error": {"message": "scripted failure", "type": "test"}}, reply.headers)
                    return
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(fake.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": reply.model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.content},
                                "finish_reason": "stop",
                                "logprobs": None,
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                    },
                    reply.headers,
                )

            def _send(self, status: int, payload: dict, headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False  # a handler still sleeping past a timeout must not hold up teardown
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def completion_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == COMPLETIONS_PATH]


@pytest.fixture
def fake_groq():
    server = FakeGroq().start()
    yield server
    server.stop()


_scored: dict[str, Path] = {}


@pytest.fixture(scope="session")
def ai_data_dir(generated_dir, tmp_path_factory) -> Path:
    """A copy of the generated data dir with a production model and fresh predictions.

    Shared by the AI tests (trained once): tests may append audit rows, nothing else.
    """
    if "dir" not in _scored:
        target = tmp_path_factory.mktemp("ai") / "data"
        shutil.copytree(generated_dir, target)
        wh = warehouse.get_warehouse(target)
        training.train(wh, data_dir=target, promote="auto")
        scoring.score(wh, data_dir=target)
        warehouse.close_all()
        _scored["dir"] = target
    return _scored["dir"]
