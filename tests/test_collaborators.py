"""Chat and newsletter selection take narrow collaborators, not a PaperBot: a chat turn needs a
session store, something that answers and the settings; choosing a digest's papers needs a
PaperSource. Both work with any parts that fit, here the real ones picked out of a bot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.api import PaperBot
from bot.generate.chat import chat_turn
from bot.generate.newsletter import PaperSource, select_papers
from bot.storage.sessions import SessionStore
from bot.types import Answer
from tests.conftest import make_settings

FIRST = "What is grokking and what training dynamics explain it?"
FOLLOW_UP = "What baseline does it compare against?"


def test_chat_turn_with_a_session_store_and_an_answerer(seed_bot: PaperBot, tmp_path: Path) -> None:
    sessions = SessionStore(tmp_path / "sessions.sqlite3")
    asked: list[dict[str, Any]] = []

    def answer(question: str, k: int | None = None, **kwargs: Any) -> Answer:
        asked.append({"question": question, "k": k, **kwargs})
        return seed_bot.ask(question, k, **kwargs)

    settings = make_settings(tmp_path)
    first = chat_turn(FIRST, sessions=sessions, answer=answer, llm=None, settings=settings, k=3)
    assert first.turn == 1 and first.answer.citations
    again = chat_turn(
        FOLLOW_UP,
        first.session_id,
        sessions=sessions,
        answer=answer,
        llm=None,
        settings=settings,
    )
    assert again.turn == 2 and again.rewrite.method == "rules"
    # the follow-up was answered from the papers the first turn cited, and retrieval searched
    # for the standalone question
    cited = {c.paper_id for c in first.answer.citations}
    assert asked[1]["paper_ids"] and set(asked[1]["paper_ids"]) <= cited
    assert asked[1]["query"] == again.rewrite.standalone != FOLLOW_UP
    assert [t.question for t in sessions.get(first.session_id).turns] == [
        FIRST,
        FOLLOW_UP,
    ]


def test_select_papers_from_a_paper_source(seed_bot: PaperBot) -> None:
    calls: list[tuple[str, int]] = []

    def search(query: str, k: int) -> Any:
        calls.append((query, k))
        return seed_bot.search(query, k=k)

    source = PaperSource(
        search=search,
        find=seed_bot.find_paper,
        add=seed_bot.add_papers,
        stored=lambda ids: seed_bot.store.get_papers(list(ids)),
        default_top=4,
    )
    papers, notes = select_papers(source, query="grokking")
    assert calls == [("grokking", 4)] and len(papers) == 4 and notes == []
    ids = [p.id for p in papers[:2]]
    chosen, _ = select_papers(source, ids=[*ids, ids[0]])
    assert [p.id for p in chosen] == ids  # a repeated reference counts once
