"""The public Python API: :class:`PaperBot`. The CLI and the HTTP server only wrap it.

Dependencies are passed in or built lazily from settings on first use, so constructing a
``PaperBot`` is cheap and nothing is loaded at import time::

    from bot import PaperBot
    bot = PaperBot()                      # settings from the environment / .env
    bot.ingest(["data/"])
    answer = bot.ask("What is grokking?")
    print(answer.answer, [c.quote for c in answer.citations])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.answer import answer_question
from bot.errors import InputError
from bot.ingest import Progress, ingest_papers, ingest_paths
from bot.settings import Settings, load_settings
from bot.types import Answer, IngestReport, Paper, SearchHit

if TYPE_CHECKING:
    from bot.embeddings import Embedder
    from bot.llms import ChatLLM
    from bot.retrieve import Retriever
    from bot.store import PaperStore
    from bot.verify import Verifier

__all__ = ["PaperBot"]

_UNSET: Any = object()


class PaperBot:
    """Ingest papers, search them and answer questions with verified citations."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        store: PaperStore | None = None,
        llm: ChatLLM | None = _UNSET,
    ) -> None:
        self.settings = settings or load_settings()
        self._embedder = embedder
        self._store = store
        self._llm = llm
        self._verifier: Verifier | None = None
        self._retriever: Retriever | None = None

    # --- lazily built parts -----------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from bot.embeddings import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def store(self) -> PaperStore:
        if self._store is None:
            from bot.store import PaperStore

            self._store = PaperStore(self.settings, self.embedder.name, self.embedder.dimension)
        return self._store

    @property
    def llm(self) -> ChatLLM | None:
        """The generation model, or ``None`` in extractive mode."""
        if self._llm is _UNSET:
            from bot.llms import make_llm

            self._llm = make_llm(self.settings)
        return self._llm

    @property
    def verifier(self) -> Verifier:
        if self._verifier is None:
            from bot.verify import Verifier

            self._verifier = Verifier(self.embedder, threshold=self.settings.verify_threshold)
        return self._verifier

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            from bot.retrieve import Retriever

            self._retriever = Retriever(self.store, self.embedder, max_k=self.settings.max_k)
        return self._retriever

    # --- the API ----------------------------------------------------------------------
    def ingest(self, paths: Iterable[str | Path], progress: Progress | None = None) -> IngestReport:
        """Ingest files and directories; bad files/records are reported, not fatal."""
        return ingest_paths(paths, self.store, self.embedder, self.settings, progress=progress)

    def add_papers(self, papers: Iterable[Paper], progress: Progress | None = None) -> IngestReport:
        """Upsert already-built :class:`Paper` objects."""
        return ingest_papers(list(papers), self.store, self.embedder, self.settings, progress)

    def search(self, query: str, k: int | None = None) -> list[SearchHit]:
        """Best papers for ``query``, one hit per paper, best first (no LLM)."""
        return self.retriever.search(query, k=self.settings.top_k if k is None else k)

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        on_token: Callable[[str], None] | None = None,
        query: str | None = None,
    ) -> Answer:
        """Answer ``question`` with citations verified against the cited abstracts.

        ``on_token`` streams the model's raw tokens (the returned answer is the verified one);
        ``query`` overrides the retrieval text (e.g. a follow-up rewritten as a standalone
        question)."""
        return answer_question(
            question,
            self.retriever,
            self.verifier,
            self.llm,
            self.settings,
            k,
            on_token=on_token,
            query=query,
        )

    def papers(self) -> list[Paper]:
        return sorted(self.store.iter_papers(), key=lambda p: p.title.lower())

    def paper(self, paper_id: str) -> Paper:
        found = self.store.get_papers([paper_id])
        if not found:
            raise InputError(f"no paper with id '{paper_id}'")
        return found[0]

    def stats(self) -> dict[str, Any]:
        from bot.llms import resolve_mode

        return {
            "papers": self.store.count_papers(),
            "chunks": self.store.count_chunks(),
            "embedding_model": self.embedder.name,
            "embedding_dim": self.embedder.dimension,
            "store": self.store.location,
            "collection": self.settings.collection,
            "server_mode": self.settings.server_mode,
            "llm_mode": resolve_mode(self.settings),
        }
