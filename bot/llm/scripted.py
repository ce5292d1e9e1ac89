"""A scripted :class:`bot.llm.base.ChatModel` for tests and benchmarks (no model at all).

Replies are queued (like simonw/llm's ``MockModel.enqueue``) and handed out in order; each
call is recorded with the messages and options it got. A reply may be an exception (raised
by that attempt, so it goes through the retry policy), may wait ``delay`` seconds or until
``gate`` is set before its first token (concurrency tests), and streams word by word::

    model = ScriptedModel()
    model.enqueue("The answer is in the sources [1].")
    bot = PaperBot(settings, llm=model)

:class:`ManualClock` is a retry clock that records the waits instead of sleeping.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bot.llm.base import Generation, Options, Request, RetryingModel
from bot.llm.retry import RetryPolicy

__all__ = ["ManualClock", "ScriptedCall", "ScriptedModel", "ScriptedReply"]


class ScriptExhaustedError(Exception):
    """A call came when no reply was queued."""


@dataclass(frozen=True)
class ScriptedReply:
    """One queued reply: text or an exception, and how long to hold it back."""

    reply: str | BaseException
    delay: float = 0.0
    gate: threading.Event | None = None


@dataclass(frozen=True)
class ScriptedCall:
    """What one attempt received."""

    messages: tuple[tuple[str, str], ...]
    options: Options
    prompt: str | None  # the prompt file's name, when called with one
    stream: bool

    @property
    def text(self) -> str:
        return "\n\n".join(text for _, text in self.messages)


class ScriptedModel(RetryingModel):
    """Queued replies; records every attempt in :attr:`calls`. Thread-safe.

    ``started`` is set when an attempt takes a reply (before its delay or gate). Without a
    ``retry`` policy an attempt is not retried."""

    def __init__(
        self,
        *replies: str | BaseException,
        mode: str = "scripted",
        model: str = "scripted",
        retry: RetryPolicy | None = None,
        default: str | None = None,
    ) -> None:
        super().__init__(mode, model, retry or RetryPolicy(max_retries=0))
        self.default = default  # the reply when the queue is empty (None: fail)
        self.calls: list[ScriptedCall] = []
        self.started = threading.Event()
        self._queue: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self.enqueue(*replies)

    def enqueue(
        self,
        *replies: str | BaseException,
        delay: float = 0.0,
        gate: threading.Event | None = None,
    ) -> ScriptedModel:
        """Queue ``replies`` (each held back ``delay`` seconds / until ``gate`` is set)."""
        with self._lock:
            self._queue.extend(ScriptedReply(r, delay, gate) for r in replies)
        return self

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _take(self, request: Request, options: Options, stream: bool) -> str:
        with self._lock:
            name = request.prompt.name if request.prompt is not None else None
            self.calls.append(ScriptedCall(request.messages, options, name, stream))
            if self._queue:
                item = self._queue.popleft()
            elif self.default is not None:
                item = ScriptedReply(self.default)
            else:
                item = ScriptedReply(ScriptExhaustedError("no scripted reply queued"))
        self.started.set()
        if item.gate is not None:
            item.gate.wait()
        if item.delay:
            time.sleep(item.delay)
        if isinstance(item.reply, BaseException):
            raise item.reply
        return item.reply

    def _generate(self, request: Request, options: Options) -> Generation:
        text = self._take(request, options, stream=False)
        prompt = sum(len(t.split()) for _, t in request.messages)
        return Generation(text=text, prompt_tokens=prompt, completion_tokens=len(text.split()))

    def _tokens(self, request: Request, options: Options) -> Iterator[str]:
        text = self._take(request, options, stream=True)
        yield from re.findall(r"\S+\s*|\s+", text)


@dataclass
class ManualClock:
    """A retry clock that does not sleep: :attr:`sleeps` records each wait, and
    :meth:`monotonic` is the real clock moved on by the waits (so a deadline still counts
    the real time attempts take). ``now`` is the wall-clock time (``Retry-After`` dates)."""

    sleeps: list[float] = field(default_factory=list)
    real: Callable[[], float] = time.monotonic
    now: Callable[[], float] = time.time

    def monotonic(self) -> float:
        return self.real() + sum(self.sleeps)

    def time(self) -> float:
        return self.now() + sum(self.sleeps)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
