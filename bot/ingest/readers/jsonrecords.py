"""Readers for JSON (``.json``) and JSON Lines (``.jsonl``, ``.ndjson``) paper records.

A record is a JSON object. Recognised fields (first match wins):

========== ===========================================================================
field      keys
========== ===========================================================================
id         ``id``, ``paper_id``, ``arxiv_id`` (numbers become strings; a versioned arXiv
           id or an arXiv abs link becomes the bare id, as in the other readers; default
           :func:`~bot.types.title_id` of the title)
title      ``title`` (required; whitespace runs collapsed)
abstract   ``abstract``, ``summary`` (required; hard-wrapped lines joined with single spaces)
authors    ``authors`` (list of strings, list of ``{"name": ...}``, or one string
           ``"A. Author, B. Author and C. Author"``), ``authors_parsed`` (arXiv
           ``[last, first, suffix]`` lists)
published  ``published``, ``date``, ``year``, ``versions[0].created`` (arXiv first
           submission), ``update_date``; normalised to ISO ``YYYY-MM-DD`` (or ``YYYY-MM`` /
           ``YYYY``) when parseable, else kept as given
url        ``url``, ``link``, ``links``; else ``https://arxiv.org/abs/<id>`` for arXiv ids;
           else ``https://doi.org/<doi>``
categories ``categories`` (list, or a space/comma separated string such as ``"hep-ph math.CO"``)
========== ===========================================================================

This covers the arXiv metadata snapshot (``arxiv-metadata-oai-snapshot.json``, which is JSON
Lines despite its suffix: :func:`read_json` falls back to JSON Lines for such files).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from bot.errors import ReaderError
from bot.types import IngestFailure, Paper, ReadResult, title_id

__all__ = [
    "RECORD_LIST_KEYS",
    "arxiv_base_id",
    "arxiv_id_of",
    "normalise_date",
    "paper_from_record",
    "parse_date",
    "read_json",
    "read_jsonl",
]

#: Keys of a top-level JSON object under which :func:`read_json` looks for the record list.
RECORD_LIST_KEYS: tuple[str, ...] = ("papers", "records", "items", "data")

_ID_KEYS = ("id", "paper_id", "arxiv_id")
_ABSTRACT_KEYS = ("abstract", "summary")
_URL_KEYS = ("url", "link", "links")
_DATE_KEYS = ("published", "date", "year")

_ARXIV_NEW = re.compile(r"(?:arxiv:)?(\d{4}\.\d{4,5}(?:v\d+)?)", re.IGNORECASE)
_ARXIV_OLD = re.compile(r"(?:arxiv:)?([a-z][a-z-]*(?:\.[a-z]{2})?/\d{7}(?:v\d+)?)", re.IGNORECASE)

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_RE = (
    r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY_RE = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_DAY_RE = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR_RE = r"(?P<year>\d{4})"
_TIME_RE = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?)?"

_DATE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"{_YEAR_RE}-(?P<mnum>\d{{1,2}})-{_DAY_RE}{_TIME_RE}",
        rf"{_YEAR_RE}/(?P<mnum>\d{{1,2}})/{_DAY_RE}",
        rf"{_YEAR_RE}\.(?P<mnum>\d{{1,2}})\.{_DAY_RE}",
        rf"{_WEEKDAY_RE}{_MONTH_RE}\s+{_DAY_RE},?\s+{_YEAR_RE}",
        rf"{_WEEKDAY_RE}{_DAY_RE}\s+{_MONTH_RE},?\s+{_YEAR_RE}",
        rf"{_MONTH_RE},?\s+{_YEAR_RE}",
        rf"{_YEAR_RE}-(?P<mnum>\d{{1,2}})",
        _YEAR_RE,
    )
)


def parse_date(text: str) -> str | None:
    """Parse a date to ISO ``YYYY-MM-DD`` (or ``YYYY-MM`` / ``YYYY`` when that is all it says).

    Understands ISO dates (with or without a time), ``YYYY/MM/DD``, ``"June 6, 2024"``,
    ``"6 Jun 2024"``, ``"June 2024"``, RFC 2822 (``"Mon, 2 Apr 2007 19:18:42 GMT"``) and bare
    years. Returns ``None`` for anything else, including dates without a year (``"Jun 6"``) and
    ambiguous numeric forms such as ``"06/07/2024"``.
    """
    text = " ".join(text.split())
    for pattern in _DATE_PATTERNS:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        groups = m.groupdict()
        year = int(groups["year"])
        if groups.get("mnum"):
            month = int(groups["mnum"])
        elif groups.get("month"):
            month = _MONTHS[groups["month"][:3].lower()]
        else:
            return f"{year:04d}"
        if not 1 <= month <= 12:
            return None
        if not groups.get("day"):
            return f"{year:04d}-{month:02d}"
        try:
            return date(year, month, int(groups["day"])).isoformat()
        except ValueError:
            return None
    if re.search(r"\d{1,2}:\d{2}", text) and re.search(r"\d{4}", text):
        try:
            return parsedate_to_datetime(text).date().isoformat()
        except (TypeError, ValueError, IndexError):
            return None
    return None


def normalise_date(value: object) -> str | None:
    """Normalise a record's date value: ISO when :func:`parse_date` can, else the text as given.

    Integers in 1000..9999 are years. ``None``, empty strings and non-scalar values give ``None``.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:04d}" if 1000 <= value <= 9999 else str(value)
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text:
        return None
    return parse_date(text) or text


def arxiv_id_of(value: str) -> str | None:
    """The arXiv id in ``value`` (``"2106.01234v2"``, ``"arXiv:hep-th/9901001"``), or None."""
    text = value.strip()
    m = _ARXIV_NEW.fullmatch(text) or _ARXIV_OLD.fullmatch(text)
    return m.group(1) if m else None


def arxiv_base_id(value: str) -> str | None:
    """The arXiv id in ``value`` without its version: ``"arXiv:2306.01234v2"`` ->
    ``"2306.01234"``, ``"http://arxiv.org/abs/hep-th/9901001v1"`` -> ``"hep-th/9901001"``."""
    text = re.sub(r"^https?://(?:export\.|www\.)?arxiv\.org/(?:abs|pdf)/", "", value.strip())
    found = arxiv_id_of(text.removesuffix(".pdf"))
    return re.sub(r"v\d+$", "", found) if found else None


def _clean(text: str) -> str:
    """Collapse every whitespace run (including hard line wraps) to one space, and strip."""
    return " ".join(text.split())


def _first_text(record: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first non-empty string among ``keys``, whitespace-normalised."""
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return _clean(value)
    return None


def _record_id(record: Mapping[str, Any]) -> str | None:
    for key in _ID_KEYS:
        value = record.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, str) and value.strip():
            value = value.strip()
            if _VERSIONED_ARXIV.fullmatch(value) or _ARXIV_ABS.match(value):
                # the same paper from the Atom, BibTeX or CSV readers gets the same id
                return arxiv_base_id(value) or value
            return value
    return None


# an id that is exactly an arXiv id with a version, or an arXiv abs/pdf link
_VERSIONED_ARXIV = re.compile(r"(?:arxiv:)?(?:\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})v\d+", re.I)
_ARXIV_ABS = re.compile(r"https?://(?:export\.|www\.)?arxiv\.org/(?:abs|pdf)/", re.I)

_PARENS = re.compile(r"\([^()]*\)")
_AUTHOR_SPLIT = re.compile(r"\s*(?:,\s*and\s+|;|,|\s+and\s+|\s*&\s*)\s*")


def _split_author_string(text: str) -> list[str]:
    """Split ``"A. Author, B. Author and C. Author"``; parenthesised affiliations are dropped."""
    previous = None
    while previous != text:  # nested parentheses: strip innermost groups until none remain
        previous, text = text, _PARENS.sub(" ", text)
    return [name for name in (_clean(p) for p in _AUTHOR_SPLIT.split(text)) if name]


def _author_name(item: object) -> str | None:
    if isinstance(item, str):
        return _clean(item) or None
    if isinstance(item, Mapping):
        name = item.get("name")
        if isinstance(name, str) and name.strip():
            return _clean(name)
        parts = [
            item[k] for k in ("given", "first", "family", "last") if isinstance(item.get(k), str)
        ]
        return _clean(" ".join(parts)) or None
    if isinstance(item, (list, tuple)) and item and all(isinstance(p, str) for p in item):
        # arXiv ``authors_parsed`` entry: [last, first, suffix]
        last, first, suffix = [*item, "", ""][:3]
        return _clean(f"{first} {last} {suffix}") or None
    return None


def _authors(record: Mapping[str, Any]) -> list[str]:
    value = record.get("authors")
    if isinstance(value, list):
        names = [_author_name(item) for item in value]
        return [n for n in names if n]
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = [_author_name(item) for item in parsed]
        if any(names):
            return [n for n in names if n]
    if isinstance(value, str):
        return _split_author_string(value)
    return []


def _published(record: Mapping[str, Any]) -> str | None:
    for key in _DATE_KEYS:
        value = normalise_date(record.get(key))
        if value:
            return value
    versions = record.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], Mapping):
        value = normalise_date(versions[0].get("created"))
        if value:
            return value
    return normalise_date(record.get("update_date"))


def _url_from(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Mapping):
        for key in ("href", "url"):
            if isinstance(value.get(key), str) and value[key].strip():
                return str(value[key]).strip()
        return None
    if isinstance(value, list):
        candidates = [u for u in (_url_from(v) for v in value) if u]
        web = [u for u in candidates if u.startswith(("http://", "https://"))]
        return (web or candidates or [None])[0]
    return None


def _url(record: Mapping[str, Any], paper_id: str | None) -> str | None:
    for key in _URL_KEYS:
        url = _url_from(record.get(key))
        if url:
            return url
    for candidate in (paper_id, record.get("arxiv_id")):
        if isinstance(candidate, str):
            arxiv = arxiv_id_of(candidate)
            if arxiv:
                return f"https://arxiv.org/abs/{arxiv}"
    doi = record.get("doi")
    if isinstance(doi, str) and doi.split():
        doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", doi.split()[0], flags=re.I)
        return f"https://doi.org/{doi}"
    return None


def _categories(record: Mapping[str, Any]) -> list[str]:
    value = record.get("categories")
    items: list[str] = []
    if isinstance(value, str):
        items = re.split(r"[\s,;]+", value)
    elif isinstance(value, list):
        items = [_clean(v) for v in value if isinstance(v, str)]
    return list(dict.fromkeys(i for i in items if i))


def paper_from_record(record: Mapping[str, Any], *, source: str | None = None) -> Paper:
    """Build a :class:`~bot.types.Paper` from one record (see the module docstring for fields).

    Raises :class:`~bot.errors.ReaderError` (without path/line: the caller knows them) when the
    record has no usable title or abstract.
    """
    title = _first_text(record, ("title",))
    abstract = _first_text(record, _ABSTRACT_KEYS)
    missing = [name for name, value in (("title", title), ("abstract", abstract)) if not value]
    if missing or title is None or abstract is None:
        raise ReaderError("record has no " + " and no ".join(f"'{m}'" for m in missing))
    raw_id = _record_id(record)
    paper_id = raw_id if raw_id else title_id(title)
    return Paper(
        id=paper_id,
        title=title,
        abstract=abstract,
        authors=_authors(record),
        published=_published(record),
        url=_url(record, raw_id),
        categories=_categories(record),
        source=source,
    )


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    if isinstance(value, bool) or value is None:
        return names[type(value)]
    if isinstance(value, (int, float)):
        return "number"
    return names.get(type(value), type(value).__name__)


def _add_record(result: ReadResult, path: Path, line: int, record: object) -> None:
    """Append the paper built from ``record``, or a failure saying why it was skipped."""
    if not isinstance(record, dict):
        message = f"record is not a JSON object (got {_json_type(record)})"
        result.failures.append(IngestFailure(str(path), line, message))
        return
    try:
        result.papers.append(paper_from_record(record, source=f"{path}:{line}"))
    except ReaderError as exc:
        result.failures.append(IngestFailure(str(path), line, exc.message))


def read_jsonl(path: Path, text: str) -> ReadResult:
    """Read JSON Lines: one record per line; blank lines skipped; bad lines reported, not fatal."""
    result = ReadResult()
    for line_no, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 is valid
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            message = f"invalid JSON: {exc.msg} at column {exc.colno}"
            result.failures.append(IngestFailure(str(path), line_no, message))
            continue
        except RecursionError:
            result.failures.append(IngestFailure(str(path), line_no, _TOO_DEEP))
            continue
        _add_record(result, path, line_no, record)
    return result


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _array_offsets(text: str, key: str | None) -> list[int] | None:
    """Character offsets of the elements of the top-level array (or of ``doc[key]``).

    Best effort, for line numbers only: returns None if the layout is not what we expect.
    """
    decoder = json.JSONDecoder()
    try:
        i = _skip_ws(text, 0)
        if key is not None:
            if text[i] != "{":
                return None
            i = _skip_ws(text, i + 1)
            while True:
                if text[i] != '"':
                    return None
                name, i = decoder.raw_decode(text, i)
                i = _skip_ws(text, i)
                if text[i] != ":":
                    return None
                i = _skip_ws(text, i + 1)
                if name == key and text[i] == "[":
                    break
                _, i = decoder.raw_decode(text, i)
                i = _skip_ws(text, i)
                if text[i] != ",":
                    return None
                i = _skip_ws(text, i + 1)
        if text[i] != "[":
            return None
        offsets: list[int] = []
        i = _skip_ws(text, i + 1)
        if text[i] == "]":
            return offsets
        while True:
            offsets.append(i)
            _, i = decoder.raw_decode(text, i)
            i = _skip_ws(text, i)
            if text[i] == "]":
                return offsets
            if text[i] != ",":
                return None
            i = _skip_ws(text, i + 1)
    except (ValueError, IndexError):
        return None


_TOO_DEEP = "invalid JSON: nested too deeply to read (a hostile file?)"


def _looks_like_jsonl(text: str) -> bool:
    first = next((line for line in text.split("\n") if line.strip()), "")
    try:
        return isinstance(json.loads(first), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def read_json(path: Path, text: str) -> ReadResult:
    """Read a JSON document: a list of records, or an object holding one under
    ``papers``/``records``/``items``/``data`` (or a single record object).

    ``line`` of each paper/failure is the line where its record starts. A file that is really
    JSON Lines (several top-level objects, one per line) is read as such.
    """
    try:
        doc = json.loads(text)
    except RecursionError:
        return ReadResult(failures=[IngestFailure(str(path), None, _TOO_DEEP)])
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and _looks_like_jsonl(text):
            return read_jsonl(path, text)
        message = f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        return ReadResult(failures=[IngestFailure(str(path), exc.lineno, message)])

    key: str | None = None
    if isinstance(doc, list):
        records: list[Any] = doc
    elif isinstance(doc, dict):
        key = next((k for k in RECORD_LIST_KEYS if isinstance(doc.get(k), list)), None)
        if key is not None:
            records = doc[key]
        elif any(k in doc for k in ("title", "abstract", "summary")):
            start = _skip_ws(text, 0)
            result = ReadResult()
            _add_record(result, path, text.count("\n", 0, start) + 1, doc)
            return result
        else:
            keys = ", ".join(f"'{k}'" for k in RECORD_LIST_KEYS)
            message = f"no records found: expected a list of objects, or an object with {keys}"
            return ReadResult(failures=[IngestFailure(str(path), None, message)])
    else:
        message = f"no records found: expected a list of objects, got a JSON {_json_type(doc)}"
        return ReadResult(failures=[IngestFailure(str(path), None, message)])

    offsets = _array_offsets(text, key)
    if offsets is not None and len(offsets) == len(records):
        newlines = [m.start() for m in re.finditer("\n", text)]
        lines = [bisect.bisect_left(newlines, off) + 1 for off in offsets]
    else:
        lines = list(range(1, len(records) + 1))
    result = ReadResult()
    for line, record in zip(lines, records, strict=True):
        _add_record(result, path, line, record)
    return result
