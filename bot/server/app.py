"""The FastAPI app: the HTTP API over :class:`bot.PaperBot`, and the web chat page at ``/``.

Routes (JSON shapes are the CLI's ``--json`` shapes; errors are ``{"detail": "..."}``):

=========================  ===============================================================
``POST /api/ask``          one question -> the verified answer
``POST /api/chat``         a chat turn; server-sent events: ``meta`` (session, rewritten
                           question), ``token`` (draft text), then ``final`` (the verified
                           answer, which replaces the draft) or ``error``.
                           ``"stream": false`` returns the final JSON instead.
``GET  /api/sessions``     chat sessions; ``GET /api/sessions/{id}`` one with its turns
``POST /api/summarize``    a lay summary (``paper_id``; or ``paper_ids`` for several)
``POST /api/newsletter``   a newsletter draft (``paper_ids`` or ``query``; json|md|html)
``GET  /api/papers``       stored papers (``q`` filters titles, authors, ids; ``sort``
                           title | recent)
``GET  /api/papers/{id}``  one paper with its abstract (by id or alias); ``DELETE`` removes
                           it (chunks, BM25 entry, record, cached generations)
``GET  /api/search``       semantic search (``q``, ``k``, ``since``, ``until``; ``notes``)
``POST /api/ingest``       upload a file (multipart field ``file``); same readers as the CLI
``GET  /api/formats``      the formats and file suffixes the readers know
``GET  /api/stats``        counts, models, mode
``GET  /healthz``          liveness, no auth
=========================  ===============================================================

The bot is shared by all requests behind one lock: the embedded store and the local model are
not made for concurrent use, and a 2-core machine gains nothing from parallel generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from bot.api import PaperBot
from bot.errors import (
    ConfigError,
    EmptyStoreError,
    InputError,
    LLMError,
    PaperbotError,
    StoreError,
)
from bot.server.guard import ApiGuard
from bot.settings import Settings, load_settings

__all__ = ["create_app"]

log = logging.getLogger("paperbot.server")
STATIC = Path(__file__).resolve().parent / "static"
_SESSION_ID = r"^[A-Za-z0-9_-]{1,64}$"


# --- request bodies ---------------------------------------------------------------------
class AskRequest(BaseModel):
    question: str = Field(..., min_length=1, description="The question, in plain words.")
    k: int | None = Field(None, ge=1, description="How many papers to retrieve.")


class ChatRequest(AskRequest):
    session_id: str | None = Field(
        None, pattern=_SESSION_ID, description="Continue this session; omit to start one."
    )
    stream: bool = Field(True, description="Server-sent events (true) or one JSON reply.")


class SummarizeRequest(BaseModel):
    paper_id: str | None = Field(
        None, max_length=500, description="A paper id, arXiv id or title (one summary)."
    )
    paper_ids: list[str] | None = Field(
        None, min_length=1, max_length=10, description="Several papers (a list of summaries)."
    )
    audience: Literal["general", "student", "expert"] | None = None
    grade: float | None = Field(None, ge=1, le=20, description="Target reading grade.")
    words: int | None = Field(None, ge=10, le=1000, description="Word budget.")


class NewsletterRequest(BaseModel):
    query: str | None = Field(None, min_length=1, max_length=2000)
    paper_ids: list[str] | None = Field(None, min_length=1, max_length=30)
    top: int | None = Field(None, ge=1, le=30)
    group: bool = False
    title: str | None = Field(None, max_length=200)
    audience: Literal["general", "student", "expert"] | None = None
    grade: float | None = Field(None, ge=1, le=20)
    format: Literal["json", "md", "html"] = Field(
        "json", description="json (the CLI's --json shape), md or html (email-ready)."
    )


# --- errors -----------------------------------------------------------------------------
def status_for(exc: PaperbotError) -> int:
    if isinstance(exc, EmptyStoreError):
        return 409
    if isinstance(exc, InputError):
        return 404 if str(exc).startswith(("no paper with id", "no session with id")) else 422
    if isinstance(exc, LLMError):
        return 502
    if isinstance(exc, ConfigError | StoreError):
        return 503
    return 500


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class _Cancelled(Exception):
    """The client went away: stop generating."""


def _word_chunks(text: str, size: int = 3) -> Iterator[str]:
    words = re.findall(r"\S+\s*", text)
    for i in range(0, len(words), size):
        yield "".join(words[i : i + size])


# --- the app ----------------------------------------------------------------------------
def create_app(bot: PaperBot | None = None, settings: Settings | None = None) -> FastAPI:
    """The app around ``bot`` (default: a :class:`PaperBot` from ``settings``/the environment)."""
    settings = settings or (bot.settings if bot is not None else load_settings())
    bot = bot or PaperBot(settings)
    lock = threading.RLock()

    def locked(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with lock:
            return fn(*args, **kwargs)

    def warm_up() -> None:
        started = time.perf_counter()
        try:
            with lock:
                bot.retriever  # noqa: B018 - loads the embedding model and opens the store
                bot.store.count_papers()
                bot.verifier  # noqa: B018
                bot.llm  # noqa: B018
        except PaperbotError as exc:
            log.warning("warm-up: %s", exc)
        else:
            log.info("models loaded in %.1fs", time.perf_counter() - started)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=warm_up, name="paperbot-warm-up", daemon=True).start()
        yield

    app = _make_fastapi(lifespan)
    app.state.bot = bot
    app.state.settings = settings

    @app.exception_handler(PaperbotError)
    async def paperbot_error(request: Request, exc: PaperbotError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    api = APIRouter(prefix="/api")

    def check_length(question: str) -> None:
        if len(question) > settings.max_question_chars:
            raise HTTPException(
                422,
                f"the question is {len(question)} characters long; the limit is "
                f"{settings.max_question_chars} (PAPERBOT_MAX_QUESTION_CHARS)",
            )

    @api.post("/ask", summary="Answer a question with verified citations")
    def ask(req: AskRequest) -> dict[str, Any]:
        check_length(req.question)
        return locked(bot.ask, req.question, req.k).to_dict()

    @api.post(
        "/chat",
        summary="One chat turn (server-sent events)",
        responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
    )
    async def chat(req: ChatRequest, request: Request) -> Any:
        check_length(req.question)
        from bot.answer import check_question

        check_question(req.question, settings)  # 422 before the stream starts
        if req.session_id is not None and not await run_in_threadpool(
            bot.sessions.exists, req.session_id
        ):
            raise HTTPException(404, f"no session with id '{req.session_id}'")
        if not req.stream:
            result = await run_in_threadpool(locked, bot.chat, req.question, req.session_id, req.k)
            return result.to_dict()
        return _stream_chat(req, request)

    def _stream_chat(req: ChatRequest, request: Request) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
        cancelled = threading.Event()
        streamed = False

        def emit(item: tuple[str, Any] | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def on_token(text: str) -> None:
            nonlocal streamed
            if cancelled.is_set():
                raise _Cancelled
            streamed = True
            emit(("token", {"text": text}))

        def on_rewrite(session_id: str, turn: int, rewrite: Any) -> None:
            emit(
                (
                    "meta",
                    {
                        "session_id": session_id,
                        "turn": turn,
                        "question": rewrite.question,
                        "standalone_question": rewrite.standalone,
                        "rewrite": rewrite.method,
                    },
                )
            )

        def work() -> None:
            try:
                result = locked(
                    bot.chat,
                    req.question,
                    req.session_id,
                    req.k,
                    on_token=on_token,
                    on_rewrite=on_rewrite,
                )
                if not streamed:  # extractive mode: no model tokens; stream the final text
                    for chunk in _word_chunks(result.answer.answer):
                        emit(("token", {"text": chunk}))
                emit(("final", result.to_dict()))
            except _Cancelled:
                log.info("chat stream cancelled by the client")
            except PaperbotError as exc:
                emit(("error", {"detail": str(exc), "status": status_for(exc)}))
            except Exception as exc:  # never leave the stream hanging
                log.exception("chat failed")
                emit(("error", {"detail": f"internal error: {type(exc).__name__}", "status": 500}))
            finally:
                emit(None)

        async def events() -> AsyncIterator[bytes]:
            thread = threading.Thread(target=work, name="paperbot-chat", daemon=True)
            thread.start()
            try:
                while True:
                    item = await queue.get()
                    if item is None:
                        break
                    yield _sse(*item)
            finally:
                cancelled.set()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @api.get("/sessions", summary="Chat sessions, most recent first")
    def sessions(limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        return {"sessions": [s.to_dict(with_turns=False) for s in bot.sessions.list(limit)]}

    @api.get("/sessions/{session_id}", summary="One chat session with its turns")
    def session(session_id: str) -> dict[str, Any]:
        if not re.match(_SESSION_ID, session_id):
            raise HTTPException(404, f"no session with id '{session_id[:80]}'")
        return bot.sessions.get(session_id).to_dict()

    def _method(name: str) -> Callable[..., Any]:
        method = getattr(bot, name, None)
        if method is None:
            raise HTTPException(501, f"{name} is not available in this version of paperbot")
        return method  # type: ignore[no-any-return]

    @api.post("/summarize", summary="Lay summary of a paper, every sentence cited")
    def summarize(req: SummarizeRequest) -> dict[str, Any]:
        """``paper_id`` gives the shape of ``paperbot summarize --json``; ``paper_ids`` gives
        ``{"summaries": [...]}``."""
        if (req.paper_id is None) == (req.paper_ids is None):
            raise HTTPException(422, "give exactly one of paper_id or paper_ids")
        method = _method("summarize")
        options = {"audience": req.audience, "grade": req.grade, "words": req.words}
        if req.paper_id is not None:
            return locked(method, req.paper_id, **options).to_dict()  # type: ignore[no-any-return]
        ids = list(dict.fromkeys(req.paper_ids or []))
        return {"summaries": [locked(method, pid, **options).to_dict() for pid in ids]}

    @api.post(
        "/newsletter",
        summary="A newsletter draft from papers",
        responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
    )
    def newsletter(req: NewsletterRequest) -> Any:
        """Papers by exactly one of ``query`` or ``paper_ids``; ``format`` json gives the shape
        of ``paperbot newsletter --json``."""
        if (req.query is None) == (req.paper_ids is None):
            raise HTTPException(422, "give exactly one of query or paper_ids")
        method = _method("newsletter")
        digest = locked(
            method,
            query=req.query,
            ids=list(dict.fromkeys(req.paper_ids)) if req.paper_ids else None,
            top=req.top,
            group=req.group,
            title=req.title,
            audience=req.audience,
            grade=req.grade,
        )
        if req.format == "json":
            return digest.to_dict()
        from bot.render import render_digest

        text = render_digest(digest, req.format)
        if req.format == "html":
            return HTMLResponse(text)
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")

    @api.get("/papers", summary="Stored papers")
    def papers(
        q: str = Query("", max_length=200, description="Filter by words in title/authors/id."),
        limit: int = Query(200, ge=1, le=5000),
        offset: int = Query(0, ge=0),
        sort: Literal["title", "recent"] = Query(
            "title", description="title (A-Z) or recent (most recently added first)."
        ),
    ) -> dict[str, Any]:
        items = locked(bot.papers)
        if sort == "recent":  # ISO timestamps sort as text; papers without one go last
            items = sorted(items, key=lambda p: p.added or "", reverse=True)
        words = q.lower().split()
        if words:
            items = [
                p
                for p in items
                if all(w in f"{p.title} {' '.join(p.authors)} {p.id}".lower() for w in words)
            ]
        return {
            "papers": [p.to_dict(full=False) for p in items[offset : offset + limit]],
            "total": len(items),
        }

    @api.get("/papers/{paper_id:path}", summary="One paper with its abstract")
    def paper(paper_id: str) -> dict[str, Any]:
        found = locked(bot.paper, paper_id)
        return {**found.to_dict(), "text": found.text}

    @api.delete(
        "/papers/{paper_id:path}",
        summary="Remove a paper: its chunks, keyword-index entry, record and cached generations",
    )
    def remove_paper(paper_id: str) -> dict[str, Any]:
        """The shape of ``paperbot remove ID --json``; 404 when no paper has this id or alias."""
        report = locked(bot.remove, [paper_id])
        if report.not_found:
            raise HTTPException(404, f"no paper with id '{paper_id[:200]}'")
        return report.to_dict()  # type: ignore[no-any-return]

    @api.get("/search", summary="Semantic search over the papers (no language model)")
    def search(
        q: str = Query(..., min_length=1, max_length=2000),
        k: int | None = Query(None, ge=1),
        since: str | None = Query(None, max_length=10, description="YYYY[-MM[-DD]]"),
        until: str | None = Query(None, max_length=10, description="YYYY[-MM[-DD]]"),
    ) -> dict[str, Any]:
        """``notes`` says how many papers without a date a date filter left out."""
        hits = locked(bot.search, q, k, since=since, until=until)
        notes = locked(bot.filter_notes, since=since, until=until)
        return {"results": [h.to_dict() for h in hits], "notes": notes}

    @api.get("/formats", summary="The input formats POST /api/ingest reads")
    def formats() -> dict[str, Any]:
        """Every registered reader and its file suffixes; ``accept`` is the list for a file
        picker."""
        from bot.readers import READERS

        listed = [{"name": r.name, "suffixes": list(r.suffixes)} for r in READERS.values()]
        accept = ",".join(x for r in READERS.values() for x in r.suffixes)
        return {"formats": listed, "accept": accept}

    from bot.readers import supported_types

    @api.post("/ingest", summary=f"Upload a file of papers ({supported_types()})")
    def ingest(
        file: Annotated[UploadFile, File(description="A file the CLI's ingest accepts.")],
        format: Annotated[
            str | None,
            Form(description="Read the file as this format instead of by its suffix."),
        ] = None,
    ) -> Any:
        return _ingest_upload(bot, settings, lock, file, format)

    @api.get("/stats", summary="Paper and chunk counts, models, mode")
    def stats() -> dict[str, Any]:
        return locked(bot.stats)

    app.include_router(api)

    @app.get("/healthz", summary="Liveness check (no auth)")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        ApiGuard,
        api_key=settings.api_key,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        rate_limit_per_minute=settings.rate_limit_per_minute,
    )
    return app


def _make_fastapi(lifespan: Any) -> FastAPI:
    meta: dict[str, Any] = {
        "title": "paperbot",
        "version": "0.1.0",
        "description": "Ask questions about research papers; answers cite verified sentences.",
        "lifespan": lifespan,
    }
    try:  # Swagger UI assets shipped in a package: /docs works without internet
        from fastapi_offline import FastAPIOffline
    except ImportError:  # pragma: no cover - falls back to FastAPI's CDN-hosted docs page
        return FastAPI(**meta)
    return FastAPIOffline(**meta)


_UPLOAD_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _ingest_upload(
    bot: PaperBot,
    settings: Settings,
    lock: threading.RLock,
    file: UploadFile,
    fmt: str | None = None,
) -> Any:
    from bot.errors import ReaderError
    from bot.readers import detect_format, resolve_format, unsupported_message

    original = Path(file.filename or "upload").name or "upload"
    safe = _UPLOAD_NAME.sub("_", original).strip("._")[:100] or "upload"
    if fmt:
        try:
            fmt = resolve_format(fmt)
        except ReaderError as exc:
            raise HTTPException(422, exc.message) from exc
    elif detect_format(Path(safe)) is None:
        raise HTTPException(415, unsupported_message(Path(safe)))
    folder = settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{stamp}-{threading.get_ident() % 10000:04d}-{safe}"
    size = 0
    with target.open("wb") as out:
        while chunk := file.file.read(1 << 20):
            size += len(chunk)
            if size > settings.max_upload_bytes:
                out.close()
                target.unlink(missing_ok=True)
                raise HTTPException(
                    413,
                    f"upload too large: the limit is {settings.max_upload_bytes} bytes "
                    "(PAPERBOT_MAX_UPLOAD_BYTES)",
                )
            out.write(chunk)
    with lock:
        report = bot.ingest([target], fmt=fmt or None)
    data = report.to_dict()
    for failure in data["failed"]:
        if failure.get("path") == str(target):
            failure["path"] = original
    if report.failed and not (report.added or report.updated or report.unchanged):
        target.unlink(missing_ok=True)
        return JSONResponse({**data, "detail": "no papers could be read"}, status_code=422)
    return data
