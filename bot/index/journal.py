"""Crash safety of ingests: per-writer notes of the batch being written, and recovery.

What a write does (see :mod:`bot.index.store`): for a batch of papers, upsert their chunks
(content-addressed ids), delete their stale chunks, upsert the paper records carrying the
content hash and chunk count (the *manifest*), then store a new revision. A paper record is
therefore written only after all of its chunks - so a paper whose record exists with hash H is
complete, and re-running an ingest rewrites every paper whose record is missing or carries
another hash.

That alone leaves three windows a SIGKILL can hit, which the journal closes:

1. chunks of a *new* paper upserted, its record not yet written, and the re-run no longer
   contains that paper: its chunks would stay as orphans;
2. an *updated* paper (record says H1) whose new chunks (H2) were written, maybe its old ones
   deleted, and the re-run brings the old content H1 back: the hash matches, the paper is
   skipped, and it keeps H2 chunks (stale) or no chunks at all (incomplete);
3. records written but the revision not yet bumped: a BM25 index saved earlier at that
   revision would look current while missing the new papers.

**One note per writer.** Every writing process (one ``paperbot ingest``, ``serve`` upload,
``import`` or repair) has its own :class:`WriteJournal`: a folder entry
``<host>-<pid>-<run>.json`` naming the papers of the batch it is writing (temp file, fsync,
atomic rename), removed when the store returns, plus a lock file ``<host>-<pid>-<run>.lock``
the writer holds an exclusive ``flock`` on for as long as it runs. The kernel drops that lock
when the writer dies, even by SIGKILL, so:

- a note whose lock can be taken belongs to a **dead** writer: its batch was interrupted;
- a note whose lock is held belongs to a **live** writer: its batch is in progress and is
  never touched - in Chroma server mode several ``paperbot ingest`` processes with one
  ``PAPERBOT_HOME`` write at once, and one writer's recovery must not delete the chunks of
  another's unfinished batch (before notes were per writer, one shared note made the second
  ingest "recover" the first one's live batch and delete its chunks).

The next writer (every ingest starts with :func:`recover_interrupted`, and ``paperbot doctor
--repair``) claims each dead note by taking its lock, reconciles exactly those papers with
:func:`bot.index.doctor.reconcile_papers` - chunks of papers without a record are deleted, chunks
whose content hash or index disagrees with the record are deleted, papers left with fewer
chunks than their record says are re-embedded from the stored record, papers in a live
writer's batch are left alone - then stores a new revision so derived indexes rebuild.
Orphans therefore mean *chunks no committed paper record accounts for*; a paper record
committed by a killed run is kept (it is complete).

Recovery is idempotent: killed during recovery, the note is still there and the next run
does it again. Where the notes live: next to an embedded store
(``$PAPERBOT_HOME/chroma/.paperbot-journal-<collection>/``, so they move with it), under
``$PAPERBOT_HOME/journal/<host>-<port>-<collection>/`` for a Chroma server. A single note left
by an older paperbot (``.paperbot-journal-<collection>.json``) is read as a dead writer's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bot.errors import StoreError

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder
    from bot.index.store import PaperStore
    from bot.settings import Settings

__all__ = [
    "JournalNote",
    "Recovery",
    "WriteJournal",
    "journal_dir",
    "journal_notes",
    "journal_path",
    "live_paper_ids",
    "read_notes",
    "recover_interrupted",
]

log = logging.getLogger(__name__)


def journal_path(settings: Settings) -> Path:
    """The single note file of paperbot versions before per-writer notes (read as a dead
    writer's note when present)."""
    if settings.chroma.host:
        return settings.store.home / "journal" / f"{_server_key(settings)}.json"
    return settings.store_dir / f".paperbot-journal-{settings.store.collection}.json"


def _server_key(settings: Settings) -> str:
    host = "".join(c if c.isalnum() else "-" for c in str(settings.chroma.host))
    return f"{host}-{settings.chroma.port}-{settings.store.collection}"


def journal_dir(settings: Settings) -> Path:
    """The folder holding one note per writer for the configured store and collection."""
    if settings.chroma.host:
        return settings.store.home / "journal" / _server_key(settings)
    return settings.store_dir / f".paperbot-journal-{settings.store.collection}"


def journal_notes(settings: Settings) -> list[Path]:
    """Note files present now (a batch being written, or one a dead writer left)."""
    notes = sorted(journal_dir(settings).glob("*.json"))
    legacy = journal_path(settings)
    return [legacy, *notes] if legacy.is_file() else notes


def _flock(fh: IO[str], blocking: bool = False) -> bool | None:
    """Take an exclusive flock on ``fh``: True when taken, False when another open file holds
    it, None when this file system has no flock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            return None
        raise


def _pid_alive(pid: int) -> bool:
    from bot.index.locking import pid_alive

    return pid_alive(pid)


@dataclass
class JournalNote:
    """One writer's note: the papers of its batch, and whether the writer still runs."""

    path: Path
    paper_ids: list[str] | None  # None: unreadable (reconcile the whole store)
    pid: int = 0
    host: str = ""
    live: bool = False

    @property
    def lock_path(self) -> Path:
        return self.path.with_suffix(".lock")


def _read_note(path: Path) -> tuple[list[str] | None, dict[str, Any]]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot read the write journal {path}: {exc}") from exc
    try:
        data = json.loads(raw)
        return [str(pid) for pid in data["paper_ids"]], data
    except (ValueError, KeyError, TypeError):
        return None, {}


def _is_live(note: Path, data: dict[str, Any]) -> bool:
    """Whether the writer of ``note`` still runs: its lock file is flocked by someone (where
    there is no flock: its pid still runs on this host)."""
    lock = note.with_suffix(".lock")
    if not lock.exists():
        return False  # writers create their lock file before their first note
    try:
        with open(lock, "a+", encoding="utf-8") as fh:
            taken = _flock(fh)
    except OSError:
        taken = None
    if taken is not None:
        return not taken
    pid = int(data.get("pid") or 0)
    return data.get("host") == socket.gethostname() and pid != os.getpid() and _pid_alive(pid)


def read_notes(settings: Settings) -> list[JournalNote]:
    """Every note present, with its writer's liveness."""
    notes = []
    for path in journal_notes(settings):
        try:
            ids, data = _read_note(path)
        except FileNotFoundError:
            continue  # its writer just committed
        live = path != journal_path(settings) and _is_live(path, data)
        notes.append(
            JournalNote(
                path,
                ids,
                int(data.get("pid") or 0),
                str(data.get("host") or ""),
                live,
            )
        )
    return notes


class WriteJournal:
    """This writer's note of the batch of papers it is writing (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
        self.path = self.directory / f"{name}.json"
        self.lock_path = self.directory / f"{name}.lock"
        self._lock: IO[str] | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> WriteJournal:
        return cls(journal_dir(settings))

    # --- this writer's lock -----------------------------------------------------------------
    def _hold(self) -> None:
        if self._lock is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fh = open(self.lock_path, "a+", encoding="utf-8")  # held until close()
        except OSError as exc:
            raise StoreError(f"cannot write the write journal in {self.directory}: {exc}") from exc
        _flock(fh, blocking=True)  # our own fresh file: nobody else holds it
        self._lock = fh

    def close(self) -> None:
        """Release this writer's lock; its lock file goes too unless a note is left (a write
        that failed: the next writer reconciles it)."""
        fh, self._lock = self._lock, None
        if fh is None:
            return
        if not self.path.exists():
            with contextlib.suppress(OSError):
                self.lock_path.unlink()
        fh.close()

    def __del__(self) -> None:  # a writer dropped without close(): release the lock
        with contextlib.suppress(Exception):
            if self._lock is not None:
                self._lock.close()

    # --- notes ------------------------------------------------------------------------------
    def pending(self) -> list[str] | None:
        """Paper ids of this writer's unfinished batch (None: no batch pending)."""
        if not self.path.exists():
            return None
        try:
            ids, _data = _read_note(self.path)
        except FileNotFoundError:
            return None
        return ids or []

    def begin(self, paper_ids: Sequence[str]) -> None:
        """Durably note that these papers are about to be written."""
        self._hold()
        note = {
            "paper_ids": list(paper_ids),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": round(time.time(), 3),
        }
        try:
            tmp = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(note))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StoreError(f"cannot write the write journal {self.path}: {exc}") from exc

    def commit(self) -> None:
        """The noted write completed: remove the note (and any temp file a kill left)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for tmp in self.directory.glob(f"{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    @contextlib.contextmanager
    def batch(self, paper_ids: Sequence[str]) -> Iterator[None]:
        """Note the batch, run the write, remove the note - only if the write succeeded (a
        write that raised may have half-happened: the next writer reconciles it)."""
        self.begin(paper_ids)
        yield
        self.commit()


@dataclass
class Recovery:
    """What :func:`recover_interrupted` found and did."""

    paper_ids: list[str] = field(default_factory=list)  # papers of the interrupted batches
    chunks_deleted: int = 0
    papers_reembedded: int = 0
    full_check: bool = False  # a note was unreadable: the whole store was reconciled
    skipped_live: int = 0  # papers left alone: a live writer is writing them

    def to_dict(self) -> dict[str, Any]:
        return {
            "papers": len(self.paper_ids),
            "chunks_deleted": self.chunks_deleted,
            "papers_reembedded": self.papers_reembedded,
            "full_check": self.full_check,
            "skipped_live": self.skipped_live,
        }


@contextlib.contextmanager
def _claim(note: JournalNote) -> Iterator[bool]:
    """Hold the lock of a dead writer's note while recovering it (so two recoverers never
    work on one note); yields False when it is live after all."""
    lock = note.lock_path
    try:
        fh = open(lock, "a+", encoding="utf-8")
    except OSError:
        yield True  # legacy note next to a read-only lock location: nothing to claim
        return
    try:
        yield _flock(fh) is not False
    finally:
        fh.close()


def live_paper_ids(settings: Settings) -> set[str]:
    """Papers some live writer is writing right now (recovery and repair leave them alone)."""
    return {pid for note in read_notes(settings) if note.live for pid in note.paper_ids or []}


def recover_interrupted(
    store: PaperStore, embedder: Embedder, settings: Settings
) -> Recovery | None:
    """Reconcile the papers of the batches dead writers left (None when there were none).

    Takes the store's writer lock (embedded store). Cheap when there is nothing to do (one
    folder listing)."""
    if not journal_notes(settings):
        return None
    from bot.index.doctor import reconcile_papers

    with store.writing():
        notes = read_notes(settings)
        dead = [n for n in notes if not n.live]
        if not dead:
            return None
        live = {pid for n in notes if n.live for pid in n.paper_ids or []}
        recovery = Recovery()
        for note in dead:
            with _claim(note) as mine:
                if not mine or not note.path.exists():
                    continue  # another writer is recovering it, or just did
                ids = note.paper_ids
                if ids is None:
                    recovery.full_check = True
                    target = None
                else:
                    target = [pid for pid in ids if pid not in live]
                    recovery.skipped_live += len(ids) - len(target)
                    recovery.paper_ids.extend(target)
                if target is None or target:
                    deleted, redone = reconcile_papers(
                        store, embedder, settings, target, exclude=live
                    )
                    recovery.chunks_deleted += deleted
                    recovery.papers_reembedded += redone
                store.touch()  # a revision the interrupted write may not have stored
                with contextlib.suppress(FileNotFoundError):
                    note.path.unlink()
                with contextlib.suppress(OSError):
                    note.lock_path.unlink()
    log.warning(
        "recovered an interrupted write of %d papers: %d chunks deleted, %d papers re-embedded",
        len(recovery.paper_ids),
        recovery.chunks_deleted,
        recovery.papers_reembedded,
    )
    return recovery
