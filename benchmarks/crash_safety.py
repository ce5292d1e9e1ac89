"""Crash-safety stress run: SIGKILL a real ``paperbot ingest`` many times, resume, compare.

Writes ``benchmarks/results/crash_safety.md``.

    python benchmarks/crash_safety.py [--kills 12] [--papers 96] [--batch 32] [--seed 7]
        [--workdir DIR] [--out benchmarks/results/crash_safety.md]

A clean ingest of ``--papers`` SciFact abstracts (``../shared/eval/scifact/corpus.jsonl``) is the
reference. Each kill starts a fresh home, runs ``paperbot ingest`` and SIGKILLs it: half of the
kills at a random time over the clean run's duration, half aimed inside a Chroma write (the
write journal of ``bot/index/journal.py`` exists exactly while a batch is written; the kill lands a
random 0-300 ms after it appears - big batches make those writes long). Then the ingest is
re-run to completion and the store is compared with the reference: paper ids and content
hashes, chunk ids, duplicates, orphans, ``paperbot doctor`` (in a subprocess) and a query.
The tests (tests/test_crash_safety.py) do the same on a small scale within the suite's time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from bot.index.journal import journal_notes  # noqa: E402
from bot.settings import Settings  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"
PAPERBOT = [sys.executable, "-m", "bot.cli.main"]

# Read a store in a fresh process (so no in-process Chroma cache hides anything).
_INSPECT = """
import json, sys
from bot.api import PaperBot
bot = PaperBot()
s = bot.store
papers = dict(s.iter_paper_records())
chunks = list(s.iter_chunk_records())
ids = [c for c, _ in chunks]
hits = [h.paper.id for h in bot.search(sys.argv[1], k=3)]
bm25 = [h.paper.id for h in bot.search(sys.argv[1], k=3, mode="bm25")]
doc = bot.doctor()
print(json.dumps({
    "papers": {p: m.get("content_hash") for p, m in papers.items()},
    "chunks": sorted(ids), "duplicates": len(ids) - len(set(ids)),
    "orphans": sum(1 for _, m in chunks if m.get("paper_id") not in papers),
    "counts": [s.count_papers(), s.count_chunks()], "hits": hits, "bm25": bm25,
    "doctor": {c.name: c.status for c in doc.checks},
}))
"""


def _env(home: Path, batch: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "OPENAI_"))}
    env.update(
        PAPERBOT_HOME=str(home),
        PAPERBOT_ENV_FILE=str(home.parent / "none.env"),
        PAPERBOT_LLM_MODE="extractive",
        PAPERBOT_INGEST_BATCH_PAPERS=str(batch),
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TRANSFORMERS_VERBOSITY="error",
    )
    return env


def _corpus(path: Path, n: int) -> list[dict[str, str]]:
    rows = []
    with open(SCIFACT, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if doc.get("title") and doc.get("text"):
                rows.append(
                    {"id": f"sf-{doc['_id']}", "title": doc["title"], "abstract": doc["text"]}
                )
            if len(rows) == n:
                break
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return rows


def _run(home: Path, corpus: Path, batch: int) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [*PAPERBOT, "ingest", str(corpus), "--json"],
        env=_env(home, batch),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise SystemExit(f"resume failed in {home}: {done.stderr[-2000:]}")
    line = next((ln for ln in done.stderr.splitlines() if "recovered an interrupted" in ln), "")
    return json.loads(done.stdout), line.split(": ", 1)[-1]


def _inspect(home: Path, query: str, batch: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _INSPECT, query],
        env=_env(home, batch),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--papers", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "crash_safety.md")
    args = ap.parse_args()
    if not SCIFACT.is_file():
        raise SystemExit(f"needs {SCIFACT}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="paperbot-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.jsonl"
    rows = _corpus(corpus, args.papers)
    query = rows[len(rows) // 2]["title"]
    rng = random.Random(args.seed)

    t0 = time.monotonic()
    _run(work / "reference", corpus, args.batch)
    clean = time.monotonic() - t0
    ref = _inspect(work / "reference", query, args.batch)
    print(f"clean run {clean:.1f}s: {ref['counts'][0]} papers, {ref['counts'][1]} chunks")

    results = []
    for i in range(args.kills):
        home = work / f"kill-{i}"
        shutil.rmtree(home, ignore_errors=True)
        aimed = i % 2 == 1
        delay = rng.uniform(0.2, clean * (0.8 if aimed else 0.95))
        settings_ = Settings.model_validate({"home": home})
        proc = subprocess.Popen(
            [*PAPERBOT, "ingest", str(corpus), "--json"],
            env=_env(home, args.batch),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        start = time.monotonic()
        time.sleep(delay)
        if aimed:
            while proc.poll() is None and not bool(journal_notes(settings_)):
                time.sleep(0.003)
            time.sleep(rng.uniform(0.0, 0.3))
        finished = proc.poll() is not None
        mid = bool(journal_notes(settings_))
        proc.send_signal(signal.SIGKILL)
        at = time.monotonic() - start
        proc.wait()
        report, recovered = _run(home, corpus, args.batch)
        got = _inspect(home, query, args.batch)
        row = {
            "kill": i + 1,
            "how": "aimed at a write" if aimed else "random time",
            "at": round(at, 2),
            "finished_first": finished,
            "mid_write": mid,
            "committed": report["unchanged"],
            "recovered": recovered,
        }
        if "error" in got:
            row.update(ok=False, error=got["error"])
        else:
            row.update(
                lost=len(set(ref["papers"]) - set(got["papers"])),
                extra_chunks=len(set(got["chunks"]) - set(ref["chunks"])) + got["duplicates"],
                missing_chunks=len(set(ref["chunks"]) - set(got["chunks"])),
                orphans=got["orphans"],
                same=got["papers"] == ref["papers"] and got["chunks"] == ref["chunks"],
                query=got["hits"] == ref["hits"] and got["bm25"] == ref["bm25"],
                doctor=all(s == "ok" for s in got["doctor"].values()),
            )
            row["ok"] = row["same"] and row["query"] and row["doctor"]
        results.append(row)
        print(json.dumps(row), flush=True)

    killed = [r for r in results if not r["finished_first"]]
    lines = [
        "# Crash safety: SIGKILLed ingests, resumed",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        "`python benchmarks/crash_safety.py "
        f"--kills {args.kills} --papers {args.papers} --batch {args.batch} --seed {args.seed}`"
        f" on {describe('chromadb')}.",
        "",
        f"Reference: a clean `paperbot ingest` of {args.papers} SciFact abstracts "
        f"({ref['counts'][1]} chunks, batches of {args.batch} papers) took {clean:.1f}s.",
        "Each row: a fresh home, an ingest SIGKILLed at `at` seconds, the ingest re-run to "
        "completion, then the store read by a new process and compared with the reference.",
        "",
        "| kill | how | at (s) | in a write | committed before | recovery | papers lost | "
        "extra chunks | missing chunks | orphans | same ids | query | doctor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['kill']} | {r['how']} | {r['at']} | | | | ERROR: {r['error']} |")
            continue
        lines.append(
            f"| {r['kill']} | {r['how']}{' (finished first)' if r['finished_first'] else ''} | "
            f"{r['at']} | {'yes' if r['mid_write'] else 'no'} | {r['committed']} | "
            f"{r['recovered'] or '-'} | {r['lost']} | {r['extra_chunks']} | "
            f"{r['missing_chunks']} | {r['orphans']} | {'yes' if r['same'] else 'NO'} | "
            f"{'same' if r['query'] else 'DIFFERS'} | {'ok' if r['doctor'] else 'PROBLEM'} |"
        )
    ok = sum(1 for r in killed if r.get("ok"))
    lines += [
        "",
        f"**Kills survived: {ok}/{len(killed)}** (killed before finishing; "
        f"{sum(1 for r in killed if r['mid_write'])} of them inside a store write). "
        f"Papers lost: {sum(r.get('lost', 0) for r in results)}. "
        f"Duplicate/extra chunks: {sum(r.get('extra_chunks', 0) for r in results)}. "
        f"Stores that failed to open: {sum(1 for r in results if 'error' in r)}.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines[-3:]))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
