"""Export the store to JSON Lines and import it back (``paperbot export`` / ``paperbot import``).

The file is JSON Lines, no vectors:

- line 1, the header: ``{"format": "paperbot-export", "version": 1, "exported_at": ...,
  "embedding_model": ..., "embedding_dim": ..., "collection": ..., "chunking":
  {"chunk_tokens": ..., "chunk_overlap_sentences": ...}, "papers": N, "chunks": M}``;
- then one line per paper, sorted by id: ``{"paper": {every Paper field}, "content_hash": ...,
  "chunks": [{"id", "index", "sentence_start", "sentence_end", "char_start", "char_end",
  "n_tokens", ...every other Chunk field but the text}, ...]}``.

Papers are serialised field by field (:func:`dataclasses.asdict`), so fields added to
:class:`~bot.types.Paper` travel without changes here. Only consistent chunks are exported
(those ``paperbot doctor`` accepts); the chunk text is ``Paper.text[char_start:char_end]``.

Import re-chunks every paper with the chunking recorded in the header (so the chunk ids,
ranges and counts come out as recorded - papers where they do not, because the chunker
changed, are counted in ``rechunked``) and embeds with the current embedding model, through
the normal ingest path: unchanged papers are skipped, changed ones replaced. A bad line becomes
a failure naming the line; the other lines are imported. Exporting, importing into an empty
home and exporting again gives the same file apart from ``exported_at``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.errors import InputError
from bot.types import Chunk, IngestFailure, IngestReport, Paper

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder
    from bot.index.store import PaperStore
    from bot.ingest.pipeline import Progress
    from bot.settings import Settings

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "ExportSummary",
    "ImportReport",
    "export_store",
    "import_file",
    "read_export",
]

EXPORT_FORMAT = "paperbot-export"
EXPORT_VERSION = 1

# Chunk fields that are not chunk metadata: the id goes first, the rest is the paper's.
_CHUNK_SKIP = {"id", "paper_id", "text"}
# Chunk field -> its key in the store's chunk metadata, where the names differ.
_CHUNK_META_KEY = {"index": "chunk_index"}


@dataclass
class ExportSummary:
    papers: int
    chunks: int
    skipped_chunks: int  # inconsistent chunks left out (see paperbot doctor)
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ImportReport:
    """An :class:`~bot.types.IngestReport` plus what import checked."""

    report: IngestReport
    rechunked: int = 0  # papers whose chunks differ from the recorded ones
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "rechunked": self.rechunked, "notes": list(self.notes)}


# --- export -----------------------------------------------------------------------------------
def _chunk_record(chunk_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": chunk_id}
    for f in dataclasses.fields(Chunk):
        if f.name in _CHUNK_SKIP:
            continue
        value = meta.get(_CHUNK_META_KEY.get(f.name, f.name))
        if value == -1 and f.default is None:  # the store writes -1 for "unknown"
            value = None
        out[f.name] = value
    return out


def export_lines(store: PaperStore, settings: Settings) -> tuple[dict[str, Any], Iterator[str]]:
    """The header and an iterator of the JSON lines (header first) of an export."""
    from bot.index.reconcile import classify_records

    records = dict(store.iter_paper_records())
    chunk_records = list(store.iter_chunk_records())
    found = classify_records(records, chunk_records)
    valid = set(found.valid)
    chunks_by_paper: dict[str, list[dict[str, Any]]] = {}
    for cid, meta in chunk_records:
        if cid in valid:
            chunks_by_paper.setdefault(str(meta["paper_id"]), []).append(_chunk_record(cid, meta))
    papers = sorted(store.iter_papers(), key=lambda p: p.id)
    n_chunks = sum(len(chunks_by_paper.get(p.id, [])) for p in papers)
    header = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "embedding_model": store.embedding_model,
        "embedding_dim": store.dimension,
        "collection": settings.store.collection,
        "chunking": {
            "chunk_tokens": settings.chunking.tokens,
            "chunk_overlap_sentences": settings.chunking.overlap_sentences,
        },
        "papers": len(papers),
        "chunks": n_chunks,
        "skipped_chunks": len(found.orphans) + len(found.stale),
    }

    def lines() -> Iterator[str]:
        yield json.dumps(header, ensure_ascii=False)
        for paper in papers:
            chunks = sorted(chunks_by_paper.get(paper.id, []), key=lambda c: c["index"])
            record = {
                "paper": dataclasses.asdict(paper),
                "content_hash": records.get(paper.id, {}).get("content_hash"),
                "chunks": chunks,
            }
            yield json.dumps(record, ensure_ascii=False)

    return header, lines()


def export_store(store: PaperStore, settings: Settings, out: str | Path | TextIO) -> ExportSummary:
    """Write the export to a path (atomically: temp file, then rename) or an open text file."""
    header, lines = export_lines(store, settings)
    summary = ExportSummary(header["papers"], header["chunks"], header["skipped_chunks"])
    if not isinstance(out, str | Path):
        for line in lines:
            out.write(line + "\n")
        out.flush()
        return summary
    path = Path(out)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(f"cannot write the export to {path}: {exc}") from exc
    summary.path = str(path)
    return summary


# --- import -----------------------------------------------------------------------------------
def _paper_from_json(data: Any) -> Paper:
    """A Paper from an export line's ``paper`` object (field by field, types checked)."""
    if not isinstance(data, dict):
        raise ValueError("'paper' must be an object")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Paper):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.default_factory is not dataclasses.MISSING:  # list fields
            if not isinstance(value, list):
                raise ValueError(f"'{f.name}' must be a list")
        elif value is not None and not isinstance(value, str):
            raise ValueError(f"'{f.name}' must be a string")
        values[f.name] = value
    for name in ("id", "title"):
        if not isinstance(values.get(name), str) or not values[name].strip():
            raise ValueError(f"'{name}' must be a non-empty string")
    if not isinstance(values.get("abstract"), str):
        raise ValueError("'abstract' must be a string")
    try:
        return Paper(**values)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


@dataclass
class _Entry:
    line: int
    paper: Paper
    chunks: list[dict[str, Any]]


def read_export(path: str | Path) -> tuple[dict[str, Any], list[_Entry], list[IngestFailure]]:
    """Parse an export file: (header, entries, failures of bad lines)."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    header: dict[str, Any] | None = None
    entries: list[_Entry] = []
    failures: list[IngestFailure] = []
    seen: dict[str, int] = {}
    with fh:
        for no, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                if header is None:
                    raise InputError(f"{path}:{no}: not a paperbot export ({exc})") from exc
                failures.append(IngestFailure(str(path), no, f"invalid JSON: {exc}"))
                continue
            if header is None:
                if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
                    raise InputError(
                        f"{path}:{no}: not a paperbot export (no '{EXPORT_FORMAT}' header line)"
                    )
                if not isinstance(data.get("version"), int) or data["version"] > EXPORT_VERSION:
                    raise InputError(
                        f"{path}:{no}: export format version {data.get('version')!r} is not "
                        f"supported (this paperbot reads up to {EXPORT_VERSION})"
                    )
                header = data
                continue
            try:
                if not isinstance(data, dict):
                    raise ValueError("a paper line must be a JSON object")
                paper = _paper_from_json(data.get("paper"))
                chunks = data.get("chunks", [])
                if not isinstance(chunks, list) or not all(isinstance(c, dict) for c in chunks):
                    raise ValueError("'chunks' must be a list of objects")
            except ValueError as exc:
                failures.append(IngestFailure(str(path), no, str(exc)))
                continue
            if paper.id in seen:
                failures.append(
                    IngestFailure(
                        str(path),
                        no,
                        f"duplicate paper id '{paper.id}' (first on line {seen[paper.id]})",
                    )
                )
                continue
            seen[paper.id] = no
            entries.append(_Entry(no, paper, chunks))
    if header is None:
        raise InputError(f"{path}: empty file, not a paperbot export")
    return header, entries, failures


def _chunking(header: dict[str, Any], settings: Settings) -> tuple[Settings, list[str]]:
    """Settings with the header's chunking (so chunks come out as recorded)."""
    chunking = header.get("chunking")
    if not isinstance(chunking, dict):
        return settings, ["the export records no chunking: chunked with the current settings"]
    update = {
        "chunk_tokens": chunking.get("chunk_tokens", settings.chunking.tokens),
        "chunk_overlap_sentences": chunking.get(
            "chunk_overlap_sentences", settings.chunking.overlap_sentences
        ),
    }
    try:
        merged = type(settings).model_validate({**settings.model_dump(), **update})
    except Exception:  # pydantic.ValidationError: out-of-range values in the header
        return settings, ["the export's chunking is invalid: chunked with the current settings"]
    return merged, []


def import_file(
    path: str | Path,
    store: PaperStore,
    embedder: Embedder,
    settings: Settings,
    progress: Progress | None = None,
) -> ImportReport:
    """Import an export file (the caller holds the writer lock, as for an ingest)."""
    from bot.ingest.pipeline import ingest_papers
    from bot.text.chunking import chunk_paper

    started = time.perf_counter()
    header, entries, failures = read_export(path)
    chunk_settings, notes = _chunking(header, settings)
    model = header.get("embedding_model")
    if model and model != store.embedding_model:
        notes.append(
            f"exported with embedding model '{model}': re-embedded with '{store.embedding_model}'"
        )
    rechunked = 0
    good: list[Paper] = []
    for entry in entries:
        try:  # values of the right types can still be unusable (e.g. a malformed page map)
            chunks = chunk_paper(
                entry.paper,
                chunk_settings.chunking.tokens,
                chunk_settings.chunking.overlap_sentences,
            )
            entry.paper.content_hash  # noqa: B018 - must be computable
        except Exception as exc:
            failures.append(IngestFailure(str(path), entry.line, f"unusable paper: {exc}"))
            continue
        good.append(entry.paper)
        recorded = [(c.get("id"), c.get("char_start"), c.get("char_end")) for c in entry.chunks]
        fresh = [(c.id, c.char_start, c.char_end) for c in chunks]
        if recorded != fresh:
            rechunked += 1
    failures.sort(key=lambda f: f.line or 0)
    report = IngestReport(failed=failures)
    ingest_papers(good, store, embedder, chunk_settings, progress, report=report)
    report.seconds = time.perf_counter() - started
    if rechunked:
        notes.append(f"{rechunked} papers chunked differently from the export (chunker changed)")
    return ImportReport(report, rechunked=rechunked, notes=notes)
