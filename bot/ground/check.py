"""Check your own text: does the cited paper support each sentence? (``paperbot check``)

A science writer's draft is split into sentences. Each is checked by the citation verifier
(:class:`bot.ground.verify.Verifier`) against

1. the paper it cites with a ``[paper-id]`` marker (a stored id or an arXiv id; several
   markers: the one that supports it best), else
2. the paper given for the whole text (``paper=``), else
3. the best-matching papers of the library (retrieved for that sentence).

Each sentence gets a status - ``supported``, ``contradicted`` (the best evidence contradicts
it) or ``unsupported`` - and, when there is evidence, the exact source text it rests on with
its character offsets in the paper's text (``Paper.text[start:end] == quote``). Numbered
markers (``[1]``) are not paper references; they are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.errors import InputError
from bot.ground.verify import content_words
from bot.text.sentences import split_sentences

if TYPE_CHECKING:
    from bot.ground.verify import Support, Verifier
    from bot.types import Paper, Sentence

__all__ = ["CheckReport", "CheckedSentence", "check_text"]

Status = Literal["supported", "contradicted", "unsupported"]
_MARKER = re.compile(r"\[([^\[\]\s][^\[\]]{0,120}?)\]")
_NUMBERED = re.compile(r"^\s*\d+(?:\s*[,;-]\s*\d+)*\s*$")
MAX_TEXT_CHARS = 200_000


@dataclass
class CheckedSentence:
    text: str  # the sentence as written, markers included
    status: Status
    paper_id: str | None = None
    title: str | None = None
    quote: str | None = None  # exact source text (one sentence or 2-3 adjacent ones)
    start: int | None = None  # offsets of the quote in the paper's text
    end: int | None = None
    score: float = 0.0  # support probability of the quoted evidence
    contradiction: float = 0.0
    against: str = "library"  # "cited", "paper" or "library": what it was checked against
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "status": self.status,
            "paper_id": self.paper_id,
            "title": self.title,
            "quote": self.quote,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "contradiction": round(self.contradiction, 4),
            "against": self.against,
            "note": self.note,
        }


@dataclass
class CheckReport:
    sentences: list[CheckedSentence] = field(default_factory=list)
    verifier: str = ""  # what decided (entailment model name, judge)

    def counts(self) -> dict[str, int]:
        out = {"supported": 0, "contradicted": 0, "unsupported": 0}
        for s in self.sentences:
            out[s.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentences": [s.to_dict() for s in self.sentences],
            "counts": self.counts(),
            "verifier": self.verifier,
        }


def _paper_refs(sentence: str) -> list[str]:
    return [
        m.group(1).strip() for m in _MARKER.finditer(sentence) if not _NUMBERED.match(m.group(1))
    ]


def _strip_refs(sentence: str) -> str:
    return " ".join(_MARKER.sub(" ", sentence).split())


def check_text(
    text: str,
    *,
    verifier: Verifier,
    find_by_id: Callable[[str], Paper | None],
    search: Callable[[str, int], Sequence[Paper]],
    paper: Paper | None = None,
    candidates: int = 3,
    contradiction_threshold: float = 0.5,
) -> CheckReport:
    """Check every sentence of ``text`` (see the module docstring).

    ``find_by_id(ref)`` resolves a ``[ref]`` marker to a stored paper (or None);
    ``search(sentence, k)`` returns the ``k`` best-matching papers for a sentence without a
    cited or given paper."""
    text = (text or "").strip()
    if not text:
        raise InputError("the text to check is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"the text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}")
    rows: list[tuple[str, str, list[Paper], str, str]] = []  # raw, claim, papers, against, note
    for sentence in split_sentences(text):
        raw = sentence.text
        claim = _strip_refs(raw)
        if not content_words(claim):
            continue
        refs = _paper_refs(raw)
        resolved = {r: find_by_id(r) for r in refs}
        cited = [p for p in resolved.values() if p is not None]
        unknown = [r for r, p in resolved.items() if p is None]
        note = f"cites unknown paper(s): {', '.join(unknown)}" if unknown else ""
        if cited:
            rows.append((raw, claim, _unique(cited), "cited", note))
        elif refs:
            rows.append((raw, claim, [], "cited", note))
        elif paper is not None:
            rows.append((raw, claim, [paper], "paper", ""))
        else:
            rows.append((raw, claim, list(search(claim, candidates)), "library", ""))
    sentences_of: dict[str, list[Sentence]] = {}
    items: list[tuple[str, list[str]]] = []
    for _, claim, papers, _, _ in rows:
        for p in papers:
            if p.id not in sentences_of:
                sentences_of[p.id] = split_sentences(p.text)
            items.append((claim, [s.text for s in sentences_of[p.id]]))
    supports = iter(verifier.check_many(items))
    report = CheckReport(verifier=verifier.describe())
    for raw, _, papers, against, note in rows:
        verdicts = [(p, next(supports)) for p in papers]
        report.sentences.append(
            _result(raw, verdicts, sentences_of, against, note, contradiction_threshold)
        )
    return report


def _unique(papers: list[Paper]) -> list[Paper]:
    seen: dict[str, Paper] = {}
    for p in papers:
        seen.setdefault(p.id, p)
    return list(seen.values())


def _result(
    raw: str,
    verdicts: list[tuple[Paper, Support]],
    sentences_of: dict[str, list[Sentence]],
    against: str,
    note: str,
    contradiction_threshold: float,
) -> CheckedSentence:
    if not verdicts:
        return CheckedSentence(
            raw, "unsupported", against=against, note=note or "no paper to check against"
        )
    if not verdicts[0][1].claim:
        return CheckedSentence(raw, "unsupported", against=against, note="it makes no claim")
    supported = [(p, s) for p, s in verdicts if s.supported]
    if supported:
        paper, support = max(supported, key=lambda ps: ps[1].score)
        status: Status = "supported"
    else:
        paper, support = max(verdicts, key=lambda ps: (ps[1].contradiction, ps[1].score))
        contradicted = (
            support.contradiction >= contradiction_threshold or support.verdict == "contradicted"
        )
        status = "contradicted" if contradicted else "unsupported"
        if status == "unsupported":
            paper, support = max(verdicts, key=lambda ps: ps[1].score)
    out = CheckedSentence(
        raw,
        status,
        paper_id=paper.id,
        title=paper.title,
        score=support.score,
        contradiction=support.contradiction,
        against=against,
        note=note,
    )
    if support.index >= 0:
        a, b = support.span
        first, last = sentences_of[paper.id][a], sentences_of[paper.id][b - 1]
        out.quote, out.start, out.end = paper.text[first.start : last.end], first.start, last.end
    return out
