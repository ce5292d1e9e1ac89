"""LLM faults against a real local HTTP server speaking the OpenAI chat protocol.

tests/faultserver.py injects: 429 with Retry-After, 500, a stalled response past the timeout,
a malformed JSON body, an empty completion; "connection refused" is a port nobody listens on.
Every fault ends in bounded retries with backoff and then the extractive fallback, marked as
such (``fallback_from="openai"`` and a one-line note) - never a traceback, never a hang. The
server counts the attempts. The retry policy runs on a :class:`ManualClock`: the waits are
recorded, not slept (only the CLI test, a subprocess, still waits its short backoff). Limits
(question length, k, max_tokens, context tokens) end in clear one-line errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.errors import ConfigError, InputError, LLMError
from bot.generate.answer import build_sources, prepare
from bot.index.embeddings import LocalEmbedder
from bot.llm.providers import make_llm
from bot.llm.scripted import ManualClock
from bot.settings import load_settings
from bot.text.chunking import count_tokens
from tests.conftest import cli_env, make_settings
from tests.faultserver import FaultServer, refused_url

QUESTION = "How does grokking relate to lazy and rich training dynamics?"
PAPERBOT = [sys.executable, "-m", "bot.cli.main"]
# Small, bounded budgets: 2 s per request, 2 retries, short backoff.
FAST = {"llm_timeout": 2.0, "llm_max_retries": 2, "llm_retry_backoff": 0.2}


def _bot(
    home: Path, embedder: LocalEmbedder, url: str, clock: ManualClock, **overrides: object
) -> PaperBot:
    settings = make_settings(
        home, llm_mode="openai", openai_base_url=url, openai_api_key="sk-test", **FAST
    )
    settings = settings.model_copy(update=overrides)
    return PaperBot(settings, embedder=embedder, llm=make_llm(settings, clock=clock))


def _backoff(waits: list[float], backoff: float = 0.2) -> None:
    """``waits`` grew as ``backoff * 2**n``, each jittered down by at most a quarter."""
    for n, wait in enumerate(waits):
        full = backoff * 2**n
        assert 0.75 * full <= wait <= full, waits


def _assert_fallback(answer: object, bot: PaperBot) -> str:
    assert answer.mode == "extractive" and answer.fallback_from == "openai"  # type: ignore[attr-defined]
    assert not answer.abstained and answer.citations  # type: ignore[attr-defined]
    failed = [n for n in answer.notes if n.startswith("model failed")]  # type: ignore[attr-defined]
    assert len(failed) == 1 and "\n" not in failed[0], answer.notes  # type: ignore[attr-defined]
    for c in answer.citations:  # type: ignore[attr-defined]
        assert bot.paper(c.paper_id).abstract[c.start : c.end] == c.quote
    return failed[0]


@pytest.mark.parametrize(
    ("mode", "options", "says"),
    [
        ("429", {"retry_after": 1}, "429"),
        ("500", {}, "500"),
        ("stall", {"stall_seconds": 30}, "timed out"),
        ("malformed", {}, "JSONDecodeError"),
        ("empty", {}, "empty completion"),
    ],
)
def test_fault_ends_in_marked_fallback(
    seed_home: Path,
    embedder: LocalEmbedder,
    mode: str,
    options: dict[str, object],
    says: str,
) -> None:
    clock = ManualClock()
    with FaultServer(mode, **options) as server:  # type: ignore[arg-type]
        bot = _bot(seed_home, embedder, server.url, clock)
        t0 = time.monotonic()
        answer = bot.ask(QUESTION)
        elapsed = time.monotonic() - t0
        seen = server.attempts
    note = _assert_fallback(answer, bot)
    assert seen == 3 and "after 3 attempts" in note and says in note, note
    if mode == "429":
        assert clock.sleeps == [1.0, 1.0]  # the server's Retry-After, twice
    else:
        assert len(clock.sleeps) == 2
        _backoff(clock.sleeps)
    assert elapsed < 30, elapsed  # bounded: 3 x 2 s timeout at worst, no real backoff
    print(f"{mode}: {seen} attempts, waits {clock.sleeps}, {elapsed:.1f}s -> {note}")


def test_connection_refused_falls_back(seed_home: Path, embedder: LocalEmbedder) -> None:
    clock = ManualClock()
    bot = _bot(seed_home, embedder, refused_url(), clock)
    answer = bot.ask(QUESTION)
    note = _assert_fallback(answer, bot)
    assert "after 3 attempts" in note and "Connection" in note
    assert len(clock.sleeps) == 2
    _backoff(clock.sleeps)


def test_retry_after_is_honoured_then_succeeds(seed_home: Path, embedder: LocalEmbedder) -> None:
    clock = ManualClock()
    with FaultServer("429", retry_after=1, fail_first=1) as server:
        bot = _bot(seed_home, embedder, server.url, clock)
        answer = bot.ask(QUESTION)
        seen = server.attempts
    assert seen == 2
    assert clock.sleeps == [1.0]  # waited the server's Retry-After (1 s), not a backoff
    assert not any(n.startswith("model failed") for n in answer.notes), answer.notes
    assert answer.draft == "The answer is in the sources [1]."  # the model's reply was used


def test_retry_after_beyond_cap_gives_up_at_once(seed_home: Path, embedder: LocalEmbedder) -> None:
    clock = ManualClock()
    with FaultServer("429", retry_after=600) as server:
        bot = _bot(seed_home, embedder, server.url, clock, llm_retry_max_wait=5.0)
        answer = bot.ask(QUESTION)
        seen = server.attempts
    note = _assert_fallback(answer, bot)
    assert seen == 1 and "after 1 attempt " in note
    assert clock.sleeps == []


def test_deadline_bounds_the_retries(seed_home: Path, embedder: LocalEmbedder) -> None:
    clock = ManualClock()
    with FaultServer("stall", stall_seconds=30) as server:
        bot = _bot(seed_home, embedder, server.url, clock, llm_max_retries=10, llm_deadline=3.0)
        answer = bot.ask(QUESTION)
        seen = server.attempts
    _assert_fallback(answer, bot)
    # 10 retries allowed, but no attempt starts after 3 s (each one times out after 2 s)
    assert 1 <= seen <= 2 and len(clock.sleeps) == seen - 1


def test_streaming_retries_before_the_first_token(seed_home: Path, embedder: LocalEmbedder) -> None:
    clock = ManualClock()
    with FaultServer("500", fail_first=1) as server:
        bot = _bot(seed_home, embedder, server.url, clock)
        tokens: list[str] = []
        answer = bot.ask(QUESTION, on_token=tokens.append)
        seen = server.attempts
    assert seen == 2 and len(clock.sleeps) == 1
    assert "".join(tokens) == "The answer is in the sources [1]."
    assert not any(n.startswith("model failed") for n in answer.notes)
    with FaultServer("empty") as server:
        bot = _bot(seed_home, embedder, server.url, clock)
        answer = bot.ask(QUESTION, on_token=tokens.append)
        assert server.attempts == 3
    _assert_fallback(answer, bot)


def test_direct_call_raises_one_line_llm_error(tmp_path: Path) -> None:
    clock = ManualClock()
    with FaultServer("500") as server:
        settings = make_settings(tmp_path, llm_mode="openai", openai_base_url=server.url, **FAST)
        llm = make_llm(settings, clock=clock)
        assert llm is not None
        with pytest.raises(LLMError) as info:
            llm.invoke([("user", "hi")])
    message = str(info.value)
    assert "\n" not in message and "after 3 attempts" in message and "500" in message
    assert len(clock.sleeps) == 2


def _cli_env(home: Path, **extra: str) -> dict[str, str]:
    return cli_env(
        home,
        COLUMNS="1000",
        PAPERBOT_LLM_TIMEOUT="2",
        PAPERBOT_LLM_MAX_RETRIES="2",
        PAPERBOT_LLM_RETRY_BACKOFF="0.2",
        **extra,
    )


def test_cli_ask_under_fault_exits_0_with_fallback(seed_home: Path) -> None:
    with FaultServer("500") as server:  # (the stall is covered in-process above)
        env = _cli_env(seed_home, PAPERBOT_LLM_MODE="openai", OPENAI_BASE_URL=server.url)
        t0 = time.monotonic()
        run = subprocess.run(
            [*PAPERBOT, "ask", QUESTION], env=env, capture_output=True, text=True, timeout=180
        )
        elapsed = time.monotonic() - t0
        seen = server.attempts
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "fallback from openai" in run.stdout
    assert "model failed" in run.stdout and "failed after 3 attempts" in run.stdout
    assert seen == 3
    print(f"cli ask under 500s: exit 0, {seen} attempts, {elapsed:.1f}s incl. start-up")


def test_limits_are_settings_with_clear_errors(seed_bot: PaperBot, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="PAPERBOT_MAX_QUESTION_CHARS"):
        seed_bot.ask("why " * 1000)
    with pytest.raises(InputError, match="k must be between"):
        seed_bot.ask(QUESTION, k=seed_bot.settings.retrieval.max_k + 1)
    for name, bad in [
        ("PAPERBOT_MAX_TOKENS", "0"),
        ("PAPERBOT_CONTEXT_TOKENS", "10"),
        ("PAPERBOT_LLM_TIMEOUT", "0"),
        ("PAPERBOT_LLM_DEADLINE", "-1"),
        ("PAPERBOT_MAX_K", "100000"),
    ]:
        env_file = tmp_path / f"{name}.env"
        env_file.write_text(f"{name}={bad}\n")
        old = os.environ.pop(name, None)
        try:
            with pytest.raises(ConfigError, match=name):
                load_settings(env_file)
        finally:
            if old is not None:
                os.environ[name] = old


def test_context_budget_is_enforced(seed_bot: PaperBot) -> None:
    budget = 300
    settings = seed_bot.settings.model_copy(update={"context_tokens": budget})
    prep = prepare(QUESTION, seed_bot.retriever, seed_bot.verifier, settings, k=10)
    used = sum(count_tokens(s.shown) + count_tokens(s.paper.title) + 12 for s in prep.sources)
    assert used <= budget or len(prep.sources) == 1
    # Even the first source gives way to its chunk when the whole abstract is over budget.
    hits = seed_bot.search(QUESTION, k=1)
    tiny = build_sources(hits, budget_tokens=20)
    assert len(tiny) == 1 and tiny[0].shown == hits[0].text


def test_local_mode_checks_context_fits_the_window(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, llm_mode="local", local_n_ctx=1024, context_tokens=1200, max_tokens=256
    )
    with pytest.raises(ConfigError, match="PAPERBOT_LOCAL_N_CTX"):
        make_llm(settings)
