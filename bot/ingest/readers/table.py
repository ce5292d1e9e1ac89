"""Readers for tables with a header row: CSV (``.csv``) and tab-separated (``.tsv``, ``.tab``).

Columns are found by name (case-insensitive; spaces and hyphens count as ``_``), other
columns are ignored:

=========== ==========================================================================
field       column names
=========== ==========================================================================
id          ``id``, ``arxiv_id``, ``paper_id``, ``arxiv``, ``eprint`` (arXiv ids lose their
            ``arXiv:`` prefix and version; default :func:`~bot.types.title_id`)
title       ``title`` (required column and value)
abstract    ``abstract``, ``summary`` (required column and value)
authors     ``authors``, ``author``: ``;``-separated, or ``and``/comma-separated, with
            ``"Last, First"`` names recognised
            (:func:`bot.ingest.readers.names.split_name_list`)
published   ``published``, ``date``, ``published_date``, ``year`` -> ISO when parseable
url         ``url``, ``link``, ``abs_url``; else the arXiv abs page / ``doi`` link
categories  ``categories``, ``category``, ``primary_category`` (space/comma/``;`` separated)
=========== ==========================================================================

Quoted fields may span lines (the :mod:`csv` module reads them); every failure names the
physical line where its record starts. A header without a required column is one failure
naming the missing column(s) and the header found; a row with the wrong number of fields, or
an empty title/abstract, is a failure while the other rows are read. A ``.csv`` whose header
has semicolons and no commas is read as semicolon-separated.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from bot.errors import ReaderError
from bot.ingest.readers.jsonrecords import arxiv_base_id, paper_from_record
from bot.ingest.readers.names import split_name_list
from bot.types import IngestFailure, ReadResult

__all__ = ["COLUMN_ALIASES", "read_csv", "read_tsv"]

#: Field -> accepted column names (normalised: lower case, ``_`` for spaces and hyphens).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "arxiv_id", "paper_id", "arxiv", "eprint"),
    "title": ("title",),
    "abstract": ("abstract", "summary"),
    "authors": ("authors", "author"),
    "published": ("published", "date", "published_date", "year"),
    "url": ("url", "link", "abs_url"),
    "doi": ("doi",),
    "categories": ("categories", "category", "primary_category"),
}
_REQUIRED = ("title", "abstract")


def _normalise_column(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _columns(header: list[str]) -> dict[str, int]:
    """Field -> column index, by the first matching alias in header order."""
    names = [_normalise_column(h) for h in header]
    found: dict[str, int] = {}
    for key, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in names:
                found[key] = names.index(alias)
                break
    return found


def _record(row: list[str], columns: dict[str, int]) -> dict[str, object]:
    record: dict[str, object] = {key: row[i].strip() for key, i in columns.items()}
    raw_id = str(record.get("id") or "")
    record["id"] = (arxiv_base_id(raw_id) or raw_id) if raw_id else None
    record["authors"] = split_name_list(str(record.get("authors") or ""))
    return record


def _read_table(path: Path, text: str, delimiter: str) -> ReadResult:
    source = io.StringIO(text, newline="")
    reader = csv.reader(source, delimiter=delimiter, strict=True)
    result = ReadResult()
    header: list[str] | None = None
    columns: dict[str, int] = {}
    line_end = 0
    while True:
        start = line_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line_end = reader.line_num
            if header is None:
                raise ReaderError(f"header row: {exc}", line=start) from None
            message = f"bad row: {exc} (a quoted field is not closed properly)"
            result.failures.append(IngestFailure(str(path), start, message))
            continue
        line_end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = row
            columns = _columns(header)
            missing = [f"'{key}'" for key in _REQUIRED if key not in columns]
            if missing:
                shown = ", ".join(h.strip() for h in header)
                noun = "column" if len(missing) == 1 else "columns"
                raise ReaderError(
                    f"missing required {noun} {' and '.join(missing)} (header found: {shown})",
                    line=start,
                )
            continue
        if len(row) != len(header):
            message = f"row has {len(row)} fields, the header has {len(header)}"
            result.failures.append(IngestFailure(str(path), start, message))
            continue
        record = _record(row, columns)
        empty = [f"'{key}'" for key in _REQUIRED if not record.get(key)]
        if empty:
            message = f"row has an empty {' and '.join(empty)}"
            result.failures.append(IngestFailure(str(path), start, message))
            continue
        result.papers.append(paper_from_record(record, source=f"{path}:{start}"))
    return result


def _csv_delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if ";" in first and "," not in first else ","


def read_csv(path: Path, text: str) -> ReadResult:
    """Read comma-separated values with a header row (semicolons when the header has no
    commas but has semicolons)."""
    return _read_table(path, text, _csv_delimiter(text))


def read_tsv(path: Path, text: str) -> ReadResult:
    """Read tab-separated values with a header row."""
    return _read_table(path, text, "\t")
