"""Retrieval evaluation on BEIR-format datasets.

A BEIR dataset is a folder with ``corpus.jsonl`` (``_id``, ``title``, ``text``),
``queries.jsonl`` (``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``,
``score`` with a header line).

The corpus is ingested, through the normal ingest pipeline, into its own collection of the
configured store, named after the dataset folder plus a hash of the corpus file, the chunking
settings and the embedding model (:func:`beir_collection_name`). Ingest skips papers whose
content hash is already stored, so a second run reuses the collection: only the unchanged-check
is paid again, not the embeddings.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import InputError
from bot.evaluation.metrics import mean, mrr_at_k, ndcg_at_k, percentile, recall_at_k
from bot.types import Paper

if TYPE_CHECKING:
    from bot.api import PaperBot
    from bot.index.embeddings import Embedder
    from bot.ingest.pipeline import Progress
    from bot.settings import Settings

__all__ = [
    "BeirDataset",
    "RetrievalReport",
    "beir_collection_name",
    "beir_settings",
    "evaluate_rankings",
    "evaluate_retrieval",
    "ingest_beir",
    "load_beir",
]


@dataclass
class BeirDataset:
    """A BEIR dataset (one split): corpus papers, the judged queries and their qrels."""

    root: Path
    split: str
    papers: list[Paper]
    queries: dict[str, str]  # query id -> text (only queries with judgements in the split)
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: relevance}
    corpus_hash: str


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
    return rows


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_beir(root: str | Path, split: str = "test") -> BeirDataset:
    """Read a BEIR folder; raises :class:`InputError` naming what is missing or malformed."""
    root = Path(root)
    corpus_path = root / "corpus.jsonl"
    queries_path = root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    for path in (corpus_path, queries_path, qrels_path):
        if not path.is_file():
            raise InputError(f"not a BEIR dataset: {path} is missing")
    papers = []
    for n, row in enumerate(_read_jsonl(corpus_path), 1):
        if "_id" not in row:
            raise InputError(f"{corpus_path}:{n}: record has no '_id'")
        papers.append(
            Paper(
                id=str(row["_id"]),
                title=str(row.get("title") or "").strip(),
                abstract=str(row.get("text") or "").strip(),
                source=f"{corpus_path.name}:{n}",
            )
        )
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as fh:
        for n, parts in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not parts or (n == 1 and not parts[-1].strip().lstrip("-").isdigit()):
                continue  # blank line or header
            if len(parts) < 3:
                raise InputError(f"{qrels_path}:{n}: expected query-id, corpus-id, score")
            qrels.setdefault(parts[0].strip(), {})[parts[1].strip()] = int(parts[2])
    all_queries = {str(r["_id"]): str(r.get("text", "")) for r in _read_jsonl(queries_path)}
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise InputError(f"{qrels_path}: query ids not in queries.jsonl: {missing[:5]}")
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirDataset(root, split, papers, queries, qrels, _file_hash(corpus_path))


def beir_collection_name(dataset: BeirDataset, settings: Settings, embedding_model: str) -> str:
    """The cached collection for this corpus, chunking and embedding model (<= 60 chars)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", dataset.root.resolve().name).strip("-").lower()
    key = json.dumps(
        [
            dataset.corpus_hash,
            settings.chunking.tokens,
            settings.chunking.overlap_sentences,
            embedding_model,
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"beir-{slug[:40] or 'data'}-{digest}"


def beir_settings(
    dataset: BeirDataset, settings: Settings, embedding_model: str, k: int = 100
) -> Settings:
    """``settings`` pointed at the dataset's own collection, accepting ``k`` results."""
    name = beir_collection_name(dataset, settings, embedding_model)
    return settings.model_copy(
        update={
            "collection": name,
            "max_k": max(settings.retrieval.max_k, k),
            "llm_mode": "extractive",
        }
    )


def ingest_beir(
    dataset: BeirDataset,
    settings: Settings,
    embedder: Embedder,
    progress: Progress | None = None,
    k: int = 100,
) -> tuple[PaperBot, int]:
    """A :class:`PaperBot` over the dataset's collection, and how many papers were embedded.

    Papers already stored with the same content are not embedded again (0 on a second run)."""
    from bot.api import PaperBot

    bot = PaperBot(beir_settings(dataset, settings, embedder.name, k), embedder=embedder, llm=None)
    if bot.store.count_papers() == len({p.id for p in dataset.papers}):
        return bot, 0
    report = bot.add_papers(dataset.papers, progress=progress)
    return bot, report.added + report.updated


@dataclass
class RetrievalReport:
    """Metrics of one retriever over one split."""

    retriever: str
    queries: int
    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_mean_ms: float
    k: int
    cpu_p50_ms: float = 0.0  # CPU time of this process per query (all its threads)
    cpu_p95_ms: float = 0.0
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@10": round(self.recall_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "latency_ms": {
                "p50": round(self.latency_p50_ms, 2),
                "p95": round(self.latency_p95_ms, 2),
                "mean": round(self.latency_mean_ms, 2),
            },
            "cpu_ms": {"p50": round(self.cpu_p50_ms, 2), "p95": round(self.cpu_p95_ms, 2)},
            "queries": self.queries,
            "retriever": self.retriever,
            "k": self.k,
        }


def evaluate_rankings(
    rankings: dict[str, Sequence[str]],
    qrels: dict[str, dict[str, int]],
    latencies_ms: Sequence[float],
    retriever: str,
    k: int,
    cpu_ms: Sequence[float] = (),
) -> RetrievalReport:
    """Metrics for precomputed rankings (query id -> doc ids, best first)."""
    per_query: dict[str, dict[str, float]] = {}
    for qid, judged in qrels.items():
        ranked = list(rankings.get(qid, []))
        per_query[qid] = {
            "ndcg@10": ndcg_at_k(ranked, judged, 10),
            "recall@10": recall_at_k(ranked, judged, 10),
            "recall@100": recall_at_k(ranked, judged, 100),
            "mrr@10": mrr_at_k(ranked, judged, 10),
        }
    rows = list(per_query.values())
    return RetrievalReport(
        retriever=retriever,
        queries=len(rows),
        ndcg_at_10=mean([r["ndcg@10"] for r in rows]),
        recall_at_10=mean([r["recall@10"] for r in rows]),
        recall_at_100=mean([r["recall@100"] for r in rows]),
        mrr_at_10=mean([r["mrr@10"] for r in rows]),
        latency_p50_ms=percentile(latencies_ms, 50),
        latency_p95_ms=percentile(latencies_ms, 95),
        latency_mean_ms=mean(list(latencies_ms)),
        k=k,
        per_query=per_query,
        cpu_p50_ms=percentile(cpu_ms, 50),
        cpu_p95_ms=percentile(cpu_ms, 95),
    )


def evaluate_retrieval(
    bot: PaperBot,
    dataset: BeirDataset,
    retriever: str = "hybrid",
    k: int = 100,
    search: Callable[[str, int], Sequence[str]] | None = None,
) -> RetrievalReport:
    """Run every judged query through ``retriever`` (``bm25``, ``dense`` or ``hybrid``).

    ``search`` replaces the retriever with any ``(query, k) -> doc ids`` function (baselines).
    Latency is wall time per query, after one warm-up query (model and index loading excluded);
    CPU time per query is recorded too (it does not grow when other processes load the machine).
    """
    if search is None:
        engine = bot.retriever

        def search(query: str, n: int) -> list[str]:
            return [h.paper.id for h in engine.search(query, k=n, mode=retriever)]  # type: ignore[arg-type]

    queries = dataset.queries
    if queries:
        search(next(iter(queries.values())), k)  # warm-up: loads indexes and models
    rankings: dict[str, Sequence[str]] = {}
    latencies: list[float] = []
    cpu: list[float] = []
    for qid, text in queries.items():
        t0, c0 = time.perf_counter(), time.process_time()
        rankings[qid] = search(text, k)
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return evaluate_rankings(rankings, dataset.qrels, latencies, retriever, k, cpu)
