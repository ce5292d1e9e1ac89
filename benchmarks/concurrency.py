"""Does a generation hold up other requests? ``GET /api/search`` latency on an idle server next
to the same search while a slow ``POST /api/ask`` is generating, in one run.

The real app in-process (``TestClient(create_app(bot))``) over the 54 sample papers of
``data/papers/`` (ingested into a temporary home), with a scripted model whose reply takes
``--generation`` seconds (a stand-in for a slow endpoint: the model's speed is not what is
measured). Each "during" search starts once the generation has started and is timed to its
response; the generation's own duration is reported beside it. Before issue 17 the server ran
every request behind one lock, so a search waited for the generation to end.

Writes ``benchmarks/results/concurrency.md``.

    python benchmarks/concurrency.py [--trials 10] [--generation 3.0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe, publish  # noqa: E402
from bot.api import PaperBot  # noqa: E402
from bot.llm.scripted import ScriptedModel  # noqa: E402
from bot.server.app import create_app  # noqa: E402
from bot.settings import isolated_settings  # noqa: E402

QUESTION = "How does grokking relate to lazy and rich training dynamics?"
REPLY = "Grokking is a transition from lazy to rich training dynamics [1]."
SEARCHES = ("grokking", "diffusion models", "retrieval augmented generation", "protein folding")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--generation", type=float, default=3.0, help="seconds per reply")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/concurrency.md")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as home:
        settings = isolated_settings(home=home, llm_mode="extractive")
        PaperBot(settings, llm=None).ingest([ROOT / "data" / "papers"])
        model = ScriptedModel(mode="openai", model="scripted-slow")
        bot = PaperBot(settings, llm=model)
        idle: list[float] = []
        during: list[float] = []
        generations: list[float] = []
        overlapped = 0
        with TestClient(create_app(bot), base_url="http://127.0.0.1") as client:

            def search(i: int) -> float:
                params = {"q": SEARCHES[i % len(SEARCHES)], "k": 5}
                start = time.perf_counter()
                response = client.get("/api/search", params=params)
                elapsed = time.perf_counter() - start
                response.raise_for_status()
                return elapsed

            search(0)  # warm: embedder, store, BM25
            for i in range(args.trials):
                idle.append(search(i))
            for i in range(args.trials):
                model.enqueue(REPLY, delay=args.generation)
                model.started.clear()
                done = threading.Event()
                took: list[float] = []

                def ask(done: threading.Event = done, took: list[float] = took) -> None:
                    start = time.perf_counter()
                    client.post("/api/ask", json={"question": QUESTION}).raise_for_status()
                    took.append(time.perf_counter() - start)
                    done.set()

                thread = threading.Thread(target=ask)
                thread.start()
                if not model.started.wait(60):
                    raise SystemExit("the generation never started")
                during.append(search(i))
                overlapped += not done.is_set()  # the search ended before the generation did
                thread.join()
                generations.append(took[0])

    rows = [
        ("search, idle server", idle),
        ("search while /api/ask generates", during),
        ("the /api/ask it ran beside", generations),
    ]
    lines = [
        "# Concurrency: does a generation hold up /api/search?",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {describe('chromadb', 'onnxruntime')}.",
        f"In-process app over the 54 sample papers; scripted model replying in "
        f"{args.generation:.1f} s; {args.trials} trials per row.",
        "",
        "| request | p50 (s) | p95 (s) | mean (s) |",
        "|---|---:|---:|---:|",
    ]
    for name, values in rows:
        lines.append(
            f"| {name} | {_p(values, 0.5):.3f} | {_p(values, 0.95):.3f} | "
            f"{statistics.fmean(values):.3f} |"
        )
    lines += [
        "",
        f"Searches answered before the generation beside them finished: {overlapped} of "
        f"{args.trials}.",
        "",
    ]
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
