"""A real HTTP server on 127.0.0.1 that replays saved arXiv API responses, in order.

Each request to ``GET /api/query`` gets the next scripted :class:`Reply` (the last one again
once the script is used up); requests are recorded with their arrival time, query parameters
and headers::

    with ArxivReplay([Reply.file(PAGES / "page_0.xml"), Reply(503, retry_after="1")]) as api:
        settings = make_settings(home, arxiv_api_url=api.url, arxiv_delay=0.2)
        ...
        assert api.params(0)["start"] == "0"

A ``Reply`` with ``cut`` sends that many bytes of its body under a ``Content-Length`` of the
whole body, then closes the connection: a body cut off in transit.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["ArxivReplay", "Reply"]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    retry_after: str | None = None
    cut: int | None = None  # send only this many bytes of the body

    @classmethod
    def file(cls, path: Path, status: int = 200, cut: int | None = None) -> Reply:
        return cls(status, path.read_bytes(), cut=cut)


@dataclass
class _Seen:
    at: float
    path: str
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


class ArxivReplay:
    def __init__(self, script: list[Reply]) -> None:
        self.script = list(script)
        self.seen: list[_Seen] = []
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                params = dict(urllib.parse.parse_qsl(parsed.query))
                with replay._lock:
                    n = len(replay.seen)
                    replay.seen.append(
                        _Seen(time.monotonic(), parsed.path, params, dict(self.headers.items()))
                    )
                    reply = replay.script[min(n, len(replay.script) - 1)]
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(reply.body)))
                if reply.retry_after is not None:
                    self.send_header("Retry-After", reply.retry_after)
                self.end_headers()
                body = reply.body if reply.cut is None else reply.body[: reply.cut]
                self.wfile.write(body)
                self.wfile.flush()
                if reply.cut is not None:
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/query"

    def params(self, i: int) -> dict[str, str]:
        return self.seen[i].params

    def gaps(self) -> list[float]:
        """Seconds between the arrivals of consecutive requests."""
        return [b.at - a.at for a, b in zip(self.seen, self.seen[1:], strict=False)]

    def __enter__(self) -> ArxivReplay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
