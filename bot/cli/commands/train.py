"""``paperbot train verifier``: train the entailment verifier the product ships.

Reads the public claim/evidence data in ``../shared`` (see ``bot/training/nli_data.py``),
trains on this CPU with fixed seeds, cross-validates on the SciFact train claims, calibrates
the threshold and writes ``model.onnx``, ``config.json``, ``card.md`` and ``training.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import app, err, out, run_or_exit
from bot.errors import InputError

__all__ = ["train_app", "train_verifier"]

train_app = typer.Typer(help="Train the models paperbot ships.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("verifier")
def train_verifier(
    shared: Annotated[
        Path,
        typer.Option("--shared", help="The shared data folder (train/ and eval/ inside)."),
    ] = Path("../shared"),
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where to write the model (default: the shipped model's folder)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 13,
    stage1_epochs: Annotated[
        float | None,
        typer.Option("--stage1-epochs", help="Epochs over the non-SciFact pairs.", min=0.05),
    ] = None,
    stage2_epochs: Annotated[
        float | None,
        typer.Option("--stage2-epochs", help="Epochs of each SciFact stage.", min=0.05),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Use at most this many stage-1 pairs.", min=100)
    ] = None,
    no_cv: Annotated[
        bool, typer.Option("--no-cv", help="Skip cross-validation (no calibration, no metrics).")
    ] = False,
) -> None:
    """Train, cross-validate and calibrate the entailment verifier (CPU; about an hour on
    two idle cores), then write it where the product loads it."""
    from bot.ground.entailment import DEFAULT_ENTAILMENT_DIR
    from bot.training.nli_train import TrainConfig, run_training

    def check_shared() -> None:
        if not (shared / "train").is_dir() or not (shared / "eval").is_dir():
            raise InputError(f"{shared}: not the shared data folder (no train/ and eval/ inside)")

    run_or_exit(check_shared)
    cfg = TrainConfig(seed=seed, limit=limit)
    if stage1_epochs is not None:
        cfg.stage1_epochs = stage1_epochs
    if stage2_epochs is not None:
        cfg.stage2_epochs = stage2_epochs
    target = out_dir or DEFAULT_ENTAILMENT_DIR
    report = run_or_exit(
        lambda: run_training(
            shared, target, cfg, cross_validate=not no_cv, log=lambda m: err.print(m, markup=False)
        )
    )
    out.print(f"wrote {target} in {report.seconds.get('total', 0):.0f}s")
    if report.pooled:
        p = report.pooled
        out.print(
            f"cross-validation: support P {p['mean_p']:.3f} R {p['mean_r']:.3f} (fold means); "
            f"threshold {report.threshold}, contradiction veto {report.veto}"
        )
