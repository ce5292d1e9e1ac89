"""Scale check of the store in Chroma server mode: query latency at 10k, 50k and 200k chunks.

Starts a real ``chroma run`` server on 127.0.0.1 (a free port, data in a temp folder, or
``--host/--port`` for one you run), then loads synthetic papers through paperbot's own
:class:`bot.index.store.PaperStore` write path (4 chunks per paper; 384-d vectors drawn around 2,000
random topic centres and normalised, like MiniLM's), and after each stage times queries:

* ``PaperStore.query_chunks`` (what the retriever calls: includes its count check) with
  ``n`` = 10 and 100;
* the raw ``collection.query`` for ``n`` = 10, same fields returned, as the floor;
* recall@10 of the HNSW answer against exact cosine search in NumPy (index quality).

Queries are stored chunk vectors plus noise (a paraphrase of a stored passage) and new
points near random topics (a question about a topic); each timed query follows one warm-up.
Writes ``benchmarks/results/scale.md``.

    python benchmarks/scale.py [--stages 10000,50000,200000] [--queries 200]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.servers import chroma_server  # noqa: E402
from bot.index.store import PaperStore, PaperWrite  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.types import Chunk, Paper  # noqa: E402

DIM = 384
CHUNKS_PER_PAPER = 4
TARGET_P50_MS = 50.0


class Corpus:
    """Synthetic papers whose chunk vectors cluster around topics."""

    def __init__(self, seed: int = 7, topics: int = 2000) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres = self._unit(self.rng.standard_normal((topics, DIM)).astype(np.float32))

    @staticmethod
    def _unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def _noise(self, n: int, norm: float) -> np.ndarray:
        """``n`` random vectors of about this norm."""
        return (self.rng.standard_normal((n, DIM)) * norm / np.sqrt(DIM)).astype(np.float32)

    def papers(self, start: int, n: int) -> tuple[list[PaperWrite], np.ndarray]:
        writes, vectors = [], []
        for i in range(start, start + n):
            # topic + a paper offset + a chunk offset: cosine ~0.8 between a paper's chunks,
            # ~0.5 within a topic, ~0 across topics (MiniLM-like neighbourhoods)
            topic = self.centres[self.rng.integers(len(self.centres))]
            paper_vec = topic + self._noise(1, 1.0)
            vecs = self._unit(paper_vec + self._noise(CHUNKS_PER_PAPER, 0.7))
            paper = Paper(
                id=f"syn-{i:07d}",
                title=f"Synthetic paper {i}",
                abstract=" ".join(f"Sentence {j} of synthetic paper {i}." for j in range(8)),
                published=f"20{10 + i % 15}-0{1 + i % 9}-1{i % 10}",
                categories=[f"cs.{'LG CL CV AI IR'.split()[i % 5]}"],
            )
            chunks = [
                Chunk(
                    id=f"{paper.id}::{paper.content_hash[:12]}::{j}",
                    paper_id=paper.id,
                    index=j,
                    text=f"Sentence {2 * j} of synthetic paper {i}. Sentence {2 * j + 1}.",
                    sentence_start=2 * j,
                    sentence_end=2 * j + 2,
                    char_start=0,
                    char_end=10,
                    n_tokens=20,
                )
                for j in range(CHUNKS_PER_PAPER)
            ]
            writes.append(PaperWrite(paper, chunks, vecs, self._unit(vecs.mean(axis=0))))
            vectors.append(vecs)
        return writes, np.concatenate(vectors)

    def queries(self, stored: np.ndarray, n: int) -> np.ndarray:
        near = stored[self.rng.integers(len(stored), size=n // 2)]
        near = self._unit(near + self._noise(len(near), 0.5))
        topics = self.centres[self.rng.integers(len(self.centres), size=n - n // 2)]
        return np.concatenate([near, self._unit(topics + self._noise(len(topics), 1.2))])


def timed(fn, queries: np.ndarray) -> tuple[list[float], list]:  # type: ignore[no-untyped-def]
    fn(queries[0])  # warm-up
    times, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(fn(q))
        times.append((time.perf_counter() - t) * 1000)
    return times, results


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stages", default="10000,50000,200000", help="chunk counts")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch-papers", type=int, default=2000)
    ap.add_argument("--host", help="use this Chroma server instead of starting one")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.md"))
    args = ap.parse_args()
    stages = [int(s) for s in args.stages.split(",")]
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="paperbot-scale-"))
    rows, load_rows = [], []
    try:
        with contextlib.ExitStack() as stack:
            if args.host:
                host, port = args.host, args.port
            else:
                host, port = "127.0.0.1", stack.enter_context(chroma_server(tmp))
            settings = Settings(
                home=tmp / "home",
                chroma_host=host,
                chroma_port=port,
                collection=f"scale{int(time.time())}",
            )
            store = PaperStore(settings, "synthetic-384", DIM)
            corpus = Corpus()
            stored = np.zeros((0, DIM), dtype=np.float32)
            loaded_papers = 0
            row_of: dict[str, int] = {}  # chunk id -> row of ``stored``
            for stage in stages:
                want_papers = stage // CHUNKS_PER_PAPER
                t = time.perf_counter()
                added = 0
                while loaded_papers < want_papers:
                    n = min(args.batch_papers, want_papers - loaded_papers)
                    writes, vecs = corpus.papers(loaded_papers, n)
                    store.write(writes)
                    for w in writes:
                        for c in w.chunks:
                            row_of[c.id] = len(row_of)
                    stored = np.concatenate([stored, vecs])
                    loaded_papers += n
                    added += n * CHUNKS_PER_PAPER
                load_s = time.perf_counter() - t
                assert store.count_chunks() == stage, store.count_chunks()
                load_rows.append((stage, added, load_s))
                print(f"loaded {stage} chunks ({added} in {load_s:.1f}s)", flush=True)

                queries = corpus.queries(stored, args.queries)
                t10, res10 = timed(lambda q: store.query_chunks(q, 10), queries)
                t100, _ = timed(lambda q: store.query_chunks(q, 100), queries)
                raw = store._chunks  # the floor: Chroma's own query, no paperbot code
                traw, _ = timed(
                    lambda q, c=raw: c.query(
                        query_embeddings=q[None, :],
                        n_results=10,
                        include=["documents", "metadatas", "distances"],
                    ),
                    queries,
                )
                exact = np.argsort(-(queries @ stored.T), axis=1)[:, :10]
                recall = statistics.mean(
                    len({row_of[m.chunk_id] for m in got} & set(map(int, ex))) / 10
                    for got, ex in zip(res10, exact, strict=True)
                )
                rows.append((stage, t10, t100, traw, recall))
                print(
                    f"{stage}: p50 n=10 {pct(t10, 50):.1f} ms, n=100 {pct(t100, 50):.1f} ms, "
                    f"raw {pct(traw, 50):.1f} ms, recall@10 {recall:.3f}",
                    flush=True,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "# Store scale check (Chroma server mode)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/scale.py` in "
        f"{time.perf_counter() - started:.0f} s. Machine: "
        f"{describe('chromadb', 'numpy')}.",
        "",
        f"A real `chroma run` server on 127.0.0.1; synthetic papers of {CHUNKS_PER_PAPER} chunks "
        f"written through `PaperStore.write` (batches of {args.batch_papers} papers); 384-d "
        "unit vectors around 2,000 topic centres. "
        f"{args.queries} queries per row (half paraphrases of stored chunks, half new points "
        "near a topic), each after a warm-up, on one client thread. Target: p50 <= "
        f"{TARGET_P50_MS:.0f} ms at 200k chunks.",
        "",
        "| chunks | `query_chunks` n=10 p50 / p95 (ms) | n=100 p50 / p95 (ms) "
        "| raw `collection.query` n=10 p50 / p95 (ms) | recall@10 vs exact |",
        "|---|---|---|---|---|",
    ]
    for stage, t10, t100, traw, recall in rows:
        lines.append(
            f"| {stage:,} | {pct(t10, 50):.1f} / {pct(t10, 95):.1f} "
            f"| {pct(t100, 50):.1f} / {pct(t100, 95):.1f} "
            f"| {pct(traw, 50):.1f} / {pct(traw, 95):.1f} | {recall:.3f} |"
        )
    lines += ["", "| load stage | chunks written | seconds | chunks/s |", "|---|---|---|---|"]
    for stage, added, secs in load_rows:
        lines.append(f"| to {stage:,} | {added:,} | {secs:.1f} | {added / secs:,.0f} |")
    if rows and rows[-1][0] >= 200_000:
        p50 = pct(rows[-1][1], 50)
        verdict = "met" if p50 <= TARGET_P50_MS else "NOT met"
        lines += [
            "",
            f"Target p50 <= {TARGET_P50_MS:.0f} ms at 200k (n=10): **{verdict}** ({p50:.1f} ms).",
        ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
