"""The vector store adapter: the only module that imports ``chromadb``.

Two Chroma collections per paperbot collection name ``NAME``:

- ``NAME_chunks``: one record per chunk (document = chunk text, vector = embedding of
  "title + chunk", metadata = paper id, chunk index, sentence and character ranges).
- ``NAME_papers``: one record per paper (document = abstract, metadata = title, authors,
  dates, content hash...). Its vector is the normalised mean of its chunk vectors.

Both collections record the embedding model and dimension in their metadata; opening them
with another model raises :class:`~bot.errors.EmbeddingMismatchError`.

Write order makes every paper update idempotent: a paper's new chunks are upserted (their ids
are content-addressed), its stale chunks deleted, and only then the paper record - carrying
the content hash - is written. A paper whose record is missing or carries another hash is
simply rewritten on the next ingest.

Every write and delete ends by storing a fresh random ``revision`` in the papers collection's
metadata, and tells in-process listeners (:meth:`PaperStore.add_listener`) what changed. Derived
indexes (the BM25 index of :mod:`bot.index.lexical`) record the revision they were built from and
rebuild when the store's differs - so a write by another process (Chroma server mode) is never
missed. Chunks also carry the filter keys of :func:`bot.index.filters.filter_keys`.

Embedded mode uses ``chromadb.PersistentClient`` under ``settings.store_dir``; when
``CHROMA_HOST`` is set the same code talks to a Chroma server through ``chromadb.HttpClient``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bot import paths
from bot.errors import EmbeddingMismatchError, StoreError
from bot.index.catalog import paper_from_record
from bot.index.filters import filter_keys
from bot.types import Chunk, Paper, normalise_title

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["ChunkMatch", "PaperStore", "PaperWrite", "StoreListener", "explain_store_error"]

SCHEMA_VERSION = 1
STORE_FILE = paths.STORE_FILE
log = logging.getLogger(__name__)
# Embedded stores: the revision this process last saw or stored, per store and collection.
_SEEN: dict[str, str] = {}


def explain_store_error(exc: BaseException, what: str, location: str) -> str:
    """One line for a failure deep inside Chroma: disk full, a damaged store file, an
    unreachable server, or the error's first line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    low = text.lower()
    errno_ = getattr(exc, "errno", None)
    if errno_ == 28 or "disk is full" in low or "no space left" in low or "enospc" in low:
        return (
            f"disk full: {what} at {location} failed because the disk has no space left "
            "(free some space and retry; the last complete write is kept)"
        )
    if (
        "file is not a database" in low
        or "malformed" in low
        or "not a database" in low
        or "database disk image" in low
    ):
        return (
            f"the store at {location} is damaged ({what} failed: {text[:160]}); restore it "
            "from a backup or re-create it (paperbot export/import, or ingest again)"
        )
    if any(
        word in low
        for word in ("connection refused", "could not connect", "connecterror", "failed to connect")
    ) or type(exc).__name__ in ("ConnectError", "ConnectTimeout"):
        return f"cannot reach the Chroma server at {location} ({what}): {text[:160]}"
    if type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    return f"{what} at {location} failed: {text[:300]}"


class _Guarded:
    """A Chroma client or collection whose calls raise :class:`StoreError` with one clear
    line instead of whatever chromadb, SQLite or the HTTP client raised."""

    def __init__(self, target: Any, location: str) -> None:
        self._target = target
        self._location = location

    @property
    def raw(self) -> Any:
        return self._target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = value(*args, **kwargs)
            except StoreError:
                raise
            except Exception as exc:
                what = f"{name} on {getattr(self._target, 'name', 'the store')}"
                raise StoreError(explain_store_error(exc, what, self._location)) from exc
            if name in ("get_collection", "get_or_create_collection"):
                return _Guarded(result, self._location)
            return result

        return call


@dataclass
class ChunkMatch:
    """A chunk returned by a vector query; ``score`` is the cosine similarity."""

    chunk_id: str
    paper_id: str
    score: float
    text: str
    metadata: dict[str, Any]


@dataclass
class PaperWrite:
    """Everything needed to (re)write one paper: record, chunks and their vectors."""

    paper: Paper
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    paper_vector: np.ndarray


class StoreListener(Protocol):
    """Told about every change made through this :class:`PaperStore` (after it is stored)."""

    def papers_written(self, papers: Sequence[Paper], old_rev: str, new_rev: str) -> None: ...

    def papers_deleted(self, paper_ids: Sequence[str], old_rev: str, new_rev: str) -> None: ...


def _paper_metadata(paper: Paper, n_chunks: int) -> dict[str, Any]:
    return {
        "title": paper.title,
        "authors": json.dumps(paper.authors, ensure_ascii=False),
        "published": paper.published or "",
        "url": paper.url or "",
        "categories": json.dumps(paper.categories, ensure_ascii=False),
        "source": paper.source or "",
        "content_hash": paper.content_hash,
        "title_norm": normalise_title(paper.title),
        "n_chunks": n_chunks,
        # full-text papers: the document is Paper.text; the abstract is its first abstract_len
        # characters and the body what follows the blank line after it
        "abstract_len": len(paper.abstract) if paper.body else -1,
        "pages": json.dumps(paper.pages) if paper.pages else "",
        # library record keeping (bot.library); aliases is an array so `$contains` finds it
        **({"aliases": list(paper.aliases)} if paper.aliases else {}),
        "sources": json.dumps(paper.sources, ensure_ascii=False) if paper.sources else "",
        "added": paper.added or "",
        "inputs": json.dumps(paper.inputs) if paper.inputs else "",
        **filter_keys(paper),
    }


def _chunk_metadata(chunk: Chunk, paper: Paper) -> dict[str, Any]:
    return {
        "paper_id": chunk.paper_id,
        "title": paper.title,
        "chunk_index": chunk.index,
        "sentence_start": chunk.sentence_start,
        "sentence_end": chunk.sentence_end,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "n_tokens": chunk.n_tokens,
        "page": chunk.page if chunk.page is not None else -1,
        "content_hash": paper.content_hash,
        "published": paper.published or "",
        **filter_keys(paper),
    }


def store_writing(settings: Settings) -> Any:
    """The writer lock of the embedded store ``settings`` name, as a context manager (a no-op
    for a Chroma server). Needs no open store, so an ingest can take it before loading models
    and a second writer fails fast (see :mod:`bot.index.locking`)."""
    import contextlib

    if settings.chroma.host:
        return contextlib.nullcontext()
    from bot.index.locking import writer_lock

    return writer_lock(settings.store_dir, settings.store.writer_lock_timeout)


class PaperStore:
    """Papers and their chunk vectors in Chroma (embedded or server)."""

    def __init__(self, settings: Settings, embedding_model: str, dimension: int) -> None:
        self.settings = settings
        self.embedding_model = embedding_model
        self.dimension = dimension
        self._client = _Guarded(self._connect(settings), self.location)
        self._papers = self._collection(f"{settings.store.collection}_papers")
        self._chunks = self._collection(f"{settings.store.collection}_chunks")
        self._listeners: list[StoreListener] = []
        if not settings.chroma.host:
            _SEEN.setdefault(self._key, self.revision())
        try:
            self.max_batch = int(self._client.get_max_batch_size())
        except Exception:  # older servers do not report it
            self.max_batch = 5000

    # --- connection -------------------------------------------------------------------
    @staticmethod
    def _connect(settings: Settings) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if settings.chroma.host:
                headers = {}
                if settings.chroma.auth_header:
                    key, _, value = settings.chroma.auth_header.partition(":")
                    headers[key.strip()] = value.strip()
                return chromadb.HttpClient(
                    host=settings.chroma.host,
                    port=settings.chroma.port,
                    headers=headers or None,
                    settings=chroma_settings,
                )
            settings.store_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)
        except Exception as exc:
            where = (
                f"Chroma server {settings.chroma.host}:{settings.chroma.port}"
                if settings.chroma.host
                else f"store at {settings.store_dir}"
            )
            raise StoreError(explain_store_error(exc, "opening", where)) from exc

    @property
    def location(self) -> str:
        if self.settings.chroma.host:
            return f"http://{self.settings.chroma.host}:{self.settings.chroma.port}"
        return str(self.settings.store_dir)

    def _collection(self, name: str) -> Any:
        wanted = {
            "paperbot_schema": SCHEMA_VERSION,
            "embedding_model": self.embedding_model,
            "embedding_dim": self.dimension,
        }
        collection = self._client.get_or_create_collection(
            name=name,
            metadata=wanted,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        meta = collection.metadata or {}
        model, dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if model != self.embedding_model or (dim is not None and int(dim) != self.dimension):
            raise EmbeddingMismatchError(
                f"collection '{name}' at {self.location} was built with embedding model "
                f"'{model}' ({dim}-d), not '{self.embedding_model}' ({self.dimension}-d); "
                "use the same PAPERBOT_EMBEDDING_MODEL or a new PAPERBOT_COLLECTION"
            )
        return collection

    # --- a long-lived process's view of an embedded store ------------------------------
    @property
    def _key(self) -> str:
        return f"{Path(self.settings.store_dir).resolve()}::{self.settings.store.collection}"

    def refresh(self) -> bool:
        """Embedded store: reopen Chroma when another process wrote since this process last
        looked (the store's revision is not the last one this process saw or stored).

        A Chroma client keeps its own in-memory view of the vector index; a process that
        stays open (``paperbot serve``) while a CLI ingest writes would otherwise search a
        stale index and, on its next write, persist that stale index over the other
        process's vectors ("Error finding id": records whose vectors are gone). Every write
        calls this under the writer lock; the server calls it before each request. Returns
        whether the client was reopened. A Chroma server needs none of this."""
        if self.settings.chroma.host:
            return False
        current = self.revision()
        if current == _SEEN.get(self._key):
            return False
        self._reopen()
        _SEEN[self._key] = current
        return True

    def _reopen(self) -> None:
        from chromadb.api.shared_system_client import SharedSystemClient

        raw = self._client.raw
        identifier = getattr(raw, "_identifier", None)
        # a fresh System for this path (the stale one stays with whoever still holds it)
        SharedSystemClient._identifier_to_system.pop(identifier, None)
        self._client = _Guarded(self._connect(self.settings), self.location)
        self._papers = self._collection(f"{self.settings.store.collection}_papers")
        self._chunks = self._collection(f"{self.settings.store.collection}_chunks")
        log.info("another process wrote to %s: reopened the store", self.location)

    # --- revision and listeners -------------------------------------------------------
    def add_listener(self, listener: StoreListener) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def revision(self) -> str:
        """The store's current revision ("" for a store never written since revisions exist).

        Read fresh from Chroma (another process may have written)."""
        name = f"{self.settings.store.collection}_papers"
        meta = self._client.get_collection(name, embedding_function=None).metadata or {}
        return str(meta.get("revision", ""))

    def _bump_revision(self) -> tuple[str, str]:
        """Store a new random revision (after the data is written); returns (old, new)."""
        import uuid

        name = f"{self.settings.store.collection}_papers"
        fresh = self._client.get_collection(name, embedding_function=None)
        meta = dict(fresh.metadata or {})
        old = str(meta.get("revision", ""))
        new = uuid.uuid4().hex
        meta["revision"] = new
        fresh.modify(metadata=meta)  # modify replaces the metadata: keep every other key
        self._papers = fresh
        if not self.settings.chroma.host:
            _SEEN[self._key] = new
        self._record_state(new)
        return old, new

    # --- what was stored, recorded outside Chroma (embedded store) ---------------------
    @property
    def state_path(self) -> Path:
        """Where the counts of the last write are recorded (next to the store, outside it),
        so a store file that was deleted or truncated is noticed instead of reading as an
        empty store."""
        return paths.state_file(self.settings)

    def _record_state(self, revision: str) -> None:
        if self.settings.chroma.host:
            return  # other clients write too: a per-client record would be wrong
        state = {
            "papers": self.count_papers(),
            "chunks": self.count_chunks(),
            "revision": revision,
            "written": round(time.time(), 3),
        }
        path = self.state_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            what = "recording the store state"
            raise StoreError(explain_store_error(exc, what, str(path))) from exc

    def recorded_state(self) -> dict[str, Any] | None:
        """The counts recorded at the last write through paperbot (None: never recorded)."""
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def missing_store_detail(self) -> str | None:
        """Why the embedded store looks lost, or None: its file is missing or empty, or it
        holds no papers while the recorded state says it held some."""
        if self.settings.chroma.host:
            return None
        recorded = self.recorded_state() or {}
        had = int(recorded.get("papers") or 0)
        if had <= 0 or self.count_papers() > 0:
            return None
        store_file = paths.store_file(self.settings.store.home)
        if not store_file.exists():
            how = f"{STORE_FILE} is missing"
        elif store_file.stat().st_size == 0:
            how = f"{STORE_FILE} is empty (0 bytes)"
        else:
            how = "it holds no papers"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recorded.get("written") or 0))
        return (
            f"the store at {self.settings.store_dir} was written with {had} papers (last "
            f"write {when}) but {how}: the store file was deleted, truncated or replaced; "
            "restore it from a backup, or re-ingest (paperbot import FILE for an export)"
        )

    # --- writes -----------------------------------------------------------------------
    def _batches(self, n: int) -> Iterator[slice]:
        step = max(1, self.max_batch)
        for i in range(0, n, step):
            yield slice(i, min(n, i + step))

    def writing(self) -> Any:
        """Context manager holding the writer lock of an embedded store for a whole operation
        (an ingest); re-entrant. A second writer process fails within
        ``PAPERBOT_WRITER_LOCK_TIMEOUT`` with a StoreError naming the holder (see
        :mod:`bot.index.locking`). A Chroma server needs no lock: then this does nothing."""
        return store_writing(self.settings)

    def write(self, writes: Sequence[PaperWrite]) -> int:
        """(Re)write papers with their chunks; returns the number of chunks written."""
        with self.writing():
            self.refresh()  # never write from a stale view of the vector index
            return self._write(writes)

    def _write(self, writes: Sequence[PaperWrite]) -> int:
        if not writes:
            return 0
        ids: list[str] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []
        vectors: list[np.ndarray] = []
        for w in writes:
            for chunk, vec in zip(w.chunks, w.chunk_vectors, strict=True):
                ids.append(chunk.id)
                docs.append(chunk.text)
                metas.append(_chunk_metadata(chunk, w.paper))
                vectors.append(vec)
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        try:
            for part in self._batches(len(ids)):
                self._chunks.upsert(
                    ids=ids[part],
                    embeddings=matrix[part],
                    documents=docs[part],
                    metadatas=metas[part],
                )
            self._delete_stale_chunks(writes)
            p_ids = [w.paper.id for w in writes]
            p_docs = [w.paper.text for w in writes]
            p_meta = [_paper_metadata(w.paper, len(w.chunks)) for w in writes]
            p_vecs = np.asarray([w.paper_vector for w in writes], dtype=np.float32)
            for part in self._batches(len(p_ids)):
                self._papers.upsert(
                    ids=p_ids[part],
                    embeddings=p_vecs[part],
                    documents=p_docs[part],
                    metadatas=p_meta[part],
                )
            old_rev, new_rev = self._bump_revision()
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(explain_store_error(exc, "writing", self.location)) from exc
        for listener in self._listeners:
            listener.papers_written([w.paper for w in writes], old_rev, new_rev)
        return len(ids)

    def _delete_stale_chunks(self, writes: Sequence[PaperWrite]) -> None:
        """Delete the chunks of these papers that the new chunks do not replace (one query
        per batch of papers, not one per paper)."""
        keep = {c.id for w in writes for c in w.chunks}
        ids = list(dict.fromkeys(w.paper.id for w in writes))
        stale: list[str] = []
        for part in self._batches(len(ids)):
            existing = self._chunks.get(where={"paper_id": {"$in": ids[part]}}, include=[])
            stale.extend(cid for cid in existing["ids"] if cid not in keep)
        for part in self._batches(len(stale)):
            self._chunks.delete(ids=stale[part])

    def delete_papers(self, paper_ids: Iterable[str]) -> int:
        """Delete papers with their chunks; returns the number of chunks deleted."""
        with self.writing():
            self.refresh()
            return self._delete_papers(paper_ids)

    def _delete_papers(self, paper_ids: Iterable[str]) -> int:
        """Delete paper records, then their chunks (a crash in between leaves orphan chunks,
        which crash recovery deletes; the other order would leave a record without chunks,
        which recovery re-embeds - the paper would come back). Returns chunks deleted."""
        ids = list(dict.fromkeys(paper_ids))
        if not ids:
            return 0
        try:
            for part in self._batches(len(ids)):
                self._papers.delete(ids=ids[part])
            doomed: list[str] = []
            for part in self._batches(len(ids)):
                got = self._chunks.get(where={"paper_id": {"$in": ids[part]}}, include=[])
                doomed.extend(got["ids"])
            for part in self._batches(len(doomed)):
                self._chunks.delete(ids=doomed[part])
            old_rev, new_rev = self._bump_revision()
        except Exception as exc:
            raise StoreError(f"deleting papers at {self.location} failed: {exc}") from exc
        for listener in self._listeners:
            listener.papers_deleted(ids, old_rev, new_rev)
        return len(doomed)

    # --- reads ------------------------------------------------------------------------
    def content_hashes(self, paper_ids: Sequence[str]) -> dict[str, str]:
        """Stored content hash per paper id (ids not stored are absent)."""
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(paper_ids))
        for part in self._batches(len(ids)):
            got = self._papers.get(ids=ids[part], include=["metadatas"])
            for pid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[pid] = str((meta or {}).get("content_hash", ""))
        return out

    def records_by_title(self, titles: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Paper records whose normalised title is one of these: ``{title_norm: {id: meta}}``."""
        norms = [n for n in dict.fromkeys(normalise_title(t) for t in titles) if n]
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for part in self._batches(len(norms)):
            got = self._papers.get(
                where={"title_norm": {"$in": norms[part]}}, include=["metadatas"]
            )
            for pid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                meta = dict(meta or {})
                out.setdefault(str(meta.get("title_norm")), {})[pid] = meta
        return out

    def records_by_alias(self, aliases: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """The paper records these ids are aliases of: ``{alias: (record id, meta)}``."""
        wanted = list(dict.fromkeys(a for a in aliases if a))
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        step = 100  # ids per query: one `$contains` clause each
        for i in range(0, len(wanted), step):
            part = wanted[i : i + step]
            clauses = [{"aliases": {"$contains": a}} for a in part]
            where = clauses[0] if len(clauses) == 1 else {"$or": clauses}
            got = self._papers.get(where=where, include=["metadatas"])
            for pid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                meta = dict(meta or {})
                for alias in meta.get("aliases") or []:
                    if alias in part:
                        out.setdefault(str(alias), (pid, meta))
        return out

    def update_records(self, papers: Sequence[Paper]) -> int:
        """Rewrite the record keeping of stored papers whose content did not change (aliases,
        sources, inputs): metadata only, no chunk or vector is touched. Returns how many."""
        if not papers:
            return 0
        with self.writing():
            stored = self.paper_records([p.id for p in papers])
            todo = [p for p in papers if p.id in stored]
            ids = [p.id for p in todo]
            metas = [_paper_metadata(p, int(stored[p.id].get("n_chunks", 0))) for p in todo]
            try:
                for part in self._batches(len(ids)):
                    self._papers.update(ids=ids[part], metadatas=metas[part])
            except Exception as exc:
                raise StoreError(f"updating records at {self.location} failed: {exc}") from exc
        return len(todo)

    def get_papers(self, paper_ids: Sequence[str]) -> list[Paper]:
        """Papers by id, in the order asked (unknown ids are skipped)."""
        if not paper_ids:
            return []
        got = self._papers.get(
            ids=list(dict.fromkeys(paper_ids)), include=["documents", "metadatas"]
        )
        by_id = {
            pid: paper_from_record(pid, doc or "", meta or {})
            for pid, doc, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False
            )
        }
        return [by_id[pid] for pid in paper_ids if pid in by_id]

    def iter_papers(self, page: int = 500) -> Iterator[Paper]:
        offset = 0
        while True:
            got = self._papers.get(include=["documents", "metadatas"], limit=page, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            for pid, doc, meta in zip(
                ids, got["documents"] or [], got["metadatas"] or [], strict=False
            ):
                yield paper_from_record(pid, doc or "", meta or {})
            offset += len(ids)

    def query_chunks(
        self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> list[ChunkMatch]:
        # no count() first: Chroma returns fewer results when it has fewer (and count() is an
        # extra round trip whose cost grows with the collection: ~10 ms at 50k on a server)
        try:
            res = self._chunks.query(
                query_embeddings=np.asarray([vector], dtype=np.float32),
                n_results=max(1, n),
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        except Exception as exc:
            raise StoreError(f"query against {self.location} failed: {exc}") from exc
        out = []
        for cid, doc, meta, dist in zip(
            res["ids"][0],
            res["documents"][0],
            res["metadatas"][0],
            res["distances"][0],
            strict=False,
        ):
            meta = dict(meta or {})
            out.append(
                ChunkMatch(cid, str(meta.get("paper_id")), 1.0 - float(dist), doc or "", meta)
            )
        return out

    def chunks_of(
        self, paper_ids: Sequence[str], with_vectors: bool = False
    ) -> dict[str, list[ChunkMatch]]:
        """Every stored chunk of these papers (score 0), in chunk order, by paper id.

        With ``with_vectors`` each match's metadata carries its embedding under ``_vector``."""
        ids = list(dict.fromkeys(paper_ids))
        out: dict[str, list[ChunkMatch]] = {pid: [] for pid in ids}
        if not ids:
            return out
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        try:
            got = self._chunks.get(where={"paper_id": {"$in": ids}}, include=include)
        except Exception as exc:
            raise StoreError(f"reading chunks from {self.location} failed: {exc}") from exc
        vectors = got.get("embeddings") if with_vectors else None
        for i, (cid, doc, meta) in enumerate(
            zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False)
        ):
            meta = dict(meta or {})
            if vectors is not None:
                meta["_vector"] = np.asarray(vectors[i], dtype=np.float32)
            pid = str(meta.get("paper_id"))
            out.setdefault(pid, []).append(ChunkMatch(cid, pid, 0.0, doc or "", meta))
        for matches in out.values():
            matches.sort(key=lambda m: int(m.metadata.get("chunk_index", 0)))
        return out

    def papers_matching(self, where: dict[str, Any], paper_ids: Sequence[str]) -> set[str]:
        """The papers among ``paper_ids`` with at least one chunk matching a Chroma ``where``."""
        ids = list(dict.fromkeys(paper_ids))
        if not ids:
            return set()
        clause = {"$and": [where, {"paper_id": {"$in": ids}}]}
        try:
            got = self._chunks.get(where=clause, include=["metadatas"])
        except Exception as exc:
            raise StoreError(f"filtering chunks in {self.location} failed: {exc}") from exc
        return {str((m or {}).get("paper_id")) for m in got["metadatas"] or []}

    def count_papers(self) -> int:
        return int(self._papers.count())

    def count_chunks(self) -> int:
        return int(self._chunks.count())

    # --- maintenance: doctor, export/import, crash recovery (bot.doctor, bot.journal) ------
    def iter_paper_records(self, page: int = 2000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every paper record's id and metadata (the manifest: content_hash, n_chunks), paged."""
        yield from self._iter_records(self._papers, page)

    def iter_chunk_records(self, page: int = 2000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every chunk's id and metadata (no text, no vector), paged."""
        yield from self._iter_records(self._chunks, page)

    def _iter_records(self, collection: Any, page: int) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = 0
        while True:
            try:
                got = collection.get(include=["metadatas"], limit=page, offset=offset)
            except Exception as exc:
                raise StoreError(
                    f"reading {collection.name} at {self.location} failed: {exc}"
                ) from exc
            ids = got["ids"]
            if not ids:
                return
            for rid, meta in zip(ids, got["metadatas"] or [], strict=False):
                yield rid, dict(meta or {})
            offset += len(ids)

    def paper_records(self, paper_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Metadata of these paper records by id (ids not stored are absent)."""
        ids = list(dict.fromkeys(paper_ids))
        out: dict[str, dict[str, Any]] = {}
        for part in self._batches(len(ids)):
            got = self._papers.get(ids=ids[part], include=["metadatas"])
            for pid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[pid] = dict(meta or {})
        return out

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored embeddings of these chunks by id (ids not stored are absent)."""
        ids = list(dict.fromkeys(chunk_ids))
        out: dict[str, np.ndarray] = {}
        for part in self._batches(len(ids)):
            got = self._chunks.get(ids=ids[part], include=["embeddings"])
            vectors = got.get("embeddings")
            if vectors is None:
                continue
            for cid, vec in zip(got["ids"], vectors, strict=False):
                out[cid] = np.asarray(vec, dtype=np.float32)
        return out

    def unreadable_vectors(self, kind: str, ids: Sequence[str], batch: int = 250) -> list[str]:
        """The ids among ``ids`` (of ``kind`` "papers" or "chunks") whose stored vector cannot
        be read back: missing, or Chroma fails on them ("Error finding id" when the vector
        index lost them while the records remain). A failing batch is split to name them."""
        collection = (self._papers if kind == "papers" else self._chunks).raw
        bad: list[str] = []

        def probe(part: list[str]) -> None:
            try:
                got = collection.get(ids=part, include=["embeddings"])
            except Exception:
                if len(part) == 1:
                    bad.append(part[0])
                    return
                half = len(part) // 2
                probe(part[:half])
                probe(part[half:])
                return
            vectors = got.get("embeddings")
            found = set(got["ids"]) if vectors is not None and len(vectors) else set()
            bad.extend(i for i in part if i not in found)

        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), batch):
            probe(unique[start : start + batch])
        return bad

    def delete_chunks(self, chunk_ids: Iterable[str]) -> int:
        """Delete chunks by id (their paper records stay); returns how many ids were given."""
        ids = list(dict.fromkeys(chunk_ids))
        with self.writing():
            self.refresh()
            try:
                for part in self._batches(len(ids)):
                    self._chunks.delete(ids=ids[part])
            except Exception as exc:
                raise StoreError(f"deleting chunks at {self.location} failed: {exc}") from exc
        return len(ids)

    def touch(self) -> str:
        """Store a new revision without changing data, so that derived indexes (BM25) rebuild
        from the store on next use - listeners are deliberately not told (after a crash their
        state may be wrong while claiming the old revision). Returns the new revision."""
        with self.writing():
            self.refresh()
            _old_rev, new_rev = self._bump_revision()
        return new_rev
