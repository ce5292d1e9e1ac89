"""``paperbot eval verifier``: the citation verifier on SciFact-style claims."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.app import JsonOpt, err, out, print_json, progress_bar, run_or_exit
from bot.cli.commands.eval import eval_app

__all__ = ["eval_verifier"]


def _line(name: str, prf: dict[str, float]) -> str:
    return f"  {name:10} P {prf['p']:.3f}  R {prf['r']:.3f}  F1 {prf['f1']:.3f}"


@eval_app.command("verifier")
def eval_verifier(
    scifact: Annotated[
        Path,
        typer.Option(
            "--scifact",
            help="SciFact claims JSONL (allenai layout, e.g. claims_train.jsonl).",
            dir_okay=False,
        ),
    ],
    corpus: Annotated[
        Path | None,
        typer.Option(
            "--corpus", help="corpus.jsonl (default: beside the claims file).", dir_okay=False
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Support threshold (default: PAPERBOT_VERIFY_THRESHOLD, else the model's).",
            min=0.0,
            max=1.0,
        ),
    ] = None,
    folds: Annotated[
        int,
        typer.Option(
            "--cv",
            help="Also cross-validate the trained model with N folds (0: no).",
            min=0,
            max=20,
        ),
    ] = 0,
    fit: Annotated[
        Path | None,
        typer.Option(
            "--fit",
            help="Train the verifier model on all claims and write it here.",
            dir_okay=False,
        ),
    ] = None,
    rule: Annotated[
        bool,
        typer.Option("--rule", help="Evaluate the similarity rule, without the entailment model."),
    ] = False,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Embedding cache (.npz) reused across runs.", dir_okay=False),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the first N claims.", min=1)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure the citation verifier: rationale selection and the support decision.

    Each (claim, cited abstract) pair is SUPPORT, CONTRADICT or not-enough-info. Rationale
    P/R/F1 compares the sentences the verifier would quote with the gold rationale sentences
    (pairs with evidence); support P/R/F1 treats SUPPORT as positive and CONTRADICT +
    not-enough-info as negative (all pairs). Precision matters most there.

    The shipped entailment model was trained on the SciFact train claims, so its figures on
    them are in-sample; its cross-validated figures are in its model card
    (bot/ground/models/entailment/card.md, from `paperbot train verifier`). --cv cross-validates the
    rationale model and the similarity rule's threshold.
    """

    def setup() -> Any:
        from bot.evaluation.verifier import CachedEmbedder, load_scifact
        from bot.index.embeddings import make_embedder
        from bot.settings import load_settings

        settings = load_settings()
        pairs = load_scifact(scifact, corpus, limit)
        embedder: Any = make_embedder(settings)
        if cache is not None:
            embedder = CachedEmbedder(embedder, cache)
        return settings, pairs, embedder

    settings, pairs, embedder = run_or_exit(setup)
    from bot.evaluation.verifier import (
        cross_validate,
        evaluate_verifier,
        fit_verifier_model,
        warm_embeddings,
    )
    from bot.ground.verify import Verifier

    chosen = settings.verification.threshold if threshold is None else threshold
    # --rule and --fit work on the similarity rule and its rationale model (no entailment)
    kwargs: dict[str, Any] = {"model": None, "entailment": None} if rule or fit is not None else {}
    verifier = run_or_exit(lambda: Verifier(embedder, threshold=chosen, **kwargs))
    with progress_bar(not as_json and err.is_terminal) as progress:
        run_or_exit(lambda: warm_embeddings(verifier, pairs, progress))
        if cache is not None:
            embedder.save()
        model = None
        if fit is not None:
            model = run_or_exit(lambda: fit_verifier_model(verifier, pairs))
            model.save(fit)
            verifier = Verifier(embedder, threshold=chosen, model=model, entailment=None)
        report = run_or_exit(lambda: evaluate_verifier(verifier, pairs, progress))
        cv = None
        if folds:
            cv = run_or_exit(lambda: cross_validate(verifier, pairs, folds, progress=progress))
    data = report.to_dict()
    if cv is not None:
        data["cv"] = cv.to_dict()
    if fit is not None:
        data["fitted"] = str(fit)
    if as_json:
        print_json(data)
        return
    labels = ", ".join(f"{k} {v}" for k, v in sorted(report.labels.items()))
    out.print(
        f"{scifact.name}: {report.pairs} pairs ({labels}); "
        f"model {report.model}, threshold {report.threshold:.2f}"
    )
    out.print(
        _line("rationale", data["rationale"]) + f"   ({report.evidence_pairs} pairs with evidence)"
    )
    out.print(_line("support", data["support"]))
    by = report.supported_by_label
    out.print(
        f"  shown as supported: {by.get('SUPPORT', 0)} SUPPORT, {by.get('CONTRADICT', 0)} "
        f"CONTRADICT, {by.get('NEI', 0)} not-enough-info"
    )
    if cv is not None:
        out.print(f"{folds}-fold cross-validation (split by claim):")
        for i, fold in enumerate(cv.folds, 1):
            f = fold.to_dict()
            shown = fold.supported_by_label
            out.print(
                f"  fold {i}: rationale F1 {f['rationale']['f1']:.3f}, support P "
                f"{f['support']['p']:.3f} R {f['support']['r']:.3f} at threshold "
                f"{fold.threshold:.3f} ({fold.pairs} pairs; shown supported "
                f"{shown.get('SUPPORT', 0)} SUPPORT / {shown.get('CONTRADICT', 0)} CONTRADICT / "
                f"{shown.get('NEI', 0)} NEI)"
            )
        mean = cv.mean()
        out.print(_line("mean rat.", mean["rationale"]))
        out.print(_line("mean sup.", mean["support"]))
    if fit is not None:
        out.print(f"[dim]model written to {fit}[/]")
