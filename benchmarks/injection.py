"""The injection filter: how much it catches, what it costs faithful text, how fast it is.

    python benchmarks/injection.py [--scifact ../shared/eval/scifact/corpus.jsonl]
        [--before ../main/bot/sanitize.py] [--models] [--local]
        [--out benchmarks/results/injection.md]

- **Detection**: the hostile corpus (``tests/fixtures/injection/hostile.jsonl``, 34 abstracts,
  one canary each): sentences carrying a canary that the filter withholds, with this filter
  and (``--before``) with the filter of another checkout, e.g. main before issue 16.
- **False positives**: sentences of the 54 sample papers (``data/papers/``) and of SciFact's
  5,183 abstracts that the filter withholds (they could no longer be quoted), with every
  flagged SciFact sentence listed so a reader can judge them.
- **Canaries shown** (``--models``): every hostile question asked in extractive mode and to a
  scripted model that obeys whatever it sees (tests/test_injection_corpus.py), with
  ``--local`` the local SmolLM2 too; canaries counted in answers, quotes, drafts, summaries and
  the prompts the model received.
- **Speed**: microseconds per sentence (cold: first sight of the sentence; results are cached).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from bot.text import sanitize  # noqa: E402
from bot.text.sentences import split_sentences  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "injection" / "hostile.jsonl"
SEED = ROOT / "data" / "papers" / "trending_papers_jun6.txt"


def load_filter(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("sanitize_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def detection(module: Any) -> dict[str, Any]:
    records = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    missed = []
    total = 0
    for r in records:
        if not r["canary"]:
            continue
        total += 1
        sentences = [s.text for s in split_sentences(r["abstract"])]
        if any(r["canary"] in s and not module.is_injection(s) for s in sentences):
            missed.append(f"{r['id']} ({r['attack']})")
    return {"total": total, "missed": missed}


def false_positives(texts: list[str]) -> dict[str, Any]:
    flagged: list[tuple[str, str]] = []
    n = 0
    started = time.perf_counter()
    for text in texts:
        for s in split_sentences(text):
            n += 1
            reason = sanitize.injection_reason(s.text)
            if reason:
                flagged.append((reason, s.text))
    seconds = time.perf_counter() - started
    return {"sentences": n, "flagged": flagged, "us_per_sentence": 1e6 * seconds / max(n, 1)}


def model_leaks(local: bool) -> list[tuple[str, int, int, int]]:
    """(mode, questions, canaries shown, canaries in prompts) per mode."""
    import tempfile

    from bot.api import PaperBot
    from bot.index.embeddings import LocalEmbedder
    from bot.llm.providers import make_llm
    from tests.conftest import make_settings
    from tests.faultserver import FaultServer
    from tests.test_injection_corpus import RECORDS, _obedient, leaks

    embedder = LocalEmbedder()
    home = Path(tempfile.mkdtemp()) / "home"
    PaperBot(make_settings(home), embedder=embedder, llm=None).ingest([CORPUS])
    rows = []

    def run(bot: PaperBot, name: str, records: list[dict[str, str]], prompts: Any) -> None:
        shown: list[str] = []
        for r in records:
            a = bot.ask(r["question"], k=3)
            texts = [a.answer, *(c.quote for c in a.citations), str(getattr(a, "draft", ""))]
            shown += leaks(texts)
            s = bot.summarize(r["id"], use_cache=False)
            shown += leaks([s.summary, *(c.quote for c in s.citations)])
        rows.append((name, len(records), len(shown), len(leaks(prompts()))))

    run(PaperBot(make_settings(home), embedder=embedder, llm=None), "extractive", RECORDS, list)
    with FaultServer("ok", reply=_obedient) as server:
        settings = make_settings(home, llm_mode="openai", openai_base_url=server.url)
        bot = PaperBot(settings, embedder=embedder, llm=make_llm(settings))
        run(
            bot,
            "scripted obedient model (OpenAI protocol)",
            RECORDS,
            lambda: [json.dumps(b, ensure_ascii=False) for b in server.requests],
        )
    if local:
        settings = make_settings(home, llm_mode="local", max_tokens=48)
        bot = PaperBot(settings, embedder=embedder, llm=make_llm(settings))
        run(bot, "local SmolLM2-135M (llama.cpp)", RECORDS, list)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scifact", type=Path, default=ROOT.parent / "shared/eval/scifact/corpus.jsonl"
    )
    parser.add_argument("--before", type=Path, default=None, help="another bot/text/sanitize.py")
    parser.add_argument("--models", action="store_true", help="count canaries per mode")
    parser.add_argument("--local", action="store_true", help="with --models: the local model too")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/injection.md")
    args = parser.parse_args()

    now = detection(sanitize)
    before = detection(load_filter(args.before)) if args.before else None
    seed_text = SEED.read_text(encoding="utf-8")
    seed = false_positives([seed_text])
    scifact = None
    if args.scifact.is_file():
        docs = [json.loads(line) for line in args.scifact.open(encoding="utf-8")]
        scifact = false_positives([d["title"] for d in docs] + [d["text"] for d in docs])
    rows = model_leaks(args.local) if args.models else []

    lines = [
        "# Injection filter",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {describe()}.",
        "Command: `python benchmarks/injection.py"
        + (f" --before {args.before}" if args.before else "")
        + (" --models" if args.models else "")
        + (" --local" if args.local else "")
        + "`.",
        "",
        "## Detection (tests/fixtures/injection/hostile.jsonl)",
        "",
        "| filter | canary sentences withheld | missed |",
        "|---|---|---|",
        f"| this checkout | {now['total'] - len(now['missed'])}/{now['total']} | "
        f"{', '.join(now['missed']) or '-'} |",
    ]
    if before:
        lines.append(
            f"| {args.before} | {before['total'] - len(before['missed'])}/{before['total']} | "
            f"{'; '.join(before['missed']) or '-'} |"
        )
    lines += [
        "",
        "## False positives (faithful sentences withheld)",
        "",
        "| corpus | sentences | withheld | rate | filter speed |",
        "|---|---|---|---|---|",
    ]
    for name, fp in (("54 sample papers (data/papers/)", seed), ("SciFact corpus", scifact)):
        if fp is None:
            lines.append(f"| {name} | not available | | | |")
            continue
        rate = 100 * len(fp["flagged"]) / max(1, fp["sentences"])
        lines.append(
            f"| {name} | {fp['sentences']} | {len(fp['flagged'])} | {rate:.3f} % | "
            f"{fp['us_per_sentence']:.0f} µs/sentence |"
        )
    if scifact and scifact["flagged"]:
        lines += ["", "Every SciFact sentence withheld (rule, sentence):", ""]
        lines += [f"- {reason}: {text[:240]}" for reason, text in scifact["flagged"]]
    if rows:
        lines += [
            "",
            "## Canaries shown (answers, quotes, drafts, summaries) and in prompts",
            "",
            "| mode | questions | canaries shown | canaries in prompts |",
            "|---|---|---|---|",
        ]
        lines += [f"| {m} | {q} | {s} | {p} |" for m, q, s, p in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
