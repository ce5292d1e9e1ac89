"""Numbered schema migrations of the session database and the generation cache.

The files in tests/fixtures/sqlite were written by the stores before migrations existed
(schema version 0; see tests/fixtures/make_sqlite_v0.py): today's code must open them, upgrade
them in place and read the old rows.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.storage import cache as cache_module
from bot.storage import sessions as sessions_module
from bot.storage.cache import GenerationCache, cache_key
from bot.storage.migrations import Migration, SchemaVersionError, migrate, schema_version
from bot.storage.sessions import SessionStore
from tests.fixtures import make_sqlite_v0 as v0

FIXTURES = Path(__file__).parent / "fixtures" / "sqlite"


def _copy(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copyfile(FIXTURES / name, dest)
    return dest


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return schema_version(conn)
    finally:
        conn.close()


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def _columns(path: Path, table: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def _make_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


# -- files written by today's schema (version 0) --------------------------------------------


def test_old_session_file_is_upgraded_in_place_with_its_rows(tmp_path: Path) -> None:
    path = _copy("sessions_v0.sqlite3", tmp_path)
    assert _version(path) == 0  # the fixture really is from before migrations
    store = SessionStore(path)

    session = store.get(v0.SESSION_ID)
    assert [t.question for t in session.turns] == v0.QUESTIONS
    assert [t.answer for t in session.turns] == v0.ANSWERS
    assert session.title == v0.QUESTIONS[0]
    assert (session.n_turns, session.model, session.mode) == (2, "qwen2.5-0.5b", "local")
    assert session.turns[0].cited_ids == ["2201.02177"]
    listed = {s.id: s.n_turns for s in store.list()}
    assert listed == {v0.SESSION_ID: 2, v0.OTHER_SESSION_ID: 1}
    assert _version(path) == len(sessions_module.MIGRATIONS)

    store.add_turn(v0.SESSION_ID, "And then?", "And then?", "none", {"answer": "x"})
    assert SessionStore(path).get(v0.SESSION_ID).n_turns == 3


def test_old_cache_file_is_upgraded_in_place_with_its_entries(tmp_path: Path) -> None:
    path = _copy("generations_v0.sqlite3", tmp_path)
    assert _version(path) == 0
    cache = GenerationCache(path)

    for kind, parts, value in v0.CACHE_ENTRIES:
        assert cache.get(cache_key(kind, parts)) == value
    assert cache.count() == len(v0.CACHE_ENTRIES)
    assert _version(path) == len(cache_module.MIGRATIONS)
    # the papers recorded by the old code still drive forget()
    assert cache.forget(["2310.06110"]) == 1
    assert cache.count() == 1


def test_fresh_files_get_the_latest_version_and_todays_schema(tmp_path: Path) -> None:
    sessions = SessionStore(tmp_path / "sessions.sqlite3")
    assert sessions.list() == []
    cache = GenerationCache(tmp_path / "cache" / "generations.sqlite3")
    assert cache.count() == 0

    assert _version(sessions.path) == len(sessions_module.MIGRATIONS)
    assert _version(cache.path) == len(cache_module.MIGRATIONS)
    conn = sqlite3.connect(sessions.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # as before
    conn.close()
    # migration 1 creates exactly what the stores created before migrations were numbered
    assert _schema(sessions.path) == _schema(FIXTURES / "sessions_v0.sqlite3")
    assert _schema(cache.path) == _schema(FIXTURES / "generations_v0.sqlite3")


# -- a file from a newer paperbot ------------------------------------------------------------


def test_a_newer_session_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    newer = len(sessions_module.MIGRATIONS) + 1
    _make_version(path, newer)

    with pytest.raises(SchemaVersionError) as caught:
        SessionStore(path).list()
    assert isinstance(caught.value, StoreError)  # the CLI and server report it as one line
    message = str(caught.value)
    assert str(path) in message
    assert f"schema version {newer}" in message
    assert "newer paperbot" in message
    assert (caught.value.found, caught.value.known) == (newer, newer - 1)
    assert _schema(path) == []  # untouched: no table created in it
    assert _version(path) == newer


def test_a_newer_cache_file_is_left_alone_and_every_get_is_a_miss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "generations.sqlite3"
    newer = len(cache_module.MIGRATIONS) + 1
    _make_version(path, newer)
    cache = GenerationCache(path)

    with caplog.at_level(logging.WARNING, logger="bot.storage.cache"):
        value, hit = cache.get_or_make("lay", {"paper_id": "p"}, lambda: {"text": "made"})
        again, hit_again = cache.get_or_make("lay", {"paper_id": "p"}, lambda: {"text": "made"})

    assert (value, hit, again, hit_again) == ({"text": "made"}, False, {"text": "made"}, False)
    assert cache.count() == 0
    assert cache.forget(["p"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per cache, not once per call
    assert str(path) in warnings[0] and f"schema version {newer}" in warnings[0]
    assert _schema(path) == [] and _version(path) == newer


# -- a later migration ------------------------------------------------------------------------

_TURN_COUNT = Migration(
    2,
    "sessions.n_turns, filled from the turns",
    """
    ALTER TABLE sessions ADD COLUMN n_turns INTEGER NOT NULL DEFAULT 0;
    UPDATE sessions SET n_turns = (SELECT COUNT(*) FROM turns WHERE session_id = sessions.id);
    """,
)


def test_a_second_migration_runs_once_and_upgrades_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[int] = []

    def note(conn: sqlite3.Connection) -> None:
        applied.append(schema_version(conn))  # runs inside the transaction, before the bump

    migration_2 = Migration(2, _TURN_COUNT.description, _TURN_COUNT.sql, note)
    monkeypatch.setattr(
        sessions_module, "MIGRATIONS", (*sessions_module.MIGRATIONS[:1], migration_2)
    )
    path = _copy("sessions_v0.sqlite3", tmp_path)

    store = SessionStore(path)
    assert store.get(v0.SESSION_ID).n_turns == 2  # 0 -> 1 -> 2 in one go, rows intact
    assert _version(path) == 2
    conn = sqlite3.connect(path)
    counts = dict(conn.execute("SELECT id, n_turns FROM sessions").fetchall())
    conn.close()
    assert counts == {v0.SESSION_ID: 2, v0.OTHER_SESSION_ID: 1}

    # later opens (another store, another connection) find nothing left to do
    SessionStore(path).list()
    conn = sqlite3.connect(path)
    assert migrate(conn, path, sessions_module.MIGRATIONS) == 2
    conn.close()
    assert applied == [0]


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = _copy("sessions_v0.sqlite3", tmp_path)
    SessionStore(path).list()  # now at version 1

    def fail(conn: sqlite3.Connection) -> None:
        raise RuntimeError("migration 2 failed")

    broken = Migration(2, "fails after its SQL ran", _TURN_COUNT.sql, fail)
    conn = sqlite3.connect(path)
    with pytest.raises(RuntimeError, match="migration 2 failed"):
        migrate(conn, path, (*sessions_module.MIGRATIONS, broken))
    assert not conn.in_transaction
    conn.close()

    assert _version(path) == 1
    assert "n_turns" not in _columns(path, "sessions")  # the ALTER TABLE was rolled back
    assert SessionStore(path).get(v0.SESSION_ID).n_turns == 2


def test_migrations_must_be_numbered_from_one(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.sqlite3")
    with pytest.raises(ValueError, match="numbered 1, 2, 3"):
        migrate(conn, tmp_path / "x.sqlite3", (_TURN_COUNT,))
    conn.close()


# -- two openers at once -----------------------------------------------------------------------


def test_an_opener_that_lost_the_race_does_not_apply_the_migration_again(
    tmp_path: Path,
) -> None:
    """Opener A reads version 0, then B migrates the file before A takes the write lock: A must
    re-read the version under the lock and find nothing to do. The interleaving is forced with
    SQLite's statement trace (B runs when A is about to execute BEGIN IMMEDIATE)."""
    path = tmp_path / "race.sqlite3"
    applied: list[str] = []

    def runs(name: str) -> tuple[Migration, ...]:
        def note(conn: sqlite3.Connection) -> None:
            applied.append(name)

        # no IF NOT EXISTS: a second run would fail, not pass silently
        return (Migration(1, "a table", "CREATE TABLE t (x INTEGER);", note),)

    a = sqlite3.connect(path, timeout=30)
    b = sqlite3.connect(path, timeout=30)
    raced: list[int] = []

    def before_statement(statement: str) -> None:
        if statement.startswith("BEGIN IMMEDIATE") and not raced:
            raced.append(migrate(b, path, runs("B")))

    a.set_trace_callback(before_statement)
    assert migrate(a, path, runs("A")) == 1
    a.close()
    b.close()

    assert raced == [1]  # B did run in between
    assert applied == ["B"]
    assert _version(path) == 1


_OPENER = textwrap.dedent(
    """
    import os, sqlite3, sys
    from pathlib import Path
    from bot.storage.migrations import Migration, migrate

    path = Path(sys.argv[1])

    def record(conn):
        conn.execute("INSERT INTO applied (pid) VALUES (?)", (os.getpid(),))

    migrations = (Migration(1, "log", "CREATE TABLE applied (pid INTEGER);", record),)
    conn = sqlite3.connect(path, timeout=60)
    sys.stdin.read()  # wait until every process is ready
    print(migrate(conn, path, migrations))
    """
)


def test_processes_opening_an_old_file_at_once_apply_each_migration_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.sqlite3"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:  # release them together: each waits on its stdin
        assert proc.stdin is not None
        proc.stdin.close()
    outputs = []
    for proc in procs:
        assert proc.stdout is not None
        output = proc.stdout.read()
        outputs.append((proc.wait(timeout=120), output.strip()))
    assert outputs == [(0, "1")] * 4, outputs

    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM applied").fetchone()[0] == 1
    conn.close()
