"""A tiny real HTTP server speaking the OpenAI chat-completions protocol, with injected faults.

Runs in a thread on 127.0.0.1 (port 0 = a free one). Each request to
``POST /v1/chat/completions`` is counted; the first ``fail_first`` requests get the fault of
``mode`` (all of them when ``fail_first`` is None), later ones a normal completion::

    with FaultServer("429", retry_after=1, fail_first=1) as server:
        settings = make_settings(home, llm_mode="openai", openai_base_url=server.url)
        ...
        assert server.attempts == 2

A scripted model: ``replies`` are returned in order (one per ``ok`` request; then ``reply``),
and ``reply`` may be a function of the request body (e.g. of its prompt)::

    with FaultServer(replies=['{"verdict": "supported"}', "not json"]) as server: ...

Modes: ``ok`` | ``429`` (with ``Retry-After``) | ``500`` | ``stall`` (headers never come;
the handler sleeps ``stall_seconds``) | ``malformed`` (200 with a broken JSON body) |
``empty`` (200 with an empty completion). "Connection refused" needs no server: use
:func:`refused_url`.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MODES", "FaultServer", "copies_first_sentence", "prompt_sources", "refused_url"]

MODES = ("ok", "429", "500", "stall", "malformed", "empty")


def refused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class FaultServer:
    def __init__(
        self,
        mode: str = "ok",
        *,
        fail_first: int | None = None,
        retry_after: float | str = 1,
        stall_seconds: float = 30.0,
        reply: str | Callable[[dict[str, Any]], str] = "The answer is in the sources [1].",
        replies: list[str] | None = None,
        token_delay: float = 0.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        self.mode = mode
        self.fail_first = fail_first
        self.retry_after = retry_after
        self.stall_seconds = stall_seconds
        self.reply = reply  # a string, or a function of the request body (a scripted model)
        self.replies = list(replies or [])  # queued replies, used first, one per request
        self.token_delay = token_delay  # seconds between streamed tokens
        self.tokens_sent = 0  # streamed tokens actually written (a cancelled stream stops)
        self.requests: list[dict[str, Any]] = []  # parsed request bodies
        self.times: list[float] = []  # monotonic arrival time of each request
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def attempts(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- behaviour ------------------------------------------------------------------------
    def _fault_for(self, index: int) -> str:
        if self.fail_first is None or index < self.fail_first:
            return self.mode
        return "ok"

    def _next_reply(self, body: dict[str, Any]) -> str:
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
        return self.reply(body) if callable(self.reply) else self.reply

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fault-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()

            def do_GET(self) -> None:
                body = json.dumps({"object": "list", "data": [{"id": "fault-model"}]}).encode()
                self._send(200, body, {"Content-Type": "application/json"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                with server._lock:
                    index = len(server.requests)
                    server.requests.append(body)
                    server.times.append(time.monotonic())
                fault = server._fault_for(index)
                js = {"Content-Type": "application/json"}
                if fault == "429":
                    err = {"error": {"message": "rate limited", "type": "rate_limit_error"}}
                    headers = {**js, "Retry-After": str(server.retry_after)}
                    self._send(429, json.dumps(err).encode(), headers)
                elif fault == "500":
                    err = {"error": {"message": "internal error", "type": "server_error"}}
                    self._send(500, json.dumps(err).encode(), js)
                elif fault == "stall":
                    server._stop.wait(server.stall_seconds)
                    self.close_connection = True
                elif fault == "malformed":
                    self._send(200, b'{"id": "x", "choices": [{"message": {"content": "tru', js)
                elif fault == "empty":
                    self._reply(body, "")
                else:
                    self._reply(body, server._next_reply(body))

            def _reply(self, body: dict[str, Any], content: str) -> None:
                if not body.get("stream"):
                    payload = json.dumps(server._completion(body, content)).encode()
                    self._send(200, payload, {"Content-Type": "application/json"})
                    return
                events = []
                base = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 0}
                base["model"] = body.get("model", "fault-model")
                words = content.split(" ") if content else []
                for i, word in enumerate(words):
                    delta = {"content": word if i == 0 else " " + word}
                    choice = {"index": 0, "delta": delta, "finish_reason": None}
                    events.append({**base, "choices": [choice]})
                stop = {"index": 0, "delta": {}, "finish_reason": "stop"}
                events.append({**base, "choices": [stop]})
                if server.token_delay > 0:  # a slow model: one token at a time
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    try:
                        for event in events:
                            if server._stop.wait(server.token_delay):
                                return
                            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                            self.wfile.flush()
                            with server._lock:
                                server.tokens_sent += 1
                        self.wfile.write(b"data: [DONE]\n\n")
                        self.wfile.flush()
                    except OSError:  # the client hung up: stop generating
                        return
                    return
                data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                self._send(200, data.encode(), {"Content-Type": "text/event-stream"})

        return Handler


# --- scripted replies that read the qa prompt (prompts/qa.md, prompts/source.md) ------------
def prompt_sources(body: dict[str, Any]) -> list[tuple[int, str]]:
    """The ``(n, text)`` of each ``<source n="...">`` in a chat-completions request body."""
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    found = re.findall(r'<source n="?(\d+)"?[^>]*>(.*?)</source>', prompt, re.DOTALL)
    return [(int(n), " ".join(text.split())) for n, text in found]


def copies_first_sentence(word: str) -> Callable[[dict[str, Any]], str]:
    """A faithful scripted model: copies the first sentence of the first source mentioning
    ``word`` and cites it by its number in the prompt (fails the request if none does)."""
    from bot.text.sentences import split_sentences

    def reply(body: dict[str, Any]) -> str:
        for n, text in prompt_sources(body):
            if word in text.lower():
                return f"{split_sentences(text)[0].text.rstrip('.')} [{n}]."
        raise AssertionError(f"no source about {word!r} in the prompt")

    return reply
