"""paperbot: ask questions about research papers and get answers with verified citations.

Public API::

    from bot import PaperBot
    bot = PaperBot()
    bot.ingest(["data/"])
    print(bot.ask("What is grokking?").answer)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.api import PaperBot
    from bot.errors import (
        ConfigError,
        EmbeddingMismatchError,
        EmptyStoreError,
        InputError,
        LLMError,
        LLMUnavailableError,
        MissingExtraError,
        NotFoundError,
        PaperbotError,
        ReaderError,
        StoreError,
    )
    from bot.settings import Settings, load_settings
    from bot.types import Answer, Citation, IngestFailure, IngestReport, Paper, SearchHit

from bot import errors as _errors  # no dependencies: cheap

# Public names and the module each lives in. They are imported on first use (PEP 562), so
# `paperbot --help` does not pay for the whole pipeline's imports.
_EXPORTS = {
    "PaperBot": "bot.api",
    "Settings": "bot.settings",
    "load_settings": "bot.settings",
    **{name: "bot.errors" for name in _errors.__all__},
    **{
        name: "bot.types"
        for name in ("Answer", "Citation", "IngestFailure", "IngestReport", "Paper", "SearchHit")
    },
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bot' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Citation",
    "ConfigError",
    "EmbeddingMismatchError",
    "EmptyStoreError",
    "IngestFailure",
    "IngestReport",
    "InputError",
    "LLMError",
    "LLMUnavailableError",
    "MissingExtraError",
    "NotFoundError",
    "Paper",
    "PaperBot",
    "PaperbotError",
    "ReaderError",
    "SearchHit",
    "Settings",
    "StoreError",
    "__version__",
    "load_settings",
]
