"""Every file and folder paperbot keeps under ``$PAPERBOT_HOME``, in one place.

::

    $PAPERBOT_HOME/
    ├── chroma/                          the embedded Chroma store (store_dir)
    │   ├── chroma.sqlite3               its database file (store_file)
    │   ├── .paperbot.lock               the writer lock (bot.index.locking.LOCK_NAME)
    │   ├── .paperbot-journal-<c>/       one write note per writer (journal_dir, embedded)
    │   └── .paperbot-journal-<c>.json   the single note of older versions (legacy_journal_file)
    ├── journal/<server-key>[.json]      the same two for a Chroma server
    ├── state/<c>.json                   counts of the last write (state_file)
    ├── bm25/<c> or bm25/<server-key>    the BM25 index (bm25_dir)
    ├── sessions.sqlite3                 chat sessions (sessions_db)
    ├── cache/generations.sqlite3        cached generations (cache_db)
    ├── sources/arxiv/                   fetched arXiv listings (arxiv_sources_dir)
    └── uploads/                         files uploaded through the web page (uploads_dir)

``<c>`` is the collection name; ``<server-key>`` is ``<host>-<port>-<collection>`` (host with
every non-alphanumeric character replaced by ``-``). Functions take the home folder when the
path depends on nothing else, the settings when it depends on the store configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "STORE_FILE",
    "arxiv_sources_dir",
    "bm25_dir",
    "cache_db",
    "journal_dir",
    "legacy_journal_file",
    "server_key",
    "sessions_db",
    "state_file",
    "store_dir",
    "store_file",
    "uploads_dir",
]

#: The embedded store's database file, inside :func:`store_dir`.
STORE_FILE = "chroma.sqlite3"


def store_dir(home: Path) -> Path:
    """The embedded Chroma store (also the writer lock's folder)."""
    return Path(home) / "chroma"


def store_file(home: Path) -> Path:
    """The embedded store's database file."""
    return store_dir(home) / STORE_FILE


def server_key(settings: Settings) -> str:
    """``<host>-<port>-<collection>``: names what belongs to one collection on a Chroma server."""
    host = "".join(c if c.isalnum() else "-" for c in str(settings.chroma.host))
    return f"{host}-{settings.chroma.port}-{settings.store.collection}"


def bm25_dir(settings: Settings) -> Path:
    """Where the BM25 index of the configured collection is saved."""
    name = server_key(settings) if settings.chroma.host else settings.store.collection
    return Path(settings.store.home) / "bm25" / name


def state_file(settings: Settings) -> Path:
    """The counts of the last write to the configured collection (outside the store, so a
    deleted or truncated store file is noticed)."""
    return Path(settings.store.home) / "state" / f"{settings.store.collection}.json"


def journal_dir(settings: Settings) -> Path:
    """The folder holding one write note per writer for the configured store and collection."""
    if settings.chroma.host:
        return Path(settings.store.home) / "journal" / server_key(settings)
    return store_dir(settings.store.home) / f".paperbot-journal-{settings.store.collection}"


def legacy_journal_file(settings: Settings) -> Path:
    """The single note file of paperbot versions before per-writer notes."""
    if settings.chroma.host:
        return Path(settings.store.home) / "journal" / f"{server_key(settings)}.json"
    return store_dir(settings.store.home) / f".paperbot-journal-{settings.store.collection}.json"


def sessions_db(home: Path) -> Path:
    """The chat sessions database."""
    return Path(home) / "sessions.sqlite3"


def cache_db(home: Path) -> Path:
    """The cache of generations (summaries, blurbs, answers)."""
    return Path(home) / "cache" / "generations.sqlite3"


def arxiv_sources_dir(home: Path) -> Path:
    """Where ``paperbot fetch`` keeps the arXiv listings it downloaded."""
    return Path(home) / "sources" / "arxiv"


def uploads_dir(home: Path) -> Path:
    """Where files uploaded through the web page are kept."""
    return Path(home) / "uploads"
