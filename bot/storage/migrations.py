"""Numbered schema migrations for paperbot's own SQLite files (sessions, generation cache).

Each store keeps an ordered tuple of :class:`Migration` s, numbered 1, 2, 3, ...; migration 1 is
the schema as the store first created it. A file's version is SQLite's ``PRAGMA user_version``
(0 for a file from before migrations, and for a new, empty file). :func:`migrate` brings a file
up to the last migration on open:

* the pending migrations and the new ``user_version`` are applied in one transaction, so a
  failing migration leaves the file as it was;
* the transaction starts with ``BEGIN IMMEDIATE`` (the write lock) and reads the version again
  under it, so two processes opening an old file at once apply each migration once: the second
  waits for the first and then finds nothing left to do;
* a file whose version is newer than the code knows (written by a newer paperbot) is refused with
  :class:`SchemaVersionError`, naming the file, rather than read or written with the wrong schema.

A file already at the last version costs one ``PRAGMA user_version`` read and takes no lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import StoreError

__all__ = ["Migration", "SchemaVersionError", "migrate", "schema_version"]


@dataclass(frozen=True)
class Migration:
    """Schema version ``version``: reached by running ``sql`` (statements separated by ``;``)
    and then ``apply`` (for changes SQL alone cannot express). Both run inside the migration's
    transaction: ``apply`` must not commit."""

    version: int
    description: str
    sql: str = ""
    apply: Callable[[sqlite3.Connection], None] | None = None

    def run(self, conn: sqlite3.Connection) -> None:
        for statement in _statements(self.sql):
            conn.execute(statement)
        if self.apply is not None:
            self.apply(conn)


class SchemaVersionError(StoreError):
    """A SQLite file was written by a newer paperbot: its schema version is one this code does
    not know. ``path`` names the file; ``found`` and ``known`` are the two versions."""

    def __init__(self, path: Path, what: str, found: int, known: int) -> None:
        self.path = path
        self.found = found
        self.known = known
        super().__init__(
            f"the {what} {path} has schema version {found}, but this paperbot knows versions up "
            f"to {known}: it was written by a newer paperbot. Upgrade paperbot, or move the file "
            "away to start a new one"
        )


def _statements(sql: str) -> Iterator[str]:
    """The statements of ``sql``, one at a time (``executescript`` would commit the
    migration's transaction before running them)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {pending.strip()[:80]!r}")


def _check_numbering(migrations: Sequence[Migration]) -> None:
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(migrations) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3, ... in order, not {numbers}")


def schema_version(conn: sqlite3.Connection) -> int:
    """The file's ``PRAGMA user_version`` (0 if it was never set)."""
    rows = conn.execute("PRAGMA user_version").fetchall()  # fetchall: the statement is done
    return int(rows[0][0])


def migrate(
    conn: sqlite3.Connection,
    path: Path,
    migrations: Sequence[Migration],
    what: str = "database",
) -> int:
    """Apply the migrations ``conn``'s file has not had yet; return its (new) version.

    ``path`` and ``what`` ("session database", ...) only name the file in errors. Raises
    :class:`SchemaVersionError` for a file newer than ``migrations``, and lets
    ``sqlite3.Error`` through (the caller words it). ``conn`` must have no open transaction.
    """
    _check_numbering(migrations)
    latest = len(migrations)
    version = schema_version(conn)
    if version == latest:
        return latest
    if version > latest:
        raise SchemaVersionError(path, what, version, latest)
    saved = conn.isolation_level
    conn.isolation_level = None  # we issue BEGIN/COMMIT ourselves
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn)  # another process may have migrated meanwhile
            if version > latest:
                raise SchemaVersionError(path, what, version, latest)
            for migration in migrations[version:]:
                migration.run(conn)
            # PRAGMA takes no parameters; ``latest`` is an int we computed
            conn.execute(f"PRAGMA user_version = {int(latest)}")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.isolation_level = saved
    return latest
