"""A read-only view of an embedded store's papers that needs neither chromadb nor a model.

``paperbot papers`` and ``paperbot stats`` only list and count. Opening the store through
chromadb costs 1.5-3 s of imports on a 2-core machine (and the embedding model would cost
more), so these read the embedded store's SQLite file directly, read-only: paper records
(the same metadata :mod:`bot.index.store` writes) and record counts, plus the embedding model the
collection was built with.

The view is used only when it can be trusted; otherwise :func:`read_catalog` returns
``None`` and the caller opens the store through chromadb as before:

- a Chroma server (``CHROMA_HOST``) has no local file;
- the tables or columns this reads are not all there (another Chroma version);
- Chroma has not yet applied every logged write to its metadata tables (each metadata
  segment's ``max_seq_id`` must have reached the last write logged for its collection).

``tests/test_catalog.py`` checks that it lists exactly what the store lists.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import paths
from bot.types import Paper

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["Catalog", "paper_from_record", "read_catalog"]

_NEEDED = {
    "collections": {"id", "name"},
    "collection_metadata": {"collection_id", "key", "str_value", "int_value"},
    "segments": {"id", "scope", "collection", "type"},
    "embeddings": {"id", "segment_id", "embedding_id"},
    "embedding_metadata": {"id", "key", "string_value", "int_value", "float_value"},
    "max_seq_id": {"segment_id", "seq_id"},
    "embeddings_queue": {"seq_id", "topic"},
}
_DOCUMENT = "chroma:document"


@dataclass
class Catalog:
    """Paper records and counts of one collection, as stored."""

    papers: list[Paper]
    n_chunks: int
    metadata: dict[str, Any]  # the papers collection's metadata (embedding model, dim, ...)


def paper_from_record(paper_id: str, document: str, meta: dict[str, Any]) -> Paper:
    """A :class:`Paper` from a stored paper record (document + metadata; see bot.store)."""
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


def _schema_ok(db: sqlite3.Connection) -> bool:
    for table, columns in _NEEDED.items():
        found = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if not columns <= found:
            return False
    return True


def _collection(db: sqlite3.Connection, name: str) -> tuple[str, str] | None:
    """(collection id, metadata segment id) of ``name``, if its metadata are up to date."""
    row = db.execute(
        "SELECT c.id, s.id FROM collections c JOIN segments s ON s.collection = c.id "
        "WHERE c.name = ? AND s.scope = 'METADATA' AND s.type LIKE '%metadata/sqlite'",
        (name,),
    ).fetchone()
    if row is None:
        return None
    collection_id, segment_id = str(row[0]), str(row[1])
    logged = db.execute(
        "SELECT MAX(seq_id) FROM embeddings_queue WHERE topic LIKE ?", (f"%/{collection_id}",)
    ).fetchone()[0]
    applied = db.execute(
        "SELECT seq_id FROM max_seq_id WHERE segment_id = ?", (segment_id,)
    ).fetchone()
    if logged is not None and (applied is None or int(applied[0]) < int(logged)):
        return None  # writes logged but not yet in the metadata tables
    return collection_id, segment_id


def _records(db: sqlite3.Connection, segment_id: str) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    rows = db.execute(
        "SELECT e.embedding_id, m.key, m.string_value, m.int_value, m.float_value "
        "FROM embeddings e JOIN embedding_metadata m ON m.id = e.id WHERE e.segment_id = ?",
        (segment_id,),
    )
    for rid, key, text, integer, real in rows:
        value = text if text is not None else integer if integer is not None else real
        records.setdefault(str(rid), {})[str(key)] = value
    # array values (a paper's aliases) are one row per item in a table of their own
    if db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'embedding_metadata_array'"
    ).fetchone():
        rows = db.execute(
            "SELECT e.embedding_id, a.key, a.string_value, a.int_value, a.float_value "
            "FROM embeddings e JOIN embedding_metadata_array a ON a.id = e.id "
            "WHERE e.segment_id = ?",
            (segment_id,),
        )
        for rid, key, text, integer, real in rows:
            value = text if text is not None else integer if integer is not None else real
            records.setdefault(str(rid), {}).setdefault(str(key), []).append(value)
    # records with no metadata at all still count
    ids = db.execute("SELECT embedding_id FROM embeddings WHERE segment_id = ?", (segment_id,))
    for (rid,) in ids:
        records.setdefault(str(rid), {})
    return records


def read_catalog(settings: Settings) -> Catalog | None:
    """The papers and counts of the configured embedded store, or ``None`` when they cannot
    be read this way (see the module docstring). An absent store is an empty catalog."""
    if settings.chroma.host:
        return None
    path = paths.store_file(settings.store.home)
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        if not _schema_ok(db):
            return None
        papers = _collection(db, f"{settings.store.collection}_papers")
        chunks = _collection(db, f"{settings.store.collection}_chunks")
        if papers is None or chunks is None:
            return None
        metadata: dict[str, Any] = {}
        for key, text, integer in db.execute(
            "SELECT key, str_value, int_value FROM collection_metadata WHERE collection_id = ?",
            (papers[0],),
        ):
            metadata[str(key)] = text if text is not None else integer
        n_chunks = db.execute(
            "SELECT COUNT(*) FROM embeddings WHERE segment_id = ?", (chunks[1],)
        ).fetchone()[0]
        found = [
            paper_from_record(pid, str(meta.pop(_DOCUMENT, "") or ""), meta)
            for pid, meta in _records(db, papers[1]).items()
        ]
        return Catalog(found, int(n_chunks), metadata)
    except sqlite3.Error:
        return None
    finally:
        db.close()
