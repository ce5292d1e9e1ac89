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
indexes (the BM25 index of :mod:`bot.lexical`) record the revision they were built from and
rebuild when the store's differs - so a write by another process (Chroma server mode) is never
missed. Chunks also carry the filter keys of :func:`bot.filters.filter_keys`.

Embedded mode uses ``chromadb.PersistentClient`` under ``settings.store_dir``; when
``CHROMA_HOST`` is set the same code talks to a Chroma server through ``chromadb.HttpClient``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bot.errors import EmbeddingMismatchError, StoreError
from bot.filters import filter_keys
from bot.types import Chunk, Paper, normalise_title

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["ChunkMatch", "PaperStore", "PaperWrite", "StoreListener"]

SCHEMA_VERSION = 1


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


def _paper_from_record(paper_id: str, document: str, meta: dict[str, Any]) -> Paper:
    abstract, body = document, ""
    raw_cut = meta.get("abstract_len")
    cut = -1 if raw_cut is None else int(raw_cut)
    if cut >= 0:
        abstract = document[:cut]
        body = document[cut + 2 :] if cut else document
    return Paper(
        id=paper_id,
        title=str(meta.get("title", "")),
        abstract=abstract,
        body=body,
        pages=[list(map(int, p)) for p in json.loads(meta.get("pages") or "[]")],
        authors=list(json.loads(meta.get("authors") or "[]")),
        published=meta.get("published") or None,
        url=meta.get("url") or None,
        categories=list(json.loads(meta.get("categories") or "[]")),
        source=meta.get("source") or None,
        aliases=[str(a) for a in meta.get("aliases") or []],
        sources=list(json.loads(meta.get("sources") or "[]")),
        added=meta.get("added") or None,
        inputs=list(json.loads(meta.get("inputs") or "[]")),
    )


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
    and a second writer fails fast (see :mod:`bot.locking`)."""
    import contextlib

    if settings.chroma_host:
        return contextlib.nullcontext()
    from bot.locking import writer_lock

    return writer_lock(settings.store_dir, settings.writer_lock_timeout)


class PaperStore:
    """Papers and their chunk vectors in Chroma (embedded or server)."""

    def __init__(self, settings: Settings, embedding_model: str, dimension: int) -> None:
        self.settings = settings
        self.embedding_model = embedding_model
        self.dimension = dimension
        self._client = self._connect(settings)
        self._papers = self._collection(f"{settings.collection}_papers")
        self._chunks = self._collection(f"{settings.collection}_chunks")
        self._listeners: list[StoreListener] = []
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
            if settings.chroma_host:
                headers = {}
                if settings.chroma_auth_header:
                    key, _, value = settings.chroma_auth_header.partition(":")
                    headers[key.strip()] = value.strip()
                return chromadb.HttpClient(
                    host=settings.chroma_host,
                    port=settings.chroma_port,
                    headers=headers or None,
                    settings=chroma_settings,
                )
            settings.store_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)
        except Exception as exc:
            where = (
                f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
                if settings.chroma_host
                else f"store at {settings.store_dir}"
            )
            raise StoreError(f"cannot open the {where}: {exc}") from exc

    @property
    def location(self) -> str:
        if self.settings.chroma_host:
            return f"http://{self.settings.chroma_host}:{self.settings.chroma_port}"
        return str(self.settings.store_dir)

    def _collection(self, name: str) -> Any:
        wanted = {
            "paperbot_schema": SCHEMA_VERSION,
            "embedding_model": self.embedding_model,
            "embedding_dim": self.dimension,
        }
        try:
            collection = self._client.get_or_create_collection(
                name=name,
                metadata=wanted,
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        except Exception as exc:
            raise StoreError(f"cannot open collection '{name}': {exc}") from exc
        meta = collection.metadata or {}
        model, dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if model != self.embedding_model or (dim is not None and int(dim) != self.dimension):
            raise EmbeddingMismatchError(
                f"collection '{name}' at {self.location} was built with embedding model "
                f"'{model}' ({dim}-d), not '{self.embedding_model}' ({self.dimension}-d); "
                "use the same PAPERBOT_EMBEDDING_MODEL or a new PAPERBOT_COLLECTION"
            )
        return collection

    # --- revision and listeners -------------------------------------------------------
    def add_listener(self, listener: StoreListener) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def revision(self) -> str:
        """The store's current revision ("" for a store never written since revisions exist).

        Read fresh from Chroma (another process may have written)."""
        name = f"{self.settings.collection}_papers"
        try:
            meta = self._client.get_collection(name, embedding_function=None).metadata or {}
        except Exception as exc:
            raise StoreError(f"cannot read collection '{name}': {exc}") from exc
        return str(meta.get("revision", ""))

    def _bump_revision(self) -> tuple[str, str]:
        """Store a new random revision (after the data is written); returns (old, new)."""
        import uuid

        name = f"{self.settings.collection}_papers"
        fresh = self._client.get_collection(name, embedding_function=None)
        meta = dict(fresh.metadata or {})
        old = str(meta.get("revision", ""))
        new = uuid.uuid4().hex
        meta["revision"] = new
        fresh.modify(metadata=meta)  # modify replaces the metadata: keep every other key
        self._papers = fresh
        return old, new

    # --- writes -----------------------------------------------------------------------
    def _batches(self, n: int) -> Iterator[slice]:
        step = max(1, self.max_batch)
        for i in range(0, n, step):
            yield slice(i, min(n, i + step))

    def writing(self) -> Any:
        """Context manager holding the writer lock of an embedded store for a whole operation
        (an ingest); re-entrant. A second writer process fails within
        ``PAPERBOT_WRITER_LOCK_TIMEOUT`` with a StoreError naming the holder (see
        :mod:`bot.locking`). A Chroma server needs no lock: then this does nothing."""
        return store_writing(self.settings)

    def write(self, writes: Sequence[PaperWrite]) -> int:
        """(Re)write papers with their chunks; returns the number of chunks written."""
        with self.writing():
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
            raise StoreError(f"writing to the store at {self.location} failed: {exc}") from exc
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
            pid: _paper_from_record(pid, doc or "", meta or {})
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
                yield _paper_from_record(pid, doc or "", meta or {})
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

    def delete_chunks(self, chunk_ids: Iterable[str]) -> int:
        """Delete chunks by id (their paper records stay); returns how many ids were given."""
        ids = list(dict.fromkeys(chunk_ids))
        with self.writing():
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
            _old_rev, new_rev = self._bump_revision()
        return new_rev
