"""Deadlines and cancellation for API requests.

Every ``/api`` request that does work runs under a :class:`RequestControl`: a server-side
deadline (``PAPERBOT_REQUEST_TIMEOUT`` seconds) and a cancel flag set when the client goes
away. The work runs in a worker thread; the request's coroutine watches the connection and
the clock (:func:`run_bounded`) and:

- on a disconnect, cancels the work and answers nothing more (the client is gone);
- past the deadline, cancels the work and answers 504.

The work notices cancellation at every point where it could wait or spend long:

- **waiting for a lock** (the server's store-write lock; :meth:`RequestControl.acquire`
  polls instead of blocking), so an abandoned request queued behind another never runs;
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
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from bot.llm.base import Generation

if TYPE_CHECKING:
    from bot.llm.base import ChatModel, Messages, Options, Stream
    from bot.llm.prompts import Prompt

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
    """A :class:`bot.llm.base.ChatModel` whose generations stop when the request is cancelled.

    Inside a request (a current :class:`RequestControl`), ``invoke``/``invoke_prompt`` stream
    and check the flag on every token (token counts are then estimated with tiktoken, as for
    streamed answers); outside one they are the wrapped model's own calls. Holds no per-call
    state: one wrapper serves concurrent requests."""

    def __init__(self, llm: ChatModel) -> None:
        self.inner = llm
        self.mode = llm.mode
        self.model = llm.model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @staticmethod
    def _collect(tokens: Stream, messages: Messages) -> Generation:
        from bot.text.chunking import count_tokens

        parts = []
        for token in tokens:
            _checkpoint()
            parts.append(token)
        text = "".join(parts)
        prompt = sum(count_tokens(str(t)) for _, t in messages) if messages else 0
        return Generation(
            text=text,
            prompt_tokens=prompt,
            completion_tokens=count_tokens(text),
            attempts=tokens.attempts,
        )

    def invoke(self, messages: Messages, options: Options | None = None) -> Generation:
        if current_control() is None:
            return self.inner.invoke(messages, options)
        _checkpoint()
        return self._collect(self.inner.stream(messages, options), messages)

    def invoke_prompt(
        self, prompt: Prompt, values: Mapping[str, Any], options: Options | None = None
    ) -> Generation:
        if current_control() is None:
            return self.inner.invoke_prompt(prompt, values, options)
        _checkpoint()
        messages = prompt.render(**values)
        return self._collect(self.inner.stream_prompt(prompt, values, options), messages)

    def stream_prompt(
        self, prompt: Prompt, values: Mapping[str, Any], options: Options | None = None
    ) -> Stream:
        _checkpoint()
        return self._checked(self.inner.stream_prompt(prompt, values, options))

    def stream(self, messages: Messages, options: Options | None = None) -> Stream:
        _checkpoint()
        return self._checked(self.inner.stream(messages, options))

    @staticmethod
    def _checked(tokens: Stream) -> Stream:
        """``tokens`` with a cancellation check before each one is passed on."""

        def checked() -> Iterator[str]:
            for token in tokens:
                _checkpoint()
                yield token

        return tokens.with_tokens(checked())


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
