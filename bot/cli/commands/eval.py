"""``paperbot eval ...``: the evaluation harnesses shipped in the product.

This module only creates the ``eval`` command group; each harness registers its command on
:data:`eval_app` from its own module (``eval_retrieval.py``, ``eval_verifier.py``, ...).
"""

from __future__ import annotations

import typer

from bot.cli.app import app

__all__ = ["eval_app"]

eval_app = typer.Typer(
    help="Measure retrieval, citation verification and answers.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")
