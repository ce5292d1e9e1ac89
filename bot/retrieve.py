"""Retrieval: a query -> the best papers, one hit per paper, best first.

Dense retrieval over chunk vectors (cosine), then chunks are grouped by paper: a paper's score
is its best chunk's score, and the hit carries that chunk's text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.errors import EmptyStoreError, InputError
from bot.types import SearchHit

if TYPE_CHECKING:
    from bot.embeddings import Embedder
    from bot.store import PaperStore

__all__ = ["Retriever"]


class Retriever:
    """Dense paper-level retrieval over a :class:`~bot.store.PaperStore`."""

    def __init__(self, store: PaperStore, embedder: Embedder, max_k: int = 50) -> None:
        self.store = store
        self.embedder = embedder
        self.max_k = max_k

    def search(
        self, query: str, k: int = 5, where: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        query = (query or "").strip()
        if not query:
            raise InputError("the query is empty")
        if not 1 <= k <= self.max_k:
            raise InputError(f"k must be between 1 and {self.max_k} (got {k})")
        if self.store.count_papers() == 0:
            raise EmptyStoreError(
                f"the store at {self.store.location} holds no papers; "
                "run 'paperbot ingest PATH' first"
            )
        vector = self.embedder.embed_query(query)
        matches = self.store.query_chunks(vector, n=max(4 * k, 20), where=where)
        best: dict[str, tuple[float, str, list[str]]] = {}
        for m in matches:
            current = best.get(m.paper_id)
            if current is None:
                best[m.paper_id] = (m.score, m.text, [m.chunk_id])
            else:
                current[2].append(m.chunk_id)
        ranked = sorted(best.items(), key=lambda item: item[1][0], reverse=True)[:k]
        papers = {p.id: p for p in self.store.get_papers([pid for pid, _ in ranked])}
        return [
            SearchHit(paper=papers[pid], score=score, text=text, chunk_ids=ids)
            for pid, (score, text, ids) in ranked
            if pid in papers
        ]
