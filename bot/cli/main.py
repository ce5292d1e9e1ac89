"""The ``paperbot`` command: parses arguments, calls :class:`bot.PaperBot`, prints.

Every command that prints data takes ``--json``. User errors print one line on stderr and
exit 1; nothing here holds pipeline logic. The shared app and helpers live in
:mod:`bot.cli.app`; this module loads every command from
:mod:`bot.cli.commands`.
"""

from __future__ import annotations

from bot.cli.app import app, reflow_help
from bot.cli.commands import load_all

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    app()


# Sub-commands that live in bot/cli/commands/ (one module per area) register themselves on the
# shared app when imported.
load_all()
reflow_help(app)

if __name__ == "__main__":  # pragma: no cover
    # `python -m bot.cli.main` runs this file as __main__, a second copy of the module whose `app`
    # the command modules never see: run the real one (`python -m bot` works too).
    from bot.cli.main import main as _main

    _main()
