"""What verifying an answer costs: a 6-sentence answer citing 5 sources (SciFact abstracts),
through :func:`bot.generate.answer.verify_generated`, with the entailment verifier (the default) and
with the previous similarity rule, next to the raw throughput of the entailment model and of
MiniLM in the same run.

Writes ``benchmarks/results/verifier_latency.md``.

    python benchmarks/verifier_latency.py [--corpus ../shared/eval/scifact/corpus.jsonl]
        [--trials 15] [--out benchmarks/results/verifier_latency.md]

Each trial takes 5 consecutive abstracts as the sources and writes an answer of 6 sentences,
each citing one source: 3 are sentences of the cited source with their first words dropped
(supported by one sentence), 3 are sentences of *another* source (unsupported, so the second
pass over 2-3 sentence windows runs too: the expensive case).

- cold: the first answer of a new process (the ONNX session and the tokenizer are created;
  for the rule, the sentences are embedded);
- warm: a new answer over the same sources with a model already loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from bot.generate.answer import Source, verify_generated  # noqa: E402
from bot.text.sentences import split_sentences  # noqa: E402
from bot.types import Paper  # noqa: E402


def answer_sets(corpus: Path, trials: int) -> list[tuple[list[Paper], str]]:
    papers: list[Paper] = []
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if len(split_sentences(doc.get("text") or "")) >= 6:
                papers.append(Paper(str(doc["_id"]), doc.get("title") or "", doc["text"]))
            if len(papers) >= 5 * trials:
                break
    out = []
    for t in range(trials):
        group = papers[5 * t : 5 * t + 5]
        parts = []
        for k in range(6):
            n = k % 5 + 1
            sents = [s.text for s in split_sentences(group[n - 1].text)]
            if k % 2 == 0:  # supported: a sentence of the cited source, first words dropped
                words = sents[2 + k // 2].rstrip(".").split()
                claim = " ".join(words[3:]) if len(words) > 10 else " ".join(words)
            else:  # unsupported: a sentence of the next source, cited to this one
                other = [s.text for s in split_sentences(group[n % 5].text)]
                claim = other[3].rstrip(".")
            parts.append(f"{claim[0].upper()}{claim[1:]} [{n}].")
        out.append((group, " ".join(parts)))
    return out


def sources_of(papers: list[Paper]) -> list[Source]:
    return [Source(i + 1, p, split_sentences(p.text), 1.0, p.text) for i, p in enumerate(papers)]


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def cold_run(kind: str, corpus: str) -> float:
    """The first answer of a fresh process (model loading included), in seconds."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmarks.verifier_latency import answer_sets, sources_of\n"
        "from pathlib import Path\n"
        f"group, text = answer_sets(Path({corpus!r}), 1)[0]\n"
        "t = time.perf_counter()\n"
        "from bot.generate.answer import verify_generated\n"
        "from bot.ground.verify import Verifier\n"
        f"if {kind!r} == 'rule':\n"
        "    from bot.index.embeddings import LocalEmbedder\n"
        "    v = Verifier(LocalEmbedder(), entailment=None)\n"
        f"elif {kind!r} == 'shipped':\n"
        "    from bot.index.embeddings import LocalEmbedder\n"
        "    v = Verifier(LocalEmbedder())\n"
        "else:\n"
        "    v = Verifier(None)\n"
        "verify_generated(text, sources_of(group), v)\n"
        "print(time.perf_counter() - t)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"},
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/eval/scifact/corpus.jsonl"))
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--cold", type=int, default=3, help="fresh processes per verifier")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "verifier_latency.md")
    )
    args = parser.parse_args()
    from bot.ground.verify import Verifier
    from bot.index.embeddings import LocalEmbedder

    sets = answer_sets(Path(args.corpus), args.trials)
    embedder = LocalEmbedder()
    entail = Verifier(None)
    assert entail.entailment is not None
    rows = []
    shipped = Verifier(embedder)
    for name, kind, make in (
        ("entailment model alone (int8 ONNX Runtime)", "model", lambda: entail),
        ("shipped: entailment model, similarity rule as backstop (as in ask)", "shipped",
         lambda: shipped),
        ("previous similarity rule (MiniLM embeddings)", "rule",
         lambda: Verifier(embedder, entailment=None)),
    ):  # fmt: skip
        verify_generated(sets[0][1], sources_of(sets[0][0]), make())  # load once
        warm, kept = [], []
        for group, text in sets:
            verifier = make()
            sources = sources_of(group)
            if kind != "model":  # warm = sources already embedded
                verify_generated(text, sources, verifier)
            t = time.perf_counter()
            draft = verify_generated(text, sources, verifier)
            warm.append(time.perf_counter() - t)
            kept.append(draft.supported)
        cold = [cold_run(kind, args.corpus) for _ in range(args.cold)]
        rows.append((name, cold, warm, statistics.mean(kept)))
        print(f"{name}: cold {ms(cold)}, warm {ms(warm)}", flush=True)
    # raw throughput in the same run: the entailment model on single-sentence pairs, MiniLM
    group, _ = sets[0]
    sentences = [s.text for p in group for s in split_sentences(p.text)][:48]
    claim = sentences[0]
    model = entail.entailment
    t = time.perf_counter()
    for _ in range(3):
        model.predict([(claim, s) for s in sentences])
    entail_rate = 3 * len(sentences) / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(3):
        embedder.embed_documents(sentences)
    embed_rate = 3 * len(sentences) / (time.perf_counter() - t)
    lines = [
        "# Verifier latency: a 6-sentence answer citing 5 sources",
        "",
        f"Generated by `benchmarks/verifier_latency.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} "
        f"UTC. Machine: {describe('onnxruntime', 'torch')}; load average "
        f"{os.getloadavg()[0]:.1f}. Warm: median of {len(sets)} answers; cold: median of "
        f"{args.cold} fresh processes (imports and model loading included).",
        "",
        "| verifier | cold (first answer of a process) | warm | sentences kept of 6 "
        "(3 are unsupported) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {ms(c)} | {ms(w)} | {k:.1f} |" for n, c, w, k in rows]
    lines += [
        "",
        f"Raw throughput in the same run: the entailment model {entail_rate:.0f} "
        f"(claim, sentence) pairs/s; MiniLM `encode` {embed_rate:.0f} sentences/s.",
        "",
        "Budget (issue #13): verification adds at most 1 s to a 6-sentence answer over 5 sources.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
