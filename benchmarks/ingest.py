"""Ingest throughput on SciFact's 5,183 abstracts, side by side with raw model throughput.

In one process, with the same MiniLM model object:

1. **raw**: ``SentenceTransformer.encode`` (normalised, the batch size paperbot uses) on
   exactly the texts paperbot embeds ("title + chunk" for every chunk), all in one call;
2. **pipeline**: ``PaperBot.ingest`` of a JSONL file of the corpus into an empty embedded
   store: reading, content hashes, chunking (tiktoken), embedding, Chroma writes, paper
   records - everything an ingest does;
3. **raw** again (the two raw runs bracket the pipeline; their mean is the reference);
4. **re-ingest** of the unchanged corpus, in process and as a fresh ``paperbot ingest`` CLI
   process (model loading included);
5. the first BM25 search after the ingest (the lexical index is built then, once).

Writes ``benchmarks/results/ingest.md``. Targets: pipeline >= 90 % of raw encode throughput;
re-ingest of the unchanged corpus < 10 s.

    python benchmarks/ingest.py [--corpus ../shared/eval/scifact/corpus.jsonl] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from bot.api import PaperBot  # noqa: E402
from bot.index.embeddings import LocalEmbedder  # noqa: E402
from bot.ingest.readers import read_file  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.text.chunking import chunk_paper  # noqa: E402

TARGET_RATIO = 0.90
TARGET_REINGEST_S = 10.0


def load_corpus(path: Path, limit: int | None) -> list[dict[str, str]]:
    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            records.append(
                {"id": f"sf-{doc['_id']}", "title": doc["title"], "abstract": doc["text"]}
            )
            if limit and len(records) >= limit:
                break
    return records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--corpus", default=str(ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl")
    )
    ap.add_argument("--limit", type=int, help="only the first N abstracts (smoke runs)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ingest.md"))
    args = ap.parse_args()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="paperbot-ingest-bench-"))
    try:
        records = load_corpus(Path(args.corpus), args.limit)
        source = tmp / "scifact.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        settings = Settings(home=tmp / "home", llm_mode="extractive")
        embedder = LocalEmbedder()
        model = embedder._model  # the SentenceTransformer both sides use

        texts = []  # exactly what the pipeline embeds: the papers as the reader gives them
        for paper in read_file(source).papers:
            for c in chunk_paper(
                paper, settings.chunking.tokens, settings.chunking.overlap_sentences
            ):
                texts.append(f"{paper.title}\n{c.text}")
        model.encode(texts[:64], normalize_embeddings=True)  # warm-up

        def raw() -> float:
            t = time.perf_counter()
            model.encode(
                texts,
                batch_size=embedder.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
            )
            return time.perf_counter() - t

        raw_1 = raw()
        print(f"raw encode: {len(texts)} texts in {raw_1:.1f} s", flush=True)
        bot = PaperBot(settings, embedder=embedder, llm=None)
        t = time.perf_counter()
        report = bot.ingest([source])
        pipeline_s = time.perf_counter() - t
        assert not report.failed, report.failed[:3]
        assert report.added == len(records) and report.chunks_written == len(texts), (
            report.to_dict()
        )
        print(
            f"pipeline: {report.added} papers, {report.chunks_written} chunks in "
            f"{pipeline_s:.1f} s",
            flush=True,
        )
        raw_2 = raw()
        print(f"raw encode again: {raw_2:.1f} s", flush=True)

        t = time.perf_counter()
        again = bot.ingest([source])
        reingest_s = time.perf_counter() - t
        assert again.unchanged == len(records) and again.chunks_written == 0

        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "CHROMA_"))}
        env.update(
            PAPERBOT_HOME=str(settings.store.home),
            PAPERBOT_LLM_MODE="extractive",
            PAPERBOT_ENV_FILE=str(tmp / "none.env"),
            HF_HUB_OFFLINE="1",
        )
        paperbot = str(Path(sys.executable).with_name("paperbot"))
        t = time.perf_counter()
        cli = subprocess.run(
            [paperbot, "ingest", str(source), "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        cli_s = time.perf_counter() - t
        assert json.loads(cli.stdout)["unchanged"] == len(records)

        t = time.perf_counter()
        bot.search("vitamin D deficiency and bone fractures", k=10, mode="bm25")
        bm25_first_s = time.perf_counter() - t
        counts = (bot.store.count_papers(), bot.store.count_chunks())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    raw_s = (raw_1 + raw_2) / 2
    raw_rate = len(texts) / raw_s
    pipe_rate = report.chunks_written / pipeline_s
    ratio = pipe_rate / raw_rate
    reingest_met = max(reingest_s, cli_s) < TARGET_REINGEST_S
    lines = [
        "# Ingest throughput",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/ingest.py` in "
        f"{time.perf_counter() - started:.0f} s. Machine: "
        f"{describe('torch', 'sentence_transformers', 'chromadb')}. Load average at the end: "
        f"{os.getloadavg()[0]:.2f}.",
        "",
        f"Corpus: SciFact, {len(records):,} abstracts -> {len(texts):,} chunks "
        f"(`PAPERBOT_CHUNK_TOKENS`={settings.chunking.tokens}); embedded store; MiniLM-L6 on CPU. "
        f"Raw = `SentenceTransformer.encode` (batch {embedder.batch_size}) on the same "
        '"title + chunk" texts in one call '
        "(mean of one run before and one after the pipeline).",
        "",
        "| run | seconds | papers/s | chunks/s | vs raw |",
        "|---|---|---|---|---|",
        f"| raw encode (before) | {raw_1:.1f} | | {len(texts) / raw_1:.1f} | |",
        f"| raw encode (after) | {raw_2:.1f} | | {len(texts) / raw_2:.1f} | |",
        f"| **paperbot ingest** (read, chunk, embed, write) | {pipeline_s:.1f} "
        f"| {report.added / pipeline_s:.1f} | {pipe_rate:.1f} | **{ratio:.1%}** |",
        "",
        "| re-ingest of the unchanged corpus | seconds |",
        "|---|---|",
        f"| in process (`PaperBot.ingest`) | {reingest_s:.2f} |",
        f"| `paperbot ingest` CLI process (start-up and model load included) | {cli_s:.2f} |",
        "",
        f"First BM25 search after the ingest (builds the lexical index of {counts[0]:,} papers "
        f"once): {bm25_first_s:.2f} s. Store after the runs: {counts[0]:,} papers, "
        f"{counts[1]:,} chunks.",
        "",
        f"Targets: pipeline >= {TARGET_RATIO:.0%} of raw: **"
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}** ({ratio:.1%}); re-ingest < "
        f"{TARGET_REINGEST_S:.0f} s: **{'met' if reingest_met else 'NOT met'}** "
        f"({reingest_s:.2f} s in process, {cli_s:.2f} s as a CLI process).",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
