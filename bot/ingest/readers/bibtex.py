"""Reader for BibTeX (``.bib``) files, with a small error-tolerant parser of its own.

Syntax understood: entries ``@type{key, field = value, ...}`` (or with parentheses) where a
value is ``{...}`` (nested braces), ``"..."``, a number or a macro name, joined by ``#``;
``@string{name = value}`` macros (plus the standard month macros ``jan``..``dec``);
``@comment``/``@preamble`` and any text between entries are ignored, as are ``%`` line
comments between fields. Entry types, field names and macro names are case-insensitive.

Mapping to :class:`~bot.types.Paper`:

=========== ==========================================================================
field       from
=========== ==========================================================================
id          arXiv id of ``eprint`` (or of an arXiv DOI ``10.48550/arXiv.<id>``), version
            dropped; else ``doi:<doi>``; else :func:`~bot.types.title_id` of the title
title       ``title`` (required)
abstract    ``abstract`` (required: entries without one are reported, not ingested)
authors     ``author`` split on ``and``; ``"Last, First"`` -> ``"First Last"``; ``others``
            dropped
published   ``year`` (+ ``month``) -> ``YYYY`` / ``YYYY-MM``; else biblatex ``date``
url         ``url``; else ``https://doi.org/<doi>``; else the arXiv abs page
categories  ``primaryclass`` (arXiv category)
=========== ==========================================================================

Titles, abstracts and names are LaTeX source: :func:`bot.text.latex.latex_to_text` turns accents
into Unicode, drops braces, and turns ``--`` into an en dash, ``~`` into a space, ``\\&``
into ``&``; inline math stays readable (``$x^2$`` -> ``x^2``).

Errors name the file, the entry's line and key, and the field: an unterminated entry
(unbalanced braces or quotes) is reported at the line where it starts and parsing resumes at
the next line starting with ``@``, so the entries after it are still read.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.ingest.readers.jsonrecords import arxiv_base_id, paper_from_record, parse_date
from bot.ingest.readers.names import person_name_from_parts
from bot.text.latex import latex_to_text
from bot.types import IngestFailure, Paper, ReadResult

__all__ = ["BibEntry", "parse_bibtex", "read_bibtex"]

_MONTH_NAMES = (
    "January February March April May June July August September October November December"
).split()
_MONTH_MACROS = {name[:3].lower(): name for name in _MONTH_NAMES}
_ENTRY_START = re.compile(r"@\s*([A-Za-z][\w-]*)\s*([{(])")
_LINE_START_AT = re.compile(r"^[ \t]*@", re.MULTILINE)
_NAME = re.compile(r"[^\s=,{}()\"#%]+")
_NUMBER = re.compile(r"\d+")
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.IGNORECASE)
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


class _SyntaxProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class BibEntry:
    """One parsed entry: its type and key, the line of its ``@``, and its raw field values.

    A value is a list of parts: ``("text", s)`` for braced/quoted/numeric pieces (braces
    inside kept) and ``("macro", name)`` for macro references, in ``#`` order.
    """

    type: str
    key: str
    line: int
    fields: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"entry '{self.key}'" if self.key else f"@{self.type} entry (no key)"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.macros: dict[str, str] = dict(_MONTH_MACROS)

    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def skip(self, pos: int) -> int:
        """Skip whitespace and ``%`` line comments."""
        text = self.text
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
            elif text[pos] == "%":
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end + 1
            else:
                break
        return pos

    def closing(self, pos: int, what: str) -> int:
        """``pos`` at ``{`` or ``"``: the position after the matching ``}`` or closing quote
        (a quote only closes at brace depth 0; ``\\{`` and ``\\}`` do not count)."""
        text = self.text
        quoted = text[pos] == '"'
        depth = 0 if quoted else 1
        pos += 1
        while pos < len(text):
            ch = text[pos]
            if ch == "\\":
                pos += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0 and not quoted:
                    return pos + 1
                if depth < 0:
                    raise _SyntaxProblem(f"{what} has an unbalanced '}}' inside quotes")
            elif ch == '"' and quoted and depth == 0:
                return pos + 1
            pos += 1
        problem = "unterminated quotes or unbalanced braces" if quoted else "unbalanced braces"
        raise _SyntaxProblem(f"{what} never closes: {problem}")

    def value(self, pos: int, what: str) -> tuple[list[tuple[str, str]], int]:
        """Parse ``part # part # ...``; returns the parts and the position after them."""
        parts: list[tuple[str, str]] = []
        text = self.text
        while True:
            pos = self.skip(pos)
            ch = text[pos] if pos < len(text) else ""
            where = f"{what} (line {self.line(pos)})"
            if ch in '{"':
                end = self.closing(pos, f"{what}, opened at line {self.line(pos)},")
                parts.append(("text", text[pos + 1 : end - 1]))
            elif m := _NUMBER.match(text, pos):
                end = m.end()
                parts.append(("text", m.group()))
            elif m := _NAME.match(text, pos):
                end = m.end()
                parts.append(("macro", m.group().lower()))
            else:
                found = repr(ch) if ch else "the end of the file"
                raise _SyntaxProblem(f"{where} has no value: found {found}")
            pos = self.skip(end)
            if pos < len(text) and text[pos] == "#":
                pos += 1
                continue
            return parts, pos

    def entry(self, match: re.Match[str], start_line: int) -> tuple[BibEntry, int]:
        """Parse the entry whose ``@type{`` is ``match``; returns it and the position after."""
        text = self.text
        kind, close = match.group(1).lower(), "}" if match.group(2) == "{" else ")"
        entry = BibEntry(kind, "", start_line)
        pos = self.skip(match.end())
        if kind != "string":
            end = pos
            while end < len(text) and text[end] not in ",}) \t\r\n":
                end += 1
            entry.key = text[pos:end]
            pos = self.skip(end)
            if pos < len(text) and text[pos] == close:
                return entry, pos + 1
            if pos >= len(text) or text[pos] != ",":
                raise _SyntaxProblem(f"{entry.label}: expected ',' after the key")
            pos += 1
        last_field = "the key"
        while True:
            pos = self.skip(pos)
            if pos < len(text) and text[pos] == close:
                return entry, pos + 1
            m = _NAME.match(text, pos)
            if m is None:
                raise self.unexpected(entry, pos, last_field, close)
            name = m.group().lower()
            pos = self.skip(m.end())
            if pos >= len(text) or text[pos] != "=":
                raise _SyntaxProblem(
                    f"{entry.label}: field '{name}' (line {self.line(m.start())}) has no '='"
                )
            parts, pos = self.value(pos + 1, f"{entry.label}: field '{name}'")
            entry.fields[name] = parts
            last_field = f"field '{name}'"
            if pos < len(text) and text[pos] == ",":
                pos += 1
            elif pos >= len(text) or text[pos] != close:
                raise self.unexpected(entry, pos, last_field, close)

    def unexpected(self, entry: BibEntry, pos: int, after: str, close: str) -> _SyntaxProblem:
        if pos >= len(self.text):
            return _SyntaxProblem(f"{entry.label} is not terminated: no closing '{close}'")
        line = self.line(pos)
        if self.text[pos] == "@":
            return _SyntaxProblem(
                f"{entry.label} is not terminated before the next entry at line {line} "
                "(unbalanced braces?)"
            )
        return _SyntaxProblem(
            f"{entry.label}: expected ',' or '{close}' after {after}, found "
            f"{self.text[pos]!r} at line {line}"
        )


def _next_entry_line(text: str, at: int) -> int:
    """Where to resume after the entry at ``at``: the next line starting with ``@``."""
    resync = _LINE_START_AT.search(text, at + 1)
    return resync.end() - 1 if resync else len(text)


def parse_bibtex(text: str) -> tuple[list[BibEntry], list[tuple[int, str]], dict[str, str]]:
    """Parse BibTeX text into entries, problems ``(line, message)`` and the macro table.

    ``@string`` macros are expanded into the table as they are met; ``@comment`` and
    ``@preamble`` are skipped. After a syntax problem, parsing resumes at the next line that
    starts with ``@``.
    """
    parser = _Parser(text)
    entries: list[BibEntry] = []
    problems: list[tuple[int, str]] = []
    pos = 0
    while (at := text.find("@", pos)) >= 0:
        match = _ENTRY_START.match(text, at)
        if match is None:
            pos = at + 1
            continue
        kind, line = match.group(1).lower(), parser.line(at)
        try:
            if kind in {"comment", "preamble"}:
                if match.group(2) == "{":
                    pos = parser.closing(match.end() - 1, f"@{kind} at line {line}")
                else:  # @comment(...): skip to the next line starting with "@"
                    pos = _next_entry_line(text, at)
                continue
            entry, pos = parser.entry(match, line)
            if kind == "string":
                for name, parts in entry.fields.items():
                    parser.macros[name] = _expand(parts, parser.macros, f"@string '{name}'")
            else:
                entries.append(entry)
        except _SyntaxProblem as exc:
            problems.append((line, exc.message))
            pos = _next_entry_line(text, at)
    return entries, problems, parser.macros


def _expand(parts: list[tuple[str, str]], macros: dict[str, str], what: str) -> str:
    """A value's parts joined, macros replaced; raises for an undefined macro."""
    out = []
    for kind, value in parts:
        if kind == "macro" and value not in macros:
            raise _SyntaxProblem(f"{what} uses the undefined macro '{value}'")
        out.append(macros[value] if kind == "macro" else value)
    return "".join(out)


def _split_outside_braces(value: str, separator: str) -> list[str]:
    """Split ``value`` at matches of the regex ``separator`` that are outside braces."""
    parts, depth, start = [], 0, 0
    for m in re.finditer(rf"[{{}}]|{separator}", value, re.IGNORECASE):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
        elif depth == 0:
            parts.append(value[start : m.start()])
            start = m.end()
    parts.append(value[start:])
    return parts


def _split_authors(value: str) -> list[str]:
    """Split at `` and `` outside braces (``{Barnes and Noble}`` stays one name); each name's
    ``"Last, First"`` is split on commas outside braces, before braces are dropped."""
    out = []
    for raw in _split_outside_braces(value, r"\s+and\s+"):
        name = person_name_from_parts([latex_to_text(p) for p in _split_outside_braces(raw, ",")])
        if name and name.lower() != "others":
            out.append(name)
    return out


def _published(fields: dict[str, str]) -> str | None:
    year = " ".join(fields.get("year", "").split())
    if not year:
        date = fields.get("date", "").strip()
        return (parse_date(date) or date) if date else None
    month = " ".join(fields.get("month", "").replace("~", " ").split()).rstrip(".")
    if month.isdigit() and 1 <= int(month) <= 12:
        return f"{year}-{int(month):02d}"
    if month:
        return parse_date(f"{month} {year}") or parse_date(year) or year
    return parse_date(year) or year


def _ids(fields: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    """``(arxiv_id, doi, url)`` from the entry's fields."""
    doi = _DOI_PREFIX.sub("", fields.get("doi", "").strip()) or None
    arxiv = None
    eprint = fields.get("eprint", "").strip()
    if eprint:
        arxiv = arxiv_base_id(eprint)
    if arxiv is None and doi and (m := _ARXIV_DOI.match(doi)):
        arxiv = arxiv_base_id(m.group(1))
    url = fields.get("url", "").strip() or None
    if url is None and doi:
        url = f"https://doi.org/{doi}"
    if url is None and arxiv:
        url = f"https://arxiv.org/abs/{arxiv}"
    return arxiv, doi, url


_USED_FIELDS = ("title", "abstract", "author", "year", "month", "date")
_ID_FIELDS = ("eprint", "doi", "url", "primaryclass")


def _read_entry(macros: dict[str, str], entry: BibEntry, path: Path) -> Paper | str:
    """The entry's Paper, or an error message naming the entry and field."""
    values: dict[str, str] = {}
    try:
        for name in (*_USED_FIELDS, *_ID_FIELDS):
            if name in entry.fields:
                values[name] = _expand(entry.fields[name], macros, f"{entry.label}: field '{name}'")
    except _SyntaxProblem as exc:
        return exc.message
    title = latex_to_text(values.get("title", ""))
    abstract = latex_to_text(values.get("abstract", ""))
    missing = [name for name, value in (("title", title), ("abstract", abstract)) if not value]
    if missing:
        return f"{entry.label} has no {' and no '.join(missing)}"
    arxiv, doi, url = _ids(values)
    primary = values.get("primaryclass", "").strip()
    record = {
        "id": arxiv or (f"doi:{doi}" if doi else None),
        "title": title,
        "abstract": abstract,
        "authors": _split_authors(values.get("author", "")),
        "published": _published(values),
        "url": url,
        "categories": [primary] if primary else [],
    }
    return paper_from_record(record, source=f"{path}:{entry.line}")


def read_bibtex(path: Path, text: str) -> ReadResult:
    """Read a ``.bib`` file (see the module docstring)."""
    entries, problems, macros = parse_bibtex(text)
    result = ReadResult()
    found: list[tuple[int, Paper | str]] = [(line, message) for line, message in problems]
    found += [(entry.line, _read_entry(macros, entry, path)) for entry in entries]
    for line, item in sorted(found, key=lambda pair: pair[0]):
        if isinstance(item, str):
            result.failures.append(IngestFailure(str(path), line, item))
        else:
            result.papers.append(item)
    return result
