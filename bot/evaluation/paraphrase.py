"""Faithful-paraphrase evaluation: does the verifier accept a summary written by people when
it is checked against its own abstract, and refuse it against another paper's?

Input: SciTLDR (``dev.jsonl``: ``source`` = abstract sentences, ``target`` = one-sentence
summaries by the authors and by reviewers). Each summary is checked with
:meth:`bot.ground.verify.Verifier.check_many` against (1) its own abstract's sentences and (2) the
sentences of the most similar *other* abstract of the set (TF-IDF cosine over whole
abstracts). The first rate should be high, the second near zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import InputError

if TYPE_CHECKING:
    from bot.ground.verify import Verifier

__all__ = ["ParaphraseReport", "SummaryCase", "evaluate_paraphrase", "load_scitldr"]


@dataclass(frozen=True)
class SummaryCase:
    paper_id: str
    summary: str
    own: tuple[str, ...]  # the abstract's sentences
    other: tuple[str, ...]  # the most similar other abstract's sentences
    other_id: str


@dataclass
class ParaphraseReport:
    summaries: int
    papers: int
    own_accepted: int
    other_accepted: int

    @property
    def own_rate(self) -> float:
        return self.own_accepted / self.summaries if self.summaries else 0.0

    @property
    def other_rate(self) -> float:
        return self.other_accepted / self.summaries if self.summaries else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "summaries": self.summaries,
            "papers": self.papers,
            "own_accepted": self.own_accepted,
            "other_accepted": self.other_accepted,
            "own_rate": round(self.own_rate, 4),
            "other_rate": round(self.other_rate, 4),
        }


def load_scitldr(path: str | Path, limit: int | None = None) -> list[SummaryCase]:
    """Every summary of every paper of ``path`` (SciTLDR JSONL), with its nearest neighbour."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"SciTLDR file not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                source = [str(s).strip() for s in row["source"] if str(s).strip()]
                targets = [" ".join(str(t).split()) for t in row["target"] if str(t).strip()]
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{line_no}: not a SciTLDR record ({exc})") from exc
            if source and targets:
                rows.append((str(row.get("paper_id", line_no)), source, targets))
            if limit is not None and len(rows) >= limit:
                break
    if len(rows) < 2:
        raise InputError(f"{path}: needs at least two papers")
    from bot.training.nli_data import Similarity

    sim = Similarity(s for _, source, _ in rows for s in source)
    nearest = sim.nearest([" ".join(source) for _, source, _ in rows])
    return [
        SummaryCase(pid, t, tuple(source), tuple(rows[j][1]), rows[j][0])
        for (pid, source, targets), j in zip(rows, nearest, strict=True)
        for t in targets
    ]


def evaluate_paraphrase(verifier: Verifier, cases: list[SummaryCase]) -> ParaphraseReport:
    own = verifier.check_many([(c.summary, list(c.own)) for c in cases])
    other = verifier.check_many([(c.summary, list(c.other)) for c in cases])
    return ParaphraseReport(
        summaries=len(cases),
        papers=len({c.paper_id for c in cases}),
        own_accepted=sum(s.supported for s in own),
        other_accepted=sum(s.supported for s in other),
    )
