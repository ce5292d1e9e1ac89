"""A persistent cache of generated texts (lay summaries, blurbs, section titles, intros).

Entries live in one SQLite file, ``$PAPERBOT_HOME/cache/generations.sqlite3``. A key is the
SHA-256 of everything that can change the output: the paper's content hash, the hashes of the
prompt files used, the model (mode and name), and the options (audience, grade, words,
verification thresholds, ...). So a re-run is served from the cache, and editing a prompt,
switching models or changing an option regenerates.

Values are JSON objects. The cache never raises on a broken or locked file: it then behaves
as a miss (the result is regenerated) rather than failing the command.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["GenerationCache", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(kind: str, parts: Mapping[str, Any]) -> str:
    """Stable key of ``kind`` + ``parts`` (a JSON-serialisable mapping)."""
    payload = json.dumps({"kind": kind, **parts}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class GenerationCache:
    """Get/put JSON values by key in a SQLite file; ``enabled=False`` makes every get a miss."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    @classmethod
    def for_home(cls, home: Path, enabled: bool = True) -> GenerationCache:
        return cls(Path(home) / "cache" / "generations.sqlite3", enabled)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute(_SCHEMA)
        return conn

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        try:
            conn = self._connect()
            try:
                row = conn.execute("SELECT value FROM generations WHERE key = ?", (key,)).fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, kind: str, value: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        try:
            conn = self._connect()
            try:
                with conn:
                    conn.execute(
                        "INSERT OR REPLACE INTO generations (key, kind, value, created) "
                        "VALUES (?, ?, ?, ?)",
                        (key, kind, json.dumps(dict(value), ensure_ascii=False), time.time()),
                    )
            finally:
                conn.close()
        except sqlite3.Error:
            return

    def get_or_make(
        self, kind: str, parts: Mapping[str, Any], make: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """The cached value for (kind, parts), or ``make()`` stored; and whether it was a hit."""
        key = cache_key(kind, parts)
        found = self.get(key)
        if found is not None:
            self.hits += 1
            return found, True
        self.misses += 1
        value = make()
        self.put(key, kind, value)
        return value, False

    def count(self) -> int:
        try:
            conn = self._connect()
            try:
                return int(conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.Error:
            return 0
