"""Ingest: files -> readers -> papers -> (skip unchanged) -> chunks -> embeddings -> store.

Bad input never stops a batch: every file, line or record that cannot be read becomes an
:class:`~bot.types.IngestFailure` and everything else is ingested. Unchanged papers (same
content hash as stored) are skipped before any embedding work; a paper read from several
sources is one record (:mod:`bot.ingest.library`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from bot.index.journal import WriteJournal, recover_interrupted
from bot.index.store import PaperWrite
from bot.index.writes import prepare_writes
from bot.ingest.library import plan_ingest
from bot.ingest.readers import iter_input_files, read_file, resolve_format
from bot.ingest.readers.isolated import parse_worker
from bot.types import IngestFailure, IngestReport, Paper

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder
    from bot.index.store import PaperStore
    from bot.settings import Settings

__all__ = ["Progress", "ingest_papers", "ingest_paths", "prepare_writes"]

# progress(stage, done, total): stage is "read" or "embed"
Progress = Callable[[str, int, int], None]

PAPERS_PER_BATCH = 64


def ingest_papers(
    papers: Sequence[Paper],
    store: PaperStore,
    embedder: Embedder,
    settings: Settings,
    progress: Progress | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Upsert papers: add new ones, fold other sources of a stored paper into its record,
    replace changed ones, skip unchanged ones (see :mod:`bot.ingest.library`)."""
    report = report or IngestReport()
    started = time.perf_counter()
    # an earlier write killed mid-batch is reconciled first (see bot.journal)
    recover_interrupted(store, embedder, settings)
    # one record per paper across sources: what to (re)write, and the counts (bot.library)
    plan = plan_ingest(papers, store, report)
    todo = plan.writes
    done = 0
    if progress:
        progress("embed", 0, len(todo))
    journal = WriteJournal.for_settings(settings)

    def write(batch: Sequence[Paper], writes: list[PaperWrite]) -> int:
        with journal.batch([p.id for p in batch]):  # noted before any chunk is written
            return store.write(writes)

    def finish(pending: tuple[Future[int], int]) -> None:
        nonlocal done
        report.chunks_written += pending[0].result()
        done += pending[1]
        if progress:
            progress("embed", done, len(todo))

    # Embedding (torch, GIL released) overlaps with writing the previous batch to Chroma in
    # one background thread; writes stay strictly one at a time and in order.
    step = settings.ingest.batch_papers
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperbot-write") as writer:
            pending: tuple[Future[int], int] | None = None
            for start in range(0, len(todo), step):
                batch = todo[start : start + step]
                writes = prepare_writes(batch, embedder, settings)
                if pending is not None:
                    finish(pending)
                pending = (writer.submit(write, batch, writes), len(batch))
            if pending is not None:
                finish(pending)
    finally:
        journal.close()  # a note left by a failed write stays for the next writer
    store.update_records(plan.relabels)  # content unchanged: aliases/sources only, no chunks
    report.seconds += time.perf_counter() - started
    return report


def ingest_paths(
    paths: Iterable[str | Path],
    store: PaperStore,
    embedder: Embedder,
    settings: Settings,
    progress: Progress | None = None,
    fmt: str | None = None,
) -> IngestReport:
    """Read every file under ``paths`` and ingest what could be read.

    ``fmt`` (a format name or suffix, e.g. ``"bibtex"``) overrides detection by suffix for
    every file; an unknown one raises :class:`~bot.errors.ReaderError` before anything is read."""
    started = time.perf_counter()
    if fmt is not None:
        fmt = resolve_format(fmt)
    files, failures = iter_input_files([Path(p) for p in paths], fmt)
    report = IngestReport(failed=list(failures))
    papers: list[Paper] = []
    # PDFs are parsed in a worker process with time and memory budgets (one for all files)
    with parse_worker(settings.ingest.parse_timeout, settings.ingest.parse_memory_mb) as worker:
        for i, path in enumerate(files):
            result = read_file(path, fmt, worker=worker)
            papers.extend(result.papers)
            report.failed.extend(result.failures)
            if progress:
                progress("read", i + 1, len(files))
    if not files and not report.failed:
        report.failed.append(IngestFailure("", None, "no input files given"))
    ingest_papers(papers, store, embedder, settings, progress=progress, report=report)
    report.seconds = time.perf_counter() - started
    return report
