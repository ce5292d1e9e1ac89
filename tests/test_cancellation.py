"""Deadlines and cancellation of API requests (issue 16, finding 5), on a real server.

A real ``paperbot serve`` (uvicorn on 127.0.0.1) talks to a scripted slow model: a real
OpenAI-protocol server that streams one word every 0.3 s and counts the words it managed to
send. Clients that hang up must stop the work - requests run concurrently (no server-wide
lock), and every abandoned generation stops within a token or two - and the server answers
the next request at once. A request past ``PAPERBOT_REQUEST_TIMEOUT`` gets 504.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faultserver import FaultServer
from tests.test_server_api import Server, copy_store, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(1200)]

QUESTION = "How does grokking relate to lazy and rich training dynamics?"
REPLY = " ".join(
    ["Grokking arises when training moves from lazy to rich dynamics [1]."] * 30
)  # ~100 s of tokens


@pytest.fixture(scope="module")
def slow_model() -> Iterator[FaultServer]:
    with FaultServer("ok", reply=REPLY, token_delay=0.3) as server:
        yield server


@pytest.fixture(scope="module")
def slow_server(
    seed_home: Path, slow_model: FaultServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("cancel-server")
    copy_store(seed_home, base / "home")
    server = _start_with_model(base, slow_model)
    yield server
    stop_server(server)


def _start_with_model(base: Path, model: FaultServer, timeout: str = "40") -> Server:
    """``paperbot serve`` in openai mode against the scripted model, models loaded."""
    server = start_server(
        base / "home",
        base / "server-model.log",
        extra_env={"OPENAI_BASE_URL": model.url, "OPENAI_API_KEY": "sk-test"},
        llm_mode="openai",
        request_timeout=timeout,
        llm_max_retries="0",
    )
    with httpx.Client(base_url=server.url, timeout=900) as client:  # load the models once
        client.get("/api/search", params={"q": "warm up"})
    return server


def _raw_post(url: str, path: str, body: dict[str, object]) -> socket.socket:
    """Send a POST and return the open socket without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    data = json.dumps(body).encode()
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data
    )
    return sock


def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _settled(model: FaultServer, seconds: float = 2.0) -> int:
    """Words sent once streaming stopped (no new word for ``seconds``)."""
    last = -1
    while model.tokens_sent != last:
        last = model.tokens_sent
        time.sleep(seconds)
    return last


def test_abandoned_concurrent_asks_stop_within_a_token(
    slow_server: Server, slow_model: FaultServer
) -> None:
    before = slow_model.attempts
    first = _raw_post(slow_server.url, "/api/ask", {"question": QUESTION})
    started = _wait(lambda: slow_model.attempts > before and slow_model.tokens_sent > 0, 900)
    if not started:
        first.close()
    assert started, slow_server.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    # a second ask reaches the model while the first is still generating (no server lock)
    second = _raw_post(slow_server.url, "/api/ask", {"question": QUESTION + " Again?"})
    both = _wait(lambda: slow_model.attempts == before + 2, 300)
    second.close()
    sent_at_close = slow_model.tokens_sent
    first.close()
    assert both, slow_server.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    total_words = len(REPLY.split())
    settled = _settled(slow_model)
    assert settled - sent_at_close <= 8, (sent_at_close, settled)  # each stopped within a token
    assert settled < 2 * total_words
    # nothing is left waiting: the next request is answered at once
    t0 = time.monotonic()
    with httpx.Client(base_url=slow_server.url, timeout=120) as client:
        papers = client.get("/api/papers", params={"limit": 1})
    assert papers.status_code == 200 and time.monotonic() - t0 < 10
    assert slow_model.attempts == before + 2


def test_chat_disconnect_stops_the_stream(slow_server: Server, slow_model: FaultServer) -> None:
    before = slow_model.attempts
    with httpx.Client(base_url=slow_server.url, timeout=120) as client:
        with client.stream("POST", "/api/chat", json={"question": QUESTION}) as response:
            assert response.status_code == 200
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    break  # the first token arrived: hang up
    sent_at_close = slow_model.tokens_sent
    settled = _settled(slow_model)
    log = slow_server.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    assert slow_model.attempts >= before + 1, log  # the token came from the model
    assert settled - sent_at_close <= 4, (sent_at_close, settled)


def test_a_request_past_its_deadline_gets_504(
    seed_home: Path, slow_model: FaultServer, tmp_path: Path
) -> None:
    copy_store(seed_home, tmp_path / "home")
    server = _start_with_model(tmp_path, slow_model, timeout="4")
    try:
        t0 = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            r = client.post("/api/ask", json={"question": QUESTION})
        assert r.status_code == 504, r.text
        assert "PAPERBOT_REQUEST_TIMEOUT" in r.json()["detail"]
        assert time.monotonic() - t0 < 15
    finally:
        stop_server(server)
