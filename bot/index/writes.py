"""Papers into store writes: chunk, embed, and a paper vector per paper.

The index layer's own record building, so both ingest (:mod:`bot.ingest.pipeline`) and the
repair of interrupted or inconsistent writes (:mod:`bot.index.reconcile`) use it without the
index importing ingest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bot.index.store import PaperWrite
from bot.text.chunking import chunk_paper

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder
    from bot.settings import Settings
    from bot.types import Paper

__all__ = ["prepare_writes"]


def prepare_writes(
    batch: Sequence[Paper], embedder: Embedder, settings: Settings
) -> list[PaperWrite]:
    """Chunk and embed papers into store writes (also used to re-embed by bot.index.reconcile)."""
    chunked = [
        chunk_paper(p, settings.chunking.tokens, settings.chunking.overlap_sentences) for p in batch
    ]
    texts = [
        f"{p.title}\n{c.text}" for p, chunks in zip(batch, chunked, strict=True) for c in chunks
    ]
    chunk_vectors = embedder.embed_documents(texts) if texts else np.zeros((0, embedder.dimension))
    # A paper's own vector is the normalised mean of its chunk vectors (no extra model pass);
    # only a paper without chunks has its title embedded.
    chunkless = [p.title for p, chunks in zip(batch, chunked, strict=True) if not chunks]
    paper_vectors = iter(embedder.embed_documents(chunkless) if chunkless else [])
    writes = []
    offset = 0
    for paper, chunks in zip(batch, chunked, strict=True):
        vectors = chunk_vectors[offset : offset + len(chunks)]
        writes.append(
            PaperWrite(
                paper=paper,
                chunks=chunks,
                chunk_vectors=vectors,
                paper_vector=_mean_direction(vectors) if chunks else next(paper_vectors),
            )
        )
        offset += len(chunks)
    return writes


def _mean_direction(vectors: np.ndarray) -> np.ndarray:
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean
