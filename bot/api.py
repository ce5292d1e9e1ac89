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

import functools
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot import paths
from bot.errors import ConfigError, NotFoundError
from bot.settings import Settings, load_settings
from bot.types import Answer, IngestReport, Paper, SearchHit

if TYPE_CHECKING:
    from bot.generate.chat import ChatResult
    from bot.ground.check import CheckReport
    from bot.ground.verify import Verifier
    from bot.index.doctor import DoctorReport
    from bot.index.embeddings import Embedder
    from bot.index.store import PaperStore
    from bot.ingest.fetch import FetchReport
    from bot.ingest.library import RemoveReport
    from bot.ingest.pipeline import Progress
    from bot.ingest.portability import ExportSummary, ImportReport
    from bot.llm.base import ChatModel
    from bot.retrieve.search import Retriever
    from bot.storage.cache import GenerationCache
    from bot.storage.sessions import SessionStore
    from bot.types import Digest, LaySummary

__all__ = ["PaperBot"]

_UNSET: Any = object()
T = TypeVar("T")


def _built_once(
    attr: str, missing: Any = None
) -> Callable[[Callable[[Any], T]], Callable[[Any], T]]:
    """A lazily built part, built once even when concurrent requests ask for it first:
    once ``attr`` is set it is returned without locking; until then the builder runs under
    the bot's build lock (and sees a part another thread built meanwhile)."""

    def decorate(build: Callable[[Any], T]) -> Callable[[Any], T]:
        @functools.wraps(build)
        def get(self: Any) -> T:
            value = getattr(self, attr, missing)
            if value is not missing:
                return value  # type: ignore[no-any-return]
            with self._building:
                return build(self)

        return get

    return decorate


class PaperBot:
    """Ingest papers, search them and answer questions with verified citations."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        store: PaperStore | None = None,
        llm: ChatModel | None = _UNSET,
    ) -> None:
        self.settings = settings or load_settings()
        self._embedder = embedder
        self._store = store
        self._llm = llm
        self._verifier: Verifier | None = None
        self._retriever: Retriever | None = None
        self._building = threading.RLock()  # lazily built parts are built once

    # --- lazily built parts -----------------------------------------------------------
    @property
    @_built_once("_embedder")
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from bot.index.embeddings import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    @_built_once("_store")
    def store(self) -> PaperStore:
        if self._store is None:
            from bot.index.store import PaperStore

            self._store = PaperStore(self.settings, self.embedder.name, self.embedder.dimension)
        return self._store

    @property
    @_built_once("_llm", _UNSET)
    def llm(self) -> ChatModel | None:
        """The generation model, or ``None`` in extractive mode."""
        if self._llm is _UNSET:
            from bot.llm.providers import make_llm

            self._llm = make_llm(self.settings)
        return self._llm

    @property
    @_built_once("_verifier")
    def verifier(self) -> Verifier:
        """The citation verifier: the shipped entailment model, plus the configured model as
        a judge when ``PAPERBOT_VERIFY`` is ``llm`` or ``both``. The embedder it uses for
        relevance is loaded only when first needed."""
        if self._verifier is None:
            from bot.ground.verify import Verifier

            judge = None
            if self.settings.verification.judge != "model":
                from bot.ground.judge import LLMJudge

                judge = LLMJudge(self._judge_llm())
            self._verifier = Verifier(
                lambda: self.embedder,
                threshold=self.settings.verification.threshold,
                judge=judge,
                mode=self.settings.verification.judge,
            )
        return self._verifier

    def _judge_llm(self) -> ChatModel:
        """The OpenAI-compatible model that judges citations (PAPERBOT_VERIFY=llm|both)."""
        if self.llm is not None and self.llm.mode == "openai":
            return self.llm
        if not (self.settings.llm.openai_base_url or self.settings.llm.openai_api_key):
            raise ConfigError(
                f"PAPERBOT_VERIFY={self.settings.verification.judge} needs an OpenAI-compatible "
                "model: set OPENAI_BASE_URL (and OPENAI_API_KEY, OPENAI_MODEL)"
            )
        from bot.llm.providers import make_llm

        judge = make_llm(self.settings.model_copy(update={"llm_mode": "openai"}))
        assert judge is not None
        return judge

    @property
    @_built_once("_retriever")
    def retriever(self) -> Retriever:
        if self._retriever is None:
            from bot.retrieve.search import Retriever

            self._retriever = Retriever(
                self.store, self.embedder, max_k=self.settings.retrieval.max_k
            )
        return self._retriever

    # --- the API ----------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | Path],
        progress: Progress | None = None,
        fmt: str | None = None,
    ) -> IngestReport:
        """Ingest files and directories; bad files/records are reported, not fatal.

        ``fmt`` overrides the format detected from each file's suffix (a registered format
        name such as ``"bibtex"``, ``"csv"``, ``"arxiv"``, ``"pdf"``, or a suffix).

        Holds the store's writer lock throughout (embedded store: a second writer process
        fails fast with a StoreError naming this one; readers are not blocked)."""
        from bot.index.store import store_writing
        from bot.ingest.pipeline import ingest_paths

        with store_writing(self.settings):  # before loading models: a second writer fails fast
            return ingest_paths(
                paths, self.store, self.embedder, self.settings, progress=progress, fmt=fmt
            )

    def add_papers(self, papers: Iterable[Paper], progress: Progress | None = None) -> IngestReport:
        """Upsert already-built :class:`Paper` objects (holding the writer lock, as ingest)."""
        from bot.index.store import store_writing
        from bot.ingest.pipeline import ingest_papers

        with store_writing(self.settings):
            return ingest_papers(list(papers), self.store, self.embedder, self.settings, progress)

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        since: str | None = None,
        until: str | None = None,
        categories: Iterable[str] | str | None = None,
        authors: Iterable[str] | str | None = None,
        mode: str | None = None,
        diverse: bool = False,
        where: dict[str, Any] | None = None,
    ) -> list[SearchHit]:
        """Best papers for ``query``, one hit per paper, best first (no LLM).

        ``since``/``until``: inclusive dates (YYYY, YYYY-MM or YYYY-MM-DD); ``categories`` /
        ``authors``: any of them (see :mod:`bot.index.filters`); ``mode``: hybrid | dense | bm25
        (default ``PAPERBOT_RETRIEVAL_MODE``); ``diverse``: MMR re-ranking; ``where``: a raw
        Chroma filter on chunk metadata."""
        from bot.index.filters import SearchFilter

        filters = SearchFilter.build(since, until, categories, authors)
        return self.retriever.search(
            query,
            k=self.settings.retrieval.top_k if k is None else k,
            where=where,
            filters=filters,
            mode=mode,
            diverse=diverse,
        )

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        on_token: Callable[[str], None] | None = None,
        query: str | None = None,
        since: str | None = None,
        until: str | None = None,
        categories: Iterable[str] | str | None = None,
        authors: Iterable[str] | str | None = None,
        paper_ids: Iterable[str] | None = None,
    ) -> Answer:
        """Answer ``question`` with citations verified against the cited abstracts.

        ``on_token`` streams the model's raw tokens (the returned answer is the verified one);
        ``query`` overrides the retrieval text (e.g. a follow-up rewritten as a standalone
        question); ``since``/``until``/``categories``/``authors`` restrict the sources as in
        :meth:`search`; ``paper_ids`` answers from these papers only (a chat follow-up)."""
        from bot.generate.answer import answer_question
        from bot.index.filters import SearchFilter

        filters = SearchFilter.build(since, until, categories, authors)
        retriever: Any = self.retriever
        ids = list(dict.fromkeys(paper_ids or []))
        if filters is not None or ids:
            from bot.retrieve.search import ScopedRetriever

            where = {"paper_id": {"$in": ids}} if ids else None
            retriever = ScopedRetriever(self.retriever, filters=filters, where=where)
        answer = answer_question(
            question,
            retriever,
            self.verifier,
            self.llm,
            self.settings,
            k,
            on_token=on_token,
            query=query,
        )
        answer.notes.extend(self.filter_notes(since, until, categories, authors))
        return answer

    def filter_notes(
        self,
        since: str | None = None,
        until: str | None = None,
        categories: Iterable[str] | str | None = None,
        authors: Iterable[str] | str | None = None,
    ) -> list[str]:
        """What a date filter leaves out that a user may not expect: papers without a
        publication date never pass ``since``/``until`` (a note saying how many), else []."""
        from bot.index.filters import SearchFilter

        filters = SearchFilter.build(since, until, categories, authors)
        if filters is None or not (filters.since or filters.until):
            return []
        n = self.retriever.lexical.undated(filters)
        if not n:
            return []
        return [
            f"{n} paper{'s' if n != 1 else ''} without a publication date "
            f"{'were' if n != 1 else 'was'} left out by the date filter (since/until)"
        ]

    @property
    @_built_once("_sessions")
    def sessions(self) -> SessionStore:
        """Chat sessions (SQLite under the data directory)."""
        if getattr(self, "_sessions", None) is None:
            from bot.storage.sessions import SessionStore

            self._sessions = SessionStore(paths.sessions_db(self.settings.store.home))
        return self._sessions

    def chat(
        self,
        question: str,
        session_id: str | None = None,
        k: int | None = None,
        *,
        on_token: Callable[[str], None] | None = None,
        on_rewrite: Callable[..., None] | None = None,
    ) -> ChatResult:
        """Answer ``question`` as the next turn of a chat session (new when ``session_id`` is
        None): a follow-up is rewritten into a standalone question for retrieval, and the turn
        is stored. See :mod:`bot.generate.chat`."""
        from bot.generate.chat import chat_turn

        return chat_turn(
            question,
            session_id,
            sessions=self.sessions,
            answer=self.ask,
            llm=self.llm,
            settings=self.settings,
            k=k,
            on_token=on_token,
            on_rewrite=on_rewrite,
        )

    # --- lay summaries and newsletters (bot.summarize, bot.newsletter) ---------------------
    @property
    @_built_once("_generation_cache")
    def generation_cache(self) -> GenerationCache:
        """Cache of generated summaries/blurbs (``$PAPERBOT_HOME/cache``), see
        :mod:`bot.storage.cache`."""
        if getattr(self, "_generation_cache", None) is None:
            from bot.storage.cache import GenerationCache

            self._generation_cache = GenerationCache.for_home(
                self.settings.store.home, enabled=self.settings.summary.cache_enabled
            )
        return self._generation_cache

    def find_paper(self, ref: str) -> Paper:
        """The stored paper ``ref`` names: a paper id, an arXiv id or URL, or a title (fuzzy).

        Raises ``NotFoundError`` (an ``InputError``) when nothing matches, and
        ``bot.retrieve.lookup.AmbiguousPaperError``
        (an ``InputError`` with ``.candidates``, a list of papers) when several titles match
        about equally well."""
        from bot.retrieve.lookup import find_paper

        return find_paper(self.store, ref)

    def summarize(
        self,
        paper: str | Paper,
        *,
        audience: str | None = None,
        grade: float | None = None,
        words: int | None = None,
        use_cache: bool = True,
    ) -> LaySummary:
        """A plain-language summary of ``paper`` (a :class:`Paper` or anything
        :meth:`find_paper` accepts), every sentence cited ``[n]`` to a verbatim abstract
        sentence, with a glossary and the measured Flesch-Kincaid grade.

        ``audience`` is general | student | expert (default ``PAPERBOT_SUMMARY_AUDIENCE``);
        ``grade`` the target grade (default: the audience's); ``words`` the word budget.
        Results are cached by paper content, prompts, model and options (``use_cache=False``
        regenerates). ``result.to_dict()`` is the JSON shape of ``paperbot summarize --json``."""
        from bot.generate.summarize import summarize_paper

        target = paper if isinstance(paper, Paper) else self.find_paper(paper)
        return summarize_paper(
            target,
            verifier=self.verifier,
            llm=self.llm,
            settings=self.settings,
            audience=audience,
            grade=grade,
            words=words,
            cache=self.generation_cache if use_cache else None,
        )

    def newsletter(
        self,
        *,
        query: str | None = None,
        ids: Iterable[str] | None = None,
        from_file: str | Path | None = None,
        top: int | None = None,
        group: bool = False,
        title: str | None = None,
        audience: str | None = None,
        grade: float | None = None,
        words: int | None = None,
        use_cache: bool = True,
        progress: Progress | None = None,
    ) -> Digest:
        """A newsletter digest over the papers chosen by exactly one of ``query`` (its top
        ``top`` hits), ``ids`` (ids, arXiv ids or titles) or ``from_file`` (every paper of a
        listing/JSON file, ingested first when new). Each paper gets a 2-3 sentence cited
        blurb; ``group=True`` clusters papers into themed sections. ``progress(stage, done,
        total)`` is called per blurb. Render it with ``bot.render.render_digest(digest, fmt)``
        (fmt ``md``, ``html`` or ``json``)."""
        from bot.generate.newsletter import PaperSource, build_digest, select_papers

        source = PaperSource(
            search=lambda q, k: self.search(q, k=k),
            find=self.find_paper,
            add=self.add_papers,
            stored=lambda paper_ids: self.store.get_papers(list(paper_ids)),
            default_top=self.settings.summary.newsletter_top,
        )
        papers, notes = select_papers(
            source,
            query=query,
            ids=list(ids) if ids is not None else None,
            from_file=from_file,
            top=top,
        )
        return build_digest(
            papers,
            verifier=self.verifier,
            llm=self.llm,
            settings=self.settings,
            group=group,
            title=title,
            query=query,
            audience=audience,
            grade=grade,
            words=words,
            cache=self.generation_cache if use_cache else None,
            progress=progress,
            notes=notes,
        )

    def check(self, text: str, paper: str | Paper | None = None) -> CheckReport:
        """Check a text's sentences against the papers they cite (see :mod:`bot.ground.check`):
        ``[paper-id]`` markers, else ``paper`` (a :class:`Paper` or anything
        :meth:`find_paper` accepts) for the whole text, else the best-matching papers of the
        library. Each result has ``status`` (supported / contradicted / unsupported), the
        paper, the exact quoted evidence with its offsets, and the score."""
        from bot.ground.check import check_text
        from bot.retrieve.lookup import find_by_id

        target = None
        if paper is not None:
            target = paper if isinstance(paper, Paper) else self.find_paper(paper)
        verifier = self.verifier
        entailment = verifier.entailment
        return check_text(
            text,
            verifier=verifier,
            find_by_id=lambda ref: find_by_id(self.store, ref),
            search=lambda sentence, k: [hit.paper for hit in self.search(sentence, k=k)],
            paper=target,
            contradiction_threshold=(
                entailment.contradiction_threshold if entailment is not None else 0.5
            ),
        )

    def papers(self) -> list[Paper]:
        if self._store is None:  # listing needs no chromadb when the store file is readable
            from bot.index.catalog import read_catalog

            catalog = read_catalog(self.settings)
            if catalog is not None:
                return sorted(catalog.papers, key=lambda p: p.title.lower())
        return sorted(self.store.iter_papers(), key=lambda p: p.title.lower())

    def paper(self, paper_id: str) -> Paper:
        """The paper stored under ``paper_id``, or whose aliases include it."""
        found = self.store.get_papers([paper_id])
        if not found:
            from bot.ingest.library import resolve_ids

            record_id = resolve_ids(self.store, [paper_id]).get(paper_id)
            found = self.store.get_papers([record_id]) if record_id else []
        if not found:
            raise NotFoundError(f"no paper with id '{paper_id}'")
        return found[0]

    # --- the library: removing papers, fetching from arXiv (bot.library, bot.fetch) --------
    def remove(
        self, paper_ids: Iterable[str] = (), *, source: str | Path | None = None
    ) -> RemoveReport:
        """Remove papers by id or alias, and/or every paper that came only from the file (or
        folder) ``source``: their chunks, BM25 entries, records and cached generations.
        Crash-safe like ingest (see :mod:`bot.ingest.library`); holds the writer lock."""
        from bot.index.store import store_writing
        from bot.ingest.library import papers_from_source, remove_papers

        ids = [i for i in paper_ids if i.strip()]
        with store_writing(self.settings):
            kept: list[dict[str, str]] = []
            if source is not None:
                only, kept = papers_from_source(self.store, source)
                ids.extend(only)
            report = remove_papers(
                self.store, self.embedder, self.settings, ids, cache=self.generation_cache
            )
        report.kept = kept
        return report

    def fetch_arxiv(
        self,
        query: str,
        *,
        categories: Iterable[str] = (),
        since: str | None = None,
        max_results: int = 50,
        progress: Progress | None = None,
    ) -> FetchReport:
        """Query the arXiv API (``PAPERBOT_ARXIV_API_URL``), save the raw responses under
        ``$PAPERBOT_HOME/sources/arxiv/`` and ingest the entries; ``report.to_dict()`` is the
        shape of ``ingest --json``. See :mod:`bot.ingest.fetch`."""
        from bot.index.store import store_writing
        from bot.ingest.fetch import FetchReport, fetch_arxiv
        from bot.ingest.pipeline import ingest_papers

        fetched = fetch_arxiv(
            query, self.settings, categories=categories, since=since, max_results=max_results
        )
        with store_writing(self.settings):
            report = ingest_papers(
                fetched.papers,
                self.store,
                self.embedder,
                self.settings,
                progress,
                IngestReport(failed=list(fetched.failures)),
            )
        report.seconds += fetched.seconds
        return FetchReport(report, fetched.notes, fetched.files, fetched.requests)

    def stats(self) -> dict[str, Any]:
        """Counts, embedding model, store location, generation mode. Reads the embedded
        store's file directly when it can (:mod:`bot.index.catalog`): no model, no chromadb."""
        from bot.llm.providers import resolve_mode

        catalog = None
        if self._store is None and self._embedder is None:
            from bot.index.catalog import read_catalog

            catalog = read_catalog(self.settings)
        if catalog is not None and catalog.metadata.get("embedding_model"):
            counts: dict[str, Any] = {
                "papers": len(catalog.papers),
                "chunks": catalog.n_chunks,
                "embedding_model": catalog.metadata["embedding_model"],
                "embedding_dim": catalog.metadata.get("embedding_dim"),
                "store": str(self.settings.store_dir),
            }
        else:
            counts = {
                "papers": self.store.count_papers(),
                "chunks": self.store.count_chunks(),
                "embedding_model": self.embedder.name,
                "embedding_dim": self.embedder.dimension,
                "store": self.store.location,
            }
        return {
            **counts,
            "collection": self.settings.store.collection,
            "server_mode": self.settings.server_mode,
            "llm_mode": resolve_mode(self.settings),
        }

    # --- maintenance: export/import and consistency (bot.portability, bot.doctor) -----------
    def export_papers(self, out: str | Path | Any) -> ExportSummary:
        """Write every paper with its chunk metadata (no vectors) as JSON Lines to ``out`` (a
        path, written atomically, or an open text file). See :mod:`bot.ingest.portability`."""
        from bot.ingest.portability import export_store

        return export_store(self.store, self.settings, out)

    def import_papers(self, path: str | Path, progress: Progress | None = None) -> ImportReport:
        """Import a file written by :meth:`export_papers` (re-chunked with its recorded
        chunking, re-embedded); bad lines become failures naming the line."""
        from bot.index.store import store_writing
        from bot.ingest.portability import import_file

        with store_writing(self.settings):
            return import_file(path, self.store, self.embedder, self.settings, progress)

    def doctor(self, repair: bool = False) -> DoctorReport:
        """Check the store's consistency (manifest vs chunks vs BM25 index); with ``repair``
        fix what is wrong (holding the writer lock) and check again. See :mod:`bot.index.doctor`."""
        from bot.index.doctor import check_store, repair_store

        if not repair:
            return check_store(self.store, self.settings)
        from bot.index.store import store_writing

        with store_writing(self.settings):
            return repair_store(
                self.store, self.embedder, self.settings, lexical=self.retriever.lexical
            )
