"""Crash safety of ingests: a write-ahead note of the batch being written, and recovery.

What a write does (see :mod:`bot.store`): for a batch of papers, upsert their chunks
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

Before a batch is handed to the store, :class:`WriteJournal` durably records its paper ids
(temp file, fsync, atomic rename); after the store returns it removes the note. The next
writer (every ingest starts with :func:`recover_interrupted`, and ``paperbot doctor --repair``)
finds a leftover note and reconciles exactly those papers with
:func:`bot.doctor.reconcile_papers`: chunks of papers without a record are deleted, chunks
whose content hash or index disagrees with the record are deleted, papers left with fewer
chunks than their record says are re-embedded from the stored record, then a new revision is
stored so derived indexes rebuild. Orphans therefore mean *chunks no committed paper record
accounts for*; a paper record committed by a killed run is kept (it is complete).

Recovery is idempotent: killed during recovery, the note is still there and the next run
does it again. Where the note lives: next to an embedded store (``$PAPERBOT_HOME/chroma/``,
so it moves with it), under ``$PAPERBOT_HOME/journal/`` for a Chroma server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import StoreError

if TYPE_CHECKING:
    from bot.embeddings import Embedder
    from bot.settings import Settings
    from bot.store import PaperStore

__all__ = ["Recovery", "WriteJournal", "journal_path", "recover_interrupted"]

log = logging.getLogger(__name__)


def journal_path(settings: Settings) -> Path:
    """Where the write journal of the configured store and collection lives."""
    if settings.chroma_host:
        host = "".join(c if c.isalnum() else "-" for c in settings.chroma_host)
        return (
            settings.home / "journal" / f"{host}-{settings.chroma_port}-{settings.collection}.json"
        )
    return settings.store_dir / f".paperbot-journal-{settings.collection}.json"


class WriteJournal:
    """The note of the batch of papers being written (at most one: writers are serialised)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_settings(cls, settings: Settings) -> WriteJournal:
        return cls(journal_path(settings))

    def pending(self) -> list[str] | None:
        """Paper ids of an interrupted write, or ``None`` when the last write completed.

        An unreadable note (it is written atomically, so only by outside damage) counts as an
        interrupted write of unknown papers: ``[]`` (a full check is then needed)."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read the write journal {self.path}: {exc}") from exc
        try:
            data = json.loads(raw)
            return [str(pid) for pid in data["paper_ids"]]
        except (ValueError, KeyError, TypeError):
            return []

    def begin(self, paper_ids: Sequence[str]) -> None:
        """Durably note that these papers are about to be written."""
        note = {
            "paper_ids": list(paper_ids),
            "pid": os.getpid(),
            "started": round(time.time(), 3),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
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
        for tmp in self.path.parent.glob(f"{self.path.name}.*.tmp"):
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

    paper_ids: list[str] = field(default_factory=list)  # papers of the interrupted batch
    chunks_deleted: int = 0
    papers_reembedded: int = 0
    full_check: bool = False  # the note was unreadable: the whole store was reconciled

    def to_dict(self) -> dict[str, Any]:
        return {
            "papers": len(self.paper_ids),
            "chunks_deleted": self.chunks_deleted,
            "papers_reembedded": self.papers_reembedded,
            "full_check": self.full_check,
        }


def recover_interrupted(
    store: PaperStore, embedder: Embedder, settings: Settings
) -> Recovery | None:
    """Reconcile the papers of an interrupted write, if the journal names one (else None).

    Takes the store's writer lock. Cheap when there is nothing to do (one file check)."""
    journal = WriteJournal.for_settings(settings)
    if journal.pending() is None:
        return None
    from bot.doctor import reconcile_papers

    with store.writing():
        ids = journal.pending()  # re-read under the lock
        if ids is None:
            return None
        recovery = Recovery(paper_ids=list(ids), full_check=not ids)
        # an unreadable note names no papers: reconcile the whole store
        deleted, redone = reconcile_papers(store, embedder, settings, ids or None)
        recovery.chunks_deleted, recovery.papers_reembedded = deleted, redone
        store.touch()  # a revision the interrupted write may not have stored: indexes rebuild
        journal.commit()
    log.warning(
        "recovered an interrupted write of %d papers: %d chunks deleted, %d papers re-embedded",
        len(recovery.paper_ids),
        recovery.chunks_deleted,
        recovery.papers_reembedded,
    )
    return recovery
