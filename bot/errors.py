"""The paperbot exception tree.

Every error paperbot raises on purpose derives from :class:`PaperbotError`, so callers
(the CLI, the HTTP server) can turn any of them into one clean line for the user::

    PaperbotError
    ├── ConfigError              a setting is invalid or a needed one is missing
    │   └── MissingExtraError    an optional dependency is not installed (says how to install it)
    ├── InputError               bad input from the user: empty question, bad value, bad file
    │   ├── NotFoundError        what an id or reference names does not exist (paper, session)
    │   └── ReaderError          one file (and line) could not be read; carries path and line
    ├── StoreError               the vector store cannot be opened or used
    │   ├── EmptyStoreError      a query against a store with no papers
    │   └── EmbeddingMismatchError  the store was built with another embedding model
    └── LLMError                 the language model failed (after retries)
        └── LLMUnavailableError  the requested generation mode cannot be set up here
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "EmbeddingMismatchError",
    "EmptyStoreError",
    "InputError",
    "LLMError",
    "LLMUnavailableError",
    "MissingExtraError",
    "NotFoundError",
    "PaperbotError",
    "ReaderError",
    "StoreError",
]


class PaperbotError(Exception):
    """Base class of every error paperbot raises deliberately."""


class ConfigError(PaperbotError):
    """A setting is invalid, or a setting the chosen mode needs is missing."""


class MissingExtraError(ConfigError):
    """An optional dependency is missing; the message says what to install."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        how = f"pip install 'paperbot[{extra}]'" if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"the package '{package}' is not installed{what}; install it with: {how}")
        self.package = package
        self.extra = extra


class InputError(PaperbotError):
    """Bad input from the user (an empty question, an unknown paper id, ...).

    The message names the library's parameters (``"grade must be between ..."``), never a
    command-line flag; ``params`` lists the parameter names it mentions, so a front end can
    say them its own way (the CLI shows ``--grade``)."""

    def __init__(self, *args: object, params: Sequence[str] = ()) -> None:
        super().__init__(*args)
        self.params = tuple(params)


class NotFoundError(InputError):
    """What an id or reference names does not exist: no paper with that id (or matching that
    arXiv id or title), no chat session with that id. The HTTP server answers 404."""


class ReaderError(InputError):
    """A file, or one line/record of it, could not be read.

    ``path`` names the file and ``line`` (1-based) the line or record when known.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")


class StoreError(PaperbotError):
    """The vector store cannot be opened, read or written."""


class EmptyStoreError(StoreError):
    """A search or question against a store that holds no papers."""


class EmbeddingMismatchError(StoreError):
    """The store was built with a different embedding model or dimension."""


class LLMError(PaperbotError):
    """The language model failed, after the configured retries."""


class LLMUnavailableError(LLMError):
    """The requested generation mode cannot be set up on this machine."""
