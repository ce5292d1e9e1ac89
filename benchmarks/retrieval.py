"""Retrieval benchmark on SciFact (BEIR), in one process.

Runs BM25 alone, dense alone, a plain LangChain ``Chroma.similarity_search`` baseline with the
same embedding model, the hybrid retriever with reciprocal rank fusion, and paperbot's default
(hybrid, weighted fusion), and writes ``benchmarks/results/retrieval.md``.

    python benchmarks/retrieval.py [--beir ../shared/eval/scifact] [--split train]
        [--home DIR] [-k 100] [--limit N] [--out benchmarks/results/retrieval.md]

The corpus is ingested once into a cached collection under ``--home`` (default
``$PAPERBOT_HOME`` or ``~/.cache/paperbot-bench``): ~40 min of MiniLM on 2 busy cores the first
time, seconds afterwards. The LangChain baseline indexes the same "title + chunk" texts as
paperbot in its own Chroma folder; to avoid a second hour of embedding it is handed the
vectors paperbot stored for those exact texts (same model, same text, so the same vectors) -
queries are embedded by the model as usual. Latency is wall time per query after a warm-up
query (model and index loading excluded), including fetching the paper records.

Needs ``langchain-chroma`` (a dev dependency) for the baseline row.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from bot.evaluation.retrieval import (  # noqa: E402
    RetrievalReport,
    evaluate_retrieval,
    ingest_beir,
    load_beir,
)
from bot.index.embeddings import LocalEmbedder  # noqa: E402
from bot.settings import Settings  # noqa: E402

TARGET_NDCG = 0.72
TARGET_P50_MS = 30.0


def machine() -> str:
    return describe("torch", "sentence_transformers", "chromadb", "bm25s")


class StoredVectors:
    """LangChain ``Embeddings`` that reuse paperbot's stored vectors for identical texts."""

    def __init__(self, embedder: LocalEmbedder, vectors: dict[str, Any]) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.computed = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in texts if t not in self.vectors]
        if missing:
            self.computed += len(missing)
            for text, vec in zip(missing, self.embedder.embed_documents(missing), strict=True):
                self.vectors[text] = vec
        return [self.vectors[t].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()


def langchain_baseline(bot: Any, embedder: LocalEmbedder, home: Path) -> Any:
    """A plain LangChain Chroma store over the same chunk texts; returns a search function."""
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    class _Emb(StoredVectors, Embeddings):
        pass

    chunks = bot.store._chunks
    total = chunks.count()
    vectors: dict[str, Any] = {}
    texts: list[str] = []
    ids: list[str] = []
    metas: list[dict[str, str]] = []
    for offset in range(0, total, 2000):
        got = chunks.get(
            include=["documents", "metadatas", "embeddings"], limit=2000, offset=offset
        )
        for cid, doc, meta, vec in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
        ):
            text = f"{meta['title']}\n{doc}"
            vectors[text] = vec
            texts.append(text)
            ids.append(cid)
            metas.append({"paper_id": str(meta["paper_id"])})
    emb = _Emb(embedder, vectors)
    store = Chroma(
        collection_name=f"lc-{bot.settings.store.collection}"[:60],
        embedding_function=emb,
        persist_directory=str(home / "langchain-baseline"),
    )
    if store._collection.count() != len(ids):
        for i in range(0, len(ids), 1000):
            store.add_texts(
                texts[i : i + 1000], metadatas=metas[i : i + 1000], ids=ids[i : i + 1000]
            )
    print(f"langchain baseline: {len(ids)} chunks, {emb.computed} embedded anew", flush=True)

    def search(query: str, k: int) -> list[str]:
        docs = store.similarity_search(query, k=3 * k)
        return list(dict.fromkeys(d.metadata["paper_id"] for d in docs))[:k]

    return search


def row(name: str, r: RetrievalReport) -> str:
    return (
        f"| {name} | {r.ndcg_at_10:.4f} | {r.recall_at_10:.4f} | {r.recall_at_100:.4f} | "
        f"{r.mrr_at_10:.4f} | {r.latency_p50_ms:.1f} | {r.latency_p95_ms:.1f} | "
        f"{r.latency_mean_ms:.1f} | {r.cpu_p50_ms:.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--beir", default=str(ROOT.parent / "shared" / "eval" / "scifact"))
    ap.add_argument("--split", default="train")
    default_home = os.environ.get("PAPERBOT_HOME") or str(Path.home() / ".cache/paperbot-bench")
    ap.add_argument("--home", default=default_home)
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--limit", type=int, default=0, help="only the first N queries")
    ap.add_argument("--no-langchain", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "retrieval.md"))
    args = ap.parse_args()

    data = load_beir(args.beir, args.split)
    if args.limit:
        keep = list(data.queries)[: args.limit]
        data.queries = {q: data.queries[q] for q in keep}
        data.qrels = {q: data.qrels[q] for q in keep}
    home = Path(args.home)
    settings = Settings.model_validate(
        {"home": home, "llm_mode": "extractive", "chroma_host": None, "openai_api_key": None}
    )
    t0 = time.perf_counter()
    embedder = LocalEmbedder()
    load_s = time.perf_counter() - t0

    def progress(stage: str, done: int, total: int) -> None:
        print(f"  {stage} {done}/{total}", flush=True)

    t0 = time.perf_counter()
    bot, embedded = ingest_beir(data, settings, embedder, progress, k=args.k)
    ingest_s = time.perf_counter() - t0
    print(
        f"collection {bot.settings.store.collection}: {embedded} papers embedded in {ingest_s:.0f}s"
    )
    t0 = time.perf_counter()
    bot.retriever.lexical.ensure_current()
    bm25_s = time.perf_counter() - t0

    cfg = bot.retriever.config
    results: list[tuple[str, RetrievalReport]] = []
    for name, mode, fusion in [
        ("BM25 (bm25s, stemmed, title x2)", "bm25", cfg.fusion),
        ("dense (MiniLM chunks, max per paper)", "dense", cfg.fusion),
        (f"hybrid, RRF (k={cfg.rrf_k})", "hybrid", "rrf"),
        (
            f"**paperbot default**: hybrid, weighted (dense {cfg.dense_weight:g})",
            "hybrid",
            "weighted",
        ),
    ]:
        old = cfg.fusion
        cfg.fusion = fusion
        try:
            report = evaluate_retrieval(bot, data, mode, k=args.k)
        finally:
            cfg.fusion = old
        print(row(name, report), flush=True)
        results.append((name, report))
    if not args.no_langchain:
        search = langchain_baseline(bot, embedder, home)
        report = evaluate_retrieval(bot, data, "langchain", k=args.k, search=search)
        name = "LangChain `Chroma.similarity_search` (same model and chunks)"
        print(row(name, report), flush=True)
        results.insert(2, (name, report))

    default = next(r for n, r in results if n.startswith("**paperbot default**"))
    lines = [
        "# Retrieval benchmark",
        "",
        f"SciFact ({Path(args.beir).name}), split `{args.split}`: {len(data.queries)} queries, "
        f"{len(data.papers)} documents; k = {args.k}. Written by `benchmarks/retrieval.py` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {machine()}.",
        "",
        "| retriever | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | p50 ms | p95 ms | mean ms "
        "| CPU p50 ms |",
        "|---|---|---|---|---|---|---|---|---|",
        *[row(n, r) for n, r in results],
        "",
        f"Targets for the default: nDCG@10 >= {TARGET_NDCG} -> "
        f"{'met' if default.ndcg_at_10 >= TARGET_NDCG else 'NOT met'} "
        f"({default.ndcg_at_10:.4f}); query p50 <= {TARGET_P50_MS:g} ms -> "
        f"{'met' if default.latency_p50_ms <= TARGET_P50_MS else 'NOT met'} "
        f"({default.latency_p50_ms:.1f} ms).",
        "",
        "Published SciFact *test* anchors (nDCG@10): BM25 0.665-0.679, SPLADE++ 0.704, "
        "bge-small 0.713. The rows above are on the train split, which the retriever was tuned "
        "on: expect the test split to score somewhat lower.",
        "",
        f"Latency: wall time of `Retriever.search` per query (query embedding, Chroma query, "
        f"BM25 scoring, fusion, fetching the paper records), after one warm-up query. Not "
        f"included: loading MiniLM ({load_s:.1f}s here) and loading/building the BM25 index "
        f"({bm25_s:.1f}s here). Ingest this run: {embedded} papers embedded "
        f"({ingest_s:.0f}s; 0 means the cached collection was reused).",
        "",
        NOTES,
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


NOTES = """## How the default was chosen (SciFact train, 809 queries, k = 100)

Offline sweeps over the same cached collection (exact dense scores from the stored vectors,
BM25 from the same index), run once while building the retriever:

| variant | nDCG@10 | Recall@10 | Recall@100 |
|---|---|---|---|
| BM25, one document per paper, title once (lucene k1 1.2, b 0.75) | 0.6960 | 0.8116 | 0.9283 |
| BM25, one document per paper, **title twice** (kept) | 0.6991 | 0.8144 | 0.9295 |
| BM25, one document per chunk, max per paper | 0.6878 | 0.8104 | 0.9252 |
| BM25 variants robertson / bm25+ / bm25l, k1 0.9-1.5, b 0.4-0.9 | 0.692-0.701 | | |
| BM25 + RM3 feedback (3 docs, 20 terms, 0.8 original) | 0.7051 | 0.8287 | 0.9369 |
| dense MiniLM, chunk max per paper | 0.6929 | 0.8178 | 0.9312 |
| dense, max + 0.1/0.3 x second-best chunk | 0.6927-0.6929 | | |
| dense on title vectors only | 0.5646 | 0.7085 | 0.8693 |
| hybrid RRF k=10 / 30 / 60 | 0.7316 / 0.7285 / 0.7260 | 0.8597 / 0.8547 / 0.8485 | 0.9559 |
| hybrid weighted min-max, dense weight 0.3 / 0.4 | 0.7331 / 0.7391 | 0.8464 / 0.8545 | |
| hybrid weighted min-max, dense weight **0.5** (kept) | **0.7417** | 0.8593 | 0.9578 |
| hybrid weighted min-max, dense weight 0.6 / 0.7 | 0.7363 / 0.7300 | 0.8510 / 0.8434 | |
| weighted 0.5 with 50 / 200 candidates per side | 0.7389 / 0.7417 | | 0.9497 / 0.9590 |
| weighted z-score (all docs), dense weight 0.5 / 0.6 | 0.7398 / 0.7444 | 0.8594 / 0.8647 | |
| weighted 0.5 + title-vector list (weight 0.1 / 0.2) | 0.7367 / 0.7351 | | |
| weighted 0.5 with RM3 on the BM25 side | 0.7412 | 0.8602 | 0.9627 |
| weighted 0.5 with Rocchio dense feedback (hybrid top 3, beta 0.3) | 0.7400 | 0.8556 | 0.9644 |
| both feedbacks | 0.7427 | 0.8588 | 0.9662 |

Kept as default: hybrid, weighted min-max fusion, dense weight 0.5, 100 candidates per side,
title counted twice in BM25. Not kept: RM3 (no nDCG@10 gain in the hybrid, +0.005
Recall@100; available as `PAPERBOT_BM25_PRF=true`), Rocchio dense feedback (a second Chroma
query for +0.001), title vectors and second-chunk bonuses (lower), z-score fusion (+0.003 at
weight 0.6, within noise of the 0.5 min-max setting and needs scores for every document).
No cross-encoder reranker: none ships inside a PyPI package that installs offline here.
"""


if __name__ == "__main__":
    main()
