"""Conversation: follow-up questions keep the thread.

Each turn: (1) rewrite the follow-up into a standalone question using the session's history,
(2) answer it with retrieval on the *standalone* question (the answer still shows the user's
own words), (3) append the turn to the session (:mod:`bot.storage.sessions`).

Rewriting:

- With a model, ``prompts/condense_question.md`` asks it for a standalone question. A 135M
  model often gets this wrong, so its output is checked (one plausible line) and, when the
  follow-up refers back ("it", "this paper", "the method", ...) but the rewrite names none of
  the papers the previous turn cited, those titles are carried over as well ("llm+rules").
- Without a model (or when the model fails) the rewrite is deterministic ("rules"): a question
  that refers back, or is too short to stand alone, gets the titles of the papers the previous
  turn cited appended (``"... (about: <title>)"``), or the previous standalone question when
  nothing was cited.
- A first question, or one that stands alone, is used unchanged ("none").

A rewritten follow-up is also *scoped*: it is answered from the papers the previous turn
cited (``Rewrite.paper_ids``; ``scope`` in the JSON), so "what datasets did they use?" after a
question about PFGM++ quotes PFGM++, or abstains, rather than a paper that merely mentions
datasets.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import LLMError
from bot.generate.answer import check_question
from bot.ground.verify import content_words, strip_markers
from bot.llm.base import Options
from bot.llm.prompts import load_prompt
from bot.storage.sessions import Turn, check_session_id, new_session_id
from bot.text.sanitize import redact

if TYPE_CHECKING:
    from bot.llm.base import ChatModel
    from bot.settings import Settings
    from bot.storage.sessions import SessionStore
    from bot.types import Answer

__all__ = ["Answerer", "ChatResult", "Rewrite", "chat_turn", "is_follow_up", "rewrite_question"]

_REFERS_BACK = re.compile(
    r"\b(it|its|it's|itself|they|them|their|theirs|this|that|these|those|such|"
    r"the (?:same|former|latter|above|previous|first|second|last)|"
    r"the (?:paper|papers|article|study|studies|work|method|methods|model|models|approach|"
    r"technique|framework|system|authors?|results?|findings?|experiments?|dataset|datasets|"
    r"benchmark|benchmarks|baseline|baselines|proposed|one)|"
    r"what about|how about|and what|also|other|another|else|more|compared?|versus|vs)\b",
    re.IGNORECASE,
)
_MIN_STANDALONE_WORDS = 3  # content words a question needs to stand alone without a cue


@dataclass
class Rewrite:
    """The question retrieval will use, and how it was obtained."""

    question: str
    standalone: str
    method: str  # "none" | "rules" | "llm" | "llm+rules"
    notes: list[str] = field(default_factory=list)
    ms: float = 0.0
    # A follow-up that refers back is answered from the papers the previous turn cited.
    paper_ids: list[str] = field(default_factory=list)


@dataclass
class ChatResult:
    """One chat turn: the verified answer plus the conversation bookkeeping."""

    session_id: str
    turn: int
    rewrite: Rewrite
    answer: Answer

    def to_dict(self) -> dict[str, Any]:
        data = self.answer.to_dict()
        data["session_id"] = self.session_id
        data["turn"] = self.turn
        data["standalone_question"] = self.rewrite.standalone
        data["rewrite"] = self.rewrite.method
        data["scope"] = list(self.rewrite.paper_ids)
        return data


def is_follow_up(question: str) -> bool:
    """Does the question refer back to the conversation (or is it too short to stand alone)?"""
    if _REFERS_BACK.search(question):
        return True
    return len(content_words(question)) < _MIN_STANDALONE_WORDS


def _carried(history: list[Turn]) -> tuple[list[str], str]:
    """Titles cited by the latest turn that cited anything, and the previous standalone text."""
    previous = history[-1].standalone_question if history else ""
    for turn in reversed(history):
        titles = turn.cited_titles
        if titles:
            return titles[:2], previous
    return [], previous


def _carried_papers(history: list[Turn], limit: int = 3) -> dict[str, str]:
    """Id -> title of the papers cited by the latest turn that cited anything."""
    for turn in reversed(history):
        found = {
            str(c["paper_id"]): str(c.get("title", ""))
            for c in turn.answer.get("citations") or []
            if c.get("paper_id")
        }
        if found:
            return dict(list(found.items())[:limit])
    return {}


def _mentions(text: str, titles: list[str]) -> bool:
    words = content_words(text)
    for title in titles:
        tw = content_words(title)
        if tw and len(words & tw) >= max(1, min(2, len(tw) // 2)):
            return True
    return False


def _with_context(question: str, titles: list[str], previous: str) -> str:
    if titles:
        return f"{question} (about: {'; '.join(titles)})"
    if previous:
        return f"{question} (following: {previous})"
    return question


def _history_text(history: list[Turn]) -> str:
    lines = []
    for turn in history:
        answer = strip_markers(str(turn.answer.get("answer", "")))
        if len(answer) > 400:
            answer = answer[:400].rsplit(" ", 1)[0] + " ..."
        lines.append(f"User: {turn.question}")
        lines.append(f"Assistant: {answer}")
        if turn.cited_titles:
            lines.append(f"(Sources: {'; '.join(redact(t) for t in turn.cited_titles)})")
    return "\n".join(lines)


_QUESTION_START = re.compile(
    r"^(what|which|who|whom|whose|when|where|why|how|does|do|did|is|are|was|were|can|could|"
    r"should|would|will|has|have|had|in what|according to|compared)\b",
    re.IGNORECASE,
)


# A rewrite is one line: a small token budget for that call (the model's retry policy holds).
REWRITE_OPTIONS = Options(max_tokens=64)


def _clean_model_line(text: str, limit: int) -> str | None:
    """The model's rewrite if it is one plausible question, else ``None`` (small models often
    answer the question instead of rewriting it)."""
    for line in text.strip().splitlines():
        line = line.strip().strip("\"'`").strip()
        line = re.sub(
            r"^(standalone question|question|rewritten question)\s*:\s*",
            "",
            line,
            flags=re.IGNORECASE,
        )
        if line:
            line = line.strip("\"'`").strip()
            plausible = (
                len(content_words(line)) >= 2
                and len(line) <= limit
                and line.endswith("?")
                and bool(_QUESTION_START.match(line))
            )
            if plausible:
                return line
            return None
    return None


def rewrite_question(
    question: str, history: list[Turn], llm: ChatModel | None, settings: Settings
) -> Rewrite:
    """The standalone question for ``question`` given the session ``history`` (oldest first)."""
    started = time.perf_counter()
    question = check_question(question, settings)
    recent = history[-settings.chat.history_turns :]
    result = _rewrite(question, recent, llm, settings)
    if result.method != "none":
        scope = _carried_papers(recent)
        result.paper_ids = list(scope)
        if scope:
            result.notes.append(
                "a follow-up: answered from the papers the previous answer cited ("
                + "; ".join(scope.values())
                + ")"
            )
    result.ms = (time.perf_counter() - started) * 1000
    return result


def _rewrite(
    question: str, history: list[Turn], llm: ChatModel | None, settings: Settings
) -> Rewrite:
    if not history or not is_follow_up(question):
        return Rewrite(question, question, "none")
    titles, previous = _carried(history)
    rules = _with_context(question, titles, previous)
    if llm is None:
        return Rewrite(question, rules, "rules")
    prompt = load_prompt("condense_question")
    messages = prompt.render(history=_history_text(history), question=question)
    try:
        text = llm.invoke(messages, REWRITE_OPTIONS).text
    except LLMError as exc:
        return Rewrite(question, rules, "rules", [f"rewrite model failed, rules used: {exc}"])
    limit = min(settings.retrieval.max_question_chars, 3 * len(question) + 300)
    line = _clean_model_line(text, limit)
    if line is None:
        return Rewrite(question, rules, "rules", ["model rewrite rejected, rules used"])
    if titles and not _mentions(line, titles) and not _mentions(question, titles):
        return Rewrite(question, _with_context(line, titles, previous), "llm+rules")
    return Rewrite(question, line, "llm")


class Answerer(Protocol):
    """What answers one chat turn: :meth:`bot.PaperBot.ask` (retrieve, generate, verify).

    ``question`` is shown to the model, ``query`` is what retrieval searches for, and
    ``paper_ids`` (when given) restricts retrieval to those papers."""

    def __call__(
        self,
        question: str,
        k: int | None = None,
        *,
        on_token: Callable[[str], None] | None = None,
        query: str | None = None,
        paper_ids: list[str] | None = None,
    ) -> Answer: ...


def chat_turn(
    question: str,
    session_id: str | None = None,
    *,
    sessions: SessionStore,
    answer: Answerer,
    llm: ChatModel | None,
    settings: Settings,
    k: int | None = None,
    on_token: Callable[[str], None] | None = None,
    on_rewrite: Callable[[str, int, Rewrite], None] | None = None,
) -> ChatResult:
    """Answer ``question`` as the next turn of ``session_id`` (a new session when ``None``).

    ``on_rewrite(session_id, turn, rewrite)`` is called before generation starts (the server
    sends it as the first stream event); ``on_token`` streams the model's raw tokens. The
    returned answer is the verified one, and the turn is stored only once it exists.

    The collaborators are narrow: ``sessions`` stores the turns, ``answer`` answers the
    rewritten question, ``llm`` (None: rules only) rewrites a follow-up."""
    if session_id is None:
        session_id, history = new_session_id(), []
    else:
        check_session_id(session_id)
        sessions.get(session_id)  # raises NotFoundError for an unknown id
        history = sessions.history(session_id, settings.chat.history_turns)
    rewrite = rewrite_question(question, history, llm, settings)
    turn_n = (history[-1].n + 1) if history else 1
    if on_rewrite is not None:
        on_rewrite(session_id, turn_n, rewrite)
    answered = answer(
        rewrite.question,
        k,
        on_token=on_token,
        query=rewrite.standalone,
        paper_ids=rewrite.paper_ids or None,
    )
    answered.timings_ms = {"rewrite": rewrite.ms, **answered.timings_ms}
    answered.notes = [*rewrite.notes, *answered.notes]
    result = ChatResult(session_id, turn_n, rewrite, answered)
    stored = sessions.add_turn(
        session_id, rewrite.question, rewrite.standalone, rewrite.method, result.to_dict()
    )
    result.turn = stored.n
    return result
