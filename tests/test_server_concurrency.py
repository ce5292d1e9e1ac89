"""Requests run concurrently: a slow generation does not hold up ``/api/search``.

The real app (``TestClient(create_app(bot))``) over the real seed store, with a scripted
model whose reply is held back until the test releases it: the order of events is asserted,
not timings.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from bot.api import PaperBot
from bot.index.embeddings import LocalEmbedder
from bot.llm.scripted import ScriptedModel
from bot.server.app import create_app
from tests.conftest import make_settings

QUESTION = "How does grokking relate to lazy and rich training dynamics?"
REPLY = "Grokking is a transition from lazy to rich training dynamics [1]."


def test_search_answers_while_a_generation_is_running(
    seed_home: Path, embedder: LocalEmbedder
) -> None:
    gate = threading.Event()
    model = ScriptedModel(mode="openai", model="slow")
    model.enqueue(REPLY, gate=gate)  # the generation waits until the gate opens
    bot = PaperBot(make_settings(seed_home), embedder=embedder, llm=model)
    events: list[str] = []
    responses: dict[str, httpx.Response] = {}

    def request(name: str, method: str, url: str, **kwargs: Any) -> None:
        responses[name] = client.request(method, url, **kwargs)
        events.append(f"{name} done")

    with TestClient(create_app(bot), base_url="http://127.0.0.1") as client:
        ask = threading.Thread(
            target=request,
            args=("ask", "POST", "/api/ask"),
            kwargs={"json": {"question": QUESTION}},
        )
        ask.start()
        assert model.started.wait(120), "the generation never started"
        events.append("generation started")
        search = threading.Thread(
            target=request,
            args=("search", "GET", "/api/search"),
            kwargs={"params": {"q": "grokking", "k": 3}},
        )
        search.start()
        search.join(120)  # behind a server-wide lock it would wait for the gate: never
        finished_while_generating = not search.is_alive() and "ask done" not in events
        gate.set()
        ask.join(120)
        search.join(120)

    assert finished_while_generating, events
    assert events == ["generation started", "search done", "ask done"]
    assert responses["search"].status_code == 200
    hits = responses["search"].json()["results"]
    assert any("Grokking" in h["title"] for h in hits), hits
    answer = responses["ask"].json()
    assert responses["ask"].status_code == 200, answer
    assert len(model.calls) == 1 and model.pending == 0  # the model answered (once)
    assert answer["draft"] == REPLY
