"""Extra ``paperbot`` sub-commands, one module per area (eval, summarize, serve, ...).

Each module registers its commands on :data:`bot.cli.app.app` when imported; :func:`load_all`
imports every module of this package, so adding a command never means editing ``bot/cli/main.py``.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["load_all"]


def load_all() -> None:
    """Import every command module: :mod:`.core` first (its commands lead ``--help``), then the
    rest by name."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__))
    for name in sorted(names, key=lambda n: n != "core"):
        importlib.import_module(f"{__name__}.{name}")
