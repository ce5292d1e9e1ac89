"""Deadlines and cancellation for API requests.

Every ``/api`` request that does work runs under a :class:`RequestControl`: a server-side
deadline (``PAPERBOT_REQUEST_TIMEOUT`` seconds) and a cancel flag set when the client goes
away. The work runs in a worker thread; the request's coroutine watches the connection and
the clock (:func:`run_bounded`) and:

- on a disconnect, cancels the work and answers nothing more (the client is gone);
- past the deadline, cancels the work and answers 504.

The work notices cancellation at every point where it could wait or spend long:

- **waiting for the bot's lock** (:meth:`RequestControl.acquire` polls instead of blocking),
  so an abandoned request queued behind another never runs at all;
- **between stages** (:meth:`RequestControl.check`);
- **on every generated token**: :class:`CancellableLLM` wraps the bot's model so that
  generation streams and checks the flag per token, and a cancelled request stops the model
  within one token, before or after the first token was shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "CancellableLLM",
    "RequestCancelled",
    "RequestControl",
    "current_control",
    "run_bounded",
]

T = TypeVar("T")
_local = threading.local()
POLL = 0.1  # seconds between checks while waiting for the lock or the client


class RequestCancelled(Exception):
    """The request's client went away or its deadline passed: stop working."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RequestControl:
    """The deadline and cancel flag of one request."""

    def __init__(self, timeout: float | None) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + timeout if timeout else None
        self.timeout = timeout
        self._cancelled = threading.Event()
        self.reason = ""

    def cancel(self, reason: str) -> None:
        if not self._cancelled.is_set():
            self.reason = reason
            self._cancelled.set()

    @property
    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def cancelled(self) -> bool:
        if self.expired:
            self.cancel("deadline")
        return self._cancelled.is_set()

    def check(self) -> None:
        """Raise :class:`RequestCancelled` when the work should stop."""
        if self.cancelled:
            raise RequestCancelled(self.reason)

    def acquire(self, lock: Any) -> None:
        """Take ``lock``, giving up as soon as the request is cancelled."""
        while True:
            self.check()
            if lock.acquire(timeout=POLL):
                return

    @contextlib.contextmanager
    def locked(self, lock: Any) -> Iterator[None]:
        self.acquire(lock)
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def active(self) -> Iterator[RequestControl]:
        """Make this the current thread's control (see :func:`current_control`)."""
        previous = getattr(_local, "control", None)
        _local.control = self
        try:
            yield self
        finally:
            _local.control = previous


def current_control() -> RequestControl | None:
    """The control of the request this thread is working for, if any."""
    return getattr(_local, "control", None)


def _checkpoint() -> None:
    control = current_control()
    if control is not None:
        control.check()


class CancellableLLM:
    """A :class:`bot.llm.providers.ChatLLM` whose generations stop when the request is cancelled.

    Inside a request (a current :class:`RequestControl`), ``invoke``/``invoke_prompt`` stream
    and check the flag on every token (token counts are then estimated with tiktoken, as for
    streamed answers); outside one they are the wrapped model's own calls."""

    def __init__(self, llm: Any) -> None:
        self.inner = llm

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _collect(self, tokens: Iterator[str], messages: Any) -> Any:
        from bot.llm.providers import Generation
        from bot.text.chunking import count_tokens

        parts = []
        for token in tokens:
            _checkpoint()
            parts.append(token)
        text = "".join(parts)
        prompt = sum(count_tokens(str(t)) for _, t in messages) if messages else 0
        return Generation(text=text, prompt_tokens=prompt, completion_tokens=count_tokens(text))

    def invoke(self, messages: Any) -> Any:
        if current_control() is None:
            return self.inner.invoke(messages)
        _checkpoint()
        return self._collect(self.inner.stream(messages), messages)

    def invoke_prompt(self, prompt: Any, values: dict[str, Any]) -> Any:
        if current_control() is None:
            return self.inner.invoke_prompt(prompt, values)
        _checkpoint()
        messages = prompt.render(**values)
        return self._collect(self.inner.stream_prompt(prompt, values), messages)

    def stream_prompt(self, prompt: Any, values: dict[str, Any]) -> Iterator[str]:
        _checkpoint()
        for token in self.inner.stream_prompt(prompt, values):
            _checkpoint()
            yield token

    def stream(self, messages: Any) -> Iterator[str]:
        _checkpoint()
        for token in self.inner.stream(messages):
            _checkpoint()
            yield token


async def run_bounded(
    request: Any,
    control: RequestControl,
    fn: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run ``fn`` in a worker thread under ``control``, watching the client and the clock.

    Raises :class:`RequestCancelled` (reason "client disconnected" or "deadline") when the
    work was cancelled; the worker thread stops at its next checkpoint."""

    def work() -> T:
        with control.active():
            control.check()
            return fn(*args, **kwargs)

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, work)
    # the worker may finish (with RequestCancelled) after we stopped waiting: collect it
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    try:
        while True:
            done, _ = await asyncio.wait({future}, timeout=POLL)
            if done:
                return future.result()
            if await request.is_disconnected():
                control.cancel("client disconnected")
                raise RequestCancelled(control.reason)
            if control.cancelled:
                raise RequestCancelled(control.reason)
    except asyncio.CancelledError:
        control.cancel("client disconnected")
        raise
