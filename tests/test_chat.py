"""Chat: follow-ups keep the thread (rewrite -> retrieval), sessions persist in SQLite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.errors import InputError
from bot.generate.chat import is_follow_up, rewrite_question
from bot.storage.sessions import SessionStore, Turn
from tests.conftest import make_settings

GROKKING = "Grokking as the Transition from Lazy to Rich Training Dynamics"
FIRST = "What is grokking and what training dynamics explain it?"
FOLLOW_UP = "What baseline does it compare against?"


@pytest.fixture()
def chat_bot(seed_home: Path, embedder, tmp_path: Path) -> PaperBot:  # type: ignore[no-untyped-def]
    """Extractive bot over the seed store, with its own session database."""
    bot = PaperBot(make_settings(seed_home), embedder=embedder, llm=None)
    bot._sessions = SessionStore(tmp_path / "sessions.sqlite3")
    return bot


def _turn(question: str, titles: list[str]) -> Turn:
    citations = [{"n": i + 1, "paper_id": f"p{i}", "title": t} for i, t in enumerate(titles)]
    return Turn(1, question, question, "none", {"answer": "x [1]", "citations": citations})


def test_follow_up_detection() -> None:
    assert is_follow_up("What baseline does it compare against?")
    assert is_follow_up("And the authors?")
    assert is_follow_up("why?")  # too short to stand alone
    assert not is_follow_up("Which papers study diffusion models for image generation?")


def test_rules_rewrite_carries_the_cited_papers() -> None:
    settings = make_settings(Path("/nonexistent"))
    history = [_turn(FIRST, [GROKKING])]
    rewrite = rewrite_question(FOLLOW_UP, history, None, settings)
    assert rewrite.method == "rules"
    assert rewrite.question == FOLLOW_UP
    assert rewrite.standalone.startswith(FOLLOW_UP)
    assert GROKKING in rewrite.standalone
    standalone = "Which papers study diffusion models for image generation?"
    assert rewrite_question(standalone, history, None, settings).method == "none"
    assert rewrite_question(FOLLOW_UP, [], None, settings).standalone == FOLLOW_UP


def test_follow_up_retrieves_the_paper_of_the_first_turn(chat_bot: PaperBot) -> None:
    alone = chat_bot.search(FOLLOW_UP, k=5)
    assert GROKKING not in [h.paper.title for h in alone]  # the question alone loses the thread

    first = chat_bot.chat(FIRST)
    assert GROKKING in {c.title for c in first.answer.citations}
    second = chat_bot.chat(FOLLOW_UP, first.session_id)
    data = second.to_dict()
    assert data["session_id"] == first.session_id and data["turn"] == 2
    assert data["question"] == FOLLOW_UP
    assert data["rewrite"] == "rules"
    assert GROKKING in data["standalone_question"]
    grokking_id = next(c.paper_id for c in first.answer.citations if c.title == GROKKING)
    assert grokking_id in data["retrieved"]
    assert grokking_id in {c["paper_id"] for c in data["citations"]}
    assert "rewrite" in data["timings_ms"]


def test_sessions_persist_and_resume(chat_bot: PaperBot, seed_home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    first = chat_bot.chat(FIRST)
    chat_bot.chat(FOLLOW_UP, first.session_id)
    # a new bot (a new process, in effect) sees the same session
    other = PaperBot(make_settings(seed_home), embedder=embedder, llm=None)
    other._sessions = SessionStore(chat_bot.sessions.path)
    session = other.sessions.get(first.session_id)
    assert [t.n for t in session.turns] == [1, 2]
    assert session.turns[1].question == FOLLOW_UP
    assert session.turns[0].answer["citations"]
    assert session.model == "none" and session.mode == "extractive"
    assert session.title == FIRST
    listed = other.sessions.list()
    assert listed[0].id == first.session_id and listed[0].n_turns == 2
    third = other.chat("And what does it conclude?", first.session_id)
    assert third.turn == 3 and GROKKING in third.rewrite.standalone
    assert other.sessions.delete(first.session_id)
    assert other.sessions.list() == []


def test_unknown_or_bad_session_is_an_input_error(chat_bot: PaperBot) -> None:
    with pytest.raises(InputError, match="no session"):
        chat_bot.chat(FIRST, "doesnotexist")
    with pytest.raises(InputError, match="invalid session id"):
        chat_bot.chat(FIRST, "../../etc/passwd")
    with pytest.raises(InputError, match="empty"):
        chat_bot.chat("   ")
    assert chat_bot.sessions.list() == []  # failed turns store nothing


def _cli_env(home: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "OPENAI_"))}
    env.update(
        PAPERBOT_HOME=str(home),
        PAPERBOT_LLM_MODE="extractive",
        PAPERBOT_ENV_FILE=str(tmp_path / "none.env"),
        HF_HUB_OFFLINE="1",
    )
    return env


def test_cli_chat_json_and_sessions(seed_home: Path, tmp_path: Path) -> None:
    """`paperbot chat --json` reads questions from stdin; `sessions --json` lists them."""
    home = tmp_path / "home"
    shutil.copytree(seed_home, home, ignore=shutil.ignore_patterns("sessions.sqlite3*"))
    env = _cli_env(home, tmp_path)
    cli = [str(Path(sys.executable).with_name("paperbot"))]
    questions = f"{FIRST}\n{FOLLOW_UP}\n/sources\n/new\n/quit\nnot asked\n"
    done = subprocess.run(
        [*cli, "chat", "--json"], input=questions, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    first, second, sources, new = lines
    assert first["turn"] == 1 and second["turn"] == 2
    assert second["session_id"] == first["session_id"]
    assert GROKKING in second["standalone_question"]
    grokking_id = next(c["paper_id"] for c in first["citations"] if c["title"] == GROKKING)
    assert grokking_id in second["retrieved"]
    assert sources["citations"] == second["citations"]
    assert new == {"event": "new_session"}

    listed = subprocess.run(
        [*cli, "sessions", "--json"], env=env, capture_output=True, text=True, check=True
    )
    sessions = json.loads(listed.stdout)["sessions"]
    assert [s["id"] for s in sessions] == [first["session_id"]]
    assert sessions[0]["turns"] == 2 and sessions[0]["mode"] == "extractive"

    missing = subprocess.run(
        [*cli, "chat", "--session", "nope"], input="", env=env, capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert "no session with id 'nope'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


_HISTORY = [
    Turn(
        1,
        FIRST,
        FIRST,
        "none",
        {
            "answer": "Grokking can arise when a network transitions from lazy training "
            "dynamics to a rich, feature learning regime. [1]",
            "citations": [{"n": 1, "paper_id": "x", "title": GROKKING}],
        },
    )
]
NAMED = f"What baseline does {GROKKING} compare against?"
UNNAMED = "What baseline does the network compare against?"

REWRITE_CASES = [
    # (what, server mode, scripted reply, method, standalone, note)
    ("names the paper: taken as is", "ok", NAMED, "llm", NAMED, None),
    ("labelled and quoted: cleaned", "ok", f'Standalone question: "{NAMED}"', "llm", NAMED, None),
    ("misses the paper: title added", "ok", UNNAMED, "llm+rules",
     f"{UNNAMED} (about: {GROKKING})", None),
    ("answers instead of asking: rules", "ok", "It compares against kernel regression.",
     "rules", f"{FOLLOW_UP} (about: {GROKKING})", "model rewrite rejected, rules used"),
    ("model fails: rules", "500", NAMED, "rules", f"{FOLLOW_UP} (about: {GROKKING})",
     "rewrite model failed, rules used"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "mode", "reply", "method", "standalone", "note"),
    REWRITE_CASES,
    ids=[c[0] for c in REWRITE_CASES],
)
def test_model_rewrite_outcomes_with_a_scripted_model(
    what: str, mode: str, reply: str, method: str, standalone: str, note: str | None
) -> None:
    """Each way a model's rewrite is used, cleaned or replaced by the rules, pinned."""
    from bot.llm.providers import make_llm
    from tests.faultserver import FaultServer

    with FaultServer(mode, replies=[reply]) as server:
        settings = make_settings(
            Path("/nonexistent"),
            llm_mode="openai",
            openai_base_url=server.url,
            openai_api_key="sk-scripted",
            llm_max_retries=0,
        )
        rewrite = rewrite_question(FOLLOW_UP, _HISTORY, make_llm(settings), settings)
        request = server.requests[0]
        if mode == "ok":
            assert server.attempts == 1
    assert (rewrite.method, rewrite.standalone) == (method, standalone), what
    assert rewrite.question == FOLLOW_UP
    prompt = " ".join(str(m["content"]) for m in request["messages"])
    assert FOLLOW_UP in prompt and "lazy training dynamics" in prompt  # the history was sent
    # a rewrite is one line: a small token budget (the openai client's name for it)
    assert request.get("max_completion_tokens", request.get("max_tokens")) == 64
    if note is None:
        assert not [n for n in rewrite.notes if "rules used" in n]
    else:
        assert any(n.startswith(note) for n in rewrite.notes), rewrite.notes


@pytest.mark.llm
def test_model_rewrite_keeps_the_thread(seed_home: Path, embedder, gguf_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With the real local model the condense prompt is used, and the model's own rewrite is
    accepted (not replaced by the rules); the result still retrieves the paper."""
    from bot.llm.providers import make_llm

    settings = make_settings(seed_home, llm_mode="local", max_tokens=48)
    llm = make_llm(settings)
    rewrite = rewrite_question(FOLLOW_UP, _HISTORY, llm, settings)
    assert not any("failed" in n for n in rewrite.notes), rewrite.notes
    assert rewrite.method in {"llm", "llm+rules"}, (rewrite.method, rewrite.notes)
    assert rewrite.standalone and "\n" not in rewrite.standalone
    bot = PaperBot(make_settings(seed_home), embedder=embedder, llm=None)
    titles = [h.paper.title for h in bot.search(rewrite.standalone, k=5)]
    assert GROKKING in titles, (rewrite.method, rewrite.standalone)
