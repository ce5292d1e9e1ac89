"""Answer evaluation over the current store (``paperbot eval answers``).

Input: JSONL of ``{"q": str, "expect": [title substrings], "unanswerable": bool}``. Nothing is
ingested; each question is searched and asked with the bot as configured (its mode and model).
Reported:

- retrieval hit@k: an expected title (case-insensitive substring) among the top k papers;
- cited-expected: answerable questions whose answer cites an expected paper;
- abstention on unanswerable questions, and wrong abstention on answerable ones;
- verified / total cited sentences of the answers shown (extractive quotes are verbatim, so
  they count as verified);
- citations to papers that were not retrieved (0 by construction);
- mean latency of ``ask`` and the mode/model that answered.

:func:`abstention_sweep` computes, without a model, the best question-sentence relevance the
extractive abstention rule sees for every question, and the abstention rates each candidate
``PAPERBOT_ABSTAIN_THRESHOLD`` would give (the data for tuning it).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import InputError

if TYPE_CHECKING:
    from bot.api import PaperBot
    from bot.types import Answer

__all__ = [
    "AnswersReport",
    "EvalQuestion",
    "abstention_sweep",
    "evaluate_answers",
    "load_questions",
]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvalQuestion:
    q: str
    expect: tuple[str, ...]
    unanswerable: bool


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read the question file; a malformed line is an :class:`InputError` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"question file not found: {path}")
    questions: list[EvalQuestion] = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                q = str(record["q"]).strip()
                expect = record.get("expect") or []
                if not isinstance(expect, list):
                    raise TypeError("'expect' must be a list of title substrings")
                unanswerable = bool(record.get("unanswerable", False))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{line_no}: not a question record ({exc})") from exc
            if not q:
                raise InputError(f"{path}:{line_no}: empty question")
            if not unanswerable and not expect:
                raise InputError(f"{path}:{line_no}: an answerable question needs 'expect'")
            questions.append(EvalQuestion(q, tuple(str(e) for e in expect), unanswerable))
    if not questions:
        raise InputError(f"no questions in {path}")
    return questions


def _matches(title: str, expect: Sequence[str]) -> bool:
    low = title.lower()
    return any(e.lower() in low for e in expect)


@dataclass
class QuestionResult:
    q: str
    unanswerable: bool
    hit: bool  # an expected title in the top-k search results
    abstained: bool
    cited_expected: bool
    supported: int
    total: int
    citations: int
    non_retrieved: int
    latency_ms: float
    mode: str
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "latency_ms": round(self.latency_ms, 1)}


@dataclass
class AnswersReport:
    results: list[QuestionResult] = field(default_factory=list)
    k: int = 5

    @property
    def answerable(self) -> list[QuestionResult]:
        return [r for r in self.results if not r.unanswerable]

    @property
    def unanswerable(self) -> list[QuestionResult]:
        return [r for r in self.results if r.unanswerable]

    @staticmethod
    def _rate(flags: Sequence[bool]) -> float:
        return sum(flags) / len(flags) if flags else 0.0

    def summary(self) -> dict[str, Any]:
        ans, unans = self.answerable, self.unanswerable
        shown = [r for r in self.results if not r.abstained]
        supported = sum(r.supported for r in shown)
        total = sum(r.total for r in shown)
        modes = sorted({f"{r.mode}/{r.model}" for r in self.results})
        answered_by = Counter(f"{r.mode}/{r.model}" for r in shown)
        return {
            "questions": len(self.results),
            "answerable": len(ans),
            "unanswerable": len(unans),
            f"hit@{self.k}": round(self._rate([r.hit for r in ans]), 4),
            "cited_expected": round(self._rate([r.cited_expected for r in ans]), 4),
            "abstention_unanswerable": round(self._rate([r.abstained for r in unans]), 4),
            "wrong_abstention": round(self._rate([r.abstained for r in ans]), 4),
            "verified": {"supported": supported, "total": total},
            "verified_rate": round(supported / total, 4) if total else 0.0,
            "citations": sum(r.citations for r in self.results),
            "non_retrieved_citations": sum(r.non_retrieved for r in self.results),
            "mean_latency_ms": round(
                sum(r.latency_ms for r in self.results) / max(len(self.results), 1), 1
            ),
            "modes": modes,
            "answered_by": dict(sorted(answered_by.items())),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "results": [r.to_dict() for r in self.results]}


def _result(question: EvalQuestion, titles: list[str], answer: Answer, ms: float) -> QuestionResult:
    retrieved = set(answer.retrieved)
    return QuestionResult(
        q=question.q,
        unanswerable=question.unanswerable,
        hit=any(_matches(t, question.expect) for t in titles) if question.expect else False,
        abstained=answer.abstained,
        cited_expected=any(_matches(c.title, question.expect) for c in answer.citations)
        if question.expect
        else False,
        supported=answer.supported,
        total=answer.total,
        citations=len(answer.citations),
        non_retrieved=sum(c.paper_id not in retrieved for c in answer.citations),
        latency_ms=ms,
        mode=answer.mode,
        model=answer.model,
    )


def evaluate_answers(
    bot: PaperBot,
    questions: Sequence[EvalQuestion],
    k: int = 5,
    progress: Progress | None = None,
) -> AnswersReport:
    """Search and ask every question with ``bot`` (no ingestion); see the module docstring."""
    report = AnswersReport(k=k)
    for i, question in enumerate(questions):
        titles = [h.paper.title for h in bot.search(question.q, k=k)]
        t0 = time.perf_counter()
        answer = bot.ask(question.q)
        ms = (time.perf_counter() - t0) * 1000
        report.results.append(_result(question, titles, answer, ms))
        if progress:
            progress("ask", i + 1, len(questions))
    return report


@dataclass
class SweepRow:
    threshold: float
    abstention_unanswerable: float
    wrong_abstention: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


def abstention_sweep(
    bot: PaperBot,
    questions: Sequence[EvalQuestion],
    thresholds: Sequence[float] | None = None,
) -> tuple[list[float], list[SweepRow]]:
    """Best relevance per question (as :func:`bot.generate.answer.prepare` computes it) and the
    abstention rates of candidate thresholds."""
    from bot.generate.answer import prepare

    best = [
        prepare(q.q, bot.retriever, bot.verifier, bot.settings).best_relevance for q in questions
    ]
    if thresholds is None:
        thresholds = [round(0.30 + 0.01 * i, 2) for i in range(36)]
    rows = []
    for t in thresholds:
        unans = [b < t for b, q in zip(best, questions, strict=True) if q.unanswerable]
        ans = [b < t for b, q in zip(best, questions, strict=True) if not q.unanswerable]
        rows.append(
            SweepRow(
                t,
                sum(unans) / len(unans) if unans else 0.0,
                sum(ans) / len(ans) if ans else 0.0,
            )
        )
    return best, rows
