"""BM25 over papers (``bm25s``, English Snowball stemmer from PyStemmer, English stopwords).

One BM25 document per paper: its title ``title_weight`` times (title boosting), then its
abstract. On SciFact train a paper-level index beat a chunk-level one (nDCG@10 0.699 vs 0.688)
and repeating the title once more added ~0.003, see ``benchmarks/results/retrieval.md``.

Keeping the index in sync with the store
----------------------------------------
The index is persisted under ``$PAPERBOT_HOME/bm25/<collection>/`` (next to the embedded
Chroma store; in server mode the folder name includes the server's host and port) together
with the store *revision* it was built from (see :mod:`bot.index.store`: every write and delete sets
a new random revision in Chroma).

- Writes made through the same :class:`~bot.store.PaperStore` reach the index as listener
  calls: the changed papers are re-tokenised and the BM25 matrix is rebuilt lazily, before
  the next query (rebuilding from token ids is cheap; nothing is read back from Chroma).
- Before each query the store's revision is read (one small Chroma call). If it is not the
  one the index reflects - another process wrote, e.g. through a shared Chroma server - the
  index is rebuilt from the store's papers and saved. So it can lag nobody's writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.errors import MissingExtraError, StoreError
from bot.index.filters import SearchFilter, filter_keys
from bot.types import Paper

if TYPE_CHECKING:
    from bot.index.store import PaperStore

__all__ = ["Bm25Params", "LexicalIndex", "Tokenizer", "saved_index_state"]

FORMAT_VERSION = 1


class Tokenizer:
    """Lower-case word tokens (2+ characters), English stopwords removed, Snowball-stemmed."""

    _pattern = re.compile(r"(?u)\b\w\w+\b")

    def __init__(self) -> None:
        try:
            import Stemmer
            from bm25s.stopwords import STOPWORDS_EN
        except ImportError as exc:  # pragma: no cover - core dependencies
            raise MissingExtraError("PyStemmer", purpose="BM25 retrieval") from exc
        self._stemmer = Stemmer.Stemmer("english")
        self._stopwords = frozenset(STOPWORDS_EN)
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> list[str]:
        out = []
        cache = self._cache
        for word in self._pattern.findall(text.lower()):
            if word in self._stopwords:
                continue
            stem = cache.get(word)
            if stem is None:
                stem = cache[word] = self._stemmer.stemWord(word)
            out.append(stem)
        return out


@dataclass(frozen=True)
class Bm25Params:
    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"
    title_weight: int = 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "k1": self.k1,
            "b": self.b,
            "method": self.method,
            "title_weight": self.title_weight,
        }


class LexicalIndex:
    """A paper-level BM25 index kept in sync with a :class:`~bot.store.PaperStore`."""

    def __init__(
        self, store: PaperStore, directory: Path | None, params: Bm25Params | None = None
    ) -> None:
        self.store = store
        self.directory = directory
        self.params = params or Bm25Params()
        self.tokenize = Tokenizer()
        self._lock = threading.RLock()
        self._revision: str | None = None  # revision the in-memory state reflects
        self._ids: list[str] = []
        self._keys: list[dict[str, Any]] = []  # filter keys per document
        self._tokens: dict[str, list[str]] | None = None  # paper id -> tokens (for updates)
        self._bm25: Any = None
        self._vocab: dict[str, int] = {}
        self._dirty = False
        store.add_listener(self)

    # --- store listener ---------------------------------------------------------------
    def papers_written(self, papers: Sequence[Paper], old_rev: str, new_rev: str) -> None:
        with self._lock:
            if not self._follows(old_rev):
                self._revision = None  # lost track: rebuild from the store when next needed
                return
            tokens = self._all_tokens()
            index = {pid: i for i, pid in enumerate(self._ids)}
            for paper in papers:
                tokens[paper.id] = self._document_tokens(paper)
                if paper.id in index:
                    self._keys[index[paper.id]] = filter_keys(paper)
                else:
                    index[paper.id] = len(self._ids)
                    self._ids.append(paper.id)
                    self._keys.append(filter_keys(paper))
            self._revision, self._dirty = new_rev, True

    def papers_deleted(self, paper_ids: Sequence[str], old_rev: str, new_rev: str) -> None:
        with self._lock:
            if not self._follows(old_rev):
                self._revision = None
                return
            tokens = self._all_tokens()
            doomed = set(paper_ids)
            keep = [i for i, pid in enumerate(self._ids) if pid not in doomed]
            self._ids = [self._ids[i] for i in keep]
            self._keys = [self._keys[i] for i in keep]
            for pid in doomed:
                tokens.pop(pid, None)
            self._revision, self._dirty = new_rev, True

    def _follows(self, old_rev: str) -> bool:
        """Whether the in-memory state reflects the store right before this change."""
        if self._revision is None:
            return False
        if self._tokens is None and not self._load_tokens():
            return False
        return self._revision == old_rev

    # --- building ---------------------------------------------------------------------
    def _document_tokens(self, paper: Paper) -> list[str]:
        title = self.tokenize(paper.title)
        return title * max(1, self.params.title_weight) + self.tokenize(paper.text)

    def _all_tokens(self) -> dict[str, list[str]]:
        assert self._tokens is not None
        return self._tokens

    def rebuild(self, revision: str | None = None) -> None:
        """Re-read every paper from the store and rebuild (and save) the index."""
        with self._lock:
            revision = self.store.revision() if revision is None else revision
            ids: list[str] = []
            keys: list[dict[str, Any]] = []
            tokens: dict[str, list[str]] = {}
            for paper in self.store.iter_papers(page=2000):
                ids.append(paper.id)
                keys.append(filter_keys(paper))
                tokens[paper.id] = self._document_tokens(paper)
            self._ids, self._keys, self._tokens = ids, keys, tokens
            self._index()
            self._revision = revision
            self._save()

    def _index(self) -> None:
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise MissingExtraError("bm25s", purpose="BM25 retrieval") from exc
        tokens = self._all_tokens()
        vocab: dict[str, int] = {}
        docs = [[vocab.setdefault(t, len(vocab)) for t in tokens[pid]] for pid in self._ids]
        self._vocab = vocab
        if not docs:
            self._bm25 = None
            self._dirty = False
            return
        if not vocab:  # bm25s needs at least one token
            vocab[""] = 0
        bm25 = bm25s.BM25(k1=self.params.k1, b=self.params.b, method=self.params.method)
        bm25.index((docs, vocab), show_progress=False)
        self._bm25 = bm25
        self._dirty = False

    # --- persistence ------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "params": self.params.to_dict(),
            "revision": self._revision,
            "ids": self._ids,
            "keys": self._keys,
        }

    def _save(self) -> None:
        """Write a new version folder, then point ``CURRENT`` at it (atomic rename)."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"v-{uuid.uuid4().hex[:12]}"
            target = self.directory / name
            target.mkdir()
            if self._bm25 is not None:
                self._bm25.save(str(target / "bm25"))
            (target / "meta.json").write_text(json.dumps(self._meta()), encoding="utf-8")
            tokens = self._all_tokens()
            (target / "tokens.json").write_text(
                json.dumps([tokens[pid] for pid in self._ids]), encoding="utf-8"
            )
            tmp = self.directory / f"CURRENT.{name}.tmp"
            tmp.write_text(name, encoding="utf-8")
            os.replace(tmp, self.directory / "CURRENT")
            for old in self.directory.glob("v-*"):
                if old.name != name:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise StoreError(f"cannot save the BM25 index under {self.directory}: {exc}") from exc

    def _current_dir(self) -> Path | None:
        if self.directory is None:
            return None
        try:
            name = (self.directory / "CURRENT").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        path = self.directory / name
        return path if path.is_dir() else None

    def _load(self, revision: str) -> bool:
        """Load the saved index if it was built from ``revision`` with the same parameters."""
        path = self._current_dir()
        if path is None:
            return False
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
            if (
                meta.get("format") != FORMAT_VERSION
                or meta.get("params") != self.params.to_dict()
                or meta.get("revision") != revision
            ):
                return False
            bm25 = None
            if meta["ids"]:
                import bm25s

                bm25 = bm25s.BM25.load(str(path / "bm25"), load_corpus=False)
        except (OSError, ValueError, KeyError):
            return False
        self._ids, self._keys = list(meta["ids"]), list(meta["keys"])
        self._bm25, self._tokens, self._dirty = bm25, None, False
        self._vocab = dict(bm25.vocab_dict) if bm25 is not None else {}
        self._revision = revision
        self._loaded_from = path
        return True

    def _load_tokens(self) -> bool:
        path = getattr(self, "_loaded_from", None)
        if path is None:
            return False
        try:
            lists = json.loads((path / "tokens.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if len(lists) != len(self._ids):
            return False
        self._tokens = dict(zip(self._ids, lists, strict=True))
        return True

    # --- querying ---------------------------------------------------------------------
    def ensure_current(self) -> None:
        """Make the index reflect the store's current revision (load or rebuild if not)."""
        with self._lock:
            revision = self.store.revision()
            if self._revision == revision:
                if self._dirty:
                    self._index()
                    self._save()
                return
            if not self._load(revision):
                self.rebuild(revision)

    def __len__(self) -> int:
        return len(self._ids)

    def search(
        self,
        query: str,
        n: int,
        filters: SearchFilter | None = None,
        allowed: Iterable[str] | None = None,
        prf: bool = False,
    ) -> list[tuple[str, float]]:
        """Up to ``n`` (paper id, BM25 score) pairs with a positive score, best first.

        ``prf``: RM3-style pseudo-relevance feedback (:meth:`_expand`)."""
        self.ensure_current()
        with self._lock:
            bm25, ids, keys = self._bm25, self._ids, self._keys
            if bm25 is None or n <= 0:
                return []
            token_ids = [self._vocab[t] for t in self.tokenize(query) if t in self._vocab]
            if not token_ids:
                return []
            scores = np.asarray(bm25.get_scores_from_ids(token_ids), dtype=np.float32)
            mask = None
            if filters is not None or allowed is not None:
                mask = np.ones(len(ids), dtype=bool)
                if filters is not None:
                    mask &= np.fromiter((filters.matches(k) for k in keys), bool, len(ids))
                if allowed is not None:
                    wanted = set(allowed)
                    mask &= np.fromiter((pid in wanted for pid in ids), bool, len(ids))
                scores = np.where(mask, scores, 0.0)
            if prf:
                scores = self._expand(token_ids, scores)
                if mask is not None:
                    scores = np.where(mask, scores, 0.0)
        n = min(n, len(ids))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(ids) else np.arange(len(ids))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def _expand(
        self,
        token_ids: list[int],
        scores: np.ndarray,
        docs: int = 3,
        terms: int = 20,
        keep: float = 0.8,
    ) -> np.ndarray:
        """RM3-style feedback: the query (weight ``keep``) plus the ``terms`` best terms of the
        top ``docs`` documents (tf/len x idf, documents weighted by softmax of their score)."""
        if self._tokens is None and not self._load_tokens():
            return scores
        tokens = self._all_tokens()
        bm25 = self._bm25
        indptr = bm25.scores["indptr"]
        n_docs = max(1, len(self._ids))
        top = np.argpartition(-scores, min(docs, len(scores) - 1))[:docs]
        top = top[scores[top] > 0]
        if not len(top):
            return scores
        doc_w = np.exp(scores[top] - scores[top].max())
        gain: dict[int, float] = {}
        for d, w in zip(top, doc_w, strict=True):
            words = tokens[self._ids[int(d)]]
            if not words:
                continue
            for word, count in Counter(words).items():
                tid = self._vocab.get(word)
                if tid is None:
                    continue
                df = int(indptr[tid + 1] - indptr[tid]) or 1
                tf = count / len(words)
                gain[tid] = gain.get(tid, 0.0) + float(w) * tf * float(np.log(n_docs / df))
        best = sorted(gain.items(), key=lambda kv: kv[1], reverse=True)[:terms]
        total = sum(v for _, v in best) or 1.0
        weights: dict[int, float] = {}
        for tid in token_ids:
            weights[tid] = weights.get(tid, 0.0) + keep / len(token_ids)
        for tid, v in best:
            weights[tid] = weights.get(tid, 0.0) + (1 - keep) * v / total
        out = np.zeros(len(scores), dtype=np.float32)
        for tid, w in weights.items():
            out += w * np.asarray(bm25.get_scores_from_ids([tid]), dtype=np.float32)
        return out

    def term_weights(self, query: str) -> dict[str, float]:
        """IDF-like weight of each query token known to the index (for picking chunks)."""
        with self._lock:
            n_docs = max(1, len(self._ids))
            bm25 = self._bm25
            if bm25 is None:
                return {}
            out = {}
            for tok in set(self.tokenize(query)):
                tid = self._vocab.get(tok)
                if tid is None:
                    continue
                indptr = bm25.scores["indptr"]
                df = int(indptr[tid + 1] - indptr[tid])
                out[tok] = float(np.log(1 + (n_docs - df + 0.5) / (df + 0.5)))
            return out

    def undated(self, filters: SearchFilter) -> int:
        """Papers without a publication date that pass the rest of ``filters``: what its date
        range leaves out (a paper with no date never passes one)."""
        self.ensure_current()
        rest = SearchFilter(categories=filters.categories, authors=filters.authors)
        with self._lock:
            return sum(1 for k in self._keys if "published_ts" not in k and rest.matches(k))

    # --- inspection (paperbot doctor) ------------------------------------------------------
    def saved_state(self) -> dict[str, Any] | None:
        """See :func:`saved_index_state`."""
        return saved_index_state(self.directory)


def saved_index_state(directory: Path | None) -> dict[str, Any] | None:
    """The index saved under ``directory`` that ``CURRENT`` points at, without loading it:
    ``{"revision", "ids", "path"}``; ``None`` when nothing readable is saved there."""
    if directory is None:
        return None
    try:
        name = (directory / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    path = directory / name
    if not name or not path.is_dir():
        return None
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            return None
        return {"revision": meta.get("revision"), "ids": list(meta["ids"]), "path": path}
    except (OSError, ValueError, KeyError, TypeError):
        return None
