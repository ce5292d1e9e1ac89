"""``paperbot fetch arxiv QUERY``: papers straight from the arXiv API, fetched politely.

This is the only module that fetches papers over the network (``urllib``, no other client).

- **Query.** Plain words must all appear (``all:word AND all:word``); a query using arXiv's
  own syntax (``ti:``, ``au:``, ``abs:``, ``cat:``, quotes, ``AND``/``OR``) is passed as
  written. ``--category`` adds ``cat:`` terms (any of them) and ``--since`` a
  ``submittedDate`` range; results come newest first (``sortBy=submittedDate``).
- **Paging.** ``PAPERBOT_ARXIV_PAGE_SIZE`` results per request until ``--max`` papers, the
  end of the results (``opensearch:totalResults``) or papers older than ``--since``.
- **Politeness.** At least ``PAPERBOT_ARXIV_DELAY`` seconds (default 3, as arXiv's terms of
  use ask) from the end of one request to the start of the next, retries included. A 429 or
  5xx answer, a timeout, a refused or dropped connection, a cut-off body (short read or
  truncated XML) and an empty page in the middle of the results are retried up to
  ``PAPERBOT_ARXIV_MAX_RETRIES`` times, waiting what ``Retry-After`` asks (if it asks more
  than ``PAPERBOT_ARXIV_MAX_WAIT`` seconds the fetch stops) or else the delay doubled per
  attempt.
- **Raw responses** are saved under ``$PAPERBOT_HOME/sources/arxiv/`` (one file per page,
  ``<time>-<query>-<start>.xml``) and read with the Atom reader
  (:mod:`bot.ingest.readers.arxiv_atom`), so every paper's source is the saved file and line
  (``paperbot remove --source FILE`` undoes a fetch).
- **Failures** become :class:`~bot.types.IngestFailure` entries (an arXiv error feed, an HTTP
  error, retries exhausted), naming the saved file and line or the URL; the papers of the
  pages fetched before are kept. An empty result is a note, not a failure.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import paths
from bot.errors import InputError
from bot.index.filters import date_key
from bot.types import IngestFailure, IngestReport, Paper

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["FetchReport", "FetchResult", "arxiv_search_query", "fetch_arxiv"]

USER_AGENT = "paperbot/0.1 (arXiv API client; paperbot fetch arxiv)"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_ARXIV_SYNTAX = re.compile(
    r"\b(?:ti|au|abs|co|jr|cat|rn|id|all|submittedDate):|\"|\b(?:AND|OR|ANDNOT)\b"
)
_TOTAL = re.compile(r"<opensearch:totalResults[^>]*>\s*(\d+)\s*<")


@dataclass
class FetchResult:
    """The papers read from the arXiv API and what happened on the way."""

    papers: list[Paper] = field(default_factory=list)
    failures: list[IngestFailure] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # the saved raw responses
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    total: int | None = None  # totalResults arXiv reported
    seconds: float = 0.0


@dataclass
class FetchReport:
    """``paperbot fetch``'s outcome: the ingest report of the fetched papers, plus notes."""

    report: IngestReport
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The same JSON as ``paperbot ingest --json``."""
        return self.report.to_dict()


def _since_date(since: str) -> str:
    """``YYYY[-MM[-DD]]`` -> ``YYYYMMDD`` (missing parts: the first month/day)."""
    key = date_key(since)
    if key is None or not re.fullmatch(r"\s*\d{4}(?:-\d{1,2}(?:-\d{1,2})?)?\s*", since):
        raise InputError("since must be a date like 2024, 2024-06 or 2024-06-30", params=["since"])
    year, month, day = key // 10000, key // 100 % 100, key % 100
    return f"{year:04d}{max(month, 1):02d}{max(day, 1):02d}"


def arxiv_search_query(query: str, categories: Iterable[str] = (), since: str | None = None) -> str:
    """The ``search_query`` parameter for ``query`` (see the module docstring)."""
    text = " ".join(query.split())
    if not text:
        raise InputError("the arXiv query is empty")
    if _ARXIV_SYNTAX.search(text):
        base = text
    else:
        base = " AND ".join(f"all:{word}" for word in text.split())
    parts = [base]
    cats = [c.strip() for c in categories if c and c.strip()]
    if cats:
        parts.append(" OR ".join(f"cat:{c}" for c in cats))
    if since:
        parts.append(f"submittedDate:[{_since_date(since)}0000 TO 999912312359]")
    if len(parts) == 1:
        return base
    return " AND ".join(f"({p})" if " " in p else p for p in parts)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), else None."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


class _Client:
    """GET requests at least ``arxiv_delay`` seconds apart, counted from the end of one
    request to the start of the next (so the server sees the gap however slow a reply was)."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None]) -> None:
        self.settings = settings
        self.sleep = sleep
        self.requests = 0
        self._done = 0.0  # monotonic time the last request ended
        self._next = 0.0  # monotonic time before which no request starts

    def not_before(self, seconds: float) -> None:
        """No next request sooner than ``seconds`` after the last one ended."""
        self._next = max(self._next, self._done + seconds)

    def get(self, url: str) -> tuple[int, Mapping[str, str], bytes]:
        """(status, headers, body); raises OSError/HTTPException for network faults."""
        wait = self._next - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self.requests += 1
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=self.settings.arxiv.timeout) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                try:
                    body = exc.read()
                except (OSError, http.client.HTTPException):
                    body = b""
                return exc.code, dict(exc.headers.items()) if exc.headers else {}, body
        finally:
            self._done = time.monotonic()
            self._next = self._done + self.settings.arxiv.delay


def _save(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)


@dataclass
class _Page:
    papers: list[Paper]
    failures: list[IngestFailure]
    entries: int
    total: int | None


def _read_page(path: Path, body: bytes) -> _Page:
    from bot.ingest.readers import read_file

    text = body.decode("utf-8", "replace")
    found = _TOTAL.search(text)
    read = read_file(path, "arxiv")
    return _Page(
        read.papers, read.failures, text.count("<entry"), int(found.group(1)) if found else None
    )


def _get_page(
    client: _Client, url: str, path: Path, start: int, settings: Settings, result: FetchResult
) -> _Page | None:
    """One page, retried politely; None (with a failure recorded) when it cannot be had."""
    attempts = settings.arxiv.max_retries + 1
    problem = ""
    page: _Page | None = None
    for attempt in range(attempts):
        wait: float | None = None
        try:
            status, headers, body = client.get(url)
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, short read
            problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            is_atom = body.lstrip().startswith(b"<?xml") or b"<feed" in body[:500]
            if status in _RETRY_STATUS:
                problem = f"HTTP {status}"
                wait = _retry_after(headers)
            elif status == 200 or (status == 400 and is_atom):  # 400: an arXiv error feed
                _save(path, body)
                if path not in result.files:
                    result.files.append(path)
                page = _read_page(path, body)
                truncated = [f for f in page.failures if f.error.startswith("malformed XML")]
                if truncated:
                    problem = f"cut-off response ({truncated[0].error})"
                elif not page.entries and page.total and start < page.total:
                    problem = f"empty page at {start} of {page.total} results"
                else:
                    return page
            else:
                result.failures.append(
                    IngestFailure(url, None, f"the arXiv API answered HTTP {status}")
                )
                return None
        if attempt == attempts - 1:
            break
        if wait is not None and wait > settings.arxiv.max_wait:
            result.failures.append(
                IngestFailure(
                    url,
                    None,
                    f"{problem}: arXiv asked to retry after {wait:.0f} s, more than "
                    f"PAPERBOT_ARXIV_MAX_WAIT ({settings.arxiv.max_wait:.0f} s); stopped",
                )
            )
            return None
        client.not_before(wait if wait is not None else settings.arxiv.delay * 2**attempt)
    if page is not None and page.failures and problem.startswith("cut-off"):
        result.failures.extend(page.failures)  # the saved file and the line it stops at
        result.notes.append(f"{path.name}: still cut off after {attempts} attempts")
        return None
    result.failures.append(
        IngestFailure(url, None, f"{problem}, {attempts} attempt{'s' if attempts != 1 else ''}")
    )
    return None


def fetch_arxiv(
    query: str,
    settings: Settings,
    *,
    categories: Iterable[str] = (),
    since: str | None = None,
    max_results: int = 50,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Page through the arXiv API results of ``query`` (see the module docstring)."""
    started = time.perf_counter()
    if max_results < 1:
        raise InputError("max_results must be at least 1", params=["max_results"])
    search = arxiv_search_query(query, categories, since)
    since_key = date_key(since) if since else None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", query).strip("-")[:40] or "query"
    folder = paths.arxiv_sources_dir(settings.store.home)
    client = _Client(settings, sleep)
    result = FetchResult()
    seen: set[str] = set()
    start = 0
    while len(result.papers) < max_results:
        size = min(settings.arxiv.page_size, max_results - len(result.papers))
        params = {
            "search_query": search,
            "start": start,
            "max_results": size,
            "sortBy": "submittedDate",
            "sortOrder": "descending",
        }
        url = f"{settings.arxiv.api_url}?{urllib.parse.urlencode(params)}"
        page = _get_page(
            client, url, folder / f"{stamp}-{slug}-{start:06d}.xml", start, settings, result
        )
        if page is None:
            break
        result.total = page.total if page.total is not None else result.total
        older = False
        for failure in page.failures:
            if failure.error.startswith("no papers found"):
                result.notes.append(f"arXiv found no papers for {search!r}")
            else:
                result.failures.append(failure)
        for paper in page.papers:
            if since_key is not None and (date_key(paper.published) or since_key) < since_key:
                older = True  # newest first: the rest is older still
                continue
            if paper.id not in seen and len(result.papers) < max_results:
                seen.add(paper.id)
                result.papers.append(paper)
        if any(f.error.startswith("arXiv API error") for f in page.failures):
            break
        start += page.entries
        if older or not page.entries or (page.total is not None and start >= page.total):
            break
    result.requests = client.requests
    if result.total is not None:
        result.notes.append(
            f"arXiv reports {result.total} results for {search!r}; read {len(result.papers)} "
            f"papers in {client.requests} request{'s' if client.requests != 1 else ''}"
        )
    if result.files:
        result.notes.append(f"raw responses saved under {folder}")
    result.seconds = time.perf_counter() - started
    return result
