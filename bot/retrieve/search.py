"""Retrieval: a query -> the best papers, one hit per paper, best first.

Three modes (``PAPERBOT_RETRIEVAL_MODE``, or ``mode=`` per call):

- ``dense``: cosine over chunk vectors (MiniLM of "title + chunk") in Chroma; chunks are
  grouped by paper and a paper scores its best chunk.
- ``bm25``: the paper-level BM25 index of :mod:`bot.index.lexical` (title boosted).
- ``hybrid`` (default): both, each contributing ``retrieval_candidates`` papers, fused by
  weighted min-max fusion or reciprocal rank fusion (:mod:`bot.retrieve.fusion`).

Every hit carries its paper's best chunk: the best dense chunk when the paper was found by the
dense side, else the chunk sharing the most (IDF-weighted) query terms (for the first
``LEXICAL_TEXT_HITS`` such hits; deeper BM25-only hits carry the whole abstract).

Filters (:class:`bot.index.filters.SearchFilter`: dates, categories, authors) restrict both sides:
Chroma ``where`` on the dense side, the same keys on the BM25 side. A raw Chroma ``where`` is
also accepted; BM25 candidates are then kept only if one of their chunks matches it.
``diverse=True`` re-ranks the fused candidates with MMR over paper vectors (mean of the
paper's chunk vectors), so digests do not list near-duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bot.errors import EmptyStoreError, InputError
from bot.index.filters import SearchFilter
from bot.paths import bm25_dir
from bot.retrieve.fusion import minmax, mmr, reciprocal_rank_fusion, weighted_fusion
from bot.types import SearchHit

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder
    from bot.index.lexical import LexicalIndex
    from bot.index.store import ChunkMatch, PaperStore
    from bot.settings import Settings

__all__ = ["RetrievalConfig", "Retriever", "ScopedRetriever", "bm25_dir"]

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")
# Papers found only by BM25 get their best chunk picked (one Chroma read + tokenising their
# chunks) when among the first LEXICAL_TEXT_HITS such hits; deeper ones carry the abstract.
LEXICAL_TEXT_HITS = 10


@dataclass
class RetrievalConfig:
    mode: str = "hybrid"
    fusion: str = "weighted"
    rrf_k: int = 60
    dense_weight: float = 0.5
    candidates: int = 100
    mmr_lambda: float = 0.5
    bm25_prf: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrievalConfig:
        return cls(
            mode=settings.retrieval.mode,
            fusion=settings.retrieval.fusion,
            rrf_k=settings.retrieval.rrf_k,
            dense_weight=settings.retrieval.dense_weight,
            candidates=settings.retrieval.candidates,
            mmr_lambda=settings.retrieval.mmr_lambda,
            bm25_prf=settings.retrieval.bm25_prf,
        )


@dataclass
class _DenseHit:
    score: float
    text: str
    chunk_ids: list[str]


class Retriever:
    """Paper-level retrieval (hybrid by default) over a :class:`~bot.store.PaperStore`."""

    def __init__(
        self,
        store: PaperStore,
        embedder: Embedder,
        max_k: int = 50,
        config: RetrievalConfig | None = None,
        lexical: LexicalIndex | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.max_k = max_k
        settings = getattr(store, "settings", None)
        if config is None:
            config = RetrievalConfig.from_settings(settings) if settings else RetrievalConfig()
        self.config = config
        self._lexical = lexical

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index (loaded or built on first use)."""
        if self._lexical is None:
            from bot.index.lexical import LexicalIndex

            settings = getattr(self.store, "settings", None)
            directory = bm25_dir(settings) if settings is not None else None
            self._lexical = LexicalIndex(self.store, directory)
        return self._lexical

    # --- the two sides ----------------------------------------------------------------
    def dense(
        self, query: str, n: int, where: dict[str, Any] | None = None
    ) -> dict[str, _DenseHit]:
        """Up to ``n`` papers by best-chunk cosine, best first."""
        vector = self.embedder.embed_query(query)
        matches = self.store.query_chunks(vector, n=3 * n, where=where)
        best: dict[str, _DenseHit] = {}
        for m in matches:  # best first
            hit = best.get(m.paper_id)
            if hit is None:
                if len(best) >= n:
                    continue
                best[m.paper_id] = _DenseHit(m.score, m.text, [m.chunk_id])
            else:
                hit.chunk_ids.append(m.chunk_id)
        return best

    def bm25(
        self,
        query: str,
        n: int,
        filters: SearchFilter | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[tuple[str, float]]:
        ranked = self.lexical.search(query, n, filters=filters, prf=self.config.bm25_prf)
        if where and ranked:
            keep = self.store.papers_matching(where, [pid for pid, _ in ranked])
            ranked = [(pid, s) for pid, s in ranked if pid in keep]
        return ranked

    # --- the entry point --------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 5,
        where: dict[str, Any] | None = None,
        *,
        filters: SearchFilter | None = None,
        mode: str | None = None,
        diverse: bool = False,
    ) -> list[SearchHit]:
        """The ``k`` best papers for ``query``, best first (MMR order when ``diverse``)."""
        query = (query or "").strip()
        if not query:
            raise InputError("the query is empty")
        if not 1 <= k <= self.max_k:
            raise InputError(f"k must be between 1 and {self.max_k} (got {k})")
        mode = mode or self.config.mode
        if mode not in MODES:
            raise InputError(f"unknown retrieval mode '{mode}' (choose {', '.join(MODES)})")
        if filters is not None and filters.empty:
            filters = None
        dense_where = _and(filters.to_where() if filters else None, where)
        n = max(k, self.config.candidates) if (mode == "hybrid" or diverse) else k
        if diverse:
            n = max(n, 4 * k)

        dense_hits: dict[str, _DenseHit] = {}
        lists: list[list[tuple[str, float]]] = []
        weights: list[float] = []
        if mode in ("hybrid", "dense"):
            dense_hits = self.dense(query, n, where=dense_where)
            lists.append([(pid, h.score) for pid, h in dense_hits.items()])
            weights.append(self.config.dense_weight)
        if mode in ("hybrid", "bm25"):
            lists.append(self.bm25(query, n, filters=filters, where=where))
            weights.append(1.0 - self.config.dense_weight)
        if not any(lists) and self.store.count_papers() == 0:  # checked only when needed
            raise EmptyStoreError(
                f"the store at {self.store.location} holds no papers; "
                "run 'paperbot ingest PATH' first"
            )
        if len(lists) == 1:
            ranked = lists[0]
        elif self.config.fusion == "rrf":
            ranked = reciprocal_rank_fusion(lists, k=self.config.rrf_k)
        else:
            ranked = weighted_fusion(lists, weights)

        if diverse and len(ranked) > 1:  # MMR over the 4k (at least 20) most relevant
            ranked = self._diversify(ranked[: max(4 * k, 20)], k)
        ranked = ranked[:k]
        return self._hits(query, ranked, dense_hits)

    # --- helpers ----------------------------------------------------------------------
    def _diversify(self, ranked: list[tuple[str, float]], k: int) -> list[tuple[str, float]]:
        chunks = self.store.chunks_of([pid for pid, _ in ranked], with_vectors=True)
        vectors: dict[str, np.ndarray] = {}
        for pid, matches in chunks.items():
            vecs = [m.metadata["_vector"] for m in matches if "_vector" in m.metadata]
            if vecs:
                mean = np.mean(np.asarray(vecs, dtype=np.float32), axis=0)
                vectors[pid] = mean / (float(np.linalg.norm(mean)) or 1.0)
        scores = dict(ranked)
        order = mmr(minmax(ranked), vectors, k, lambda_=self.config.mmr_lambda)
        return [(pid, scores[pid]) for pid in order]

    def _hits(
        self,
        query: str,
        ranked: list[tuple[str, float]],
        dense_hits: dict[str, _DenseHit],
    ) -> list[SearchHit]:
        papers = {p.id: p for p in self.store.get_papers([pid for pid, _ in ranked])}
        missing = [pid for pid, _ in ranked if pid not in dense_hits and pid in papers]
        missing = missing[:LEXICAL_TEXT_HITS]  # deeper BM25-only hits carry their abstract
        lexical_best: dict[str, ChunkMatch] = {}
        if missing:
            weights = self.lexical.term_weights(query)
            tokenize = self.lexical.tokenize
            for pid, matches in self.store.chunks_of(missing).items():
                if matches:
                    lexical_best[pid] = max(
                        matches,
                        key=lambda m: sum(weights.get(t, 0.0) for t in set(tokenize(m.text))),
                    )
        hits = []
        for pid, score in ranked:
            paper = papers.get(pid)
            if paper is None:
                continue
            dense = dense_hits.get(pid)
            if dense is not None:
                text, chunk_ids = dense.text, list(dense.chunk_ids)
            elif pid in lexical_best:
                text, chunk_ids = lexical_best[pid].text, [lexical_best[pid].chunk_id]
            else:  # a deep BM25-only hit, or a paper without chunks (empty abstract)
                text, chunk_ids = (paper.abstract or paper.text[:2000]), []
            hits.append(SearchHit(paper=paper, score=score, text=text, chunk_ids=chunk_ids))
        return hits


class ScopedRetriever:
    """A :class:`Retriever` with filters (and optionally a mode) fixed for every search.

    Hands the same ``search(query, k, where=None)`` interface to code that knows nothing of
    filters (question answering, chat)."""

    def __init__(
        self,
        base: Retriever,
        filters: SearchFilter | None = None,
        mode: str | None = None,
        diverse: bool = False,
        where: dict[str, Any] | None = None,
    ) -> None:
        self.base = base
        self.filters = filters
        self.mode = mode
        self.diverse = diverse
        self.where = where  # a raw Chroma filter added to every search (e.g. paper ids)
        self.store = base.store
        self.embedder = base.embedder
        self.max_k = base.max_k

    def search(
        self, query: str, k: int = 5, where: dict[str, Any] | None = None, **options: Any
    ) -> list[SearchHit]:
        options.setdefault("filters", self.filters)
        options.setdefault("mode", self.mode)
        options.setdefault("diverse", self.diverse)
        return self.base.search(query, k=k, where=_and(self.where, where), **options)


def _and(*clauses: dict[str, Any] | None) -> dict[str, Any] | None:
    present = [c for c in clauses if c]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}
