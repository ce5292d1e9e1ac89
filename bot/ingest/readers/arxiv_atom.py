"""Reader for arXiv API responses: Atom XML (``.xml``, ``.atom``) as saved from
``http://export.arxiv.org/api/query?search_query=...``.

One ``<entry>`` is one paper:

=========== ==========================================================================
field       from
=========== ==========================================================================
id          ``<id>http://arxiv.org/abs/2306.01234v2</id>`` -> ``2306.01234`` (version
            dropped; old-style ids such as ``hep-th/9901001`` kept); a non-arXiv ``<id>``
            is kept as given
title       ``<title>`` (required; arXiv's hard line wraps collapsed to single spaces)
abstract    ``<summary>`` (required; whitespace collapsed the same way)
authors     ``<author><name>`` in order
published   ``<published>`` (else ``<updated>``) as ISO ``YYYY-MM-DD``
url         ``<link rel="alternate" href=...>`` (the abs page), else the ``<id>`` URL
categories  ``<arxiv:primary_category term=...>`` first, then every ``<category term=...>``
=========== ==========================================================================

Safety: documents with a ``<!DOCTYPE`` or an ``<!ENTITY`` declaration are refused before any
entity is expanded (the "billion laughs" and external-entity attacks need one), and external
entities are never fetched. The parser is the stdlib's expat, driven directly so that every
entry's line number is known.

Failures: malformed XML is one failure at the line expat stopped at; an entry without a title
or summary is a failure naming the entry (number, line and id) while the other entries are
read; an arXiv error feed (an entry titled ``Error``) is reported as the error it states; a
feed with no entries and ``<opensearch:totalResults>0`` says the query found nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from xml.parsers import expat

from bot.errors import ReaderError
from bot.ingest.readers.jsonrecords import arxiv_base_id, paper_from_record
from bot.types import IngestFailure, ReadResult

__all__ = ["ATOM_NS", "read_arxiv_atom"]

ATOM_NS = "http://www.w3.org/2005/Atom"
_ARXIV_NS = "http://arxiv.org/schemas/atom"
_OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"
_ERROR_ID = "http://arxiv.org/api/errors"


def _atom(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


class _Refused(Exception):
    """A construct we refuse to parse (DTDs and entity declarations)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _qname(name: str) -> str:
    """expat's ``"namespace}local"`` (namespace_separator ``}``) as ElementTree's ``{ns}local``."""
    return f"{{{name}" if "}" in name else name


def parse_xml(text: str) -> tuple[ET.Element, dict[int, int]]:
    """Parse ``text`` into an ElementTree element, refusing DTDs and entity declarations.

    Returns the root and a map ``id(element) -> line of its start tag``. Raises
    :class:`~bot.errors.ReaderError` (with the line) for malformed or refused documents.
    """
    builder = ET.TreeBuilder()
    lines: dict[int, int] = {}
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def start(name: str, attrs: dict[str, str]) -> None:
        element = builder.start(_qname(name), {_qname(k): v for k, v in attrs.items()})
        lines[id(element)] = parser.CurrentLineNumber

    def refuse_doctype(*_: object) -> None:
        raise _Refused(
            "refused: the XML has a <!DOCTYPE> declaration (DTDs and entities are not "
            "accepted, as a guard against entity-expansion attacks)",
            parser.CurrentLineNumber,
        )

    def refuse_entity(*_: object) -> None:
        raise _Refused(
            "refused: the XML declares an <!ENTITY> (entities are not accepted, as a guard "
            "against entity-expansion attacks)",
            parser.CurrentLineNumber,
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: builder.end(_qname(name))
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    try:
        parser.Parse(text, True)
    except _Refused as exc:
        raise ReaderError(exc.message, line=exc.line) from None
    except RecursionError:
        raise ReaderError("malformed XML: elements nested too deeply (a hostile file?)") from None
    except expat.ExpatError as exc:
        where = f"line {exc.lineno}, column {exc.offset + 1}"
        message = f"malformed XML: {expat.ErrorString(exc.code)} ({where})"
        if exc.code == expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]:
            message += ": the document ends before its elements are closed (truncated?)"
        raise ReaderError(message, line=exc.lineno) from None
    return builder.close(), lines


def _text(parent: ET.Element, tag: str) -> str:
    element = parent.find(tag)
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _url(entry: ET.Element, raw_id: str) -> str | None:
    links = entry.findall(_atom("link"))
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
    return raw_id if raw_id.startswith(("http://", "https://")) else None


def _categories(entry: ET.Element) -> list[str]:
    terms = [el.get("term", "") for el in entry.findall(f"{{{_ARXIV_NS}}}primary_category")]
    terms += [el.get("term", "") for el in entry.findall(_atom("category"))]
    return list(dict.fromkeys(t.strip() for t in terms if t.strip()))


def _read_entry(path: Path, number: int, line: int, entry: ET.Element, result: ReadResult) -> None:
    raw_id = _text(entry, _atom("id"))
    title, summary = _text(entry, _atom("title")), _text(entry, _atom("summary"))
    if raw_id.startswith(_ERROR_ID) or (title == "Error" and "arxiv.org/api" in raw_id):
        message = f"arXiv API error: {summary or raw_id}"
        result.failures.append(IngestFailure(str(path), line, message))
        return
    paper_id = arxiv_base_id(raw_id) or raw_id or None
    missing = [f"<{name}>" for name, value in (("title", title), ("summary", summary)) if not value]
    if missing:
        label = f"id {paper_id}" if paper_id else "no <id>"
        message = f"entry {number} ({label}) has no {' and no '.join(missing)}"
        result.failures.append(IngestFailure(str(path), line, message))
        return
    record = {
        "id": paper_id,
        "title": title,
        "abstract": summary,
        "authors": [_text(a, _atom("name")) for a in entry.findall(_atom("author"))],
        "published": _text(entry, _atom("published")) or _text(entry, _atom("updated")),
        "url": _url(entry, raw_id),
        "categories": _categories(entry),
    }
    result.papers.append(paper_from_record(record, source=f"{path}:{line}"))


def read_arxiv_atom(path: Path, text: str) -> ReadResult:
    """Read an arXiv API Atom feed (see the module docstring)."""
    root, lines = parse_xml(text)
    if root.tag == _atom("entry"):
        entries = [root]
    elif root.tag == _atom("feed"):
        entries = root.findall(_atom("entry"))
    else:
        raise ReaderError(f"not an Atom feed: the root element is <{root.tag}>", line=1)
    result = ReadResult()
    if not entries:
        total = _text(root, f"{{{_OPENSEARCH_NS}}}totalResults")
        if total == "0":
            message = "no papers found: the arXiv query returned 0 results (totalResults is 0)"
            result.failures.append(IngestFailure(str(path), None, message))
        return result
    for number, entry in enumerate(entries, start=1):
        _read_entry(path, number, lines.get(id(entry), 0) or 1, entry, result)
    return result
