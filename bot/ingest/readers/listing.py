"""Reader for plain-text paper listings (``.txt``, ``.md``): title line, blank line, abstract.

The typical input is a "trending papers" web page saved as text::

    Get trending papers in your email inbox!      <- header noise

    Jun 6                                         <- date line (header)

    Some Paper Title                              <- title block: one short line

    We study ... It shows ... (one paragraph,     <- abstract block: >= 30 words, has a
    possibly wrapped over several lines)             sentence; wrapped lines joined by spaces

The text is split into *blocks* separated by blank lines, and a paper is a **title-like block
immediately followed by an abstract-like block**. No header strings are hard-coded: header and
footer lines ("Subscribe", "byAK and the research community", dates) never form such a pair,
so they are dropped silently.

* title-like: a single line of at most 300 characters with at least two words containing
  letters; not a date; not ending in ``,``/``;``/``:``, nor in a period unless that period
  belongs to an abbreviation (``et al.``, ``U.S.``) or an ellipsis.
* abstract-like: at least 30 words and at least one sentence end (``.``/``!``/``?`` followed
  by a space or the end).

Skipped records are reported as :class:`~bot.types.IngestFailure` only where they look like
lost papers, so that header noise stays silent:

* a title-like block followed by a *short paragraph* (3..29 words, starting with a capital,
  ending with a period): ``paper 'T' has no abstract (paragraph too short)``, anywhere;
* between the first and the last paper found (the body), also a title-like block with no
  paragraph after it, and a long paragraph with no title line before it.

Text that has a few such pairs but not the listing's shape - a README or notes copied into
the input folder - gives no papers and one failure saying it is not a paper format: from the
first paper to the last, at least half of the blocks must belong to papers, and there must be
no Markdown code fences or table rows.

Abstracts are kept verbatim apart from stripping each line and joining wrapped lines with one
space, so citations can quote them exactly. A header date with a year (``2024-06-06``,
``June 6, 2024``) becomes ``published`` of every paper when it is the only date in the header;
a date without a year (``Jun 6``) is not completed with a guessed year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.ingest.readers.jsonrecords import parse_date
from bot.types import IngestFailure, Paper, ReadResult, title_id

__all__ = ["MAX_TITLE_CHARS", "MIN_ABSTRACT_WORDS", "read_listing"]

#: A title is one line of at most this many characters.
MAX_TITLE_CHARS = 300
#: An abstract has at least this many words; shorter paragraphs after a title are reported.
MIN_ABSTRACT_WORDS = 30
_MIN_SHORT_PARAGRAPH_WORDS = 3

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE_LINE = re.compile(
    "|".join(
        (
            rf"{_WEEKDAY}{_MONTH}\s+{_DAY}(?:,?\s+\d{{4}})?",
            rf"{_WEEKDAY}{_DAY}\s+{_MONTH}(?:,?\s+\d{{4}})?",
            rf"{_MONTH},?\s+\d{{4}}",
            r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}",
            r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}",
        )
    ),
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s|$)")
_SHORT_PARAGRAPH_END = re.compile(r"\.[\"'\u201d\u2019)\]]*$")
_ABBREVIATIONS = frozenset(
    "al. etc. vs. e.g. i.e. cf. inc. ltd. co. corp. jr. sr. st. no. vol. pp. approx. fig.".split()
)
_MD_HEADING = re.compile(r"^#{1,6}\s+")
# Markdown that no listing has: code fences and table rows (| a | b |, |---|---|)
_MARKUP_LINE = re.compile(r"^(?:```|~~~|\|.*\|$)")


@dataclass
class _Block:
    """A run of non-blank lines (stripped), and the 1-based line number of its first line."""

    line: int
    lines: list[str]

    @property
    def text(self) -> str:
        """The block's lines joined with single spaces (wrapped paragraphs become one)."""
        return " ".join(self.lines)


def _split_blocks(text: str) -> list[_Block]:
    """Split ``text`` at blank lines (whitespace-only lines count as blank)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[_Block] = []
    current: _Block | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            current = None
        elif current is None:
            current = _Block(number, [line])
            blocks.append(current)
        else:
            current.lines.append(line)
    return blocks


def _title_text(block: _Block) -> str:
    """The block as a title: Markdown heading marks removed, whitespace runs collapsed."""
    return " ".join(_MD_HEADING.sub("", block.text).split())


def _is_date_line(text: str) -> bool:
    return _DATE_LINE.fullmatch(" ".join(text.split())) is not None


def _ends_with_abbreviation(text: str) -> bool:
    if text.endswith(("...", "\u2026")):
        return True
    last = text.split()[-1].lower()
    return last in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.){2,}", last) is not None


def _is_title_like(block: _Block) -> bool:
    """One short line that reads like a title (see the module docstring)."""
    if len(block.lines) != 1:
        return False
    title = _title_text(block)
    if not title or len(title) > MAX_TITLE_CHARS or _is_date_line(title):
        return False
    if sum(1 for word in title.split() if any(ch.isalpha() for ch in word)) < 2:
        return False
    if title[-1] in ",;:" or re.match(r"(?:https?://|www\.)\S+$", title):
        return False
    return not title.endswith(".") or _ends_with_abbreviation(title)


def _is_abstract_like(block: _Block) -> bool:
    """A paragraph long enough to be an abstract, with at least one sentence."""
    text = block.text
    return len(text.split()) >= MIN_ABSTRACT_WORDS and _SENTENCE_END.search(text) is not None


def _is_short_paragraph(block: _Block) -> bool:
    """Prose too short to be an abstract: a capitalised sentence of a few words ending in '.'."""
    text = block.text
    n_words = len(text.split())
    return (
        _MIN_SHORT_PARAGRAPH_WORDS <= n_words < MIN_ABSTRACT_WORDS
        and text[0].isupper()
        and _SHORT_PARAGRAPH_END.search(text) is not None
        and not _is_title_like(block)
    )


def _header_date(blocks: list[_Block]) -> str | None:
    """The ISO date of the header's date line, when exactly one full date is given there."""
    dates = [b.text for b in blocks if len(b.lines) == 1 and _is_date_line(b.text)]
    parsed = {parse_date(d) for d in dates}
    if len(parsed) != 1:
        return None
    (iso,) = parsed
    return iso if iso is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso) else None


def _shape_problem(blocks: list[_Block], pairs: list[int]) -> str | None:
    """Why text with title/abstract pairs is still not a listing, or None when it is one.

    From the first paper to the last (the body), at least half of the blocks must belong to
    papers, and no line may be Markdown code (a fence) or a table row: a README or notes
    file has a few heading + paragraph pairs among lists, tables and code."""
    if not pairs:
        return None
    body = blocks[pairs[0] : pairs[-1] + 2]
    paired = 2 * len(pairs)
    markup = sum(1 for b in body for line in b.lines if _MARKUP_LINE.match(line))
    if paired * 2 >= len(body) and not markup:
        return None
    found = f"{len(pairs)} title/abstract pair{'s' if len(pairs) != 1 else ''}"
    detail = f"{found} among {len(body)} text blocks"
    if markup:
        detail += f" and {markup} lines of Markdown code or tables"
    return (
        f"not a paper format: as a listing it has only {detail} (a listing is a title line, "
        "a blank line and an abstract paragraph, repeated); nothing read from it"
    )


def read_listing(path: Path, text: str) -> ReadResult:
    """Read a plain-text listing of papers (see the module docstring for the rules)."""
    where = str(path)
    blocks = _split_blocks(text)
    title_like = [_is_title_like(b) for b in blocks]
    abstract_like = [_is_abstract_like(b) for b in blocks]

    pairs: list[int] = []  # index of each paper's title block; its abstract is the next block
    i = 0
    while i < len(blocks) - 1:
        if title_like[i] and abstract_like[i + 1]:
            pairs.append(i)
            i += 2
        else:
            i += 1

    result = ReadResult()
    problem = _shape_problem(blocks, pairs)
    if problem is not None:  # some other text (a README, notes): no papers from it
        result.failures.append(IngestFailure(where, None, problem))
        return result
    published = _header_date(blocks[: pairs[0]]) if pairs else None
    consumed = set(pairs) | {p + 1 for p in pairs}
    for p in pairs:
        title, abstract = _title_text(blocks[p]), blocks[p + 1].text
        result.papers.append(
            Paper(
                id=title_id(title),
                title=title,
                abstract=abstract,
                published=published,
                source=f"{where}:{blocks[p].line}",
            )
        )

    body_start, body_end = (pairs[0], pairs[-1] + 1) if pairs else (0, -1)
    for idx, block in enumerate(blocks):
        if idx in consumed:
            continue
        in_body = body_start < idx < body_end
        nxt = blocks[idx + 1] if idx + 1 < len(blocks) and idx + 1 not in consumed else None
        if title_like[idx]:
            title = _title_text(block)
            if nxt is not None and _is_short_paragraph(nxt):
                message = f"paper '{title}' has no abstract (paragraph too short)"
                result.failures.append(IngestFailure(where, block.line, message))
                consumed.add(idx + 1)
            elif in_body:
                message = f"paper '{title}' has no abstract"
                result.failures.append(IngestFailure(where, block.line, message))
        elif in_body and abstract_like[idx]:
            message = "paragraph without a title line before it (title missing or too long?)"
            result.failures.append(IngestFailure(where, block.line, message))

    if not result.papers and not result.failures:
        message = "no papers found: expected title lines, each followed by an abstract paragraph"
        result.failures.append(IngestFailure(where, None, message))
    return result
