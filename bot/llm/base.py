"""The model interface: :class:`ChatModel`, per-call :class:`Options`, and what a call returns.

In the spirit of simonw/llm's ``Model``: a model is named (``mode``/``model``), takes chat
messages (or a prompt file and its values) plus per-call options, and returns a
:class:`Generation` (or a :class:`Stream` of tokens). What one call did - the text, the
token counts, the attempts it took - comes back with that call; nothing per call is kept on
the (shared) model object, so one model serves concurrent requests.

:class:`RetryingModel` is the base every provider builds on: a provider implements one
attempt (:meth:`RetryingModel._generate` / :meth:`RetryingModel._tokens`) and the base
applies the one retry policy (:class:`bot.llm.retry.RetryPolicy`) around it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.llm.retry import Attempts, EmptyCompletionError, RetryPolicy

if TYPE_CHECKING:
    from bot.llm.prompts import Prompt

__all__ = [
    "ChatModel",
    "Generation",
    "Messages",
    "Options",
    "Request",
    "RetryingModel",
    "Stream",
]

Messages = Sequence[tuple[str, str]]  # (role, text): role is system, user or assistant


@dataclass(frozen=True)
class Options:
    """Per-call generation options; ``None`` keeps the model's configured value."""

    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    timeout: float | None = None  # seconds per request (remote models)

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, not {self.max_tokens}")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature must be at least 0, not {self.temperature}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")
        if self.stop is not None and not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))

    def given(self) -> dict[str, Any]:
        """The options set for this call (``stop`` as a list), for a provider's kwargs."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if out["stop"] is not None:
            out["stop"] = list(out["stop"])
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Generation:
    """The result of one call: the text, token counts and the attempts it took."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1


class Stream(Iterator[str]):
    """The tokens of one streamed call; :attr:`attempts` counts the requests it made so far."""

    def __init__(self, tokens: Iterator[str], attempts: Attempts) -> None:
        self._tokens = tokens
        self._attempts = attempts

    @property
    def attempts(self) -> int:
        return self._attempts.count

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        return next(self._tokens)

    def with_tokens(self, tokens: Iterator[str]) -> Stream:
        """A stream of ``tokens`` (derived from this one) that reports this one's attempts."""
        return Stream(tokens, self._attempts)

    def close(self) -> None:
        close = getattr(self._tokens, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class Request:
    """What a call asks: chat messages, rendered from a prompt file when there is one (a
    LangChain provider then runs the LCEL chain ``prompt | model`` on ``values``)."""

    messages: tuple[tuple[str, str], ...]
    prompt: Prompt | None = None
    values: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, messages: Messages) -> Request:
        return cls(tuple((role, text) for role, text in messages))

    @classmethod
    def from_prompt(cls, prompt: Prompt, values: Mapping[str, Any]) -> Request:
        return cls(tuple(prompt.render(**values)), prompt, dict(values))


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: named, called with messages (or a prompt file) and per-call options."""

    mode: str  # the provider's registered name: openai, local, ...
    model: str  # the model's name at that provider

    def invoke(self, messages: Messages, options: Options | None = None) -> Generation: ...

    def stream(self, messages: Messages, options: Options | None = None) -> Stream: ...

    def invoke_prompt(
        self, prompt: Prompt, values: Mapping[str, Any], options: Options | None = None
    ) -> Generation: ...

    def stream_prompt(
        self, prompt: Prompt, values: Mapping[str, Any], options: Options | None = None
    ) -> Stream: ...


class RetryingModel:
    """A :class:`ChatModel` whose calls run under :attr:`retry` (the one retry loop).

    Subclasses implement one attempt: :meth:`_generate` (a whole reply) and :meth:`_tokens`
    (the reply's tokens as they come)."""

    def __init__(self, mode: str, model: str, retry: RetryPolicy | None = None) -> None:
        self.mode = mode
        self.model = model
        # Without an explicit policy: no retries for an in-process model (its failures are
        # not transient), the defaults for a remote one.
        self.retry = retry or RetryPolicy(max_retries=0 if mode == "local" else 2)

    # --- one attempt (providers) -----------------------------------------------------
    def _generate(self, request: Request, options: Options) -> Generation:
        raise NotImplementedError

    def _tokens(self, request: Request, options: Options) -> Iterator[str]:
        raise NotImplementedError

    # --- the interface ----------------------------------------------------------------
    def describe(self) -> str:
        return f"{self.mode} model '{self.model}'"

    def invoke(self, messages: Messages, options: Options | None = None) -> Generation:
        return self._call(Request.of(messages), options or Options())

    def stream(self, messages: Messages, options: Options | None = None) -> Stream:
        return self._stream(Request.of(messages), options or Options())

    def invoke_prompt(
        self, prompt: Prompt, values: Mapping[str, Any], options: Options | None = None
    ) -> Generation:
        """Run ``prompt`` on ``values`` (with the retry policy)."""
        return self._call(Request.from_prompt(prompt, values), options or Options())

    def stream_prompt(
        self, prompt: Prompt, values: Mapping[str, Any], options: Options | None = None
    ) -> Stream:
        """Stream the text of ``prompt`` on ``values``."""
        return self._stream(Request.from_prompt(prompt, values), options or Options())

    def _call(self, request: Request, options: Options) -> Generation:
        attempts = Attempts()

        def once() -> Generation:
            generation = self._generate(request, options)
            if not generation.text.strip():
                raise EmptyCompletionError("the model returned an empty completion")
            return generation

        generation = self.retry.call(once, self.describe(), attempts)
        return dataclasses.replace(generation, attempts=attempts.count)

    def _stream(self, request: Request, options: Options) -> Stream:
        attempts = Attempts()

        def attempt() -> Iterator[str]:
            return (token for token in self._tokens(request, options) if token)

        return Stream(self.retry.run(attempt, self.describe(), attempts), attempts)
