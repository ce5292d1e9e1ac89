"""The ASGI middleware in front of the app: hosts, origins, rate limit, API key, body size,
security headers.

For every request:

- the ``Host`` header must name one of ``PAPERBOT_ALLOWED_HOSTS`` (default ``localhost`` and
  ``127.0.0.1``, plus the address ``serve`` binds to; ``*`` allows any): otherwise 421, so a
  page on a rebinding DNS name (``rebind.evil.example`` -> 127.0.0.1) gets nothing.

For every ``/api`` route:

- at most ``PAPERBOT_RATE_LIMIT_PER_MINUTE`` requests per client address (429, ``Retry-After``),
  counted before the API key is checked, so wrong keys are rate-limited too. The address is
  the socket's peer: ``X-Forwarded-For`` is ignored unless ``PAPERBOT_TRUSTED_PROXIES`` names
  the proxy (then uvicorn rewrites the peer from it).
- ``PAPERBOT_API_KEY`` set: the request needs ``Authorization: Bearer <key>`` (401 otherwise).
- no key set: a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` (or, without
  one, ``Sec-Fetch-Site: cross-site``) shows it comes from another site's page is refused
  (403): a cross-site form cannot upload papers or spend the model (CSRF).
  ``PAPERBOT_ALLOWED_ORIGINS`` lists other origins to trust.
- the body is read here, up to ``PAPERBOT_MAX_REQUEST_BYTES`` (``PAPERBOT_MAX_UPLOAD_BYTES`` for
  ``POST /api/ingest``); a larger one gets 413 before the app sees it.

Every page and static file gets a strict Content-Security-Policy (scripts and styles from this
server only, no inline script), so even a string that escaped escaping could not run.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ApiGuard", "RateLimiter", "host_allowed", "split_host"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_DOCS_PREFIXES = ("/docs", "/redoc", "/static-offline-docs", "/openapi.json")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def split_host(value: str) -> tuple[str, str]:
    """``"Example.org:8000"`` -> ``("example.org", "8000")``; IPv6 ``"[::1]:80"`` -> ``("::1",
    "80")``."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest.lstrip(":")
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, port
    return value, ""


def host_allowed(host_header: str, allowed: frozenset[str]) -> bool:
    if "*" in allowed:
        return True
    host, _ = split_host(host_header)
    return bool(host) and host.rstrip(".") in allowed


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int, max_clients: int = 10000) -> None:
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds to wait."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic()
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / rate
            if len(self._buckets) > self.max_clients:  # forget the idlest clients
                for key, _ in sorted(self._buckets.items(), key=lambda kv: kv[1][1])[
                    : len(self._buckets) // 2
                ]:
                    self._buckets.pop(key, None)
        return wait


class _TooLarge(Exception):
    pass


class ApiGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str | None,
        max_request_bytes: int,
        max_upload_bytes: int,
        rate_limit_per_minute: int,
        upload_paths: tuple[str, ...] = ("/api/ingest",),
        allowed_hosts: frozenset[str] = frozenset({"localhost", "127.0.0.1", "::1"}),
        allowed_origins: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes
        self.limiter = RateLimiter(rate_limit_per_minute)
        self.upload_paths = upload_paths
        self.allowed_hosts = frozenset(h.lower().strip("[]") for h in allowed_hosts)
        self.allowed_origins = frozenset(o.lower().rstrip("/") for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        send = self._with_headers(send, path)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed_hosts):
            shown = host[:80] or "(none)"
            await _error(
                send,
                421,
                f"this server does not answer for the host {shown!r}: allowed hosts are "
                f"{', '.join(sorted(self.allowed_hosts))} (PAPERBOT_ALLOWED_HOSTS)",
            )
            return
        if path == "/api" or path.startswith("/api/"):
            await self._api(scope, receive, send, path, headers)
            return
        await self.app(scope, receive, send)

    def _cross_site(self, scope: Scope, headers: dict[str, str]) -> str | None:
        """Why a state-changing request comes from another site's page (None: it does not)."""
        if scope.get("method", "GET").upper() not in _UNSAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            origin = origin.strip().lower().rstrip("/")
            if origin in self.allowed_origins:
                return None
            _scheme, _, rest = origin.partition("://")
            own = headers.get("host", "").lower()
            if origin == "null" or not rest or split_host(rest) != split_host(own):
                return f"Origin {origin[:80]!r} is not this server ({own[:80]})"
            return None
        if headers.get("sec-fetch-site", "").lower() == "cross-site":
            return "the browser says it comes from another site (Sec-Fetch-Site: cross-site)"
        return None

    async def _api(
        self, scope: Scope, receive: Receive, send: Send, path: str, headers: dict[str, str]
    ) -> None:
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.limiter.allow(str(client))  # before the key: wrong keys count too
        if wait > 0:
            await _error(
                send,
                429,
                f"too many requests: at most {self.limiter.per_minute} per minute "
                "(PAPERBOT_RATE_LIMIT_PER_MINUTE)",
                [(b"retry-after", str(max(1, round(wait + 0.5))).encode())],
            )
            return
        raw_auth = next((v for k, v in scope["headers"] if k.lower() == b"authorization"), b"")
        if self.api_key is not None and not self._authorised(raw_auth):
            await _error(
                send,
                401,
                "missing or wrong API key: send 'Authorization: Bearer <PAPERBOT_API_KEY>'",
                [(b"www-authenticate", b'Bearer realm="paperbot"')],
            )
            return
        if self.api_key is None:
            why = self._cross_site(scope, headers)
            if why:
                await _error(
                    send,
                    403,
                    f"cross-site request refused: {why}. Without PAPERBOT_API_KEY only pages "
                    "served by paperbot itself may change state (PAPERBOT_ALLOWED_ORIGINS "
                    "lists others to trust)",
                )
                return
        upload = path in self.upload_paths
        limit = self.max_upload_bytes if upload else self.max_request_bytes
        setting = "PAPERBOT_MAX_UPLOAD_BYTES" if upload else "PAPERBOT_MAX_REQUEST_BYTES"
        too_large = f"request body too large: the limit is {limit} bytes ({setting})"
        declared = headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await _error(send, 413, too_large)
                    return
            except ValueError:
                await _error(send, 400, "bad Content-Length header")
                return
        try:
            body = await _read_body(receive, limit)
        except _TooLarge:
            await _error(send, 413, too_large)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, for streaming responses

        await self.app(scope, replay, send)

    def _authorised(self, header: bytes) -> bool:
        """Compares raw header bytes with the key's UTF-8 bytes, in constant time."""
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return False
        assert self.api_key is not None
        return hmac.compare_digest(token.strip(), self.api_key.encode("utf-8"))

    @staticmethod
    def _with_headers(send: Send, path: str) -> Send:
        is_docs = path.startswith(_DOCS_PREFIXES)

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if not is_docs:
                    headers.append((b"content-security-policy", CSP.encode()))
                    headers.append((b"x-frame-options", b"DENY"))
                message["headers"] = headers
            await send(message)

        return wrapped


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _error(
    send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
