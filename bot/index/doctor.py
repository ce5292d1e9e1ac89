"""``paperbot doctor``: check that the store is consistent, and repair it.

The papers collection is the *manifest*: each paper record carries the ``content_hash`` of the
paper and the number of chunks (``n_chunks``) written for it. The checks compare it with the
chunks collection and with the BM25 index (:mod:`bot.index.lexical`):

=================== ===========================================================================
check               a problem is
=================== ===========================================================================
manifest            a paper record without a content hash or chunk count
orphan chunks       chunks whose paper record is missing
stale chunks        chunks whose content hash differs from their paper record's, or whose index
                    is outside ``0 .. n_chunks-1``
incomplete papers   papers with fewer valid chunks than their record says (missing chunks)
chroma counts       Chroma's ``count()`` disagrees with the records it lists
store file          embedded store: ``chroma.sqlite3`` missing, empty, or the store holds no
                    papers while the state paperbot recorded at its last write says it held
                    some (a truncated or deleted store reads as empty: never silently)
paper vectors       a paper record whose vector cannot be read (every paper is checked)
vector index        chunk vectors that cannot be read (a random sample of
                    ``CHUNK_SAMPLE`` = 500 chunks, all of them in smaller stores: 1 % of
                    vectors lost is caught with probability 1 - 0.99^500 > 99 %), or a
                    probe of ``PROBES`` chunks not found by querying with its own vector
interrupted write   a dead writer's note names a batch that never completed (warning: the
                    next ingest reconciles it, see :mod:`bot.index.journal`); batches of live
                    writers are in progress and are left out of every check
bm25 index          missing or behind the store revision (warning: rebuilt on the next search);
                    a problem when it claims the store's revision but indexes other papers
=================== ===========================================================================

``repair`` (holding the writer lock) deletes orphan and stale chunks, re-embeds incomplete
papers (and papers whose paper or chunk vectors could not be read or found) from their stored
records, clears the notes of dead writers, stores a new revision and rebuilds the BM25 index;
then checks again. Papers a live writer is writing (Chroma server mode) are left alone.
:func:`~bot.index.reconcile.reconcile_papers` is the same repair restricted to some papers:
the crash recovery of an interrupted ingest batch uses it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bot.errors import PaperbotError
from bot.index.reconcile import (
    Findings,
    classify_records,
    reconcile_papers,
    reembed_papers,
)

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder
    from bot.index.lexical import LexicalIndex
    from bot.index.store import PaperStore
    from bot.settings import Settings

__all__ = [
    "Check",
    "DoctorReport",
    "Findings",
    "check_store",
    "classify_records",
    "reconcile_papers",
    "repair_store",
]

Status = Literal["ok", "warning", "problem"]
SAMPLE = 5  # ids shown per check
PROBES = 16  # chunks whose own vector must find them (vector index health)
CHUNK_SAMPLE = 500  # chunk vectors read back: catches 1 % loss with probability > 99 %


@dataclass
class Check:
    """One consistency check: ``count`` things wrong (0 when ok), ``ids`` a sample of them."""

    name: str
    status: Status
    count: int
    detail: str
    ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "count": self.count,
            "detail": self.detail,
            "ids": list(self.ids),
        }


@dataclass
class DoctorReport:
    """The checks of one doctor run (after the repair when one was asked for)."""

    checks: list[Check]
    papers: int
    chunks: int
    repair: dict[str, int] | None = None  # what the repair did, when it ran

    @property
    def ok(self) -> bool:
        """No problems (warnings heal by themselves and do not count)."""
        return all(c.status != "problem" for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "papers": self.papers,
            "chunks": self.chunks,
            "checks": [c.to_dict() for c in self.checks],
            "repair": self.repair,
        }


# --- checks ---------------------------------------------------------------------------------
def _check(name: str, bad: Sequence[str], ok_detail: str, bad_detail: str) -> Check:
    if not bad:
        return Check(name, "ok", 0, ok_detail)
    return Check(name, "problem", len(bad), bad_detail.format(n=len(bad)), list(bad[:SAMPLE]))


def _probe_vectors(store: PaperStore, found: Findings) -> tuple[list[str], str]:
    """Chunk ids (of an evenly spread sample) their own stored vector does not find."""
    valid = found.valid
    if not valid:
        return [], "no chunks to probe"
    step = max(1, len(valid) // PROBES)
    sample = valid[::step][:PROBES]
    try:
        vectors = store.chunk_vectors(sample)
        failed = [cid for cid in sample if cid not in vectors]
        for cid, vec in vectors.items():
            matches = store.query_chunks(vec, n=3, where={"paper_id": found.valid_paper[cid]})
            if cid not in {m.chunk_id for m in matches}:
                failed.append(cid)
    except PaperbotError as exc:  # a broken index raises from deep inside Chroma
        return list(sample), f"querying the vector index failed: {exc}"
    return failed, f"{len(sample)} chunks probed"


def _vector_checks(store: PaperStore, found: Findings, papers: dict[str, Any]) -> list[Check]:
    """Every paper vector, and a sample of chunk vectors (all of them up to CHUNK_SAMPLE),
    must be readable; a few chunks must be found by their own vector."""
    import random

    bad_papers = store.unreadable_vectors("papers", sorted(papers))
    found.unreadable.update(bad_papers)
    if bad_papers:
        paper_check = Check(
            "paper vectors",
            "problem",
            len(bad_papers),
            f"{len(bad_papers)} of {len(papers)} paper vectors cannot be read (lost from the "
            "vector index: dense search misses these papers)",
            bad_papers[:SAMPLE],
        )
    else:
        paper_check = Check("paper vectors", "ok", 0, f"all {len(papers)} paper vectors read")
    valid = found.valid
    found.vectors_sampled = len(valid) > CHUNK_SAMPLE
    sample = random.sample(valid, CHUNK_SAMPLE) if found.vectors_sampled else list(valid)
    lost = store.unreadable_vectors("chunks", sample)
    found.unreadable.update(found.valid_paper[c] for c in lost)
    failed, probe_detail = _probe_vectors(store, found)
    found.unreadable.update(found.valid_paper[c] for c in failed if c in found.valid_paper)
    what = (
        f"{len(sample)} of {len(valid)} chunk vectors read (random sample)"
        if found.vectors_sampled
        else f"all {len(valid)} chunk vectors read"
    )
    if lost:
        share = f" ({100 * len(lost) / max(1, len(sample)):.1f} % of those read)"
        chunk_check = Check(
            "vector index",
            "problem",
            len(lost),
            f"{len(lost)} chunk vectors cannot be read{share}; {what}",
            lost[:SAMPLE],
        )
    elif failed:
        chunk_check = Check(
            "vector index",
            "problem",
            len(failed),
            f"{len(failed)} chunks not found by their own vector ({probe_detail}); {what}",
            failed[:SAMPLE],
        )
    else:
        chunk_check = Check("vector index", "ok", 0, f"{what}; {probe_detail}")
    return [paper_check, chunk_check]


def _store_file_check(store: PaperStore) -> Check:
    detail = store.missing_store_detail()
    if detail:
        recorded = store.recorded_state() or {}
        return Check("store file", "problem", int(recorded.get("papers") or 1), detail)
    if store.settings.chroma.host:
        return Check("store file", "ok", 0, f"Chroma server {store.location}")
    return Check("store file", "ok", 0, "the store file holds what was last written")


def check_store(store: PaperStore, settings: Settings) -> DoctorReport:
    """Run every check (reads only)."""
    report, _found = _check_store(store, settings)
    return report


def _check_store(store: PaperStore, settings: Settings) -> tuple[DoctorReport, Findings]:
    from bot.index.journal import read_notes
    from bot.index.lexical import saved_index_state
    from bot.paths import bm25_dir

    notes = read_notes(settings)
    busy = {pid for n in notes if n.live for pid in n.paper_ids or []}
    papers = {pid: m for pid, m in store.iter_paper_records() if pid not in busy}
    chunks = [(c, m) for c, m in store.iter_chunk_records() if m.get("paper_id") not in busy]
    found = classify_records(papers, chunks)
    checks = [
        _store_file_check(store),
        _check(
            "manifest",
            found.manifest,
            f"{len(papers)} paper records carry a content hash and chunk count",
            "{n} paper records lack a content hash or chunk count",
        ),
        _check(
            "orphan chunks",
            found.orphans,
            "every chunk has its paper record",
            "{n} chunks whose paper record is missing",
        ),
        _check(
            "stale chunks",
            found.stale,
            "every chunk matches its paper's content hash",
            "{n} chunks of another version of their paper (hash or index)",
        ),
        _check(
            "incomplete papers",
            found.incomplete,
            f"{len(found.valid)} chunks: every paper has all its chunks",
            "{n} papers with fewer chunks than their record says",
        ),
    ]
    counted = (store.count_papers(), store.count_chunks())
    listed = (len(papers), len(chunks))
    if busy:  # a live writer is adding records: the counts move under us
        counted = listed
    if counted == listed:
        checks.append(Check("chroma counts", "ok", 0, f"{counted[0]} papers, {counted[1]} chunks"))
    else:
        diff = abs(counted[0] - listed[0]) + abs(counted[1] - listed[1])
        checks.append(
            Check(
                "chroma counts",
                "problem",
                diff,
                f"count() says {counted[0]} papers / {counted[1]} chunks, "
                f"listing gives {listed[0]} / {listed[1]}",
            )
        )
    checks.extend(_vector_checks(store, found, papers))
    dead = [n for n in notes if not n.live]
    live = [n for n in notes if n.live]
    in_progress = (
        f"; {len(live)} write(s) in progress by live writers ({len(busy)} papers, left out "
        "of these checks)"
        if live
        else ""
    )
    if not dead:
        checks.append(Check("interrupted write", "ok", 0, "the last write completed" + in_progress))
    else:
        pending = [pid for n in dead for pid in n.paper_ids or []]
        checks.append(
            Check(
                "interrupted write",
                "warning",
                max(1, len(pending)),
                f"{len(dead)} write(s) of {len(pending)} papers were interrupted (the next "
                "ingest reconciles them)" + in_progress,
                pending[:SAMPLE],
            )
        )
    saved = saved_index_state(bm25_dir(settings))
    checks.append(_check_bm25(saved, store.revision(), set(papers) | busy))
    return DoctorReport(checks, papers=len(papers), chunks=len(chunks)), found


def _check_bm25(saved: dict[str, Any] | None, revision: str, paper_ids: set[str]) -> Check:
    if saved is None:
        if not paper_ids:
            return Check("bm25 index", "ok", 0, "empty store, nothing to index")
        return Check(
            "bm25 index", "warning", 1, "missing or unreadable (it is rebuilt on the next search)"
        )
    ids = set(saved["ids"])
    if saved["revision"] != revision:
        return Check(
            "bm25 index",
            "warning",
            1,
            f"built from an older store revision ({len(ids)} papers); rebuilt on the next search",
        )
    if ids != paper_ids:
        wrong = sorted(ids ^ paper_ids)
        return Check(
            "bm25 index",
            "problem",
            len(wrong),
            f"claims the store's revision but indexes {len(ids)} papers, store has "
            f"{len(paper_ids)} ({len(wrong)} differ)",
            wrong[:SAMPLE],
        )
    return Check("bm25 index", "ok", 0, f"{len(ids)} papers at the store's revision")


# --- repair ---------------------------------------------------------------------------------
def _remove_stale_temp_files(directory: Path, age: float = 60.0) -> None:
    """Pointer temp files a BM25 save killed before its rename left (older than ``age`` s:
    a reader saving right now keeps its own)."""
    now = time.time()
    for tmp in directory.glob("CURRENT.*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > age:
                tmp.unlink()


def _clear_dead_notes(settings: Settings) -> None:
    """The store was reconciled as a whole: the notes of dead writers are done with."""
    from bot.index.journal import read_notes

    for note in read_notes(settings):
        if note.live:
            continue
        with contextlib.suppress(FileNotFoundError):
            note.path.unlink()
        with contextlib.suppress(OSError):
            note.lock_path.unlink()


def repair_store(
    store: PaperStore,
    embedder: Embedder,
    settings: Settings,
    lexical: LexicalIndex | None = None,
) -> DoctorReport:
    """Fix what :func:`check_store` finds, then check again (holds the writer lock).

    ``lexical``: the BM25 index to rebuild (a caller's own, so its in-memory state is fresh
    too); default a new one over ``store``."""
    from bot.index.lexical import LexicalIndex
    from bot.paths import bm25_dir

    with store.writing():
        before, found = _check_store(store, settings)
        doomed = found.orphans + found.stale
        if doomed:
            store.delete_chunks(doomed)
        unreadable = set(found.unreadable)
        if unreadable and found.vectors_sampled:  # the sample found losses: read them all
            lost = store.unreadable_vectors("chunks", found.valid)
            unreadable.update(found.valid_paper[c] for c in lost)
        redo = list(dict.fromkeys([*found.incomplete, *found.manifest, *sorted(unreadable)]))
        redone = reembed_papers(store, embedder, settings, redo) if redo else 0
        _clear_dead_notes(settings)
        store.touch()
        (lexical or LexicalIndex(store, bm25_dir(settings))).rebuild()
        _remove_stale_temp_files(bm25_dir(settings))
    after, _ = _check_store(store, settings)
    after.repair = {
        "chunks_deleted": len(doomed),
        "papers_reembedded": redone,
        "problems_before": sum(1 for c in before.checks if c.status == "problem"),
        "warnings_before": sum(1 for c in before.checks if c.status == "warning"),
        "bm25_rebuilt": 1,
    }
    return after
