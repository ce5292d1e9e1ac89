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
from tests.faultserver import FaultServer, copies_first_sentence

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
        # whole sentences: one, or a run of adjacent ones (evidence spanning two sentences)
        sentences = split_sentences(abstract)
        last = c.sentence_index if c.last_sentence_index is None else c.last_sentence_index
        assert (c.start, c.end) == (sentences[c.sentence_index].start, sentences[last].end)
        assert c.paper_id in answer.retrieved
        assert f"[{c.n}]" in answer.answer
    assert 0 < answer.supported <= answer.total


@pytest.fixture(scope="module")
def local_bot(seed_home: Path, embedder: LocalEmbedder) -> PaperBot:
    # a short prompt (k=2) and a short answer: prefill and decoding dominate on 2 CPU cores
    settings = make_settings(seed_home, llm_mode="local", max_tokens=64, top_k=2)
    return PaperBot(settings, embedder=embedder, llm=make_llm(settings))


def _assert_model_ran(answer: Answer) -> None:
    """The model was called and what it wrote went through verification (either way)."""
    assert answer.draft, answer.to_dict()
    assert answer.completion_tokens > 0
    assert answer.prompt_hash and len(answer.prompt_hash) == 64


@pytest.mark.llm
def test_local_mode_streams_a_verified_answer(local_bot: PaperBot) -> None:
    """The real SmolLM2 through llama.cpp: tokens stream, the answer is grounded. Whether a
    135M model's words survive verification is not this test's business: each outcome is
    pinned with a scripted model below."""
    tokens: list[str] = []
    answer = local_bot.ask(QUESTIONS[0], on_token=tokens.append)
    assert len(tokens) > 3
    _assert_model_ran(answer)
    _assert_grounded(local_bot, answer)
    if answer.fallback_from is None:
        assert answer.mode == "local" and answer.model.startswith("SmolLM2-135M")


@pytest.mark.llm
def test_local_mode_abstains_out_of_corpus(local_bot: PaperBot) -> None:
    answer = local_bot.ask("What is a good recipe for lemon cheesecake?")
    assert answer.abstained and answer.citations == []


@pytest.mark.llm
@pytest.mark.server
def test_openai_mode_against_real_server(
    seed_home: Path, embedder: LocalEmbedder, llama_server: str
) -> None:
    settings = openai_settings(seed_home, llama_server, max_tokens=64, top_k=2)
    llm = make_llm(settings)
    assert llm is not None and llm.mode == "openai"
    bot = PaperBot(settings, embedder=embedder, llm=llm)
    answer = bot.ask(QUESTIONS[0])
    _assert_grounded(bot, answer)
    _assert_model_ran(answer)
    assert answer.prompt_tokens > 0  # the server's usage numbers came back
    # streaming over SSE through the openai client
    tokens: list[str] = []
    streamed = bot.ask(QUESTIONS[1], on_token=tokens.append)
    assert tokens
    _assert_model_ran(streamed)
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


# --- each outcome of verification, pinned with a scripted model (tests/faultserver.py) ----------


FALSE = "Grokking was first observed in protein folding models trained on CASP15 data [1]."


def _scripted_bot(home: Path, embedder: LocalEmbedder, url: str, **overrides: object) -> PaperBot:
    settings = make_settings(
        home,
        llm_mode="openai",
        openai_base_url=url,
        openai_api_key="sk-scripted",
        openai_model="scripted",
        llm_max_retries=0,
        **overrides,
    )
    return PaperBot(settings, embedder=embedder, llm=make_llm(settings))


def test_a_faithful_model_answer_is_kept(
    seed_home: Path, embedder: LocalEmbedder, seed_bot: PaperBot
) -> None:
    with FaultServer(reply=copies_first_sentence("grokking")) as server:
        bot = _scripted_bot(seed_home, embedder, server.url)
        answer = bot.ask(QUESTIONS[0])
        streamed = bot.ask(QUESTIONS[0], on_token=lambda _: None)
    for got in (answer, streamed):
        _assert_grounded(bot, got)
        assert (got.mode, got.model, got.fallback_from) == ("openai", "scripted", None)
        assert (got.supported, got.total) == (1, 1)
        (citation,) = got.citations
        assert citation.title == "Grokking as the Transition from Lazy to Rich Training Dynamics"
        assert got.answer.startswith(citation.quote.rstrip(".")) and got.answer.endswith("[1].")
        assert got.answer != seed_bot.ask(QUESTIONS[0]).answer
    assert answer.completion_tokens == 5  # the scripted server's usage


@pytest.mark.parametrize(
    ("fraction", "kept"), [(0.5, True), (0.51, False)], ids=["1-of-2-at-0.5", "1-of-2-at-0.51"]
)
def test_min_supported_fraction_decides_between_model_and_fallback(
    seed_home: Path, embedder: LocalEmbedder, seed_bot: PaperBot, fraction: float, kept: bool
) -> None:
    """One faithful and one false sentence: 1 of 2 supported, at the boundary."""
    faithful = copies_first_sentence("grokking")
    with FaultServer(reply=lambda body: f"{faithful(body)} {FALSE}") as server:
        bot = _scripted_bot(seed_home, embedder, server.url, min_supported_fraction=fraction)
        answer = bot.ask(QUESTIONS[0])
    assert FALSE in (answer.draft or "")
    if kept:
        assert (answer.mode, answer.fallback_from) == ("openai", None)
        assert (answer.supported, answer.total) == (1, 2)
        assert "CASP15" not in answer.answer
        assert "1 unsupported sentence(s) removed" in answer.notes
    else:
        assert (answer.mode, answer.fallback_from) == ("extractive", "openai")
        assert answer.answer == seed_bot.ask(QUESTIONS[0]).answer
        assert any("only 1 of 2 generated sentences" in n for n in answer.notes)


def test_an_unsupported_model_answer_falls_back_to_the_extractive_one(
    seed_home: Path, embedder: LocalEmbedder, seed_bot: PaperBot
) -> None:
    with FaultServer(replies=[FALSE]) as server:
        answer = _scripted_bot(seed_home, embedder, server.url).ask(QUESTIONS[0])
    assert (answer.mode, answer.model, answer.fallback_from) == ("extractive", "none", "openai")
    assert answer.draft == FALSE
    extractive = seed_bot.ask(QUESTIONS[0])
    assert answer.answer == extractive.answer and answer.citations == extractive.citations
    assert any("only 0 of 1 generated sentences" in n for n in answer.notes)
    _assert_grounded(seed_bot, answer)
