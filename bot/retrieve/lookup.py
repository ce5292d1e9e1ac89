"""Find one stored paper from what a user types: a paper id (or an alias: another id the same
paper arrived under, see :mod:`bot.ingest.library`), an arXiv id (or URL), or a title.

Titles match fuzzily (accents, case and punctuation ignored; a few typos or missing words are
fine). When several titles match about equally well, :class:`AmbiguousPaperError` lists the
candidates instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from bot.errors import InputError, NotFoundError
from bot.types import Paper, normalise_title

if TYPE_CHECKING:
    from bot.index.store import PaperStore

__all__ = ["AmbiguousPaperError", "find_by_id", "find_paper", "rank_titles"]

_ARXIV = re.compile(
    r"(?:arxiv[:/ ]|abs/|pdf/)?(\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[a-z]{2})?/\d{7})(v\d+)?",
    re.IGNORECASE,
)
#: A title matches when its score reaches this; candidates within ``_TIE`` of the best one
#: make the reference ambiguous.
_MIN_SCORE = 0.6
_TIE = 0.08
_SURE = 0.97


class AmbiguousPaperError(InputError):
    """A title matched several papers about equally well; ``candidates`` lists them."""

    def __init__(self, ref: str, candidates: list[Paper]) -> None:
        self.ref = ref
        self.candidates = candidates
        listed = "; ".join(f"{p.id} '{p.title}'" for p in candidates)
        super().__init__(
            f"'{ref}' matches {len(candidates)} papers, give an id or a longer title: {listed}"
        )


def _title_score(query: str, title: str) -> float:
    """How well normalised ``query`` matches normalised ``title`` (0..1)."""
    if not query or not title:
        return 0.0
    if query == title:
        return 1.0
    ratio = SequenceMatcher(None, query, title, autojunk=False).ratio()
    q_words, t_words = query.split(), set(title.split())
    contained = sum(1 for w in q_words if w in t_words) / len(q_words)
    # All query words inside the title: a partial title ("grokking lazy rich"); weigh it by
    # how much of the title the query covers so that one common word does not win.
    coverage = len(set(q_words) & t_words) / max(1, len(t_words))
    partial = contained * (0.75 + 0.25 * coverage) if len(q_words) >= 2 else 0.0
    if query in title and len(query) >= 8:
        partial = max(partial, 0.8 + 0.2 * len(query) / len(title))
    return max(ratio, partial)


def rank_titles(ref: str, papers: Iterable[Paper]) -> list[tuple[float, Paper]]:
    """Papers whose titles match ``ref``, best first, with their scores."""
    query = normalise_title(ref)
    scored = [(_title_score(query, normalise_title(p.title)), p) for p in papers]
    scored = [item for item in scored if item[0] >= _MIN_SCORE]
    return sorted(scored, key=lambda item: (-item[0], item[1].title))


def find_by_id(store: PaperStore, ref: str) -> Paper | None:
    """The stored paper whose id is ``ref``, or whose arXiv id (or URL) ``ref`` gives; no
    title matching."""
    found = store.get_papers([ref])
    if found:
        return found[0]
    alias = store.records_by_alias([ref]).get(ref)  # an id the paper also arrived under
    if alias is not None:
        return store.get_papers([alias[0]])[0]
    m = _ARXIV.search(ref)
    if m and (m.group(0) == ref or "arxiv" in ref.lower()):
        base, version = m.group(1), m.group(2) or ""
        found = store.get_papers([base + version, base, f"arXiv:{base}"])
        if found:
            return found[0]
        alias = store.records_by_alias([base]).get(base)
        if alias is not None:
            return store.get_papers([alias[0]])[0]
        for paper in store.iter_papers():  # stored under another id, with the arXiv link as URL
            if paper.url and base in paper.url:
                return paper
    return None


def find_paper(store: PaperStore, ref: str) -> Paper:
    """The stored paper ``ref`` names (id, arXiv id/URL, or title); see the module docstring.

    Raises :class:`~bot.errors.NotFoundError` (an ``InputError``) when nothing matches and
    :class:`AmbiguousPaperError` when several titles match about equally well."""
    ref = " ".join((ref or "").split())
    if not ref:
        raise InputError("no paper given: pass a paper id, an arXiv id or a title")
    found = find_by_id(store, ref)
    if found is not None:
        return found
    papers = list(store.iter_papers())
    if not papers:
        raise InputError("the store holds no papers: run 'paperbot ingest' first")
    ranked = rank_titles(ref, papers)
    if not ranked:
        raise NotFoundError(f"no paper matches '{ref}' (by id, arXiv id or title)")
    best = ranked[0][0]
    ties = [p for score, p in ranked if score >= best - _TIE]
    if len(ties) == 1 or (best >= _SURE and ranked[1:2] and ranked[1][0] < _SURE):
        return ranked[0][1]
    if len(ties) == 1:
        return ties[0]
    raise AmbiguousPaperError(ref, ties[:10])
