"""Classify stored records (valid, orphan, stale, incomplete) and reconcile papers.

The papers collection is the manifest (see :mod:`bot.index.doctor`). :func:`classify_records`
sorts chunks and paper records against it; :func:`reconcile_papers` deletes the orphan and
stale chunks of some papers and re-embeds the incomplete ones from their stored records. The
doctor's repair and the crash recovery of an interrupted ingest batch
(:mod:`bot.index.journal`) both use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.index.writes import prepare_writes

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder
    from bot.index.store import PaperStore
    from bot.settings import Settings

__all__ = ["Findings", "classify_records", "reconcile_papers", "reembed_papers"]


def _n_chunks(meta: dict[str, Any]) -> int | None:
    value = meta.get("n_chunks")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value >= 0 else None


@dataclass
class Findings:
    """What :func:`classify_records` found: problems by kind, and the valid chunks."""

    manifest: list[str] = field(default_factory=list)  # paper ids
    orphans: list[str] = field(default_factory=list)  # chunk ids
    stale: list[str] = field(default_factory=list)  # chunk ids
    incomplete: list[str] = field(default_factory=list)  # paper ids
    valid: list[str] = field(default_factory=list)  # chunk ids
    valid_paper: dict[str, str] = field(default_factory=dict)  # chunk id -> paper id
    paper_of: dict[str, str] = field(default_factory=dict)  # every chunk id -> paper id
    unreadable: set[str] = field(default_factory=set)  # papers with a vector lost (to redo)
    vectors_sampled: bool = False  # chunk vectors were sampled, not all read


def classify_records(
    papers: dict[str, dict[str, Any]], chunks: Iterable[tuple[str, dict[str, Any]]]
) -> Findings:
    found = Findings()
    have: dict[str, set[int]] = {}
    for cid, meta in chunks:
        pid = str(meta.get("paper_id"))
        found.paper_of[cid] = pid
        record = papers.get(pid)
        if record is None:
            found.orphans.append(cid)
            continue
        n = _n_chunks(record)
        index = meta.get("chunk_index")
        good = (
            bool(record.get("content_hash"))
            and meta.get("content_hash") == record.get("content_hash")
            and isinstance(index, int)
            and n is not None
            and 0 <= index < n
            and index not in have.get(pid, set())
        )
        if good:
            have.setdefault(pid, set()).add(int(index))
            found.valid.append(cid)
            found.valid_paper[cid] = pid
        else:
            found.stale.append(cid)
    for pid, record in papers.items():
        n = _n_chunks(record)
        if n is None or not record.get("content_hash"):
            found.manifest.append(pid)
        elif len(have.get(pid, ())) < n:
            found.incomplete.append(pid)
    return found


def reembed_papers(
    store: PaperStore, embedder: Embedder, settings: Settings, paper_ids: Sequence[str]
) -> int:
    """Rewrite papers (chunks, vectors, record) from their stored records; returns how many."""
    papers = store.get_papers(list(paper_ids))
    step = settings.ingest.batch_papers
    for start in range(0, len(papers), step):
        store.write(prepare_writes(papers[start : start + step], embedder, settings))
    return len(papers)


def reconcile_papers(
    store: PaperStore,
    embedder: Embedder,
    settings: Settings,
    paper_ids: Sequence[str] | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> tuple[int, int]:
    """Make these papers (all when ``None``) consistent: delete their orphan and stale chunks,
    re-embed those left incomplete from their stored records. Papers in ``exclude`` (a live
    writer's batch) are left alone. Returns (chunks deleted, papers re-embedded). The caller
    holds the writer lock."""
    if paper_ids is None:
        papers = dict(store.iter_paper_records())
        chunks = list(store.iter_chunk_records())
    else:
        ids = list(dict.fromkeys(paper_ids))
        papers = store.paper_records(ids)
        by_paper = store.chunks_of(ids)
        chunks = [(m.chunk_id, m.metadata) for ms in by_paper.values() for m in ms]
    found = classify_records(papers, chunks)
    doomed = [c for c in found.orphans + found.stale if found.paper_of.get(c) not in exclude]
    if doomed:
        store.delete_chunks(doomed)
    redo = [p for p in dict.fromkeys(found.incomplete + found.manifest) if p not in exclude]
    redone = reembed_papers(store, embedder, settings, redo) if redo else 0
    return len(doomed), redone
