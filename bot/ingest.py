"""Ingest: files -> readers -> papers -> (skip unchanged) -> chunks -> embeddings -> store.

Bad input never stops a batch: every file, line or record that cannot be read becomes an
:class:`~bot.types.IngestFailure` and everything else is ingested. Unchanged papers (same
content hash as stored) are skipped before any embedding work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.chunking import chunk_paper
from bot.readers import iter_input_files, read_file
from bot.store import PaperWrite
from bot.types import IngestFailure, IngestReport, Paper, normalise_title

if TYPE_CHECKING:
    from bot.embeddings import Embedder
    from bot.settings import Settings
    from bot.store import PaperStore

__all__ = ["Progress", "ingest_papers", "ingest_paths"]

# progress(stage, done, total): stage is "read" or "embed"
Progress = Callable[[str, int, int], None]

PAPERS_PER_BATCH = 64


def _merge_duplicates(papers: Iterable[Paper]) -> list[Paper]:
    """One paper per id; a title-hash id yields to a real id with the same title."""
    by_id: dict[str, Paper] = {}
    real_id_by_title: dict[str, str] = {}
    for paper in papers:
        if not paper.id.startswith("t-"):
            real_id_by_title[normalise_title(paper.title)] = paper.id
        by_id[paper.id] = paper
    out: dict[str, Paper] = {}
    for pid, paper in by_id.items():
        if pid.startswith("t-"):
            real = real_id_by_title.get(normalise_title(paper.title))
            if real is not None:
                continue  # the record with the real id wins
        out[pid] = paper
    return list(out.values())


def ingest_papers(
    papers: Sequence[Paper],
    store: PaperStore,
    embedder: Embedder,
    settings: Settings,
    progress: Progress | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Upsert papers: add new ones, replace changed ones, skip unchanged ones."""
    report = report or IngestReport()
    started = time.perf_counter()
    papers = _merge_duplicates(papers)
    twins = store.real_id_twins(papers)
    report.unchanged += len(twins)  # the record stored under its real id wins
    papers = [p for p in papers if p.id not in twins]
    stored = store.content_hashes([p.id for p in papers])
    todo: list[Paper] = []
    for paper in papers:
        old = stored.get(paper.id)
        if old is None:
            report.added += 1
            todo.append(paper)
        elif old != paper.content_hash:
            report.updated += 1
            todo.append(paper)
        else:
            report.unchanged += 1
    store.delete_title_id_twins(todo)
    done = 0
    if progress:
        progress("embed", 0, len(todo))
    for start in range(0, len(todo), PAPERS_PER_BATCH):
        batch = todo[start : start + PAPERS_PER_BATCH]
        report.chunks_written += store.write(_prepare(batch, embedder, settings))
        done += len(batch)
        if progress:
            progress("embed", done, len(todo))
    report.seconds += time.perf_counter() - started
    return report


def _prepare(batch: Sequence[Paper], embedder: Embedder, settings: Settings) -> list[PaperWrite]:
    chunked = [
        chunk_paper(p, settings.chunk_tokens, settings.chunk_overlap_sentences) for p in batch
    ]
    texts = [
        f"{p.title}\n{c.text}" for p, chunks in zip(batch, chunked, strict=True) for c in chunks
    ]
    chunk_vectors = embedder.embed_documents(texts) if texts else np.zeros((0, embedder.dimension))
    title_vectors = embedder.embed_documents([p.title for p in batch])
    writes = []
    offset = 0
    for i, (paper, chunks) in enumerate(zip(batch, chunked, strict=True)):
        writes.append(
            PaperWrite(
                paper=paper,
                chunks=chunks,
                chunk_vectors=chunk_vectors[offset : offset + len(chunks)],
                title_vector=title_vectors[i],
            )
        )
        offset += len(chunks)
    return writes


def ingest_paths(
    paths: Iterable[str | Path],
    store: PaperStore,
    embedder: Embedder,
    settings: Settings,
    progress: Progress | None = None,
) -> IngestReport:
    """Read every file under ``paths`` and ingest what could be read."""
    started = time.perf_counter()
    files, failures = iter_input_files([Path(p) for p in paths])
    report = IngestReport(failed=list(failures))
    papers: list[Paper] = []
    for i, path in enumerate(files):
        result = read_file(path)
        papers.extend(result.papers)
        report.failed.extend(result.failures)
        if progress:
            progress("read", i + 1, len(files))
    if not files and not report.failed:
        report.failed.append(IngestFailure("", None, "no input files given"))
    ingest_papers(papers, store, embedder, settings, progress=progress, report=report)
    report.seconds = time.perf_counter() - started
    return report
