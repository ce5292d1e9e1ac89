"""Wall-clock latency of the commands a user runs, each as a new process, offline default mode.

Every command runs ``--runs`` times as a fresh process (``paperbot ...`` from this venv) over
the 54-paper demo store, next to ``python -c pass`` in the same run (the floor: interpreter
start-up on this machine at this moment). The machine's load average is recorded before and
after each row, because a loaded machine (here: a training job on the same 2 cores) can
double every figure. Also measured: ``POST /api/ask`` on a warm ``paperbot serve`` (p50/p95
over the questions of data/questions.jsonl), and, for comparison, the first ``ask`` with the
torch backend instead of the ONNX export.

    python benchmarks/latency.py [--runs 5] [--out benchmarks/results/latency.md]

Targets (issue 14): --help / stats / papers <= 0.5 s; first search / ask <= 2.5 s;
/api/ask warm p50 <= 300 ms; extractive newsletter --top 3 and summarize <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe, publish  # noqa: E402
from benchmarks.servers import free_port, serving  # noqa: E402

PAPERBOT = str(Path(sys.executable).with_name("paperbot"))
QUESTION = "How does grokking relate to lazy and rich training dynamics?"


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "OPENAI_", "CHROMA_"))
    }
    env.update(PAPERBOT_HOME=str(home), PAPERBOT_ENV_FILE=str(home / "none.env"), COLUMNS="120")
    env.update(extra)
    return env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    return elapsed


def load() -> float:
    return os.getloadavg()[0]


def row(name: str, cmd: list[str], env: dict[str, str], runs: int, target: str) -> dict:
    before = load()
    times = [timed(cmd, env) for _ in range(runs)]
    return {
        "step": name,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "target": target,
        "load": f"{before:.1f}->{load():.1f}",
    }


def api_ask(home: Path, questions: list[str]) -> dict:
    port = free_port()
    cmd = [PAPERBOT, "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = environment(home)
    base = f"http://127.0.0.1:{port}"
    with serving(cmd, f"{base}/healthz", None, timeout=180, env=env):

        def ask(question: str) -> float:
            body = json.dumps({"question": question}).encode()
            request = urllib.request.Request(
                f"{base}/api/ask", body, {"Content-Type": "application/json"}
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()
            return time.perf_counter() - started

        first = ask(QUESTION)  # the server warms up in the background; this waits for it
        before = load()
        times = sorted(ask(q) for q in questions)
    return {
        "step": f"POST /api/ask, warm server ({len(times)} questions)",
        "median_s": statistics.median(times),
        "min_s": times[0],
        "max_s": times[int(0.95 * (len(times) - 1))],  # p95 in the max column
        "target": "p50 <= 0.3 s",
        "load": f"{before:.1f}->{load():.1f}",
        "first_s": first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "latency.md")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="paperbot-latency-"))
    env = environment(home)
    ingest_s = timed([PAPERBOT, "ingest", str(ROOT / "data" / "papers")], env)
    from bot.index.embeddings import LocalEmbedder

    backend = LocalEmbedder().backend
    questions = [
        json.loads(line)["q"]
        for line in (ROOT / "data" / "questions.jsonl").read_text().splitlines()
        if line.strip()
    ][:30]
    n = args.runs
    rows = [
        row("python -c pass (floor)", [sys.executable, "-c", "pass"], env, n, ""),
        row("paperbot --help", [PAPERBOT, "--help"], env, n, "<= 0.5 s"),
        row("paperbot stats", [PAPERBOT, "stats"], env, n, "<= 0.5 s"),
        row("paperbot papers", [PAPERBOT, "papers"], env, n, "<= 0.5 s"),
        row(
            "paperbot search (new process)",
            [PAPERBOT, "search", "grokking", "-k", "3"],
            env,
            n,
            "<= 2.5 s",
        ),
        row("paperbot ask (new process)", [PAPERBOT, "ask", QUESTION], env, n, "<= 2.5 s"),
        row(
            "paperbot ask, torch backend (new process)",
            [PAPERBOT, "ask", QUESTION],
            environment(home, PAPERBOT_EMBEDDING_BACKEND="torch"),
            max(1, n // 2),
            "(comparison)",
        ),
        row(
            "paperbot summarize (extractive, no cache)",
            [PAPERBOT, "summarize", "grokking lazy rich training", "--no-cache"],
            env,
            n,
            "<= 5 s",
        ),
        row(
            "paperbot newsletter --top 3 (extractive, no cache)",
            [PAPERBOT, "newsletter", "--query", "diffusion models", "--top", "3", "--no-cache"],
            env,
            n,
            "<= 5 s",
        ),
    ]
    rows.append(api_ask(home, questions))
    lines = [
        "# Latency of the offline default (extractive mode), each command a new process",
        "",
        f"`python benchmarks/latency.py --runs {n}` on {time.strftime('%Y-%m-%d %H:%M')}; "
        f"{describe('onnxruntime', 'chromadb', 'torch')}; embedding backend: {backend}; "
        f"store: the 54 demo papers (ingested in {ingest_s:.1f} s).",
        "",
        "Load average (1 min) before -> after each row is shown (rows measured under load are "
        "slower than on an idle machine).",
        "",
        "| step | median s | min s | max s (p95 for the API) | target | load |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['step']} | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['max_s']:.2f} | "
            f"{r['target']} | {r['load']} |"
        )
    api = rows[-1]
    lines += [
        "",
        f"The API's first answer after start-up (warm-up included) took {api['first_s']:.2f} s.",
    ]
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
