"""paperbot: ask questions about research papers and get answers with verified citations.

Public API::

    from bot import PaperBot
    bot = PaperBot()
    bot.ingest(["data/"])
    print(bot.ask("What is grokking?").answer)
"""

from __future__ import annotations

from bot.api import PaperBot
from bot.errors import (
    ConfigError,
    EmbeddingMismatchError,
    EmptyStoreError,
    InputError,
    LLMError,
    LLMUnavailableError,
    MissingExtraError,
    PaperbotError,
    ReaderError,
    StoreError,
)
from bot.settings import Settings, load_settings
from bot.types import Answer, Citation, IngestFailure, IngestReport, Paper, SearchHit

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
