"""``paperbot config``: the settings, as documented in bot/settings.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import app

config_app = typer.Typer(help="Show paperbot's settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("env-example")
def env_example(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (e.g. .env.example)."),
    ] = None,
) -> None:
    """Print a .env file listing every setting with its description and default.

    The repository's .env.example is this output (a test checks that they agree).
    """
    from bot.settings import render_env_example

    text = render_env_example()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
