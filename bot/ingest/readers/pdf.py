"""Reader for PDF papers (``.pdf``): full text with page numbers, via ``pypdf``.

One PDF is one paper:

* **title**: the document metadata ``/Title`` when it looks like a title (two or more words,
  not a file name or "Untitled"), else the largest-font text at the top of the first page;
* **id**: the arXiv id when the first page carries the arXiv stamp (``arXiv:2306.01234v2
  [cs.LG] 6 Jun 2023``: the stamp's date becomes ``published``), else a title hash;
* **abstract**: the paragraph after an "Abstract" heading on the first two pages (up to the
  next heading: "1 Introduction", "Keywords", ...); without such a heading, a paragraph of 30+
  words between the front matter (author and affiliation lines) and the first section heading
  of page 1; otherwise empty (the paper is still searchable and citable by its body);
* **body**: the rest of the text, in reading order, with every page's start recorded in
  :attr:`bot.types.Paper.pages` so that chunks and citations can say "p. 3". Wrapped lines
  are joined into paragraphs (hyphenation at line ends undone), headings become paragraphs of
  their own, running headers/footers and bare page numbers are dropped, and the reference
  list is left out (appendices after it are kept).

Encrypted PDFs that need a password, PDFs with no text layer (scanned images: OCR them
first) and files pypdf cannot parse are reported as failures naming the file and skipped.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ReaderError
from bot.types import Paper, ReadResult, title_id

__all__ = ["read_pdf"]

# A page with fewer characters than this (after removing whitespace) has no usable text.
_MIN_PAGE_CHARS = 40
_MIN_DOCUMENT_CHARS = 200

_ARXIV_STAMP = re.compile(
    r"arXiv:\s*(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?"
    r"(?:\s*\[[^\]]+\])?(?:\s+(?P<day>\d{1,2})\s+(?P<mon>[A-Z][a-z]{2})\s+(?P<year>\d{4}))?"
)
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}

_ABSTRACT_HEAD = re.compile(
    r"^\s*abstract\b\s*(?P<sep>[.:\u2014\u2013-]?)\s*(?P<rest>.*)$", re.IGNORECASE
)
_NAMED_HEADING = re.compile(
    r"^(?:(?:\d+(?:\.\d+)*|[IVX]+|[A-H])\.?\s+)?"
    r"(?:introduction|background|related work|preliminaries|method(?:s|ology)?|approach|"
    r"experiments?|results|evaluation|discussion|conclusions?|limitations|"
    r"acknowledge?ments?|references|bibliography|appendix|appendices|keywords|"
    r"index terms|ccs concepts)\b",
    re.IGNORECASE,
)
_NUMBERED_HEADING = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?|[IVX]+\.|[A-H](?:\.\d+)*\.?)\s+[A-Z][^.]{1,70}$"
)
_REFERENCES = re.compile(r"^(?:\d+\.?\s+)?(?:references|bibliography)\s*$", re.IGNORECASE)
_APPENDIX = re.compile(
    r"^(?:appendix|appendices|supplementary material)\b|^[A-H](?:\.\d+)?\.?\s+[A-Z][^.]{1,70}$",
    re.IGNORECASE,
)
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?\s*$", re.IGNORECASE)
_DOT_LEADER = re.compile(r"(?:\.\s?){5,}\s*\d*\s*$")
_SENTENCE_END = re.compile(r"[.!?:][\"')\]\u201d]*$")


@dataclass
class _Line:
    text: str
    page: int  # 1-based


def read_pdf(path: Path, text: str = "") -> ReadResult:
    """Read one PDF paper (``text`` is unused: PDF is a binary format)."""
    del text
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    try:
        reader = pypdf.PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # owner-password-only PDFs open with no password
            except (DependencyError, NotImplementedError) as exc:
                raise ReaderError(f"encrypted PDF that cannot be decrypted here ({exc})") from exc
            if not opened:
                raise ReaderError("encrypted PDF: a password is needed to read it; skipped")
        n_pages = len(reader.pages)
        if n_pages == 0:
            raise ReaderError("broken PDF: it has no pages")
        info = reader.metadata
        meta_title = str(info.title or "") if info else ""
        meta_author = str(info.author or "") if info else ""
        pages: list[str] = []
        first_page_sizes: list[tuple[float, str]] = []
        for number, page in enumerate(reader.pages, 1):
            visitor = _font_sizes(first_page_sizes) if number == 1 else None
            pages.append(page.extract_text(visitor_text=visitor) or "")
    except ReaderError:
        raise
    except FileNotDecryptedError as exc:
        raise ReaderError("encrypted PDF: a password is needed to read it; skipped") from exc
    except PyPdfError as exc:  # pypdf's base class: LimitReachedError (zlib bombs) included
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        if type(exc).__name__ == "LimitReachedError":
            detail = f"it exceeds pypdf's safety limits ({detail}); a decompression bomb?"
        raise ReaderError(f"broken PDF: {detail}") from exc
    except (ValueError, KeyError, TypeError, AttributeError, OSError, IndexError) as exc:
        raise ReaderError(f"broken PDF: {exc or type(exc).__name__}") from exc

    except RecursionError as exc:
        raise ReaderError("broken PDF: its object structure is cyclic or too deep") from exc

    useful = sum(len("".join(p.split())) for p in pages)
    if useful < _MIN_DOCUMENT_CHARS or all(
        len("".join(p.split())) < _MIN_PAGE_CHARS for p in pages
    ):
        raise ReaderError(
            f"no text layer in this PDF ({n_pages} page(s), {useful} characters of text): "
            "it looks scanned; OCR it first (e.g. ocrmypdf) and ingest the result"
        )
    lines = _clean_lines(pages)
    title = _title(meta_title, first_page_sizes, lines)
    paper_id, url, published = _arxiv_identity(pages[0], title)
    abstract, abstract_page, body_lines = _split_abstract(lines, title)
    body, offsets = _paragraphs(body_lines)
    if not abstract and not body:
        raise ReaderError("no text found after the title")

    text_offset = len(abstract) + 2 if abstract else 0
    page_map: list[list[int]] = [[0, abstract_page]] if abstract else []
    for offset, number in offsets:
        if not page_map or page_map[-1][1] != number:
            page_map.append([text_offset + offset, number])
    paper = Paper(
        id=paper_id,
        title=title,
        abstract=abstract,
        authors=_authors(meta_author),
        published=published,
        url=url,
        source=str(path),
        body=body,
        pages=page_map,
    )
    return ReadResult(papers=[paper])


def _font_sizes(sink: list[tuple[float, str]]):  # type: ignore[no-untyped-def]
    """A pypdf text visitor collecting (effective font size, text) of the first page."""

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if not text.strip():
            return
        scale_tm = max(abs(tm[0]), abs(tm[3])) or 1.0
        scale_cm = max(abs(cm[0]), abs(cm[3])) or 1.0
        sink.append((round(float(size or 0) * scale_tm * scale_cm, 1), text))

    return visit


def _clean_lines(pages: list[str]) -> list[_Line]:
    """All lines in reading order, without running headers/footers and bare page numbers."""
    per_page = [[ln.strip() for ln in page.splitlines()] for page in pages]
    repeated: set[str] = set()
    if len(pages) >= 3:
        counts = Counter(
            _running_key(ln) for page in per_page for ln in set(page) if 0 < len(ln) <= 120
        )
        repeated = {key for key, c in counts.items() if key and c >= max(3, len(pages) // 2)}
    out: list[_Line] = []
    for number, page in enumerate(per_page, 1):
        for ln in page:
            if (
                not ln
                or _PAGE_NUMBER.match(ln)
                or _DOT_LEADER.search(ln)  # a table-of-contents line
                or _running_key(ln) in repeated
            ):
                continue
            out.append(_Line(" ".join(ln.split()), number))
    return out


def _running_key(line: str) -> str:
    """A running header's identity: digits (page numbers) removed."""
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def _plausible_title(text: str) -> bool:
    words = text.split()
    if len(words) < 2 or len(text) > 300:
        return False
    lowered = text.lower()
    if lowered.startswith(("untitled", "microsoft word", "arxiv:")):
        return False
    return not re.search(r"\.(?:dvi|tex|docx?|pdf|ps)$", lowered)


def _title(meta_title: str, sizes: list[tuple[float, str]], lines: list[_Line]) -> str:
    meta_title = " ".join(meta_title.split())
    if _plausible_title(meta_title):
        return meta_title
    if sizes:
        biggest = max(size for size, _ in sizes)
        body_size = statistics.median(size for size, _ in sizes)
        if biggest > body_size:
            parts = [t for size, t in sizes if size >= biggest - 0.5]
            candidate = " ".join(" ".join(parts).split())
            if _plausible_title(candidate):
                return candidate
    for line in lines[:10]:
        if _plausible_title(line.text) and not _ARXIV_STAMP.search(line.text):
            return line.text
    raise ReaderError("no title found (no usable /Title metadata and no title-like first line)")


def _arxiv_identity(first_page: str, title: str) -> tuple[str, str | None, str | None]:
    match = _ARXIV_STAMP.search(first_page)
    if not match:
        return title_id(title), None, None
    arxiv_id = match.group("id")
    published = None
    if match.group("year") and match.group("mon") in _MONTHS:
        published = (
            f"{match.group('year')}-{_MONTHS[match.group('mon')]:02d}-{int(match.group('day')):02d}"
        )
    return arxiv_id, f"https://arxiv.org/abs/{arxiv_id}", published


def _authors(meta_author: str) -> list[str]:
    parts = re.split(r"\s*(?:;|,|\band\b|&)\s*", " ".join(meta_author.split()))
    return [p for p in parts if len(p.split()) >= 2]


def _is_heading(text: str) -> bool:
    if len(text) > 80 or (_SENTENCE_END.search(text) and not _NAMED_HEADING.match(text)):
        return False
    return bool(_NAMED_HEADING.match(text) or _NUMBERED_HEADING.match(text))


def _split_abstract(lines: list[_Line], title: str) -> tuple[str, int, list[_Line]]:
    """(abstract, its page, the lines after it). With no "Abstract" heading on the first two
    pages: no abstract, and the body starts after the title lines."""
    for i, line in enumerate(lines):
        if line.page > 2:
            break
        match = _ABSTRACT_HEAD.match(line.text)
        if not match or _in_title(line.text, title):  # "Abstract Syntax Notation ..." titles
            continue
        if match.group("rest") and not match.group("sep"):
            # "Abstract We propose ..." (no separator) only where a heading can start: not in
            # the middle of a sentence ("... a library for / Abstract Syntax Notation ...")
            before = lines[i - 1].text if i else ""
            if before and not _SENTENCE_END.search(before) and len(before) > 40:
                continue
        parts = [match.group("rest")] if match.group("rest") else []
        end = i + 1
        while end < len(lines) and not _is_heading(lines[end].text):
            parts.append(lines[end].text)
            end += 1
        abstract = _join_wrapped(parts)
        if len(abstract.split()) >= 20:
            return abstract, line.page, lines[end:]
    return _leading_paragraph(_after_title(lines, title))


def _leading_paragraph(lines: list[_Line]) -> tuple[str, int, list[_Line]]:
    """With no "Abstract" heading: the paragraph between the front matter (short lines such
    as authors and affiliations) and the first section heading on page 1, when it is at least
    30 words long, is taken as the abstract (journals often set it without a heading)."""
    widths = [len(ln.text) for ln in lines if len(ln.text) > 20]
    full_width = statistics.median(widths) if widths else 60
    start = 0
    while (
        start < len(lines)
        and len(lines[start].text) < 0.6 * full_width
        and not _SENTENCE_END.search(lines[start].text)
        and not _is_heading(lines[start].text)
    ):
        start += 1
    end = start
    while end < len(lines) and lines[end].page == 1 and not _is_heading(lines[end].text):
        end += 1
    abstract = _join_wrapped([ln.text for ln in lines[start:end]])
    if end < len(lines) and _is_heading(lines[end].text) and len(abstract.split()) >= 30:
        return abstract, 1, lines[end:]
    return "", 1, lines[start:]


def _in_title(text: str, title: str) -> bool:
    line = " ".join(text.lower().split())
    return len(line) > 10 and line in " ".join(title.lower().split())


def _after_title(lines: list[_Line], title: str) -> list[_Line]:
    """Skip the lines at the top of the document that spell out the title."""
    wanted = " ".join(title.lower().split())
    seen = ""
    for i, line in enumerate(lines[:8]):
        seen = f"{seen} {line.text.lower()}".strip()
        if seen == wanted or (seen.endswith(wanted) and len(wanted) > 10):
            return lines[i + 1 :]
    return lines


def _join_wrapped(parts: list[str]) -> str:
    """Join wrapped lines with spaces, undoing end-of-line hyphenation ("exam-" + "ple")."""
    return _join_lines([_Line(p, 0) for p in parts])[0]


def _join_lines(lines: list[_Line]) -> tuple[str, list[tuple[int, int]]]:
    """Joined text and the (offset, page) where each page's part of it starts."""
    out = ""
    marks: list[tuple[int, int]] = []
    for line in lines:
        part = line.text
        if out and re.search(r"[a-z]-$", out) and part[:1].islower():
            out = out[:-1]
        elif out:
            out += " "
        if not marks or marks[-1][1] != line.page:
            marks.append((len(out), line.page))
        out += part
    return out.strip(), marks


def _paragraphs(lines: list[_Line]) -> tuple[str, list[tuple[int, int]]]:
    """Body text (paragraphs separated by blank lines) and (offset, page) where pages start.

    A paragraph ends at a heading, after a line that ends a sentence and is clearly shorter
    than the text width, and at a page break after a sentence end; a paragraph running over a
    page break keeps the page of each of its parts. The reference list (from a "References"
    heading to an appendix heading or the end) is left out."""
    widths = [len(ln.text) for ln in lines if len(ln.text) > 20]
    full_width = statistics.median(widths) if widths else 60
    paragraphs: list[list[_Line]] = []
    current: list[_Line] = []
    in_references = False

    def flush() -> None:
        if current:
            paragraphs.append(list(current))
            current.clear()

    for line in lines:
        if in_references:
            if not (_APPENDIX.match(line.text) and _is_heading(line.text)):
                continue
            in_references = False
        if _REFERENCES.match(line.text):
            flush()
            in_references = True
            continue
        if current and line.page != current[-1].page and _SENTENCE_END.search(current[-1].text):
            flush()
        if _is_heading(line.text):
            flush()
            paragraphs.append([line])
            continue
        current.append(line)
        if _SENTENCE_END.search(line.text) and len(line.text) < 0.75 * full_width:
            flush()
    flush()

    body = ""
    offsets: list[tuple[int, int]] = []
    for paragraph in paragraphs:
        text, marks = _join_lines(paragraph)
        if body:
            body += "\n\n"
        for offset, page in marks:
            if not offsets or offsets[-1][1] != page:
                offsets.append((len(body) + offset, page))
        body += text
    return body, offsets
