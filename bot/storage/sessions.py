"""Chat sessions, persisted in SQLite: ``$PAPERBOT_HOME/sessions.sqlite3``.

A session is an id plus its turns; each turn keeps the user's question, the standalone question
retrieval used (see :mod:`bot.generate.chat`), how it was rewritten, and the full answer as the API
prints it (text, citations, verification counts, mode, model, timings). The CLI's
``paperbot chat --session ID`` and the HTTP API's ``session_id`` resume a session.

One short-lived connection per operation (WAL mode), so the CLI and the server can share the
file and the server's worker threads need no shared connection. The schema is versioned: the
first connection of a store applies the :data:`MIGRATIONS` the file lacks (see
:mod:`bot.storage.migrations`), and a file from a newer paperbot is refused with a StoreError.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import InputError, NotFoundError, StoreError
from bot.storage.migrations import Migration, migrate

__all__ = ["MIGRATIONS", "Session", "SessionStore", "Turn", "new_session_id"]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Migration 1 is the schema as it was before migrations were numbered ("IF NOT EXISTS": such a
# file, at version 0, already has these tables).
_SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT NOT NULL,
    rewrite TEXT NOT NULL,
    answer TEXT NOT NULL,
    mode TEXT NOT NULL,
    model TEXT NOT NULL,
    citations TEXT NOT NULL,
    timings TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (session_id, n)
);
"""

# The schema's history, oldest first; append a new Migration to change it (never edit one).
MIGRATIONS: tuple[Migration, ...] = (Migration(1, "sessions and their turns", _SCHEMA_1),)


def new_session_id() -> str:
    return secrets.token_hex(6)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Turn:
    """One question and its (verified) answer within a session."""

    n: int  # 1-based position in the session
    question: str
    standalone_question: str  # what retrieval used
    rewrite: str  # "none" | "rules" | "llm" | "llm+rules"
    answer: dict[str, Any]  # Answer.to_dict()
    created_at: str = ""

    @property
    def cited_titles(self) -> list[str]:
        titles: list[str] = []
        for c in self.answer.get("citations", []):
            if c.get("title") and c["title"] not in titles:
                titles.append(c["title"])
        return titles

    @property
    def cited_ids(self) -> list[str]:
        ids: list[str] = []
        for c in self.answer.get("citations", []):
            if c.get("paper_id") and c["paper_id"] not in ids:
                ids.append(c["paper_id"])
        return ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "created_at": self.created_at,
            "question": self.question,
            "standalone_question": self.standalone_question,
            "rewrite": self.rewrite,
            "answer": self.answer,
        }


@dataclass
class Session:
    id: str
    title: str
    created_at: str
    updated_at: str
    turns: list[Turn] = field(default_factory=list)
    n_turns: int = 0
    model: str = ""
    mode: str = ""

    def to_dict(self, with_turns: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "turns": self.n_turns,
            "model": self.model,
            "mode": self.mode,
        }
        if with_turns:
            data["history"] = [t.to_dict() for t in self.turns]
        return data


def check_session_id(session_id: str) -> str:
    if not _ID.match(session_id or ""):
        raise InputError(f"invalid session id '{session_id[:80]}' (letters, digits, '-', '_')")
    return session_id


class SessionStore:
    """Sessions and their turns in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the session database {self.path}: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._ready:
                migrate(conn, self.path, MIGRATIONS, "session database")
                conn.execute("PRAGMA journal_mode = WAL")
                self._ready = True
            with conn:
                yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"session database {self.path}: {exc}") from exc
        finally:
            conn.close()

    def exists(self, session_id: str) -> bool:
        check_session_id(session_id)
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return row is not None

    def add_turn(
        self,
        session_id: str,
        question: str,
        standalone_question: str,
        rewrite: str,
        answer: dict[str, Any],
    ) -> Turn:
        """Append a turn (creating the session, titled by its first question, if new)."""
        check_session_id(session_id)
        now = _now()
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO sessions (id, title, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at",
                (session_id, " ".join(question.split())[:120], now, now),
            )
            row = conn.execute(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()
            n = int(row[0])
            conn.execute(
                "INSERT INTO turns (session_id, n, created_at, question, standalone_question, "
                "rewrite, answer, mode, model, citations, timings, record) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    n,
                    now,
                    question,
                    standalone_question,
                    rewrite,
                    str(answer.get("answer", "")),
                    str(answer.get("mode", "")),
                    str(answer.get("model", "")),
                    json.dumps(answer.get("citations", []), ensure_ascii=False),
                    json.dumps(answer.get("timings_ms", {})),
                    json.dumps(answer, ensure_ascii=False),
                ),
            )
        return Turn(n, question, standalone_question, rewrite, answer, now)

    def get(self, session_id: str) -> Session:
        check_session_id(session_id)
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no session with id '{session_id}' (see: paperbot sessions)")
            turns = [
                Turn(
                    n=t["n"],
                    question=t["question"],
                    standalone_question=t["standalone_question"],
                    rewrite=t["rewrite"],
                    answer=json.loads(t["record"]),
                    created_at=t["created_at"],
                )
                for t in conn.execute(
                    "SELECT * FROM turns WHERE session_id = ? ORDER BY n", (session_id,)
                )
            ]
        last = turns[-1].answer if turns else {}
        return Session(
            id=row["id"],
            title=row["title"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            turns=turns,
            n_turns=len(turns),
            model=str(last.get("model", "")),
            mode=str(last.get("mode", "")),
        )

    def history(self, session_id: str, last: int) -> list[Turn]:
        """The last ``last`` turns of a session, oldest first (empty for a new session)."""
        if not self.exists(session_id):
            return []
        return self.get(session_id).turns[-last:]

    def list(self, limit: int = 100) -> list[Session]:
        """Sessions, most recently updated first (without their turns)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT s.*, COUNT(t.n) AS n_turns, "
                "(SELECT model FROM turns WHERE session_id = s.id ORDER BY n DESC LIMIT 1) "
                "AS model, "
                "(SELECT mode FROM turns WHERE session_id = s.id ORDER BY n DESC LIMIT 1) "
                "AS mode "
                "FROM sessions s LEFT JOIN turns t ON t.session_id = s.id "
                "GROUP BY s.id ORDER BY s.updated_at DESC, s.rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            Session(
                id=r["id"],
                title=r["title"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                n_turns=int(r["n_turns"]),
                model=r["model"] or "",
                mode=r["mode"] or "",
            )
            for r in rows
        ]

    def delete(self, session_id: str) -> bool:
        check_session_id(session_id)
        with self._connect() as conn:
            cur = conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return cur.rowcount > 0
