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

    @property
    def content_hash(self) -> str:
        """Hash of everything that affects chunks and display (not ``source``)."""
        payload = json.dumps(
            [self.title, self.abstract, self.authors, self.published, self.url, self.categories],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """A numbered citation: a verbatim sentence of the cited paper's abstract."""

    n: int
    paper_id: str
    title: str
    quote: str
    sentence_index: int  # index of the quoted sentence in the paper's abstract
    start: int  # character offsets of the quote in the abstract
    end: int
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "paper_id": self.paper_id,
            "title": self.title,
            "quote": self.quote,
            "sentence_index": self.sentence_index,
            "start": self.start,
            "end": self.end,
            "url": self.url,
        }


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
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[IngestFailure] = field(default_factory=list)
    chunks_written: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [f.to_dict() for f in self.failed],
            "chunks_written": self.chunks_written,
            "seconds": round(self.seconds, 3),
        }
