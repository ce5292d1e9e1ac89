"""A persistent cache of generated texts (lay summaries, blurbs, section titles, intros).

Entries live in one SQLite file, ``$PAPERBOT_HOME/cache/generations.sqlite3``. A key is the
SHA-256 of everything that can change the output: the paper's content hash, the hashes of the
prompt files used, the model (mode and name), and the options (audience, grade, words,
verification thresholds, ...). So a re-run is served from the cache, and editing a prompt,
switching models or changing an option regenerates.

Each entry also records the papers it was made from (ids and content hashes, in
``generation_papers``), so that removing a paper forgets its generations (:meth:`forget`).

Values are JSON objects. The cache never raises on a broken or locked file: it then behaves
as a miss (the result is regenerated) rather than failing the command.

The schema is versioned: each connection applies the :data:`MIGRATIONS` the file lacks (see
:mod:`bot.storage.migrations`). A file written by a newer paperbot is neither read nor written:
the cache logs a warning naming it (once) and behaves as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot import paths
from bot.storage.migrations import Migration, SchemaVersionError, migrate

__all__ = ["MIGRATIONS", "GenerationCache", "cache_key"]

log = logging.getLogger(__name__)

# Migration 1 is the schema as it was before migrations were numbered ("IF NOT EXISTS": such a
# file, at version 0, already has these tables; one from before ``generation_papers`` gains it).
_SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS generation_papers (
    key TEXT NOT NULL,
    ref TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS generation_papers_ref ON generation_papers (ref);
"""

# The schema's history, oldest first; append a new Migration to change it (never edit one).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "generations and the papers each was made from", _SCHEMA_1),
)


def _paper_refs(parts: Mapping[str, Any], value: Mapping[str, Any]) -> list[str]:
    """The paper ids and content hashes an entry was made from (``paper_id``/``paper``/
    ``papers`` in its key parts, ``paper_id`` in its value): what ``forget`` looks for."""
    refs: list[Any] = [parts.get("paper_id"), parts.get("paper"), value.get("paper_id")]
    papers = parts.get("papers")
    if isinstance(papers, list | tuple):
        refs.extend(papers)
    return list(dict.fromkeys(r for r in refs if isinstance(r, str) and r))


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
        self._warned = False

    @classmethod
    def for_home(cls, home: Path, enabled: bool = True) -> GenerationCache:
        return cls(paths.cache_db(home), enabled)

    def _connect(self) -> sqlite3.Connection:
        """A connection to the migrated file; raises ``sqlite3.Error`` (also for a file from a
        newer paperbot, after warning about it), which every caller turns into a miss."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            migrate(conn, self.path, MIGRATIONS, "generation cache")
        except SchemaVersionError as exc:
            conn.close()
            if not self._warned:
                log.warning("%s; it is not used: generations are not cached", exc)
                self._warned = True
            raise sqlite3.DatabaseError(str(exc)) from exc
        except BaseException:
            conn.close()
            raise
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

    def put(self, key: str, kind: str, value: Mapping[str, Any], refs: Sequence[str] = ()) -> None:
        """Store ``value``; ``refs`` are the paper ids/content hashes it was made from."""
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
                    conn.execute("DELETE FROM generation_papers WHERE key = ?", (key,))
                    conn.executemany(
                        "INSERT INTO generation_papers (key, ref) VALUES (?, ?)",
                        [(key, ref) for ref in dict.fromkeys(refs)],
                    )
            finally:
                conn.close()
        except sqlite3.Error:
            return

    def forget(self, refs: Sequence[str]) -> int:
        """Delete every entry made from these papers (ids or content hashes; see ``put``);
        returns how many. Entries cached before papers were recorded are found by the
        ``paper_id`` of their value."""
        wanted = list(dict.fromkeys(r for r in refs if r))
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        try:
            conn = self._connect()
            try:
                with conn:
                    keys = {
                        row[0]
                        for row in conn.execute(
                            f"SELECT key FROM generation_papers WHERE ref IN ({marks})", wanted
                        )
                    }
                    keys |= {
                        row[0]
                        for row in conn.execute(
                            "SELECT key FROM generations WHERE json_valid(value) AND "
                            f"json_extract(value, '$.paper_id') IN ({marks})",
                            wanted,
                        )
                    }
                    for key in keys:
                        conn.execute("DELETE FROM generations WHERE key = ?", (key,))
                        conn.execute("DELETE FROM generation_papers WHERE key = ?", (key,))
            finally:
                conn.close()
        except sqlite3.Error:
            return 0
        return len(keys)

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
        self.put(key, kind, value, _paper_refs(parts, value))
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
