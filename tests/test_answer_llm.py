"""Answers from real models: embedded llama.cpp (local) and the openai client against
llama-cpp-python's real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.index.embeddings import LocalEmbedder
from bot.llm.providers import make_llm
from bot.text.sentences import split_sentences
from bot.types import Answer
from tests.conftest import make_settings, openai_settings

pytestmark = pytest.mark.llm

QUESTIONS = [
    "How does grokking relate to lazy and rich training dynamics?",
    "What does Fisher-weighted averaging do when merging models?",
]


def _assert_grounded(bot: PaperBot, answer: Answer) -> None:
    assert not answer.abstained
    assert answer.citations, answer.to_dict()
    for c in answer.citations:
        abstract = bot.paper(c.paper_id).abstract
        assert abstract[c.start : c.end] == c.quote  # verbatim, exact offsets
        assert c.quote in {s.text for s in split_sentences(abstract)}
        assert c.paper_id in answer.retrieved
        assert f"[{c.n}]" in answer.answer
    assert 0 < answer.supported <= answer.total


@pytest.fixture(scope="module")
def local_bot(seed_home: Path, embedder: LocalEmbedder) -> PaperBot:
    settings = make_settings(seed_home, llm_mode="local", max_tokens=160)
    return PaperBot(settings, embedder=embedder, llm=make_llm(settings))


@pytest.mark.parametrize("question", QUESTIONS)
def test_local_mode_answers_with_verbatim_citations(local_bot: PaperBot, question: str) -> None:
    answer = local_bot.ask(question)
    _assert_grounded(local_bot, answer)
    # either the model's answer survived verification, or we fell back and say so
    if answer.mode == "local":
        assert answer.model.startswith("SmolLM2-135M")
        assert answer.completion_tokens > 0
    else:
        assert answer.mode == "extractive" and answer.fallback_from == "local"
        assert answer.notes
    assert answer.prompt_hash and len(answer.prompt_hash) == 64


def test_local_mode_streams_tokens(local_bot: PaperBot) -> None:
    tokens: list[str] = []
    answer = local_bot.ask(QUESTIONS[0], on_token=tokens.append)
    assert len(tokens) > 3
    _assert_grounded(local_bot, answer)


def test_local_mode_abstains_out_of_corpus(local_bot: PaperBot) -> None:
    answer = local_bot.ask("What is a good recipe for lemon cheesecake?")
    assert answer.abstained and answer.citations == []


@pytest.mark.server
def test_openai_mode_against_real_server(
    seed_home: Path, embedder: LocalEmbedder, llama_server: str
) -> None:
    settings = openai_settings(seed_home, llama_server)
    llm = make_llm(settings)
    assert llm is not None and llm.mode == "openai"
    bot = PaperBot(settings, embedder=embedder, llm=llm)
    answer = bot.ask(QUESTIONS[0])
    _assert_grounded(bot, answer)
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    if answer.mode != "openai":
        assert answer.fallback_from == "openai"
    # streaming over SSE through the openai client
    tokens: list[str] = []
    streamed = bot.ask(QUESTIONS[1], on_token=tokens.append)
    assert tokens
    _assert_grounded(bot, streamed)


def test_openai_mode_unreachable_endpoint_falls_back(
    seed_home: Path, embedder: LocalEmbedder
) -> None:
    from tests.conftest import free_port

    settings = make_settings(
        seed_home,
        llm_mode="openai",
        openai_base_url=f"http://127.0.0.1:{free_port()}/v1",
        openai_api_key="x",
        llm_max_retries=0,
        llm_timeout=5,
    )
    bot = PaperBot(settings, embedder=embedder, llm=make_llm(settings))
    answer = bot.ask(QUESTIONS[0])
    assert answer.mode == "extractive" and answer.fallback_from == "openai"
    assert any("failed" in n for n in answer.notes)
    _assert_grounded(bot, answer)
