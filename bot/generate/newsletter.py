"""Newsletter digests: pick papers, write a cited plain-language blurb for each, group them.

::

    papers (query top N | explicit ids | a listing file) -> blurbs (bot.summarize, kind="blurb",
    cached) -> [--group] MiniLM clusters -> section titles -> headline + two-sentence intro

- **Blurbs** are 2-3 sentence lay summaries (``prompts/newsletter_blurb.md`` in model modes,
  key abstract sentences in extractive mode); every sentence carries ``[n]`` pointing at a
  verbatim sentence of *that* paper's abstract, with the same faithfulness gates as
  ``paperbot summarize``.
- **Grouping** clusters the papers' embeddings (title + abstract, the store's embedding model)
  with spherical k-means into about ``sqrt(n/2)`` groups (2..6). Sections are named from their
  top terms (class-based TF-IDF over unigrams and bigrams of the papers' titles and
  abstracts): every word of a section title occurs in its papers.
- **Intro**: two templated sentences of facts only: how many papers, the query, the topics
  (terms from the paper titles), and what was done to the abstracts - quoted, or written by
  which model and checked - as it was actually done for this digest. No model writes it, so
  nothing uncited is presented as content.

Rendering to Markdown/HTML lives in :mod:`bot.render`; ``Digest.to_dict()`` is the JSON.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.errors import InputError
from bot.generate.summarize import summarize_paper
from bot.ground.verify import content_words
from bot.text.latex import clean_latex
from bot.text.sanitize import without_injections
from bot.types import Digest, DigestSection, IngestReport, LaySummary, Paper, SearchHit

if TYPE_CHECKING:
    from bot.ground.verify import Verifier
    from bot.llm.base import ChatModel
    from bot.settings import Settings
    from bot.storage.cache import GenerationCache

__all__ = ["PaperSource", "build_digest", "cluster", "section_terms", "select_papers"]

Progress = Callable[[str, int, int], None]
BLURB_STAGE = "Writing blurbs"

_GENERIC = frozenset(
    """paper papers propose proposed proposes show shows showing novel new existing recent
    provide provides present presents study studies work works case cases general different
    framework approach approaches method methods result results performance problem problems
    well also can however first second two three based using use used allows allow given
    known large small several various across within without among many much high low able
    significant significantly demonstrate demonstrates effective efficient important key main
    further including include includes thus whereas whether yet due since often called termed
    prior previous current way ways number order terms term type types first-order respectively
    still example examples set sets data-driven end state-of-the-art achieves achieve""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")


# --- choosing the papers -----------------------------------------------------------------
@dataclass(frozen=True)
class PaperSource:
    """What :func:`select_papers` needs of the library, and nothing more.

    ``search(query, k)`` gives the top hits, ``find(ref)`` the stored paper a reference names
    (an id, arXiv id or title), ``add(papers)`` upserts papers read from a file, and
    ``stored(ids)`` reads papers back as stored (with the sources of other records folded in).
    :meth:`bot.PaperBot.newsletter` builds one from itself."""

    search: Callable[[str, int], Sequence[SearchHit]]
    find: Callable[[str], Paper]
    add: Callable[[Sequence[Paper]], IngestReport]
    stored: Callable[[Sequence[str]], Sequence[Paper]]
    default_top: int


def select_papers(
    source: PaperSource,
    *,
    query: str | None = None,
    ids: Sequence[str] | None = None,
    from_file: str | Path | None = None,
    top: int | None = None,
) -> tuple[list[Paper], list[str]]:
    """The papers a digest covers, in order, and notes (e.g. what ``from_file`` ingested).

    Exactly one of ``query`` (its top ``top`` hits, default ``settings.summary.newsletter_top``),
    ``ids`` (paper ids, arXiv ids or titles, see :meth:`bot.PaperBot.find_paper`) and
    ``from_file`` (every paper in a listing/JSON file, ingested first if new) is needed."""
    given = [name for name, v in (("query", query), ("ids", ids), ("from_file", from_file)) if v]
    if len(given) != 1:
        raise InputError(
            "give exactly one of query, ids or from_file", params=["query", "ids", "from_file"]
        )
    if top is not None and top < 1:
        raise InputError("top must be at least 1", params=["top"])
    notes: list[str] = []
    if query:
        hits = source.search(query, top or source.default_top)
        return [h.paper for h in hits], notes
    if ids:
        papers: list[Paper] = []
        for ref in ids:
            paper = source.find(ref)
            if paper.id not in {p.id for p in papers}:
                papers.append(paper)
        return papers[:top] if top else papers, notes
    from bot.ingest.readers import read_file

    path = Path(str(from_file))
    if not path.is_file():
        raise InputError(f"from_file: no such file: {path}", params=["from_file"])
    result = read_file(path)
    if not result.papers:
        reason = result.failures[0].error if result.failures else "no papers found"
        raise InputError(f"from_file {path}: {reason}", params=["from_file"])
    for failure in result.failures:
        where = f"{failure.path}:{failure.line}" if failure.line else failure.path
        notes.append(f"skipped {where}: {failure.error}")
    report = source.add(result.papers)
    if report.added or report.updated:
        notes.append(
            f"ingested {report.added + report.updated} new or changed paper(s) from {path}"
        )
    stored = {p.id: p for p in source.stored([p.id for p in result.papers])}
    papers = [stored.get(p.id, p) for p in result.papers]
    return papers[:top] if top else papers, notes


# --- grouping ----------------------------------------------------------------------------


def cluster(vectors: np.ndarray, k: int, restarts: int = 8, seed: int = 0) -> list[list[int]]:
    """Spherical k-means of L2-normalised ``vectors`` into ``k`` groups (k-means++ seeding,
    ``restarts`` runs with a fixed seed, the tightest kept). Deterministic; groups are returned
    largest first, members in input order, none empty."""
    x = np.asarray(vectors, dtype=np.float64)
    n = len(x)
    if n == 0:
        return []
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray] | None = None
    for _ in range(restarts):
        centres = [x[int(rng.integers(n))]]
        while len(centres) < k:  # k-means++: far points are likelier seeds
            dist = 1.0 - np.max(x @ np.asarray(centres).T, axis=1)
            dist = np.clip(dist, 0.0, None) ** 2
            total = float(dist.sum())
            pick = int(rng.choice(n, p=dist / total)) if total > 0 else int(rng.integers(n))
            centres.append(x[pick])
        c = np.asarray(centres)
        labels = np.zeros(n, dtype=int)
        for step in range(50):
            new = np.argmax(x @ c.T, axis=1)
            for j in range(k):  # an empty cluster takes the point farthest from its centre
                if not np.any(new == j):
                    fit = np.take_along_axis(x @ c.T, new[:, None], axis=1)[:, 0]
                    new[int(np.argmin(fit))] = j
            if step > 0 and np.array_equal(new, labels):
                break
            labels = new
            c = np.asarray([x[labels == j].sum(axis=0) for j in range(k)])
            c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        score = float(np.sum(x * c[labels]))
        if best is None or score > best[0] + 1e-9:
            best = (score, labels.copy())
    assert best is not None
    groups = [sorted(np.flatnonzero(best[1] == j).tolist()) for j in range(k)]
    return sorted((g for g in groups if g), key=lambda g: (-len(g), g[0]))


def _default_k(n: int) -> int:
    return max(1, min(6, round(math.sqrt(n / 2))))


def _display(word: str) -> str:
    """Acronyms and inner capitals keep their case ("ACD", "ImageNet"); other words
    ("Physics-Inspired", "Models") are lower-cased."""
    inner_upper = any(ch.isupper() and word[i - 1] != "-" for i, ch in enumerate(word) if i)
    return word if inner_upper else word.lower()


def _phrases(text: str) -> list[str]:
    """Content unigrams and bigrams of ``text`` (display case)."""
    words = [_display(w.strip("-")) for w in _WORD.findall(clean_latex(text))]

    def ok(w: str) -> bool:
        return len(w) > 2 and w.lower() not in _GENERIC and bool(content_words(w))

    out = []
    for i, w in enumerate(words):
        if ok(w):
            out.append(w)
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if nxt and ok(nxt):
                out.append(f"{w} {nxt}")
    return out


def _norm(phrase: str) -> str:
    words = phrase.lower().split()
    return " ".join(w[:-1] if w.endswith("s") and len(w) > 4 else w for w in words)


def section_terms(groups: list[list[Paper]], top: int = 3) -> list[list[str]]:
    """Top terms of each group: class-based TF-IDF over title (x3) and abstract phrases,
    bigrams preferred, terms shared by several of the group's papers preferred."""
    counts: list[Counter[str]] = []
    docs: list[Counter[str]] = []
    surface: dict[str, Counter[str]] = {}
    for papers in groups:
        tf: Counter[str] = Counter()
        df: Counter[str] = Counter()
        for paper in papers:
            seen: set[str] = set()
            for weight, text in ((3, paper.title), (1, without_injections(paper.abstract))):
                for phrase in _phrases(text):
                    key = _norm(phrase)
                    tf[key] += weight
                    surface.setdefault(key, Counter())[phrase] += 1
                    seen.add(key)
            df.update(seen)
        counts.append(tf)
        docs.append(df)
    n_groups = len(groups)
    out: list[list[str]] = []
    for tf, df, papers in zip(counts, docs, groups, strict=True):
        scored = []
        for key, count in tf.items():
            in_groups = sum(1 for c in counts if key in c)
            spread = df[key] / len(papers)  # share of the group's papers using it
            shape = 1.6 if " " in key else 0.7
            idf = math.log(1 + n_groups / in_groups)
            scored.append((math.sqrt(count) * idf * shape * (0.3 + spread), key))
        scored.sort(key=lambda item: (-item[0], item[1]))
        chosen: list[str] = []
        used: set[str] = set()
        for _, key in scored:
            if set(key.split()) & used:
                continue
            chosen.append(surface[key].most_common(1)[0][0])
            used |= set(key.split())
            if len(chosen) >= top:
                break
        out.append(chosen)
    return out


# --- the intro (templated from facts) -------------------------------------------------


def how_written(items: Sequence[LaySummary]) -> str:
    """One sentence saying what was done to the abstracts, as it was done: quoted, or written
    by which model and checked (and how many fell back to quoting)."""
    n = len(items)
    written = [i for i in items if i.mode != "extractive"]
    cited = "each sentence cites the abstract sentence it comes from"
    if not written:
        what = (
            "Each blurb quotes key sentences of its paper's abstract"
            if n > 1
            else ("The blurb quotes key sentences of the paper's abstract")
        )
        return f"{what} (LaTeX markup removed for reading); {cited}."
    models = sorted({f"{i.model} ({i.mode})" for i in written})
    text = (
        f"{len(written)} of {n} blurbs were written by {', '.join(models)} from the abstract, "
        "and only sentences that passed a check against the abstract sentence they cite were "
        "kept"
    )
    if len(written) < n:
        text += (
            f"; the other {n - len(written)} quote the abstract, the model's text having "
            "failed the check"
        )
    return text + "."


def _template_intro(
    n: int, query: str | None, themes: list[str], grouped: bool, items: Sequence[LaySummary]
) -> str:
    what = f"{n} paper{'s' if n != 1 else ''}"
    if query:
        what += f" matching \u201c{query}\u201d"
    if grouped and len(themes) > 1:
        first = f"This digest covers {what}, grouped into {len(themes)} themes: " + (
            ", ".join(themes[:-1]) + f" and {themes[-1]}."
        )
    elif themes:
        first = f"This digest covers {what}, with titles on {', '.join(themes[:3])}."
    else:
        first = f"This digest covers {what}."
    return f"{first} {how_written(items)}"


# --- the digest --------------------------------------------------------------------------


def build_digest(
    papers: Sequence[Paper],
    *,
    verifier: Verifier,
    llm: ChatModel | None,
    settings: Settings,
    group: bool = False,
    title: str | None = None,
    query: str | None = None,
    audience: str | None = None,
    grade: float | None = None,
    words: int | None = None,
    cache: GenerationCache | None = None,
    progress: Progress | None = None,
    notes: Sequence[str] = (),
) -> Digest:
    """A newsletter over ``papers`` (in the given order within each section)."""
    papers = list(papers)
    if not papers:
        raise InputError("no papers to put in the newsletter")
    items: list[LaySummary] = []
    total = len(papers)
    if progress:
        progress(BLURB_STAGE, 0, total)
    for i, paper in enumerate(papers, 1):
        items.append(
            summarize_paper(
                paper,
                verifier=verifier,
                llm=llm,
                settings=settings,
                audience=audience,
                grade=grade,
                words=words,
                kind="blurb",
                cache=cache,
            )
        )
        if progress:
            progress(BLURB_STAGE, i, total)
    if group and len(papers) > 1:
        texts = [f"{p.title}. {p.abstract}" for p in papers]
        vectors = verifier.embedder.embed_documents(texts)
        index_groups = cluster(np.asarray(vectors), _default_k(len(papers)))
    else:
        index_groups = [list(range(len(papers)))]
    paper_groups = [[papers[i] for i in g] for g in index_groups]
    terms = section_terms(paper_groups)
    sections: list[DigestSection] = []
    for indices, group_terms in zip(index_groups, terms, strict=True):
        name = ", ".join(group_terms[:2]) if group_terms else "papers"
        name = name[:1].upper() + name[1:]
        sections.append(DigestSection(name, [items[i] for i in indices], group_terms))
    all_terms = section_terms([papers], top=3)[0]
    if title:
        headline = " ".join(title.split())
    elif query:
        headline = f"Papers on {query}"
    elif all_terms:
        headline = "Trending papers: " + ", ".join(all_terms)
    else:
        headline = "Trending papers"
    grouped = group and len(sections) > 1
    title_terms = section_terms([[replace(p, abstract="", body="") for p in papers]], top=3)[0]
    themes = [s.title.lower() for s in sections] if grouped else title_terms or all_terms
    digest_notes = list(notes)
    intro = _template_intro(len(papers), query, themes, grouped, items)
    fallbacks = sum(1 for i in items if i.fallback_from)
    if fallbacks:
        digest_notes.append(
            f"{fallbacks} of {len(items)} blurbs fell back to extractive (model output failed "
            "verification)"
        )
    return Digest(
        headline=headline,
        intro=intro,
        sections=sections,
        mode=llm.mode if llm else "extractive",  # type: ignore[arg-type]
        model=llm.model if llm else "none",
        grouped=grouped,
        query=query,
        date=_dt.date.today().isoformat(),
        notes=digest_notes,
    )
