"""The FastAPI app: the HTTP API over :class:`bot.PaperBot`, and the web chat page at ``/``.

Routes (JSON shapes are the CLI's ``--json`` shapes; errors are ``{"detail": "..."}``):

=========================  ===============================================================
``POST /api/ask``          one question -> the verified answer
``POST /api/chat``         a chat turn; server-sent events: ``meta`` (session, rewritten
                           question), ``token`` (text; ``"draft": true`` for a model's raw,
                           unverified draft, false for the already verified extractive
                           answer), then ``final`` (the verified answer, which replaces a
                           draft) or ``error``.
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

The bot is shared by all requests, which run concurrently: a slow generation does not hold
up ``/api/search``. Only what cannot be used at once is guarded, each by its own lock: store
writes (one at a time, together with the embedded store's writer lock), the local llama.cpp
model (one call at a time, inside its provider), the one-time build of each lazy part of the
bot. Every request runs under a deadline and is cancelled when its client disconnects, also
while it waits for the write lock (:mod:`bot.server.control`). Uploaded files are parsed
outside any lock (PDFs in a worker process with time and memory budgets). Before each
request the store's view is refreshed if another process wrote to it
(:meth:`bot.index.store.PaperStore.refresh`).
API output shows no server file paths unless ``PAPERBOT_EXPOSE_PATHS`` is set.
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
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, model_validator

from bot import paths
from bot.api import PaperBot
from bot.errors import (
    ConfigError,
    EmptyStoreError,
    InputError,
    LLMError,
    NotFoundError,
    PaperbotError,
    StoreError,
)
from bot.server.control import CancellableLLM, RequestCancelled, RequestControl, run_bounded
from bot.server.guard import ApiGuard
from bot.settings import Settings, load_settings

__all__ = ["create_app"]

log = logging.getLogger("paperbot.server")
STATIC = Path(__file__).resolve().parent / "static"
_SESSION_ID = r"^[A-Za-z0-9_-]{1,64}$"


# --- request bodies ---------------------------------------------------------------------
class _Body(BaseModel):
    """A JSON body whose strings are real text: a lone surrogate escape (``"\\ud800"``) is a
    422 naming the field, not a 500 further down."""

    @model_validator(mode="after")
    def _no_lone_surrogates(self) -> _Body:
        from bot.text.sanitize import check_text

        for name, value in self:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    try:
                        check_text(item, name)
                    except PaperbotError as exc:
                        raise ValueError(str(exc)) from None
        return self


class AskRequest(_Body):
    question: str = Field(..., min_length=1, description="The question, in plain words.")
    k: int | None = Field(None, ge=1, description="How many papers to retrieve.")


class ChatRequest(AskRequest):
    session_id: str | None = Field(
        None, pattern=_SESSION_ID, description="Continue this session; omit to start one."
    )
    stream: bool = Field(True, description="Server-sent events (true) or one JSON reply.")


class SummarizeRequest(_Body):
    paper_id: str | None = Field(
        None, max_length=500, description="A paper id, arXiv id or title (one summary)."
    )
    paper_ids: list[str] | None = Field(
        None, min_length=1, max_length=10, description="Several papers (a list of summaries)."
    )
    audience: Literal["general", "student", "expert"] | None = None
    grade: float | None = Field(None, ge=1, le=20, description="Target reading grade.")
    words: int | None = Field(None, ge=10, le=1000, description="Word budget.")


class CheckRequest(_Body):
    text: str = Field(
        ...,
        min_length=1,
        max_length=200_000,
        description="Your text; a sentence may cite a paper with a [paper-id] marker.",
    )
    paper_id: str | None = Field(
        None, max_length=500, description="Check every sentence against this paper."
    )


class NewsletterRequest(_Body):
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
#: The HTTP status of each error type, most specific first (the first ``isinstance`` wins).
STATUS_BY_ERROR: tuple[tuple[type[PaperbotError], int], ...] = (
    (EmptyStoreError, 409),
    (NotFoundError, 404),
    (InputError, 422),
    (LLMError, 502),
    (ConfigError, 503),
    (StoreError, 503),
)


def status_for(exc: PaperbotError) -> int:
    """The HTTP status for ``exc``, chosen by its type (500 for any other error)."""
    return next((status for kind, status in STATUS_BY_ERROR if isinstance(exc, kind)), 500)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


_UPLOAD_STAMP = re.compile(r"^\d{8}-\d{6}-\d{4}-")


def public(data: Any, settings: Settings) -> Any:
    """``data`` without server file paths (``PAPERBOT_EXPOSE_PATHS`` keeps them): a paper's
    ``source`` becomes its file name (and line), a failure's ``path`` its file name."""
    if settings.server.expose_paths:
        return data
    if isinstance(data, list):
        return [public(item, settings) for item in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        is_path = isinstance(value, str) and ("/" in value or "\\" in value)
        if key in ("source", "path") and is_path:
            value = _UPLOAD_STAMP.sub("", Path(value.replace("\\", "/")).name)
        out[key] = public(value, settings)
    return out


def _word_chunks(text: str, size: int = 3) -> Iterator[str]:
    words = re.findall(r"\S+\s*", text)
    for i in range(0, len(words), size):
        yield "".join(words[i : i + size])


# --- the app ----------------------------------------------------------------------------
def create_app(
    bot: PaperBot | None = None,
    settings: Settings | None = None,
    allowed_hosts: frozenset[str] | None = None,
) -> FastAPI:
    """The app around ``bot`` (default: a :class:`PaperBot` from ``settings``/the environment).

    ``allowed_hosts``: the Host header values answered (default ``PAPERBOT_ALLOWED_HOSTS``;
    ``paperbot serve`` adds the address it binds to)."""
    settings = settings or (bot.settings if bot is not None else load_settings())
    bot = bot or PaperBot(settings)
    # No server-wide lock: requests run concurrently, and only what is shared and not safe
    # to use at once is guarded - store writes (one at a time, with the store's writer
    # lock; the check for another process's writes takes the same lock), the one-time
    # wrapping of the model. The bot builds each lazy part once; the local model serialises
    # its own calls.
    writes = threading.Lock()
    wrapping = threading.Lock()
    parsing = threading.BoundedSemaphore(2)  # uploads parsed at once (outside any lock)

    def cancellable_model() -> None:
        """Wrap the bot's model once, so that generations stop on cancellation."""
        if bot._llm is None or isinstance(bot._llm, CancellableLLM):
            return
        with wrapping:
            llm = bot.llm
            if llm is not None and not isinstance(llm, CancellableLLM):
                bot._llm = CancellableLLM(llm)

    def current_view() -> None:
        """Reopen the store if another process wrote to it. Skipped while this process
        writes (the write refreshes under the writer lock itself) or another request is
        already refreshing: the store is never reopened under a running write."""
        if writes.acquire(blocking=False):
            try:
                bot.store.refresh()
            finally:
                writes.release()

    def prepared() -> None:
        """Generations stop on cancellation; the store's view is current."""
        cancellable_model()
        current_view()

    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` for a request, after :func:`prepared` (no lock held while it runs)."""
        from bot.server.control import current_control

        control = current_control()
        if control is not None:
            control.check()
        prepared()
        return fn(*args, **kwargs)

    def written(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` that writes to the store: one writer at a time (a request waiting for its
        turn still notices cancellation)."""
        from bot.server.control import current_control

        control = current_control()
        with control.locked(writes) if control is not None else writes:
            if control is not None:
                control.check()
            cancellable_model()
            bot.store.refresh()
            return fn(*args, **kwargs)

    async def bounded(request: Request, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` under the request's deadline; cancelled when the client leaves."""
        control = RequestControl(settings.server.request_timeout)
        try:
            return await run_bounded(request, control, fn, *args, **kwargs)
        except RequestCancelled as exc:
            if exc.reason == "deadline":
                raise HTTPException(
                    504,
                    f"the request took longer than {settings.server.request_timeout:g}s "
                    "(PAPERBOT_REQUEST_TIMEOUT) and was stopped",
                ) from None
            log.info("%s %s cancelled: the client disconnected", request.method, request.url.path)
            return Response(status_code=499)

    def warm_up() -> None:
        started = time.perf_counter()
        try:
            bot.retriever  # noqa: B018 - loads the embedding model and opens the store
            bot.store.count_papers()
            bot.verifier  # noqa: B018
            prepared()
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

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's 422 without echoing the input back: an input that cannot be encoded (a
        lone surrogate) would turn the 422 into a 500."""
        errors = [{k: v for k, v in e.items() if k not in ("input", "url")} for e in exc.errors()]
        body = json.dumps({"detail": errors}, ensure_ascii=True, default=str)
        return Response(body, status_code=422, media_type="application/json")

    api = APIRouter(prefix="/api")

    def check_length(question: str) -> None:
        if len(question) > settings.retrieval.max_question_chars:
            raise HTTPException(
                422,
                f"the question is {len(question)} characters long; the limit is "
                f"{settings.retrieval.max_question_chars} (PAPERBOT_MAX_QUESTION_CHARS)",
            )

    @api.post("/ask", summary="Answer a question with verified citations")
    async def ask(req: AskRequest, request: Request) -> Any:
        check_length(req.question)
        answer = await bounded(request, call, bot.ask, req.question, req.k)
        return answer.to_dict() if not isinstance(answer, Response) else answer

    @api.post(
        "/chat",
        summary="One chat turn (server-sent events)",
        responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
    )
    async def chat(req: ChatRequest, request: Request) -> Any:
        check_length(req.question)
        from bot.generate.answer import check_question

        check_question(req.question, settings)  # 422 before the stream starts
        if req.session_id is not None and not await run_in_threadpool(
            bot.sessions.exists, req.session_id
        ):
            raise HTTPException(404, f"no session with id '{req.session_id}'")
        if not req.stream:
            result = await bounded(request, call, bot.chat, req.question, req.session_id, req.k)
            return result.to_dict() if not isinstance(result, Response) else result
        return _stream_chat(req, request)

    def _stream_chat(req: ChatRequest, request: Request) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
        control = RequestControl(settings.server.request_timeout)
        streamed = False

        def emit(item: tuple[str, Any] | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def on_token(text: str) -> None:
            nonlocal streamed
            control.check()  # a client that left stops the model within one token
            streamed = True
            emit(("token", {"text": text, "draft": True}))

        def on_rewrite(session_id: str, turn: int, rewrite: Any) -> None:
            control.check()
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
                with control.active():
                    result = call(
                        bot.chat,
                        req.question,
                        req.session_id,
                        req.k,
                        on_token=on_token,
                        on_rewrite=on_rewrite,
                    )
                if not streamed:  # extractive mode: no model tokens; stream the final text
                    for chunk in _word_chunks(result.answer.answer):
                        emit(("token", {"text": chunk, "draft": False}))
                emit(("final", result.to_dict()))
            except RequestCancelled as exc:
                if exc.reason == "deadline":
                    emit(
                        (
                            "error",
                            {
                                "detail": f"the request took longer than "
                                f"{settings.server.request_timeout:g}s (PAPERBOT_REQUEST_TIMEOUT)",
                                "status": 504,
                            },
                        )
                    )
                else:
                    log.info("chat stream cancelled: the client disconnected")
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
                    try:
                        item = await asyncio.wait_for(queue.get(), timeout=0.25)
                    except TimeoutError:
                        if await request.is_disconnected():
                            control.cancel("client disconnected")
                            break
                        continue
                    if item is None:
                        break
                    yield _sse(*item)
            finally:
                control.cancel("client disconnected")  # no-op when the work is done

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
    async def summarize(req: SummarizeRequest, request: Request) -> Any:
        """``paper_id`` gives the shape of ``paperbot summarize --json``; ``paper_ids`` gives
        ``{"summaries": [...]}``."""
        if (req.paper_id is None) == (req.paper_ids is None):
            raise HTTPException(422, "give exactly one of paper_id or paper_ids")
        method = _method("summarize")
        options = {"audience": req.audience, "grade": req.grade, "words": req.words}

        def run() -> dict[str, Any]:
            if req.paper_id is not None:
                return public(call(method, req.paper_id, **options).to_dict(), settings)
            ids = list(dict.fromkeys(req.paper_ids or []))
            summaries = [call(method, pid, **options).to_dict() for pid in ids]
            return {"summaries": public(summaries, settings)}

        return await bounded(request, run)

    @api.post("/check", summary="Check each sentence of a text against the papers it cites")
    def check(req: CheckRequest) -> dict[str, Any]:
        """Per sentence: ``status`` (supported / contradicted / unsupported), ``paper_id``,
        ``quote`` (exact source text), ``start``/``end`` (its offsets in the paper's text) and
        ``score``; the shape of ``paperbot check --json``."""
        return call(bot.check, req.text, req.paper_id).to_dict()  # type: ignore[no-any-return]

    @api.post(
        "/newsletter",
        summary="A newsletter draft from papers",
        responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
    )
    async def newsletter(req: NewsletterRequest, request: Request) -> Any:
        """Papers by exactly one of ``query`` or ``paper_ids``; ``format`` json gives the shape
        of ``paperbot newsletter --json``."""
        if (req.query is None) == (req.paper_ids is None):
            raise HTTPException(422, "give exactly one of query or paper_ids")
        method = _method("newsletter")
        digest = await bounded(
            request,
            call,
            method,
            query=req.query,
            ids=list(dict.fromkeys(req.paper_ids)) if req.paper_ids else None,
            top=req.top,
            group=req.group,
            title=req.title,
            audience=req.audience,
            grade=req.grade,
        )
        if isinstance(digest, Response):
            return digest
        if req.format == "json":
            return public(digest.to_dict(), settings)
        from bot.render import render_digest

        text = render_digest(digest, req.format)
        if req.format == "html":
            return HTMLResponse(text)
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")

    @api.get("/papers", summary="Stored papers")
    async def papers(
        request: Request,
        q: str = Query("", max_length=200, description="Filter by words in title/authors/id."),
        limit: int = Query(200, ge=1, le=5000),
        offset: int = Query(0, ge=0),
        sort: Literal["title", "recent"] = Query(
            "title", description="title (A-Z) or recent (most recently added first)."
        ),
    ) -> Any:
        items = await bounded(request, call, bot.papers)
        if isinstance(items, Response):
            return items
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
            "papers": public(
                [p.to_dict(full=False) for p in items[offset : offset + limit]], settings
            ),
            "total": len(items),
        }

    @api.get("/papers/{paper_id:path}", summary="One paper with its abstract")
    async def paper(paper_id: str, request: Request) -> Any:
        found = await bounded(request, call, bot.paper, paper_id)
        if isinstance(found, Response):
            return found
        return public({**found.to_dict(), "text": found.text}, settings)

    @api.delete(
        "/papers/{paper_id:path}",
        summary="Remove a paper: its chunks, keyword-index entry, record and cached generations",
    )
    def remove_paper(paper_id: str) -> dict[str, Any]:
        """The shape of ``paperbot remove ID --json``; 404 when no paper has this id or alias."""
        report = written(bot.remove, [paper_id])
        if report.not_found:
            raise HTTPException(404, f"no paper with id '{paper_id[:200]}'")
        return report.to_dict()  # type: ignore[no-any-return]

    @api.get("/search", summary="Semantic search over the papers (no language model)")
    async def search(
        request: Request,
        q: str = Query(..., min_length=1, max_length=2000),
        k: int | None = Query(None, ge=1),
        since: str | None = Query(None, max_length=10, description="YYYY[-MM[-DD]]"),
        until: str | None = Query(None, max_length=10, description="YYYY[-MM[-DD]]"),
    ) -> Any:
        """``notes`` says how many papers without a date a date filter left out."""
        hits = await bounded(request, call, bot.search, q, k, since=since, until=until)
        if isinstance(hits, Response):
            return hits
        notes = call(bot.filter_notes, since=since, until=until)
        return {"results": [h.to_dict() for h in hits], "notes": notes}

    @api.get("/formats", summary="The input formats POST /api/ingest reads")
    def formats() -> dict[str, Any]:
        """Every registered reader and its file suffixes; ``accept`` is the list for a file
        picker."""
        from bot.ingest.readers import READERS

        listed = [{"name": r.name, "suffixes": list(r.suffixes)} for r in READERS.values()]
        accept = ",".join(x for r in READERS.values() for x in r.suffixes)
        return {"formats": listed, "accept": accept}

    from bot.ingest.readers import supported_types

    @api.post("/ingest", summary=f"Upload a file of papers ({supported_types()})")
    async def ingest(
        request: Request,
        file: Annotated[UploadFile, File(description="A file the CLI's ingest accepts.")],
        format: Annotated[
            str | None,
            Form(description="Read the file as this format instead of by its suffix."),
        ] = None,
    ) -> Any:
        return await bounded(request, _ingest_upload, bot, settings, written, parsing, file, format)

    @api.get("/stats", summary="Paper and chunk counts, models, mode")
    async def stats(request: Request) -> Any:
        data = await bounded(request, call, bot.stats)
        if isinstance(data, dict) and not settings.server.expose_paths and not settings.server_mode:
            data["store"] = "embedded"
        return data

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
        api_key=settings.server.api_key,
        max_request_bytes=settings.server.max_request_bytes,
        max_upload_bytes=settings.server.max_upload_bytes,
        rate_limit_per_minute=settings.server.rate_limit_per_minute,
        allowed_hosts=allowed_hosts
        if allowed_hosts is not None
        else frozenset(settings.host_list(settings.server.allowed_hosts)),
        allowed_origins=frozenset(settings.host_list(settings.server.allowed_origins)),
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
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


def upload_name(filename: str | None) -> tuple[str, str]:
    """(the name the client gave, a safe name to store it under): any characters in the stem
    become ``_`` (``名前.json`` -> ``upload.json``), the suffix that picks the reader is kept."""
    original = Path(filename or "upload").name or "upload"
    suffix = Path(original).suffix
    suffix = suffix.lower() if _SUFFIX.match(suffix) else ""
    stem = original[: -len(suffix)] if suffix else original
    stem = _UPLOAD_NAME.sub("_", stem).strip("._")[:100] or "upload"
    return original, stem + suffix


def _ingest_upload(
    bot: PaperBot,
    settings: Settings,
    write: Callable[..., Any],
    parsing: threading.BoundedSemaphore,
    file: UploadFile,
    fmt: str | None = None,
) -> Any:
    from bot.errors import ReaderError
    from bot.ingest.readers import detect_format, read_file, resolve_format, unsupported_message
    from bot.ingest.readers.isolated import parse_worker
    from bot.server.control import current_control
    from bot.types import IngestReport

    original, safe = upload_name(file.filename)
    if fmt:
        try:
            fmt = resolve_format(fmt)
        except ReaderError as exc:
            raise HTTPException(422, exc.message) from exc
    elif detect_format(Path(safe)) is None:
        raise HTTPException(415, unsupported_message(Path(original)))
    folder = paths.uploads_dir(settings.store.home)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{stamp}-{threading.get_ident() % 10000:04d}-{safe}"
    kept = False
    try:
        size = 0
        with target.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > settings.server.max_upload_bytes:
                    raise HTTPException(
                        413,
                        f"upload too large: the limit is {settings.server.max_upload_bytes} bytes "
                        "(PAPERBOT_MAX_UPLOAD_BYTES)",
                    )
                out.write(chunk)
        control = current_control()
        # Parse outside the write lock (a hostile file cannot stall other requests), PDFs in a
        # worker process with time and memory budgets; at most two parses at once.
        while not parsing.acquire(timeout=0.1):
            if control is not None:
                control.check()
        try:
            with parse_worker(
                settings.ingest.parse_timeout, settings.ingest.parse_memory_mb
            ) as worker:
                result = read_file(target, fmt or None, worker=worker)
        finally:
            parsing.release()
        report = IngestReport(failed=list(result.failures))
        if result.papers:
            written = write(bot.add_papers, result.papers)
            report.added, report.updated = written.added, written.updated
            report.unchanged, report.chunks_written = written.unchanged, written.chunks_written
            report.failed.extend(written.failed)
            report.seconds = written.seconds
        data = report.to_dict()
        for failure in data["failed"]:
            if failure.get("path") == str(target):
                failure["path"] = original
        if report.failed and not (report.added or report.updated or report.unchanged):
            return JSONResponse(
                {**public(data, settings), "detail": "no papers could be read"}, status_code=422
            )
        kept = bool(report.added or report.updated)  # the stored papers name it as source
        return public(data, settings)
    finally:
        if not kept:
            target.unlink(missing_ok=True)
