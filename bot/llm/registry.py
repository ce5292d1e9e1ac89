"""Providers registered by name, and the factory that picks one from the settings.

In the spirit of simonw/llm's ``register_models`` and txtai's factories: a provider is a
name plus a function from settings (and the retry policy they configure) to a
:class:`bot.llm.base.ChatModel` - or ``None`` for a mode that needs no model. Adding a
provider means registering it; :func:`bot.llm.providers.make_llm` has no per-provider branches::

    from bot.llm.registry import register_provider
    register_provider("mine", lambda settings, retry: MyModel(retry=retry))

The built-in providers (``openai``, ``local``, ``extractive``) are registered when
:mod:`bot.llm.providers` is imported; its :func:`~bot.llm.providers.make_llm` picks one from the
settings. This module imports no provider (no cycle: providers import the registry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.llm.retry import RetryPolicy

if TYPE_CHECKING:
    from bot.llm.base import ChatModel
    from bot.settings import Settings

__all__ = ["Provider", "ProviderFactory", "provider", "providers", "register_provider"]

ProviderFactory = Callable[["Settings", RetryPolicy], "ChatModel | None"]


@dataclass(frozen=True)
class Provider:
    name: str
    factory: ProviderFactory
    description: str = ""


_PROVIDERS: dict[str, Provider] = {}


def register_provider(name: str, factory: ProviderFactory, description: str = "") -> None:
    """Register (or replace) the provider ``name``."""
    _PROVIDERS[name] = Provider(name, factory, description)


def providers() -> list[Provider]:
    """The registered providers, by name."""
    return [_PROVIDERS[name] for name in sorted(_PROVIDERS)]


def provider(name: str) -> Provider:
    try:
        return _PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(_PROVIDERS))
        raise ConfigError(f"PAPERBOT_LLM_MODE={name}: no such provider (known: {known})") from None
