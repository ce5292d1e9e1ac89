"""The offline default (issue 14): extractive without an endpoint, said once; honest texts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.api import PaperBot
from bot.generate.newsletter import build_digest, how_written
from bot.llm.providers import WRITTEN_ANSWERS_HINT, resolve_mode, written_answers_hint
from bot.render import render_digest
from bot.types import LaySummary
from tests.conftest import cli_env, make_settings

QUESTION = "How does grokking relate to lazy and rich training dynamics?"


def test_auto_is_extractive_without_an_endpoint_and_says_how_to_get_written_answers() -> None:
    home = Path("/nonexistent")
    auto = make_settings(home, llm_mode="auto")
    assert resolve_mode(auto) == "extractive"  # not the 135M local model
    assert written_answers_hint(auto) == WRITTEN_ANSWERS_HINT
    assert "OPENAI_BASE_URL" in WRITTEN_ANSWERS_HINT and "Ollama" in WRITTEN_ANSWERS_HINT
    endpoint = make_settings(home, llm_mode="auto", openai_base_url="http://127.0.0.1:9/v1")
    assert resolve_mode(endpoint) == "openai" and written_answers_hint(endpoint) is None
    local = make_settings(home, llm_mode="local")
    assert resolve_mode(local) == "local" and written_answers_hint(local) is None
    assert written_answers_hint(make_settings(home, llm_mode="extractive")) is None


def test_cli_ask_by_default_quotes_at_once_and_hints_once(seed_home: Path) -> None:
    env = cli_env(seed_home)
    del env["PAPERBOT_LLM_MODE"]  # the default: auto
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", QUESTION], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "mode extractive: " in done.stdout and "no language model" in done.stdout
    assert "fallback" not in done.stdout  # no model draft was made and thrown away
    assert done.stderr.count("hint:") == 1 and "OPENAI_BASE_URL" in done.stderr
    explicit = subprocess.run(
        [sys.executable, "-m", "bot", "ask", QUESTION],
        env=cli_env(seed_home),
        capture_output=True,
        text=True,
    )
    assert explicit.returncode == 0 and "hint:" not in explicit.stderr


def _item(mode: str, model: str, n: int) -> LaySummary:
    return LaySummary(
        paper_id="p",
        title="T",
        summary="x [1].",
        glossary=[],
        citations=[],
        fkgl=8.0,
        target=8.0,
        met=True,
        supported=n,
        total=n,
        mode=mode,  # type: ignore[arg-type]
        model=model,
    )


def test_digest_text_says_what_was_done(seed_bot: PaperBot) -> None:
    papers = seed_bot.papers()[:3]
    digest = build_digest(papers, verifier=seed_bot.verifier, llm=None, settings=seed_bot.settings)
    assert "quotes key sentences" in digest.intro and "restate" not in digest.intro
    assert digest.intro.startswith("This digest covers 3 papers")
    markdown = render_digest(digest, "md")
    assert "quoted from their abstracts (no language model)" in markdown
    assert "verified" not in markdown.split("---")[-1]
    # with a model: which one wrote what, and how many fell back to quoting
    written = how_written([_item("openai", "gpt-4o-mini", 2), _item("extractive", "none", 2)])
    assert written.startswith("1 of 2 blurbs were written by gpt-4o-mini (openai)")
    assert "the other 1 quote the abstract" in written
