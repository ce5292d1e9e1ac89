"""The one retry policy for every model call, with an injectable clock.

:meth:`RetryPolicy.run` is the only retry loop: a whole reply (:meth:`RetryPolicy.call`) is
an attempt that yields one item, a stream is an attempt that yields tokens. A failure before
the first item is retried when transient (429 with ``Retry-After``, 408/409/425/5xx,
timeouts, refused or dropped connections, a malformed or empty response); one after it ends
the call (tokens already shown cannot be taken back).
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.errors import LLMError

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "Attempts",
    "Clock",
    "EmptyCompletionError",
    "RetryPolicy",
    "SystemClock",
    "one_line",
]

T = TypeVar("T")


class EmptyCompletionError(Exception):
    """The model answered, but with no text (treated as a failed, retryable request)."""


class Clock(Protocol):
    """Time as the retry loop sees it (tests inject one that does not sleep)."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Attempts:
    """The requests one call has made so far (owned by that call)."""

    count: int = 0


# HTTP statuses worth another try: timeout, conflict/lock, rate limit, server errors.
_RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return int(status) if isinstance(status, int) else None


def retry_after(exc: BaseException, now: float) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``/``retry-after-ms``), if any;
    ``now`` is the wall-clock time an HTTP-date is measured from."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            parsed = email.utils.parsedate_tz(raw)
            if parsed is not None:
                return max(0.0, email.utils.mktime_tz(parsed) - now)
    return None


def retryable(exc: BaseException) -> bool:
    """Transient failures: timeouts, refused/dropped connections, 408/409/429/5xx, a malformed
    or empty response. Authentication, bad requests and unknown models are not retried."""
    if isinstance(exc, EmptyCompletionError | json.JSONDecodeError | TimeoutError):
        return True
    if isinstance(exc, ConnectionError):
        return True
    status = _status_of(exc)
    if status is not None:
        return status in _RETRY_STATUSES or status >= 500
    try:
        import httpx
        import openai
    except ImportError:  # pragma: no cover - both ship with langchain-openai
        return False
    retry_types: tuple[type[BaseException], ...] = (
        openai.APIConnectionError,  # includes APITimeoutError
        openai.APIResponseValidationError,  # a 2xx body that is not the expected JSON
        httpx.TransportError,
        httpx.DecodingError,
    )
    if isinstance(exc, retry_types):
        return True
    # A malformed body can surface as a KeyError/TypeError/ValueError while parsing it; the
    # JSON decoder error is chained as the cause.
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, json.JSONDecodeError)


def one_line(prefix: str, exc: BaseException) -> str:
    """``prefix: Type: message`` on one line, at most ~300 characters of detail."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__name__ not in detail and not isinstance(exc, EmptyCompletionError):
        detail = f"{type(exc).__name__}: {detail}"
    return f"{prefix}: {detail[:300]}"


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff (plus jitter) that honour ``Retry-After``.

    ``max_retries`` extra attempts after the first; waits grow ``backoff * 2**n`` up to
    ``max_wait``; a server's ``Retry-After`` is honoured when it is at most ``max_wait`` (a
    longer one ends the retries at once: better the extractive fallback now than a wait the
    user did not ask for). No new attempt starts once ``deadline`` seconds have passed since
    the first, so one call takes at most about ``deadline + timeout``.

    ``clock`` and ``jitter`` (a number in [0, 1)) are injectable, so tests need no sleeps."""

    max_retries: int = 2
    backoff: float = 0.5
    max_wait: float = 20.0
    deadline: float = 120.0
    clock: Clock = field(default_factory=SystemClock, compare=False, repr=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> RetryPolicy:
        return cls(
            max_retries=settings.retry.max_retries,
            backoff=settings.retry.backoff,
            max_wait=settings.retry.max_wait,
            deadline=settings.retry.deadline,
            clock=clock or SystemClock(),
        )

    def next_wait(self, exc: BaseException, attempt: int, start: float) -> float | None:
        """Seconds to sleep before attempt ``attempt + 1``, or ``None`` to give up."""
        if attempt > self.max_retries or not retryable(exc):
            return None
        asked = retry_after(exc, self.clock.time())
        if asked is not None:
            if asked > self.max_wait:
                return None
            wait = asked
        else:
            wait = min(self.backoff * 2 ** (attempt - 1), self.max_wait)
            wait *= 1 - 0.25 * self.jitter()  # jitter: never more than the computed wait
        if self.clock.monotonic() - start + wait >= self.deadline:
            return None
        return wait

    def error(self, what: str, exc: BaseException, attempts: int, start: float) -> LLMError:
        elapsed = self.clock.monotonic() - start
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''} in {elapsed:.1f}s"
        return LLMError(one_line(f"{what} failed {tries}", exc))

    def run(
        self, attempt: Callable[[], Iterator[T]], describe: str, attempts: Attempts
    ) -> Iterator[T]:
        """The retry loop: the items of the first attempt that yields any (counted in
        ``attempts``). A failure after the first item, or one not worth retrying, raises
        :class:`LLMError` with one line naming ``describe`` and the attempts made."""
        start = self.clock.monotonic()
        while True:
            attempts.count += 1
            yielded = False
            try:
                for item in attempt():
                    yielded = True
                    yield item
                if not yielded:
                    raise EmptyCompletionError("the model returned an empty completion")
                return
            except Exception as exc:
                wait = None if yielded else self.next_wait(exc, attempts.count, start)
                if wait is None:
                    raise self.error(describe, exc, attempts.count, start) from exc
                self.clock.sleep(wait)

    def call(self, once: Callable[[], T], describe: str, attempts: Attempts) -> T:
        """``once()`` under :meth:`run` (an attempt that yields its one result)."""

        def attempt() -> Iterator[T]:
            yield once()

        items = self.run(attempt, describe, attempts)
        try:
            return next(items)
        finally:
            items.close()
