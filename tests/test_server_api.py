"""The HTTP API: the real app in-process (TestClient) for most routes; real ``paperbot serve``
processes on 127.0.0.1 for startup, SSE streaming through a socket and the API key and limits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.api import PaperBot
from bot.index.embeddings import LocalEmbedder
from bot.server.app import create_app
from tests.conftest import free_port, make_settings, stop_process, wait_http
from tests.faultserver import FaultServer, copies_first_sentence

pytestmark = pytest.mark.server

GROKKING = "Grokking as the Transition from Lazy to Rich Training Dynamics"
FIRST = "What is grokking and what training dynamics explain it?"
FOLLOW_UP = "What baseline does it compare against?"
KEY = "test-key-1234"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    home: Path
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kwargs)


def copy_store(seed_home: Path, dest: Path) -> Path:
    """A private copy of the seed store: the server process must be its only user."""
    shutil.copytree(seed_home, dest, ignore=shutil.ignore_patterns("sessions.sqlite3*"))
    return dest


def start_server(
    home: Path, log: Path, extra_env: dict[str, str] | None = None, **settings: str
) -> Server:
    """``paperbot serve`` on a free loopback port, isolated from the developer's settings
    (``settings`` become ``PAPERBOT_<NAME>``; ``extra_env`` are set as given, e.g. OPENAI_*)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "OPENAI_"))}
    env.update(
        PAPERBOT_HOME=str(home),
        PAPERBOT_LLM_MODE="extractive",
        PAPERBOT_ENV_FILE=str(home / "none.env"),
        PAPERBOT_RATE_LIMIT_PER_MINUTE="0",
        HF_HUB_OFFLINE="1",
    )
    env.update({f"PAPERBOT_{k.upper()}": v for k, v in settings.items()})
    env.update(extra_env or {})
    paperbot = str(Path(sys.executable).with_name("paperbot"))
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [paperbot, "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", timeout=120, proc=proc)
    except RuntimeError as exc:
        proc.kill()
        raise RuntimeError(f"{exc}\n{log.read_text()[-3000:]}") from exc
    return Server(url, proc, home, log)


def stop_server(server: Server) -> None:
    stop_process(server.proc, timeout=15)


@dataclass
class InProcess:
    """The real app (middleware, Host guard, routes) over a real store, in this process."""

    app: FastAPI
    home: Path

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://127.0.0.1")  # the Host guard's name


@pytest.fixture(scope="module")
def api(
    seed_home: Path, embedder: LocalEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> InProcess:
    """Extractive mode over a copy of the seed store; no API key, no rate limit. Most API
    tests need no server process: the real-process tests are startup, SSE streaming through a
    socket (below) and the API key, limits and rate limit (``keyed_server``)."""
    home = copy_store(seed_home, tmp_path_factory.mktemp("api-app") / "home")
    bot = PaperBot(make_settings(home, rate_limit_per_minute=0), embedder=embedder, llm=None)
    return InProcess(create_app(bot), home)


@pytest.fixture(scope="session")
def api_server(seed_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``paperbot serve`` process in extractive mode over a copy of the seed store; no
    API key, no rate limit (the browser tests in test_web_page.py need a socket)."""
    base = tmp_path_factory.mktemp("api-server")
    server = start_server(copy_store(seed_home, base / "home"), base / "server.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def keyed_server(seed_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with an API key, small body limits and a rate limit."""
    base = tmp_path_factory.mktemp("keyed-server")
    server = start_server(
        copy_store(seed_home, base / "home"),
        base / "server.log",
        api_key=KEY,
        max_request_bytes="2048",
        max_upload_bytes="4096",
        rate_limit_per_minute="30",
    )
    yield server
    stop_server(server)


def read_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """Parse a server-sent event stream into (event, data) pairs."""
    events: list[tuple[str, dict[str, Any]]] = []
    event, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                events.append((event, json.loads("\n".join(data))))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    return events


# --- basics ---------------------------------------------------------------------------------
def test_health_docs_and_openapi(api: InProcess) -> None:
    with api.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        docs = client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert "cdn" not in docs.text.lower()  # the Swagger UI assets are served locally
        assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/ask",
        "/api/chat",
        "/api/summarize",
        "/api/newsletter",
        "/api/papers",
        "/api/papers/{paper_id}",
        "/api/ingest",
    ):
        assert path in paths, path


def test_ask_returns_the_cli_json_shape(api: InProcess, seed_bot: PaperBot) -> None:
    with api.client() as client:
        response = client.post("/api/ask", json={"question": FIRST})
    assert response.status_code == 200
    data = response.json()
    local = seed_bot.ask(FIRST).to_dict()  # what `paperbot ask --json` prints
    assert set(data) == set(local)
    assert data["answer"] == local["answer"]
    assert data["citations"] == local["citations"]
    assert data["verified"]["supported"] == data["verified"]["total"] > 0
    for c in data["citations"]:
        abstract = seed_bot.paper(c["paper_id"]).abstract
        assert abstract[c["start"] : c["end"]] == c["quote"]


def test_chat_streams_tokens_then_the_verified_answer(api: InProcess) -> None:
    with api.client() as client:
        with client.stream("POST", "/api/chat", json={"question": FIRST}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = read_events(response)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "meta" and kinds[-1] == "final"
    assert set(kinds[1:-1]) == {"token"} and len(kinds) > 3
    meta, final = events[0][1], events[-1][1]
    assert meta["session_id"] == final["session_id"] and meta["turn"] == final["turn"] == 1
    assert final["standalone_question"] == FIRST and final["rewrite"] == "none"
    # extractive mode: the streamed text is the final answer, chunked, and no draft
    assert "".join(e["text"] for kind, e in events if kind == "token") == final["answer"]
    assert [e["draft"] for kind, e in events if kind == "token"] == [False] * (len(kinds) - 2)
    assert final["citations"] and final["verified"]["supported"] == final["verified"]["total"]
    assert GROKKING in {c["title"] for c in final["citations"]}


def test_follow_up_keeps_the_thread_over_http(api: InProcess) -> None:
    with api.client() as client:
        first = client.post("/api/chat", json={"question": FIRST, "stream": False}).json()
        grokking_id = next(c["paper_id"] for c in first["citations"] if c["title"] == GROKKING)
        with client.stream(
            "POST", "/api/chat", json={"question": FOLLOW_UP, "session_id": first["session_id"]}
        ) as response:
            events = read_events(response)
        meta, second = events[0][1], events[-1][1]
        assert meta["rewrite"] == "rules" and GROKKING in meta["standalone_question"]
        assert second["turn"] == 2 and second["question"] == FOLLOW_UP
        assert grokking_id in second["retrieved"]
        # a follow-up about "it" stays on the papers the first answer cited
        cited_first = list(dict.fromkeys(c["paper_id"] for c in first["citations"]))
        assert second["scope"] == cited_first[:3]
        assert set(second["retrieved"]) <= set(second["scope"])

        session = client.get(f"/api/sessions/{first['session_id']}").json()
        assert [t["n"] for t in session["history"]] == [1, 2]
        assert session["history"][1]["standalone_question"] == second["standalone_question"]
        listed = client.get("/api/sessions").json()["sessions"]
        assert first["session_id"] in {s["id"] for s in listed}
        assert client.get("/api/sessions/nope").status_code == 404


def test_papers_and_search(api: InProcess) -> None:
    with api.client() as client:
        everything = client.get("/api/papers").json()
        assert everything["total"] >= 54
        found = client.get("/api/papers", params={"q": "grokking lazy"}).json()
        assert [p["title"] for p in found["papers"]] == [GROKKING]
        paper = client.get(f"/api/papers/{found['papers'][0]['id']}").json()
        assert paper["title"] == GROKKING and paper["abstract"]
        missing = client.get("/api/papers/no-such-paper")
        assert missing.status_code == 404 and "no paper" in missing.json()["detail"]
        results = client.get("/api/search", params={"q": "lazy to rich training", "k": 3}).json()
        assert results["results"][0]["title"] == GROKKING
        assert client.get("/api/stats").json()["llm_mode"] == "extractive"


def test_input_limits(api: InProcess) -> None:
    with api.client() as client:
        too_long = client.post("/api/ask", json={"question": "why " * 600})
        assert too_long.status_code == 422 and "limit is 2000" in too_long.json()["detail"]
        assert client.post("/api/chat", json={"question": "x" * 2001}).status_code == 422
        blank = client.post("/api/chat", json={"question": "   "})
        assert blank.status_code == 422 and "empty" in blank.json()["detail"]
        assert client.post("/api/ask", json={"question": ""}).status_code == 422
        assert client.post("/api/ask", json={"question": "q", "k": 0}).status_code == 422
        assert client.post("/api/ask", json={"question": "q", "k": 10_000}).status_code == 422
        assert client.post("/api/ask", content=b"not json").status_code == 422
        bad_id = client.post("/api/chat", json={"question": "q", "session_id": "../x"})
        assert bad_id.status_code == 422
        unknown = client.post("/api/chat", json={"question": "q", "session_id": "nosuch"})
        assert unknown.status_code == 404
        huge = client.post("/api/ask", json={"question": "a", "pad": "x" * 70_000})
        assert huge.status_code == 413 and "PAPERBOT_MAX_REQUEST_BYTES" in huge.json()["detail"]


def test_ingest_upload(api: InProcess, tmp_path: Path) -> None:
    record = {
        "id": "upload-1",
        "title": "Counting Penguins from Orbit",
        "abstract": "We count emperor penguin colonies in satellite images. Guano stains mark "
        "the colonies.",
    }
    with api.client() as client:
        added = client.post(
            "/api/ingest",
            files={"file": ("my papers.jsonl", json.dumps(record) + "\n", "application/json")},
        )
        assert added.status_code == 200, added.text
        assert added.json()["added"] + added.json()["unchanged"] == 1
        assert client.get("/api/papers/upload-1").json()["title"] == record["title"]
        answer = client.post("/api/ask", json={"question": "How are penguin colonies counted?"})
        assert "upload-1" in {c["paper_id"] for c in answer.json()["citations"]}

        wrong = client.post("/api/ingest", files={"file": ("x.exe", b"MZ\x00\x00", "a/b")})
        assert wrong.status_code == 415 and "unsupported file type" in wrong.json()["detail"]
        broken = client.post("/api/ingest", files={"file": ("bad.jsonl", b"{not json\n", "a/b")})
        assert broken.status_code == 422
        assert broken.json()["failed"][0]["path"] == "bad.jsonl"
        assert broken.json()["failed"][0]["line"] == 1


def test_summarize_and_newsletter_endpoints(api: InProcess) -> None:
    with api.client() as client:
        paper = client.get("/api/papers", params={"q": "grokking lazy"}).json()["papers"][0]
        one = client.post("/api/summarize", json={"paper_id": paper["id"]})
        assert one.status_code == 200, one.text
        summary = one.json()  # the shape of `paperbot summarize --json`
        assert summary["paper_id"] == paper["id"] and summary["summary"]
        for c in summary["citations"]:
            assert paper["abstract"][c["start"] : c["end"]] == c["quote"]
        several = client.post("/api/summarize", json={"paper_ids": [paper["id"], paper["id"]]})
        assert [s["paper_id"] for s in several.json()["summaries"]] == [paper["id"]]
        assert client.post("/api/summarize", json={"paper_ids": []}).status_code == 422
        assert client.post("/api/summarize", json={}).status_code == 422

        digest = client.post("/api/newsletter", json={"paper_ids": [paper["id"]]})
        assert digest.status_code == 200, digest.text
        data = digest.json()  # the shape of `paperbot newsletter --json`
        assert data["papers"] == 1 and data["headline"]
        assert data["sections"][0]["papers"][0]["paper_id"] == paper["id"]
        md = client.post("/api/newsletter", json={"paper_ids": [paper["id"]], "format": "md"})
        assert md.headers["content-type"].startswith("text/markdown")
        assert paper["title"] in md.text
        assert client.post("/api/newsletter", json={}).status_code == 422


# --- API key, small limits, rate limit -----------------------------------------------------
def test_api_key_is_required_when_set(keyed_server: Server) -> None:
    with keyed_server.client() as client:
        anonymous = client.get("/api/stats")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert (
            client.get("/api/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        assert client.get("/api/stats", headers={"Authorization": KEY}).status_code == 401
        assert client.post("/api/chat", json={"question": FIRST}).status_code == 401
        assert client.post("/api/ingest", files={"file": ("a.jsonl", b"{}")}).status_code == 401
        # the page and the health check stay public; the page asks for the key
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
        auth = {"Authorization": f"Bearer {KEY}"}
        assert client.get("/api/stats", headers=auth).json()["papers"] >= 54


def test_small_body_and_upload_limits(keyed_server: Server) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    with keyed_server.client(headers=auth) as client:
        assert client.post("/api/ask", json={"question": "q" * 3000}).status_code == 413
        big = b'{"id": "x", "title": "t", "abstract": "' + b"a" * 5000 + b'"}\n'
        declared = client.post("/api/ingest", files={"file": ("big.jsonl", big)})
        assert declared.status_code == 413
        assert "PAPERBOT_MAX_UPLOAD_BYTES" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
            for _ in range(10):
                yield b"x" * 1000

        chunked = client.post("/api/ask", content=chunks(), headers={"content-type": "text/plain"})
        assert chunked.status_code == 413


def test_rate_limit(keyed_server: Server) -> None:
    """Runs last in this module: it spends the client's budget (30 a minute)."""
    auth = {"Authorization": f"Bearer {KEY}"}
    with keyed_server.client(headers=auth) as client:
        statuses = [client.get("/api/sessions").status_code for _ in range(40)]
        limited = client.get("/api/sessions")
    assert 200 in statuses and 429 in statuses
    assert statuses.index(429) <= 31
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "PAPERBOT_RATE_LIMIT_PER_MINUTE" in limited.json()["detail"]


# --- a model streaming through a real server process ----------------------------------------
def test_chat_streams_model_tokens_then_the_verified_answer(
    seed_home: Path, tmp_path: Path, seed_bot: PaperBot
) -> None:
    """A model behind the OpenAI protocol, one token at a time, through a real ``paperbot
    serve`` process: raw tokens stream as labelled drafts, then the verified final answer.

    The model is scripted (tests/faultserver.py), so the outcome is known: its faithful
    sentence is kept. The real SmolLM2 streams in-process in tests/test_answer_llm.py (it took
    2-3 minutes here on 2 cores, for no behaviour of the server that this test does not see)."""
    with FaultServer(reply=copies_first_sentence("grokking"), token_delay=0.01) as model:
        server = start_server(
            copy_store(seed_home, tmp_path / "home"),
            tmp_path / "server.log",
            extra_env={
                "OPENAI_BASE_URL": model.url,
                "OPENAI_API_KEY": "sk-scripted",
                "OPENAI_MODEL": "scripted",
            },
            llm_mode="openai",
        )
        try:
            with server.client() as client:
                question = {"question": FIRST, "k": 2}
                with client.stream("POST", "/api/chat", json=question) as response:
                    assert response.status_code == 200
                    events = read_events(response)
        finally:
            stop_server(server)
        sent = model.tokens_sent
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "meta" and kinds[-1] == "final", kinds
    tokens = [e["text"] for kind, e in events if kind == "token"]
    assert len(tokens) > 3 and len(tokens) == sent - 1  # the model's words, as they came
    assert all(e["draft"] is True for kind, e in events if kind == "token")  # labelled drafts
    final = events[-1][1]
    assert (final["mode"], final["model"], final["fallback_from"]) == ("openai", "scripted", None)
    assert final["draft"] == "".join(tokens)
    assert final["verified"] == {"supported": 1, "total": 1}
    (citation,) = final["citations"]
    assert citation["title"] == GROKKING and final["answer"].endswith("[1].")
    abstract = seed_bot.paper(citation["paper_id"]).abstract
    assert abstract[citation["start"] : citation["end"]] == citation["quote"]
