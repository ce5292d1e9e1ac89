"""Plain data types that flow through the pipeline.

ingest -> :class:`Paper` -> chunk -> :class:`Chunk` -> store -> retrieve -> :class:`SearchHit`
-> generate -> verify -> :class:`Answer` (with :class:`Citation` objects, never strings).

They are dataclasses with ``to_dict()`` giving exactly the JSON shapes the CLI's ``--json``
and the HTTP API print.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "IngestFailure",
    "IngestReport",
    "Paper",
    "ReadResult",
    "SearchHit",
    "Sentence",
    "normalise_title",
    "title_id",
]

Mode = Literal["openai", "local", "extractive"]


def normalise_title(title: str) -> str:
    """Lower-case, accent-folded, punctuation-free, single-spaced title (for ids and matching)."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(text.split())


def title_id(title: str) -> str:
    """Stable paper id for records without an id: a hash of the normalised title."""
    digest = hashlib.sha256(normalise_title(title).encode("utf-8")).hexdigest()
    return f"t-{digest[:16]}"


@dataclass
class Paper:
    """One paper: the unit users ingest, list, cite and summarise."""

    id: str
    title: str
    abstract: str
    authors: list[str] = field(default_factory=list)
    published: str | None = None  # ISO date (YYYY-MM-DD) when known, else free text
    url: str | None = None
    categories: list[str] = field(default_factory=list)
    source: str | None = None  # file the record came from (path[:line])
    # Full text (PDF): the document after the abstract, "" for metadata-only records.
    body: str = ""
    # Where each page starts in :attr:`text`: ``[[offset, page_number], ...]`` ascending by
    # offset; empty when pages are unknown (metadata records).
    pages: list[list[int]] = field(default_factory=list)
    # The library's record keeping (see bot.library); none of it is part of content_hash.
    # Other ids the same paper arrived under (another source's id: arXiv, DOI, title hash).
    aliases: list[str] = field(default_factory=list)
    # Every input merged into this record, as "absolute/path:line".
    sources: list[str] = field(default_factory=list)
    # When the record was first stored (ISO 8601, UTC).
    added: str | None = None
    # Content hashes of the input records merged into it: reading one again is "unchanged".
    inputs: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The citable text: the abstract, then (full-text papers) a blank line and the body.

        Sentence indices and character offsets of chunks and citations refer to this text; for
        a metadata record it is exactly the abstract."""
        if not self.body:
            return self.abstract
        return f"{self.abstract}\n\n{self.body}" if self.abstract else self.body

    def page_at(self, offset: int) -> int | None:
        """The page number holding character ``offset`` of :attr:`text` (None: unknown)."""
        page = None
        for start, number in self.pages:
            if start > offset:
                break
            page = int(number)
        return page

    @property
    def content_hash(self) -> str:
        """Hash of everything that affects chunks and display (not ``source``)."""
        fields: list[Any] = [
            self.title,
            self.abstract,
            self.authors,
            self.published,
            self.url,
            self.categories,
        ]
        if self.body or self.pages:  # metadata records keep the hashes they always had
            fields += [self.body, self.pages]
        payload = json.dumps(fields, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @property
    def n_pages(self) -> int:
        return len({int(number) for _, number in self.pages})

    def to_dict(self, full: bool = True) -> dict[str, Any]:
        """Every field (``full``), or the listing form: no body and page map, but
        ``full_text``/``n_pages`` saying whether there is more."""
        data = asdict(self)
        if not full:
            data.pop("body")
            data.pop("pages")
            data.pop("inputs")
            data["full_text"] = bool(self.body)
            data["n_pages"] = self.n_pages
        return data


@dataclass(frozen=True)
class Sentence:
    """A sentence of a text, with its character offsets: ``text == source[start:end]``."""

    index: int
    text: str
    start: int
    end: int


@dataclass
class Chunk:
    """A token-bounded run of whole sentences of one paper's abstract."""

    id: str
    paper_id: str
    index: int  # position of the chunk within the paper
    text: str  # the sentences, verbatim, joined as in the abstract
    sentence_start: int  # index of the first sentence (inclusive)
    sentence_end: int  # index after the last sentence (exclusive)
    char_start: int
    char_end: int
    n_tokens: int
    page: int | None = None  # page of the first sentence (full-text papers)


@dataclass
class SearchHit:
    """One retrieved paper, with the chunk(s) that matched best."""

    paper: Paper
    score: float
    text: str  # best-matching chunk text
    chunk_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "paper_id": self.paper.id,
            "title": self.paper.title,
            "score": round(float(self.score), 6),
            "text": self.text,
        }


@dataclass
class Citation:
    """A numbered citation: a verbatim sentence of the cited paper's text, or a run of 2-3
    adjacent sentences (``quote == Paper.text[start:end]``)."""

    n: int
    paper_id: str
    title: str
    quote: str
    sentence_index: int  # index of the quoted sentence in the paper's text (its abstract)
    start: int  # character offsets of the quote in the paper's text (Paper.text)
    end: int
    url: str | None = None
    page: int | None = None  # page of the quoted sentence (full-text papers), e.g. "p. 3"
    # last sentence of a quote spanning adjacent sentences (None: the one sentence)
    last_sentence_index: int | None = None

    @property
    def display(self) -> str:
        """The quote as shown to people: LaTeX debris cleaned (``D{=}1`` -> ``D=1``). The
        data stays :attr:`quote`, verbatim, so ``text[start:end] == quote`` holds."""
        from bot.text.latex import clean_latex

        return clean_latex(self.quote)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Citation:
        """Inverse of :meth:`to_dict` (``display`` is derived, not stored)."""
        return cls(**{k: v for k, v in data.items() if k in _CITATION_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "paper_id": self.paper_id,
            "title": self.title,
            "quote": self.quote,
            "display": self.display,
            "sentence_index": self.sentence_index,
            "last_sentence_index": (
                self.sentence_index
                if self.last_sentence_index is None
                else self.last_sentence_index
            ),
            "start": self.start,
            "end": self.end,
            "url": self.url,
            "page": self.page,
        }


_CITATION_FIELDS = frozenset(
    ("n", "paper_id", "title", "quote", "sentence_index", "start", "end", "url", "page")
)


@dataclass
class Answer:
    """The result of ``ask``: text with ``[n]`` markers plus the citations they point at."""

    question: str
    answer: str
    citations: list[Citation]
    abstained: bool
    supported: int
    total: int
    mode: Mode
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retrieved: list[str] = field(default_factory=list)  # paper ids handed to the generator
    prompt_hash: str | None = None
    fallback_from: str | None = None  # mode whose answer was rejected, when we fell back
    draft: str | None = None  # the model's raw output, before verification (never shown as is)
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "citations": [c.to_dict() for c in self.citations],
            "abstained": self.abstained,
            "verified": {"supported": self.supported, "total": self.total},
            "mode": self.mode,
            "model": self.model,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
            "retrieved": list(self.retrieved),
            "prompt_hash": self.prompt_hash,
            "fallback_from": self.fallback_from,
            "draft": self.draft,
            "notes": list(self.notes),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


@dataclass
class IngestFailure:
    path: str
    line: int | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "error": self.error}


@dataclass
class ReadResult:
    """What a reader got out of one file: the papers, and the records it had to skip."""

    papers: list[Paper] = field(default_factory=list)
    failures: list[IngestFailure] = field(default_factory=list)


@dataclass
class IngestReport:
    """Counts per input record: ``added`` made a new paper; ``updated`` changed the paper
    stored under its id; ``merged`` was folded into a paper stored (or read) under another
    id; ``unchanged`` brought nothing new (see :mod:`bot.ingest.library`)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    failed: list[IngestFailure] = field(default_factory=list)
    chunks_written: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "merged": self.merged,
            "unchanged": self.unchanged,
            "failed": [f.to_dict() for f in self.failed],
            "chunks_written": self.chunks_written,
            "seconds": round(self.seconds, 3),
        }


# --- lay summaries and newsletter digests (bot.summarize, bot.newsletter) -----------------


@dataclass
class GlossaryEntry:
    """A technical term and its plain meaning.

    ``source`` is ``"abstract"`` when the abstract itself defines the term (e.g. an
    abbreviation "autoregressive conditional duration (ACD)") and ``"model"`` when the
    meaning was written by the language model (the term is checked to occur in the abstract,
    the meaning is not verifiable against it)."""

    term: str
    meaning: str
    source: str = "abstract"

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "meaning": self.meaning, "source": self.source}


@dataclass
class LaySummary:
    """A plain-language summary (or a newsletter blurb) of one paper, cited to its abstract.

    Every sentence of ``summary`` ends with ``[n]`` markers; ``citations[n-1].quote`` is the
    verbatim abstract sentence it rests on (``abstract[start:end] == quote``)."""

    paper_id: str
    title: str
    summary: str
    glossary: list[GlossaryEntry]
    citations: list[Citation]
    fkgl: float  # measured Flesch-Kincaid grade of ``summary`` (markers removed)
    target: float  # the grade asked for
    met: bool  # |fkgl - target| <= tolerance
    supported: int
    total: int
    mode: Mode
    model: str
    audience: str = "general"
    words: int = 0  # the word budget asked for
    url: str | None = None
    kind: str = "summary"  # "summary" or "blurb"
    prompt_hash: str | None = None
    fallback_from: str | None = None
    revised: bool = False  # a reading-level revision pass was kept
    removed: list[str] = field(default_factory=list)  # generated sentences that failed checks
    notes: list[str] = field(default_factory=list)
    cached: bool = False

    @property
    def link(self) -> str:
        """The paper's URL when known, else its id."""
        return self.url or self.paper_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "paper_id": self.paper_id,
            "title": self.title,
            "url": self.url,
            "link": self.link,
            "kind": self.kind,
            "summary": self.summary,
            "glossary": [g.to_dict() for g in self.glossary],
            "citations": [c.to_dict() for c in self.citations],
            "readability": {"fkgl": self.fkgl, "target": self.target, "met": self.met},
            "verified": {"supported": self.supported, "total": self.total},
            "mode": self.mode,
            "model": self.model,
            "audience": self.audience,
            "words": self.words,
            "prompt_hash": self.prompt_hash,
            "fallback_from": self.fallback_from,
            "revised": self.revised,
            "removed": list(self.removed),
            "notes": list(self.notes),
            "cached": self.cached,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LaySummary:
        """Inverse of :meth:`to_dict` (used by the generation cache)."""
        return cls(
            paper_id=data["paper_id"],
            title=data["title"],
            summary=data["summary"],
            glossary=[GlossaryEntry(**g) for g in data.get("glossary", [])],
            citations=[Citation.from_dict(c) for c in data.get("citations", [])],
            fkgl=float(data["readability"]["fkgl"]),
            target=float(data["readability"]["target"]),
            met=bool(data["readability"].get("met", False)),
            supported=int(data["verified"]["supported"]),
            total=int(data["verified"]["total"]),
            mode=data["mode"],
            model=data["model"],
            audience=data.get("audience", "general"),
            words=int(data.get("words", 0)),
            url=data.get("url"),
            kind=data.get("kind", "summary"),
            prompt_hash=data.get("prompt_hash"),
            fallback_from=data.get("fallback_from"),
            revised=bool(data.get("revised", False)),
            removed=list(data.get("removed", [])),
            notes=list(data.get("notes", [])),
            cached=bool(data.get("cached", False)),
        )


@dataclass
class DigestSection:
    """A themed group of newsletter items (one section when not grouped)."""

    title: str
    items: list[LaySummary]
    terms: list[str] = field(default_factory=list)  # the top terms the title came from

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "terms": list(self.terms),
            "papers": [item.to_dict() for item in self.items],
        }


@dataclass
class Digest:
    """A newsletter: headline, two-sentence intro, then sections of cited blurbs."""

    headline: str
    intro: str
    sections: list[DigestSection]
    mode: Mode
    model: str
    grouped: bool = False
    query: str | None = None
    date: str | None = None  # ISO date the digest was written
    notes: list[str] = field(default_factory=list)

    @property
    def items(self) -> list[LaySummary]:
        return [item for section in self.sections for item in section.items]

    def to_dict(self) -> dict[str, Any]:
        items = self.items
        return {
            "headline": self.headline,
            "intro": self.intro,
            "date": self.date,
            "query": self.query,
            "grouped": self.grouped,
            "papers": len(items),
            "sections": [s.to_dict() for s in self.sections],
            "verified": {
                "supported": sum(i.supported for i in items),
                "total": sum(i.total for i in items),
            },
            "cached": sum(1 for i in items if i.cached),
            "mode": self.mode,
            "model": self.model,
            "notes": list(self.notes),
        }
