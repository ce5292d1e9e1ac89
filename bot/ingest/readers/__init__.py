"""Input-format readers: a registry keyed by format name, auto-detected by file suffix.

Built-in formats:

============ ======================= ===================================================
format       suffixes                reader
============ ======================= ===================================================
``listing``  ``.txt``, ``.md``       :func:`bot.ingest.readers.listing.read_listing`
``json``     ``.json``               :func:`bot.ingest.readers.jsonrecords.read_json`
``jsonl``    ``.jsonl``, ``.ndjson`` :func:`bot.ingest.readers.jsonrecords.read_jsonl`
``arxiv``    ``.xml``, ``.atom``     :func:`bot.ingest.readers.arxiv_atom.read_arxiv_atom`
(arXiv API
                                     Atom feed)
``bibtex``   ``.bib``                :func:`bot.ingest.readers.bibtex.read_bibtex`
``csv``      ``.csv``                :func:`bot.ingest.readers.table.read_csv` (header row)
``tsv``      ``.tsv``, ``.tab``      :func:`bot.ingest.readers.table.read_tsv` (header row)
============ ======================= ===================================================

More formats plug in with :func:`register_reader`. :func:`read_file` never raises for bad
content: an unreadable, empty, binary, non-UTF-8 or unsupported file gives a
:class:`~bot.types.ReadResult` holding one :class:`~bot.types.IngestFailure`, and bad records
inside a readable file are reported by the reader while the good ones are kept; an error no
reader anticipated is one failure naming the file, never a traceback. Formats registered with
``isolated=True`` (PDF) are parsed in a worker process with a time and memory budget
(:mod:`bot.ingest.readers.isolated`). Terminal escape codes and control characters are removed from
every paper's fields (:func:`bot.text.sanitize.clean_text`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.ingest.readers.registry import (
    DEFAULT_PARSE_MEMORY_MB,
    DEFAULT_PARSE_TIMEOUT,
    READERS,
    Reader,
    ReaderFunc,
    detect_format,
    format_of,
    iter_input_files,
    read_file_here,
    register_reader,
    resolve_format,
    supported_types,
    unsupported_message,
)
from bot.types import ReadResult

if TYPE_CHECKING:
    from bot.ingest.readers.isolated import ParseWorker

__all__ = [
    "READERS",
    "Reader",
    "ReaderFunc",
    "detect_format",
    "iter_input_files",
    "read_file",
    "read_file_here",
    "register_reader",
    "resolve_format",
    "supported_types",
    "unsupported_message",
]


def read_file(path: Path, fmt: str | None = None, worker: ParseWorker | None = None) -> ReadResult:
    """Read one file with the reader of ``fmt`` (default: detected from the suffix).

    Never raises for bad content: an unsupported, missing, unreadable, empty, binary or
    non-UTF-8 file gives a result with one failure; readers report bad records themselves.
    Within one file, a repeated paper id keeps the last record. A format registered with
    ``isolated=True`` is read in ``worker`` (a parse worker with time and memory budgets; one
    with the default budgets when none is given).
    """
    name = format_of(Path(path), fmt)
    if name is not None and READERS[name].isolated:
        if worker is not None:
            return worker.read(Path(path), fmt)
        from bot.ingest.readers.isolated import parse_worker

        with parse_worker(DEFAULT_PARSE_TIMEOUT, DEFAULT_PARSE_MEMORY_MB) as own:
            return own.read(Path(path), fmt)
    return read_file_here(Path(path), fmt)
